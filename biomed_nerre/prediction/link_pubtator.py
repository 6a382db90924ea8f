"""Concept ids for the mentions of a PubTator file: `python link.py --model M --input IN --output OUT`.

Each document is read with the project's strict PubTator reader (`loaders.pubtator`, any entity type or
relation label) and written back as it came, except the id column of its mention lines: every mention of a
type the linker has names for gets the linker's ids (`ConceptLinker.link_mentions`, so abbreviations defined
in the document link like their long forms) in the corpus's own form (`curie_to_corpus_id`: `D002945` for
BC5CDR, `MESH:D002945` / `154` for ChemDisGene); NIL is written `-1` (`-` in the ChemDisGene form).
Mentions of other types (e.g. `Species`) and relation lines are kept as they are. A mention's 7th column
(the parts of a composite mention) is kept only when its ids come out unchanged, since the parts name the
old ids one by one. An exact duplicate mention line is written once (the reader notes it).

A user's names file (`biomed_nerre.linking.read_names_file`) extends the linker (every id must be one it knows) or, with
`replace`, replaces its names. `strict=False` skips malformed lines of the input and of the names file and
counts them in the summary; nothing else is dropped.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from biomed_nerre.linking.vocabularies import VocabularyReport
from loaders.cli_errors import UsageError
from loaders.pubtator import (
    ErrorPolicy,
    ParseReport,
    RawDocument,
    RawMention,
    iter_pubtator,
    write_pubtator,
)
from modeling.linking_joint_ner_re import CONFIG_FILE, LINKER_FOLDER, NAMES_FILE, ConceptLinker, LinkResult

from .corpus_ids import ID_STYLES, default_id_style, mention_ids_field

METHODS = ("exact", "abbreviation", "loose", "composite", "variant", "fuzzy", "dense")


@dataclass
class LinkSummary:
    """What a run did: counts of documents and mentions, NIL, the linking steps that answered, and skips."""

    output: str = ""
    id_style: str = ""
    documents: int = 0
    mentions: int = 0  # mentions of the linker's types, all linked or NIL
    linked: int = 0
    nil: int = 0
    kept: Counter = field(default_factory=Counter)  # type -> mentions kept as they were (no names for it)
    methods: Counter = field(default_factory=Counter)
    input_skipped: list[str] = field(default_factory=list)
    input_duplicates: int = 0
    names_added: int = 0
    names_skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary printed at the end of a run."""
        by_method = ", ".join(f"{m} {self.methods[m]}" for m in METHODS if self.methods[m])
        lines = [
            f"linked {self.mentions} mentions in {self.documents} documents: {self.linked} linked "
            f"({by_method or 'none'}), {self.nil} NIL; wrote {self.output} (id style {self.id_style})"
        ]
        if self.kept:
            lines.append("kept as they were (the linker has no names for the type): "
                         + ", ".join(f"{n} {t}" for t, n in sorted(self.kept.items())))
        if self.names_added:
            lines.append(f"user names: {self.names_added} names")
        for what, skipped in (("input", self.input_skipped), ("names file", self.names_skipped)):
            if skipped:
                lines.append(f"skipped {len(skipped)} malformed {what} line(s) (--no-strict), first: {skipped[0]}")
        if self.input_duplicates:
            lines.append(f"wrote {self.input_duplicates} exact duplicate mention line(s) once")
        return lines


# ---- the linker ------------------------------------------------------------------------------------------
def load_linker(model: str | None = None, linker_dir: str | Path | None = None) -> ConceptLinker:
    """The linker of a model (a folder with `linker/`, or a Hub repo id) or a bare linker folder written by
    `ConceptLinker.save`. UsageError when there is none; `InputError` naming file and line for a damaged one."""
    if (model is None) == (linker_dir is None):
        raise UsageError("give one of --model (a model folder or Hub id) or --linker (a linker folder)")
    if linker_dir is not None:
        folder = Path(linker_dir)
        if not folder.is_dir():
            raise UsageError(f"{folder}: no such linker folder")
    elif os.path.isdir(model):
        folder = Path(model) / LINKER_FOLDER
        if not folder.is_dir():
            raise UsageError(f"{model} has no {LINKER_FOLDER}/ folder (models trained before the linker have none; "
                             "train.py builds one, or pass --linker DIR)")
    else:
        from modeling.modeling_joint_ner_re import _artifact_folder

        try:
            found = _artifact_folder(model, {}, LINKER_FOLDER, (CONFIG_FILE, NAMES_FILE))
        except Exception as error:  # an invalid repo id, no access: the Hub's own message
            raise UsageError(f"{model}: not a model folder, and the Hub gave no linker ({error})") from None
        if found is None:
            raise UsageError(f"{model}: not a model folder, and no {LINKER_FOLDER}/ found for it on the Hub "
                             "(or in the Hub cache when offline)")
        folder = Path(found)
    for name in (CONFIG_FILE, NAMES_FILE):
        if not (folder / name).is_file():
            raise UsageError(f"{folder / name}: not found (a linker folder holds {CONFIG_FILE} and {NAMES_FILE})")
    return ConceptLinker.load(folder)


