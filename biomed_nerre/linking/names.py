"""Names from corpus annotations and from a user's names file, as `NameRow`s.

Corpus names: every gold mention with linked ids gives its text -> its ids (weight 1 per mention, so the id
a name is most often annotated with wins); a composite mention also gives each named part (BC5CDR's 7th
column) -> the id at the same position. Unlinked mentions (`-1`, `-`) give nothing. Only pass the splits a
model may learn from (train, and validation for a final model; never test).

A user's names file: UTF-8, tab-separated, one concept a line, `#` comments and blank lines ignored:

    <entity type>\t<id>\t<name>[|<synonym>...]

ids are CURIEs (`MESH:D002945`, `NCBIGene:154`) or corpus ids (`D002945`; gene numbers). A malformed line,
a line that is not UTF-8, an empty name, an id of unknown form, an id given twice (all of a concept's names go on
its one line) or with two types, an id the linker's vocabulary has under another type only (`id_types`: a
Disease id given as a Chemical would link chemicals to a disease), or (with `known_ids`) an id the linker does
not know raises `NamesFileError` naming the file and line; with `strict=False` such a line is skipped and
listed in `report.skipped`. A file with no names at all (empty, comments only) is an error in both modes.
"""

from __future__ import annotations

from pathlib import Path
from typing import AbstractSet, Any, Iterable, Iterator, Mapping, Sequence

from modeling.linking_joint_ner_re import NameRow
from modeling.outputs_joint_ner_re import to_curie

from .vocabularies import VocabularyFormatError, VocabularyReport, _lines

UNLINKED = frozenset({"-1", "-", ""})


class NamesFileError(VocabularyFormatError):
    """A bad line in a user's names file."""


def corpus_names(documents: Iterable[Mapping[str, Any]]) -> Iterator[NameRow]:
    """NameRows from gold mentions of `documents` rows (the `documents` schema of `loaders`)."""
    for document in documents:
        for mention in document["mentions"]:
            ids = [i for i in mention["ids"] if i not in UNLINKED]
            if not ids or len(ids) != len(mention["ids"]):
                continue  # unlinked, or a composite with an unlinked part: no reliable name
            entity_type = mention["type"]
            curies = tuple(to_curie(i, entity_type) for i in ids)
            yield NameRow(entity_type, curies, mention["text"], "corpus", 1.0)
            parts = list(mention.get("composite_parts") or [])
            if len(curies) > 1 and len(parts) == len(curies):
                for part, curie in zip(parts, curies):
                    yield NameRow(entity_type, (curie,), part, "corpus", 1.0)


def read_names_file(
    path: str | Path,
    entity_types: Sequence[str],
    known_ids: set[str] | None = None,
    strict: bool = True,
    report: VocabularyReport | None = None,
    id_types: Mapping[str, AbstractSet[str]] | None = None,
) -> list[NameRow]:
    """A user's names file (format in the module docstring) as NameRows with source "user".

    entity_types: the types the model predicts (others are an error); known_ids: when given, every id must be
    one of them (extending a vocabulary); id_types: entity type -> the ids the vocabulary has for it (an id it
    has only under other types is refused); strict=False skips bad lines into `report.skipped`."""
    report = report if report is not None else VocabularyReport()
    rows: list[NameRow] = []
    type_of: dict[str, tuple[str, int]] = {}
    for number, line in _lines(path, report, strict):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            _fail(report, strict, path, number, f"expected 3 tab-separated columns (type, id, names), found {len(parts)}")
            continue
        entity_type, raw_id, names = (p.strip() for p in parts)
        if entity_type not in entity_types:
            _fail(report, strict, path, number, f"unknown entity type {entity_type!r}; expected one of {list(entity_types)}")
            continue
        try:
            curie = to_curie(raw_id, entity_type)
        except ValueError as error:
            _fail(report, strict, path, number, str(error))
            continue
        if known_ids is not None and curie not in known_ids:
            _fail(report, strict, path, number, f"unknown id {curie}: not in the linker's vocabulary (use --replace to link to new ids)")
            continue
        if curie in type_of:
            other_type, other_line = type_of[curie]
            _fail(report, strict, path, number,
                  f"{curie} is a {entity_type} here but a {other_type} on line {other_line}" if other_type != entity_type
                  else f"{curie} is given twice (first on line {other_line}): give all its names on one line")
            continue
        conflict = _vocabulary_type_conflict(curie, entity_type, id_types)
        if conflict is not None:
            _fail(report, strict, path, number, conflict)
            continue
        name_list = [n.strip() for n in names.split("|")]
        if not names.strip() or any(not n for n in name_list):
            _fail(report, strict, path, number, f"empty name for {curie}")
            continue
        type_of.setdefault(curie, (entity_type, number))
        rows.extend(NameRow(entity_type, (curie,), name, "user", 1.0) for name in name_list)
    if not rows:
        skipped = f" ({len(report.skipped)} line(s) skipped)" if report.skipped else ""
        raise NamesFileError(path, None, f"no names in the file{skipped}: one concept a line, TYPE<TAB>ID<TAB>NAME[|SYNONYM...]")
    return rows


def _vocabulary_type_conflict(curie: str, entity_type: str, id_types: Mapping[str, AbstractSet[str]] | None) -> str | None:
    """What is wrong when the vocabulary has `curie` under other types but not under `entity_type`, or None."""
    if id_types is None or curie in id_types.get(entity_type, ()):
        return None
    others = sorted(t for t, ids in id_types.items() if t != entity_type and curie in ids)
    if not others:
        return None
    return (f"{curie} is a {' and '.join(others)} in the linker's vocabulary, not a {entity_type}: its names would "
            f"link {entity_type} mentions to a {others[0]} concept")


def _fail(report: VocabularyReport, strict: bool, path, number: int, message: str) -> None:
    error = NamesFileError(path, number, message)
    if strict:
        raise error
    report.skipped.append(str(error))
