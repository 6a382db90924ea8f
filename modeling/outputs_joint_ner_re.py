"""The result contract: what every inference path returns, and the document text its offsets index.

`SciBertForJointNerRe.extract`, the transformers pipeline, `predict.py` (JSONL, Parquet), the demo's JSON and
the PubTator / BioC writers all give or take one `DocumentResult` per document, with every key always present:

    {"pmid": str,
     "mentions":  [{"start": int, "end": int, "text": str, "type": str, "ids": [str], "link_score": float | None}],
     "entities":  [{"id": str, "type": str, "mention_indices": [int]}],
     "relations": [{"label": str, "head": str, "tail": str, "score": float}]}

- Offsets are character offsets (end exclusive) into the document's text: `text` as given, or
  `document_text(title, abstract)` = title + " " + abstract, as the corpora define it (also when one is empty),
  or, for a document of BioC-like `passages` (a full-text article), `passages_text(passages)`: each passage's
  text at its own offset, so offsets are BioC document offsets.
- `ids` are concept CURIEs (`MESH:D002945`, `NCBIGene:154`), `[]` for a mention that is not linked (NIL, or a
  model without a linker), whose `link_score` is then None.
- Entity ids are CURIEs, or `nil_entity_id(type, text)` = `NIL:<type>:<normalised mention text>` for
  mentions with no concept id: one form for predictions and for the corpora's unlinked (`-1`, `-`) mentions.
- `score` is a probability. The relation `threshold` a user sets (`extract`, the pipeline, `predict.py
  --threshold`, the demo) is on the same scale: a relation is kept when its score is above it.

This file is the schema floor of the project: it imports only the standard library, so that `loaders` (the
corpora's ids and text) and every later floor can import it, and it ships with the model like the rest of
`modeling/`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, TypedDict

NIL_PREFIX = "NIL:"
# Raw ids that mean "the type is known but no concept": BC5CDR writes -1, ChemDisGene -.
UNLINKED_RAW_IDS = frozenset({"-1", "-", ""})
ACCEPTED_INPUTS = ("a str, a dict with 'text' (or 'title' and 'abstract', or 'passages') and optionally 'pmid', "
                   "or a list of them")
# Passages that are never tagged: a reference list names chemicals and diseases in titles of other papers.
REFERENCE_SECTION_TYPES = frozenset({"REF"})  # PMC BioC `section_type`
REFERENCE_PASSAGE_TYPES = frozenset({"ref"})  # PMC BioC `type`
TABLE_PASSAGE_TYPES = frozenset({"table"})  # a table's body (its caption and footnotes are prose: `table_caption`, ...)


_CURIE_FORMS = {
    "MESH": re.compile(r"^[CD]\d{6,9}$"),
    "NCBIGene": re.compile(r"^\d+$"),
    "OMIM": re.compile(r"^\d{6}$"),
}


class Mention(TypedDict):
    """A mention: character offsets into the document text, its type, and its concept ids (empty: not linked)."""

    start: int
    end: int
    text: str
    type: str
    ids: list[str]
    link_score: float | None


class Entity(TypedDict):
    """A document-level entity: a concept id (or a `NIL:` id) and the mentions that name it."""

    id: str
    type: str
    mention_indices: list[int]


class Relation(TypedDict):
    """A relation between two entity ids, with its probability."""

    label: str
    head: str
    tail: str
    score: float


class DocumentResult(TypedDict):
    """One document's result, the same from every inference path."""

    pmid: str
    mentions: list[Mention]
    entities: list[Entity]
    relations: list[Relation]


class InputError(ValueError):
    """An input the package cannot use: a wrong Python type, a malformed document or a damaged file. The
    message is one line naming what (and where: file and line, or the input's index) is wrong.

    The one exception type of the Python API for bad input: the loaders' `PubTatorFormatError`, the linking
    readers' `VocabularyFormatError`, the entry points' `UsageError` and the ONNX backend's `OnnxFileError` are
    subclasses, and the entry points print its message as their one `error:` line (exit status 2)."""


# Control characters other than tab and line breaks: never part of a biomedical text, and the mark of a damaged
# file (a crash that left a run of NUL bytes, a binary file read as text). Tab, "\n" and "\r" are allowed.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def first_control_character(text: str) -> int | None:
    """The index of the first control character of `text` other than tab, "\\n" and "\\r", or None."""
    match = _CONTROL_CHARACTER.search(text)
    return None if match is None else match.start()


def control_character_problem(text: str, where: str = "the text") -> str | None:
    """One line saying which control character `text` holds and where (`where`: "the title", ...), or None."""
    index = first_control_character(text)
    if index is None:
        return None
    return (f"control character U+{ord(text[index]):04X} at character {index + 1} of {where} (a damaged file? "
            "only tab and line breaks are allowed)")


def document_text(title: str, abstract: str) -> str:
    """The text that a document's offsets index: title + " " + abstract, as the corpora define it (one space
    also when the title or the abstract is empty, so that offsets agree with PubTator files)."""
    return title + " " + abstract