def with_user_names(
    linker: ConceptLinker, names_path: str | Path, replace: bool = False, strict: bool = True,
    dense_train_seconds: float = 0.0,
) -> tuple[ConceptLinker, int, list[str]]:
    """The linker with a user's names file on top (every id must be one the linker knows) or, with
    `replace`, instead of its names; also the number of names read and the lines skipped (strict=False).
    `dense_train_seconds` > 0 also fine-tunes the linker's dense ranker on the file's names (pairs of names of
    one concept) for at most that long; the ranker is then the linker's own copy."""
    from biomed_nerre.linking import read_names_file

    if not Path(names_path).is_file():
        what = "a folder, not a names file" if Path(names_path).is_dir() else "no such names file"
        raise UsageError(f"{names_path}: {what}")
    report = VocabularyReport()
    id_types = {t: linker.known_ids(t) for t in linker.entity_types}  # a Disease id is no Chemical's
    known = None if replace else set().union(*id_types.values())
    rows = read_names_file(names_path, linker.entity_types, known_ids=known, strict=strict, report=report,
                           id_types=id_types)
    extended = linker.extended(rows, replace=replace)
    if dense_train_seconds > 0:
        if linker.dense is None:
            raise UsageError("--dense-train-seconds: this linker has no dense ranker to train (build one with "
                             "python -m biomed_nerre.linking build --dense-encoder ...)")
        import copy

        from biomed_nerre.linking.dense_training import train_dense_ranker

        extended.dense = copy.deepcopy(linker.dense)
        extended.dense.clear_cache()
        train_dense_ranker(extended.dense, rows, max_seconds=dense_train_seconds)
    return extended, len(rows), report.skipped


# ---- the file --------------------------------------------------------------------------------------------
def link_pubtator(
    input_path: str | Path,
    output_path: str | Path,
    linker: ConceptLinker,
    id_style: str | None = None,
    strict: bool = True,
    types: Iterable[str] | None = None,
) -> LinkSummary:
    """Write `input_path` to `output_path` (gzip when it ends in .gz) with each mention's linked ids (see
    the module docstring). `types`: the entity types to link (default: the linker's). PubTatorFormatError
    naming file and line for a malformed input (strict), UsageError for unusable paths or options."""
    style = id_style or default_id_style(linker.entity_types)
    if style not in ID_STYLES:
        raise UsageError(f"unknown id style {style!r}; expected one of: {', '.join(ID_STYLES)}")
    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise UsageError(f"{input_path}: no such input file")
    if output_path.exists() and output_path.resolve() == input_path.resolve():
        raise UsageError(f"{output_path}: the output would overwrite the input it is read from")
    if not output_path.parent.is_dir():
        raise UsageError(f"{output_path.parent}: no such folder for the output")
    linkable = frozenset(types if types is not None else linker.entity_types)
    summary = LinkSummary(output=str(output_path), id_style=style)
    report = ParseReport()
    policy = ErrorPolicy(strict=strict, report=report)
    documents = iter_pubtator(input_path, None, None, policy)
    write_pubtator(output_path, (_linked_document(d, linker, linkable, style, summary) for d in documents))
    summary.input_skipped = list(report.problems)
    summary.input_duplicates = report.duplicates
    return summary


def _linked_document(
    document: RawDocument, linker: ConceptLinker, linkable: frozenset[str], style: str, summary: LinkSummary
) -> RawDocument:
    """`document` with the linker's ids on the mentions of the types it links (see the module docstring)."""
    summary.documents += 1
    to_link = [m for m in document.mentions if m.type in linkable]
    links: dict[int, LinkResult] = {}
    if to_link:
        results = linker.link_mentions(document.text, [{"start": m.start, "end": m.end, "type": m.type} for m in to_link])
        links = {id(m): r for m, r in zip(to_link, results)}
    mentions = []
    for m in document.mentions:
        link = links.get(id(m))
        if link is None:
            summary.kept[m.type] += 1
            mentions.append(m)
            continue
        summary.mentions += 1
        if link.is_nil:
            summary.nil += 1
        else:
            summary.linked += 1
            summary.methods[link.method] += 1
        ids = mention_ids_field(list(link.ids), style)
        parts = m.composite_parts if ids == m.ids else []  # the parts name the old ids one by one
        mentions.append(RawMention(m.start, m.end, m.text, m.type, ids, parts, m.line))
    return RawDocument(document.pmid, document.title, document.abstract, mentions, document.relations)


def run(
    input_path: str | Path,
    output_path: str | Path,
    model: str | None = None,
    linker_dir: str | Path | None = None,
    names: str | Path | None = None,
    replace: bool = False,
    id_style: str | None = None,
    strict: bool = True,
    dense_train_seconds: float = 0.0,
) -> LinkSummary:
    """The whole command: load the linker, add the user's names, link the file. User errors (a missing
    path, a bad line of the input, the names file or the linker, a damaged file) raise `InputError` naming file
    and line (`UsageError` and the readers' errors are ones)."""
    if replace and names is None:
        raise UsageError("--replace needs --names (the names that replace the linker's)")
    linker = load_linker(model, linker_dir)
    types = linker.entity_types
    names_added, names_skipped = 0, []
    if names is not None:
        linker, names_added, names_skipped = with_user_names(linker, names, replace, strict, dense_train_seconds)
    elif dense_train_seconds > 0:
        raise UsageError("--dense-train-seconds needs --names (the names to train the dense ranker on)")
    summary = link_pubtator(input_path, output_path, linker, id_style, strict, types)
    summary.names_added, summary.names_skipped = names_added, names_skipped
    return summary
