"""The `bigbio_kb` view: a `documents` row in the BigBio knowledge-base schema.

Follows the `kb_features` of BigBio's `bigbiohub.py` (schema version 1.0.0), field for field: a row holds `id`,
`document_id`, `passages`, `entities`, `events`, `coreferences` and `relations`; `text` fields are lists of
strings and `offsets` lists of [start, end] pairs into the document text (the passages joined by one space,
which is the `documents` view's `text`); concept ids are `normalized` [{db_name, db_id}].

How this project's rows map onto it (docs/datasets.md says the same):

- `id` is the PMID, as are `document_id`; passages are `<pmid>_title` and `<pmid>_abstract`.
- One entity per mention, in file order (`<pmid>_E<mention index>`), typed as the corpus types it. A composite
  mention is one entity with several normalized ids (an id its parts repeat, as BC5CDR's `D020258|D020258|D020258`,
  once); an unlinked mention (`-1`, `-`) has none. `db_name` /
  `db_id` split the mention's CURIE (`modeling.outputs_joint_ner_re.to_curie`): BC5CDR's bare `D009270` is
  MESH / D009270, ChemDisGene's `MESH:D009270` the same, a gene's `154` NCBIGene / 154.
- One relation per document-level relation (`<pmid>_R<index>`), so a split has the corpus's relation count. The
  corpora relate concepts, and BigBio relates entities: each argument is the first mention of its concept
  whose only id is that concept (the first mention of the concept when every one of them is composite). The
  other mentions of the concept are the entities with the same normalized id. BigBio's own BC5CDR and
  ChemDisGene loaders relate every pair of mentions instead, which multiplies the counts.
- `events` and `coreferences` are empty: neither corpus annotates them.

Passage, entity and relation ids share one id space and are unique within a document.
"""

from __future__ import annotations

from typing import Any

from datasets import Features, List, Value

from modeling.outputs_joint_ner_re import UNLINKED_RAW_IDS, InputError, to_curie

from .schema import RELATION_TYPES

SCHEMA_VERSION = "1.0.0"  # BigBio's _BIGBIO_VERSION for the kb schema

_DB_REFERENCE = {"db_name": Value("string"), "db_id": Value("string")}
_TEXT = List(Value("string"))
_OFFSETS = List(List(Value("int32")))


def bigbio_kb_features() -> Features:
    """BigBio's `kb_features`: the schema of every `bigbio_kb` config."""
    return Features(
        {
            "id": Value("string"),
            "document_id": Value("string"),
            "passages": List({"id": Value("string"), "type": Value("string"), "text": _TEXT, "offsets": _OFFSETS}),
            "entities": List(
                {
                    "id": Value("string"),
                    "type": Value("string"),
                    "text": _TEXT,
                    "offsets": _OFFSETS,
                    "normalized": List(_DB_REFERENCE),
                }
            ),
            "events": List(
                {
                    "id": Value("string"),
                    "type": Value("string"),
                    "trigger": {"text": _TEXT, "offsets": _OFFSETS},
                    "arguments": List({"role": Value("string"), "ref_id": Value("string")}),
                }
            ),
            "coreferences": List({"id": Value("string"), "entity_ids": List(Value("string"))}),
            "relations": List(
                {
                    "id": Value("string"),
                    "type": Value("string"),
                    "arg1_id": Value("string"),
                    "arg2_id": Value("string"),
                    "normalized": List(_DB_REFERENCE),
                }
            ),
        }
    )


def db_reference(raw_id: str, entity_type: str) -> dict[str, str]:
    """A corpus id as BigBio's {db_name, db_id}: the two halves of its CURIE (`D009270` -> MESH, D009270)."""
    db_name, _, db_id = to_curie(raw_id, entity_type).partition(":")
    return {"db_name": db_name, "db_id": db_id}


def _normalized(document: dict[str, Any], index: int) -> list[dict[str, str]]:
    mention = document["mentions"][index]
    ids = [i for i in dict.fromkeys(mention["ids"]) if i not in UNLINKED_RAW_IDS]
    try:
        return [db_reference(i, mention["type"]) for i in ids]
    except InputError as error:  # the row has no file line; the PMID and the offsets find the mention
        raise InputError(
            f"PMID {document['pmid']}, mention {mention['start']}-{mention['end']} {mention['text']!r}: {error}"
        ) from None


def _argument(document: dict[str, Any], entity: dict[str, Any]) -> int:
    """The mention that stands for `entity` in a relation: its first mention whose only id is the entity's."""
    indices = entity["mention_indices"]
    mentions = document["mentions"]
    return next((i for i in indices if mentions[i]["ids"] == [entity["id"]]), indices[0])


def bigbio_kb_row(document: dict[str, Any], corpus: str) -> dict[str, Any]:
    """A `documents` row of `corpus` as a BigBio kb row (see the module docstring for the mapping)."""
    pmid, title, abstract = document["pmid"], document["title"], document["abstract"]
    passages = [
        {"id": f"{pmid}_title", "type": "title", "text": [title], "offsets": [[0, len(title)]]},
        {"id": f"{pmid}_abstract", "type": "abstract", "text": [abstract],
         "offsets": [[len(title) + 1, len(title) + 1 + len(abstract)]]},
    ]
    entities = [
        {"id": f"{pmid}_E{i}", "type": m["type"], "text": [m["text"]], "offsets": [[m["start"], m["end"]]],
         "normalized": _normalized(document, i)}
        for i, m in enumerate(document["mentions"])
    ]
    by_key = {(e["id"], e["type"]): e for e in document["entities"]}
    relation_types = RELATION_TYPES[corpus]
    relations = []
    for k, r in enumerate(document["relations"]):
        head_type, tail_type = relation_types[r["label"]]
        head = _argument(document, by_key[r["head"], head_type])
        tail = _argument(document, by_key[r["tail"], tail_type])
        relations.append({"id": f"{pmid}_R{k}", "type": r["label"], "arg1_id": f"{pmid}_E{head}",
                          "arg2_id": f"{pmid}_E{tail}", "normalized": []})
    return {"id": pmid, "document_id": pmid, "passages": passages, "entities": entities, "events": [],
            "coreferences": [], "relations": relations}
