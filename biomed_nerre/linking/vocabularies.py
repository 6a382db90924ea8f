"""Readers for the public vocabularies the linker learns names from, each yielding `NameRow`s.

Two forms of each vocabulary are read:
- the fixed copies in `../shared/data/vocab/` (MeSH 2023 descriptors and supplementary concepts as tab-separated
  files, CTD MEDIC as `ids||names`, HGNC as its TSV export), which tests and offline runs use;
- the official releases that `biomed_nerre.linking.sources` downloads (MeSH ASCII `d2025.bin` / `c2025.bin`, CTD's
  `CTD_diseases.tsv.gz`, HGNC's `hgnc_complete_set.txt`).

Entity types: a MeSH descriptor is a Disease when one of its tree numbers is in branch C (Diseases) or F03
(Mental Disorders, which BC5CDR annotates as diseases), and a Chemical when one is in branch D (Chemicals and
Drugs); a descriptor in both is both; others are skipped. A supplementary concept takes the types of the
descriptors it is mapped to (Chemical when none is known). MEDIC names are Diseases, HGNC names Genes.
Weights: 2 for a preferred name or symbol, 1 for an entry term, synonym, alias or previous symbol.

Files are read with quoting off (MeSH names contain quote characters). A malformed line, or one that is not
UTF-8, raises `VocabularyFormatError` naming the file and line; `strict=False` skips it and counts it in
`report`. A damaged file (a gzip stream cut short) raises naming the file and the line reached, in both modes.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from loaders.pubtator import DamagedFileError, PubTatorFormatError, decode_line, raw_lines
from modeling.linking_joint_ner_re import NameRow
from modeling.outputs_joint_ner_re import InputError

MESH_ID = re.compile(r"^[CD]\d{6,9}$")


class VocabularyFormatError(InputError):
    """A malformed vocabulary line: `<file>, line <n>: <what is wrong>` (`<file>: ...` for the whole file, with
    `line` None)."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        super().__init__(f"{path}, line {line}: {message}" if line is not None else f"{path}: {message}")
        self.path, self.line, self.message = str(path), line, message


@dataclass
class VocabularyReport:
    """What a non-strict read skipped, and the tree numbers it saw (for the MeSH hierarchy)."""

    skipped: list[str] = field(default_factory=list)
    tree_numbers: dict[str, list[str]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)

    def fail(self, strict: bool, path: str | Path, line: int, message: str) -> None:
        error = VocabularyFormatError(path, line, message)
        if strict:
            raise error
        self.skipped.append(str(error))


def _lines(path: str | Path, report: VocabularyReport | None = None, strict: bool = True) -> Iterator[tuple[int, str]]:
    """(number, line without its line break) for each line (gzip detected by its magic bytes). A line that is not
    UTF-8 raises `VocabularyFormatError` naming the file and that line (decoded line by line, so the number is
    the line's own), or with `strict=False` and a `report` is skipped into it."""
    for number, raw in raw_lines(path):
        try:
            yield number, decode_line(path, number, raw)
        except PubTatorFormatError as error:
            if strict or report is None or isinstance(error, DamagedFileError):  # UTF-16: no line can be read
                raise VocabularyFormatError(path, number, error.message) from None
            report.fail(False, path, number, error.message)


def _split(value: str, sep: str = "|") -> list[str]:
    return [part.strip() for part in value.split(sep) if part.strip()]


def descriptor_types(tree_numbers: list[str]) -> list[str]:
    """Entity types of a MeSH descriptor from its tree numbers (see the module docstring)."""
    types = []
    if any(t.startswith("D") for t in tree_numbers):
        types.append("Chemical")
    if any(t.startswith("C") or t.startswith("F03") for t in tree_numbers):
        types.append("Disease")
    return types