def is_reference_passage(infons: Mapping[str, Any]) -> bool:
    """Whether a BioC passage's infons mark it as part of the reference list (PMC: `section_type` REF, `type` ref)."""
    return (str(infons.get("section_type", "")).upper() in REFERENCE_SECTION_TYPES
            or str(infons.get("type", "")).lower() in REFERENCE_PASSAGE_TYPES)


def is_table_passage(infons: Mapping[str, Any]) -> bool:
    """Whether a BioC passage is a table's body (PMC `type` table; not its caption or footnotes)."""
    return str(infons.get("type", "")).lower() in TABLE_PASSAGE_TYPES


def passage_is_skipped(passage: Mapping[str, Any]) -> bool:
    """Whether a passage is left untagged: its `skip` when given (predict.py sets it, e.g. for --skip-tables), else
    whether it belongs to the reference list."""
    if passage.get("skip") is not None:
        return bool(passage["skip"])
    return is_reference_passage(passage.get("infons") or {})


def passages_text(passages: Any, where: str = "passages") -> str:
    """The text a passages document's offsets index: each passage's `text` at its `offset` (BioC document
    offsets), the characters between passages as spaces, and a skipped passage (`passage_is_skipped`) as spaces
    of its length, so nothing is tagged there and every offset still points into the passage's own text.
    Passages must come in order without overlapping; `InputError` (naming `where` and the passage) otherwise."""
    if not isinstance(passages, (list, tuple)):
        raise InputError(f"{where}: 'passages' must be a list of dicts with 'offset' and 'text'")
    parts: list[str] = []
    end = 0
    for k, passage in enumerate(passages):
        if not isinstance(passage, Mapping):
            raise InputError(f"{where}, passage {k}: expected a dict with 'offset' and 'text', got {type(passage).__name__}")
        offset, text = passage.get("offset"), passage.get("text")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InputError(f"{where}, passage {k}: 'offset' must be an int >= 0, got {offset!r}")
        if not isinstance(text, str):
            raise InputError(f"{where}, passage {k}: 'text' must be a str, got {type(text).__name__}")
        if offset < end:
            raise InputError(f"{where}, passage {k}: offset {offset} is inside the passage before it (which ends at "
                             f"{end}); passage offsets must increase and passages must not overlap")
        parts.append(" " * (offset - end))
        parts.append(" " * len(text) if passage_is_skipped(passage) else text)
        end = offset + len(text)
    return "".join(parts)


def normalise_mention_text(text: str) -> str:
    """Casefold and collapse whitespace: the key that groups a document's unlinked mentions into entities."""
    return " ".join(text.casefold().split())


def nil_entity_id(entity_type: str, mention_text: str) -> str:
    """The id of an entity with no concept id: `NIL:<type>:<normalised mention text>`."""
    return f"{NIL_PREFIX}{entity_type}:{normalise_mention_text(mention_text)}"


def is_nil_id(entity_id: str) -> bool:
    """Whether an entity id names no concept (a `NIL:` id)."""
    return entity_id.startswith(NIL_PREFIX)


def probability_to_margin(probability: float) -> float:
    """The relation head's logit margin whose score (sigmoid) is `probability`; 0 -> -inf, 1 -> +inf."""
    if isinstance(probability, (bool, str, bytes)) or not hasattr(probability, "__float__"):
        raise InputError(f"a relation threshold is a probability between 0 and 1 (a float), got "
                         f"{type(probability).__name__} {probability!r}")
    probability = float(probability)
    if not 0.0 <= probability <= 1.0 or math.isnan(probability):
        raise InputError(f"a relation threshold is a probability between 0 and 1, got {probability}")
    if probability == 0.0:
        return -math.inf
    if probability == 1.0:
        return math.inf
    return math.log(probability) - math.log1p(-probability)


def margin_to_probability(margin: float) -> float:
    """The score (sigmoid) of a relation logit margin."""
    if margin >= 0:
        return 1.0 / (1.0 + math.exp(-margin))
    z = math.exp(margin)
    return z / (1.0 + z)