def _check_id(path, number, raw_id, report, strict, seen: set[str]) -> bool:
    if not MESH_ID.match(raw_id):
        report.fail(strict, path, number, f"{raw_id!r} is not a MeSH id (D or C and digits)")
        return False
    if raw_id in seen:
        report.fail(strict, path, number, f"MeSH id {raw_id} appears twice")
        return False
    seen.add(raw_id)
    return True


def read_mesh_descriptors_tsv(path: str | Path, report: VocabularyReport, strict: bool = True) -> Iterator[NameRow]:
    """The descriptors file of `../shared/data/vocab` (id, name, entry terms, tree numbers, taxa)."""
    seen: set[str] = set()
    for number, line in _lines(path, report, strict):
        parts = line.split("\t")
        if len(parts) < 4:
            report.fail(strict, path, number, f"expected at least 4 tab-separated columns, found {len(parts)}")
            continue
        raw_id, name, entries, trees = parts[0].strip(), parts[1].strip(), parts[2], parts[3]
        if not _check_id(path, number, raw_id, report, strict, seen):
            continue
        if not name:
            report.fail(strict, path, number, f"descriptor {raw_id} has an empty name")
            continue
        tree_numbers = _split(trees)
        report.tree_numbers[raw_id] = tree_numbers
        for entity_type in descriptor_types(tree_numbers):
            report.counts[f"mesh-descriptor:{entity_type}"] += 1
            yield NameRow(entity_type, ("MESH:" + raw_id,), name, "mesh-descriptor", 2.0)
            for entry in _split(entries):
                yield NameRow(entity_type, ("MESH:" + raw_id,), entry, "mesh-descriptor", 1.0)


def read_mesh_supplementary_tsv(
    path: str | Path, report: VocabularyReport, strict: bool = True, types_of: dict[str, list[str]] | None = None
) -> Iterator[NameRow]:
    """The supplementary concepts file (id, name, synonyms, mapped descriptors). `types_of`: descriptor id ->
    entity types (from the descriptors read first). A row with a stray extra tab (C483025 in the 2023 file)
    keeps its first four columns."""
    seen: set[str] = set()
    for number, line in _lines(path, report, strict):
        parts = line.split("\t")
        if len(parts) < 4:
            report.fail(strict, path, number, f"expected 4 tab-separated columns, found {len(parts)}")
            continue
        if len(parts) > 4:
            report.counts["mesh-supplementary:extra-columns"] += 1
        raw_id, name, synonyms, mapped = parts[0].strip(), parts[1].strip(), parts[2], parts[3]
        if not _check_id(path, number, raw_id, report, strict, seen):
            continue
        if not name:
            report.fail(strict, path, number, f"supplementary concept {raw_id} has an empty name")
            continue
        mapped_ids = [m.lstrip("*") for m in _split(mapped.replace(",", "|"))]  # 95,700 rows of the 2023 copy join them with ","
        types = sorted({t for m in mapped_ids for t in (types_of or {}).get(m, [])}) or ["Chemical"]
        for entity_type in types:
            report.counts[f"mesh-supplementary:{entity_type}"] += 1
            yield NameRow(entity_type, ("MESH:" + raw_id,), name, "mesh-supplementary", 2.0)
            for synonym in _split(synonyms):
                yield NameRow(entity_type, ("MESH:" + raw_id,), synonym, "mesh-supplementary", 1.0)


def read_medic(path: str | Path, report: VocabularyReport, strict: bool = True) -> Iterator[NameRow]:
    """CTD MEDIC as `ids||names` (MeSH id and OMIM numbers; preferred name first). The MeSH id is the
    concept's id; OMIM numbers are not kept, and OMIM-only concepts are skipped (counted)."""
    seen: set[str] = set()
    for number, line in _lines(path, report, strict):
        if not line.strip():
            continue
        ids, sep, names = line.partition("||")
        if not sep:
            report.fail(strict, path, number, "expected 'ids||names'")
            continue
        id_list = _split(ids)
        if id_list == ["C"]:  # MEDIC's root concept "Diseases" (MESH:C), not a disease to link to
            report.counts["medic:root"] += 1
            continue
        bad = [i for i in id_list if not (i.isdigit() or MESH_ID.match(i))]
        if not id_list or bad:
            report.fail(strict, path, number, f"ids {ids!r}: expected MeSH ids and OMIM numbers joined by '|'")
            continue
        mesh_ids = [i for i in id_list if not i.isdigit()]
        if not mesh_ids:  # an OMIM-only concept: BC5CDR and ChemDisGene use MeSH ids
            report.counts["medic:omim-only"] += 1
            continue
        if not _check_id(path, number, mesh_ids[0], report, strict, seen):
            continue
        name_list = _split(names)
        if not name_list:
            report.fail(strict, path, number, f"concept {mesh_ids[0]} has no name")
            continue
        report.counts["medic:Disease"] += 1
        for i, name in enumerate(name_list):
            yield NameRow("Disease", ("MESH:" + mesh_ids[0],), name, "medic", 2.0 if i == 0 else 1.0)


def read_ctd_diseases(path: str | Path, report: VocabularyReport, strict: bool = True) -> Iterator[NameRow]:
    """CTD's `CTD_diseases.tsv(.gz)` (the official MEDIC release): `#` comment lines, then DiseaseName,
    DiseaseID (`MESH:D...` or `OMIM:...`), AltDiseaseIDs, Definition, ParentIDs, TreeNumbers,
    ParentTreeNumbers, Synonyms, SlimMappings. OMIM-only concepts are skipped (BC5CDR and ChemDisGene use MeSH)."""
    seen: set[str] = set()
    for number, line in _lines(path, report, strict):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 8:
            report.fail(strict, path, number, f"expected at least 8 tab-separated columns, found {len(parts)}")
            continue
        name, disease_id, synonyms = parts[0].strip(), parts[1].strip(), parts[7]
        if disease_id.startswith("OMIM:"):
            continue
        raw_id = disease_id.removeprefix("MESH:")
        if not _check_id(path, number, raw_id, report, strict, seen):
            continue
        if not name:
            report.fail(strict, path, number, f"concept {disease_id} has an empty name")
            continue
        report.counts["medic:Disease"] += 1
        yield NameRow("Disease", ("MESH:" + raw_id,), name, "medic", 2.0)
        for synonym in _split(synonyms):
            yield NameRow("Disease", ("MESH:" + raw_id,), synonym, "medic", 1.0)


_HGNC_COLUMNS = {  # our column role -> header names in the shared copy / the official complete set
    "symbol": ("Approved symbol", "symbol"),
    "name": ("Approved name", "name"),
    "status": ("Status", "status"),
    "aliases": ("Alias symbols", "alias_symbol"),
    "previous": ("Previous symbols", "prev_symbol"),
    "ncbi": ("NCBI Gene ID(supplied by NCBI)", "NCBI Gene ID", "entrez_id"),
}