def input_document(item: Any, index: int, with_gold: bool = False) -> dict[str, Any]:
    """One input of `extract` or the pipeline as the document they read: a dict with a str `pmid` (default
    `input-<index>`) and the str `text` its offsets index (`document_text(title, abstract)` when only those
    are given, `passages_text(passages)` for a document of `passages`); gold `mentions` / `entities` are kept when `with_gold`. `InputError` names the input and what
    is accepted when it is anything else."""
    if isinstance(item, str):
        if with_gold:
            raise InputError(f"input {index} is a plain string; mode='gold' needs documents with mentions and entities")
        return {"pmid": f"input-{index}", "text": item}
    if not isinstance(item, Mapping):
        hint = " (decode bytes to str first)" if isinstance(item, (bytes, bytearray)) else ""
        raise InputError(f"input {index}: expected {ACCEPTED_INPUTS}; got {type(item).__name__}{hint}")
    pmid = item.get("pmid", item.get("id"))
    if pmid is None:
        pmid = f"input-{index}"
    elif isinstance(pmid, bool) or not isinstance(pmid, (str, int)):
        raise InputError(f"input {index}: 'pmid' must be a str or an int, got {type(pmid).__name__}")
    pmid = str(pmid)
    text = item.get("text")
    if text is None and "passages" in item and "title" not in item and "abstract" not in item:
        text = passages_text(item["passages"], f"input {index} ({pmid!r})")
    if text is None:
        if "title" not in item and "abstract" not in item:
            raise InputError(f"input {index} ({pmid!r}): a document needs 'text', or 'title' and 'abstract', or "
                             "'passages'")
        title, abstract = item.get("title"), item.get("abstract")
        for name, value in (("title", title), ("abstract", abstract)):
            if value is not None and not isinstance(value, str):
                raise InputError(f"input {index} ({pmid!r}): '{name}' must be a str, got {type(value).__name__}")
        text = document_text(title or "", abstract or "")
    if not isinstance(text, str):
        raise InputError(f"input {index} ({pmid!r}): 'text' must be a str, got {type(text).__name__}")
    document = {"pmid": pmid, "text": text}
    if with_gold:
        if "mentions" not in item or "entities" not in item:
            raise InputError(f"input {index} ({pmid!r}) has no gold mentions/entities (mode='gold' needs them)")
        document.update(mentions=item["mentions"], entities=item["entities"])
    return document


def input_documents(inputs: Any, with_gold: bool = False) -> list[dict[str, Any]]:
    """`input_document` of each input: one str or dict, or a list / tuple / other iterable of them (not bytes
    and not a bare number); `InputError` otherwise."""
    if isinstance(inputs, (str, Mapping)):
        inputs = [inputs]
    elif inputs is None or isinstance(inputs, (bytes, bytearray)) or not hasattr(inputs, "__iter__"):
        hint = " (decode bytes to str first)" if isinstance(inputs, (bytes, bytearray)) else ""
        raise InputError(f"expected {ACCEPTED_INPUTS}; got {type(inputs).__name__}{hint}")
    return [input_document(item, i, with_gold) for i, item in enumerate(inputs)]


def to_document_result(result: Mapping[str, Any]) -> DocumentResult:
    """Any `extract` result (also from a model folder saved by an older version of this code, whose mentions may
    lack `ids` / `link_score`) as a `DocumentResult`: every key present, plain Python types, extra keys dropped."""
    mentions: list[Mention] = [
        {
            "start": int(m["start"]),
            "end": int(m["end"]),
            "text": str(m["text"]),
            "type": str(m["type"]),
            "ids": [str(i) for i in (m.get("ids") or [])],
            "link_score": None if m.get("link_score") is None else float(m["link_score"]),
        }
        for m in result["mentions"]
    ]
    entities: list[Entity] = [
        {"id": str(e["id"]), "type": str(e["type"]), "mention_indices": [int(i) for i in e["mention_indices"]]}
        for e in result["entities"]
    ]
    relations: list[Relation] = [
        {"label": str(r["label"]), "head": str(r["head"]), "tail": str(r["tail"]), "score": float(r["score"])}
        for r in result["relations"]
    ]
    return {"pmid": str(result["pmid"]), "mentions": mentions, "entities": entities, "relations": relations}


def to_curie(raw_id: str, entity_type: str) -> str:
    """A corpus id as a CURIE: `D002945` -> `MESH:D002945`, gene `154` -> `NCBIGene:154`; CURIEs unchanged.
    ValueError for an id of no known form."""
    raw_id = raw_id.strip()
    prefix, sep, local = raw_id.partition(":")
    if sep:
        if prefix == "MESH" and _CURIE_FORMS["MESH"].match(local) or prefix in ("NCBIGene", "OMIM") and local.isdigit():
            return raw_id
        raise InputError(f"unknown identifier {raw_id!r} (expected MESH:<D|C number>, NCBIGene:<number> or OMIM:<number>)")
    if _CURIE_FORMS["MESH"].match(raw_id):
        return "MESH:" + raw_id
    if entity_type == "Gene" and raw_id.isdigit():
        return "NCBIGene:" + raw_id
    raise InputError(f"unknown identifier {raw_id!r} for a {entity_type} (expected a MeSH id or, for genes, an NCBI Gene number)")


def curie_to_corpus_id(curie: str | None, style: str = "bc5cdr") -> str:
    """A CURIE in a corpus's own form: style "bc5cdr" -> `D002945` (NIL -> `-1`); style "chem_dis_gene" ->
    `MESH:D002945`, genes as the bare NCBI Gene number (NIL -> `-`)."""
    if style not in ("bc5cdr", "chem_dis_gene"):
        raise InputError(f"unknown id style {style!r}; expected 'bc5cdr' or 'chem_dis_gene'")
    if not curie or curie.startswith("NIL:") or ":" not in curie:
        return "-1" if style == "bc5cdr" else "-"
    prefix, _, local = curie.partition(":")
    if style == "bc5cdr":
        return local if prefix == "MESH" else curie
    return local if prefix == "NCBIGene" else curie