def read_hgnc(path: str | Path, report: VocabularyReport, strict: bool = True) -> Iterator[NameRow]:
    """HGNC genes (the shared TSV or the official `hgnc_complete_set.txt`): approved symbol and name, aliases
    and previous symbols -> `NCBIGene:<id>`. Genes without an NCBI Gene id or not `Approved` are skipped."""
    lines = _lines(path, report, strict)
    try:
        _, header_line = next(lines)
    except StopIteration:
        raise VocabularyFormatError(path, 1, "empty file (expected a header line)") from None
    header = header_line.split("\t")
    index: dict[str, int] = {}
    for role, names in _HGNC_COLUMNS.items():
        found = [header.index(n) for n in names if n in header]
        if not found:
            raise VocabularyFormatError(path, 1, f"no column for {role} (looked for {', '.join(names)})")
        index[role] = found[0]
    seen: set[str] = set()
    for number, line in lines:
        parts = line.split("\t")
        if len(parts) <= max(index.values()):
            report.fail(strict, path, number, f"expected {len(header)} tab-separated columns, found {len(parts)}")
            continue
        ncbi = parts[index["ncbi"]].strip()
        if parts[index["status"]].strip() != "Approved" or not ncbi:
            continue
        if not ncbi.isdigit():
            report.fail(strict, path, number, f"NCBI Gene id {ncbi!r} is not a number")
            continue
        if ncbi in seen:
            report.fail(strict, path, number, f"NCBI Gene id {ncbi} appears twice")
            continue
        seen.add(ncbi)
        symbol, name = parts[index["symbol"]].strip(), parts[index["name"]].strip()
        if not symbol:
            report.fail(strict, path, number, f"gene {ncbi} has an empty symbol")
            continue
        report.counts["hgnc:Gene"] += 1
        curie = ("NCBIGene:" + ncbi,)
        yield NameRow("Gene", curie, symbol, "hgnc", 2.0)
        if name:
            yield NameRow("Gene", curie, name, "hgnc", 2.0)
        for column in ("aliases", "previous"):
            for other in _split(parts[index[column]].strip('"').replace("|", ","), ","):  # official form: "A|B"
                yield NameRow("Gene", curie, other.strip('"'), "hgnc", 1.0)


def _mesh_ascii_records(path: str | Path) -> Iterator[tuple[int, dict[str, list[str]]]]:
    record: dict[str, list[str]] = {}
    start = 0
    for number, line in _lines(path):
        if line == "*NEWRECORD":
            if record:
                yield start, record
            record, start = {}, number
            continue
        key, sep, value = line.partition(" = ")
        if sep:
            record.setdefault(key.strip(), []).append(value)
    if record:
        yield start, record


def read_mesh_ascii(
    path: str | Path, report: VocabularyReport, strict: bool = True, types_of: dict[str, list[str]] | None = None,
    descriptor_ids: dict[str, str] | None = None,
) -> Iterator[NameRow]:
    """NLM's MeSH ASCII files: descriptors (`d2025.bin`: UI, MH, ENTRY / PRINT ENTRY, MN) or supplementary
    concepts (`c2025.bin`: UI, NM, SY, HM naming the mapped descriptors). For supplementary files pass
    `types_of` and `descriptor_ids` (descriptor name -> id) filled while reading the descriptors."""
    seen: set[str] = set()
    for number, record in _mesh_ascii_records(path):
        raw_id = (record.get("UI") or [""])[0].strip()
        if not _check_id(path, number, raw_id, report, strict, seen):
            continue
        if "MH" in record:  # descriptor
            name = record["MH"][0].strip()
            synonyms = [e.split("|")[0] for e in record.get("ENTRY", []) + record.get("PRINT ENTRY", [])]
            tree_numbers = [t.strip() for t in record.get("MN", [])]
            report.tree_numbers[raw_id] = tree_numbers
            if descriptor_ids is not None:
                descriptor_ids[name] = raw_id
            types, source = descriptor_types(tree_numbers), "mesh-descriptor"
            if types_of is not None:
                types_of[raw_id] = types
        elif "NM" in record:  # supplementary concept
            name = record["NM"][0].strip()
            synonyms = [s.split("|")[0] for s in record.get("SY", [])]
            mapped = [(descriptor_ids or {}).get(h.lstrip("*").split("/")[0].strip(), "") for h in record.get("HM", [])]
            types = sorted({t for m in mapped for t in (types_of or {}).get(m, [])}) or ["Chemical"]
            source = "mesh-supplementary"
        else:
            report.fail(strict, path, number, f"record {raw_id} has neither MH nor NM")
            continue
        if not name:
            report.fail(strict, path, number, f"record {raw_id} has an empty name")
            continue
        for entity_type in types:
            report.counts[f"{source}:{entity_type}"] += 1
            yield NameRow(entity_type, ("MESH:" + raw_id,), name, source, 2.0)
            for synonym in synonyms:
                if synonym.strip():
                    yield NameRow(entity_type, ("MESH:" + raw_id,), synonym.strip(), source, 1.0)

