"""Each kind of bad input raises an error naming the file, the line and the problem; strict=False skips
and counts instead."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from loaders import PubTatorFormatError, load_corpus, prepare_corpus
from loaders.documents import build_document
from loaders.pubtator import ErrorPolicy, ParseReport, iter_pubtator, iter_relation_tsv
from loaders.schema import CHEM_DIS_GENE_LABELS, ENTITY_TYPES
from loaders.sources import BC5CDR_FILES

TITLE = "Naloxone reverses hypertension."
ABSTRACT = "Clonidine and naloxone were given."
GOOD = (
    f"227508|t|{TITLE}\n"
    f"227508|a|{ABSTRACT}\n"
    "227508\t0\t8\tNaloxone\tChemical\tD009270\n"
    "227508\t18\t30\thypertension\tDisease\tD006973\n"
    "227508\t32\t41\tClonidine\tChemical\tD003000\n"
    "227508\tCID\tD003000\tD006973\n"
    "\n"
)


def parse_bc5cdr(path: Path, strict: bool = True, report: ParseReport | None = None) -> list[dict]:
    policy = ErrorPolicy(strict, report)
    return [
        build_document(raw, "bc5cdr", policy=policy)
        for raw in iter_pubtator(path, ENTITY_TYPES["bc5cdr"], ["CID"], policy)
    ]


def write(tmp_path: Path, text: str, name: str = "input.PubTator.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_document_parses(tmp_path):
    (doc,) = parse_bc5cdr(write(tmp_path, GOOD))
    assert [m["text"] for m in doc["mentions"]] == ["Naloxone", "hypertension", "Clonidine"]
    assert doc["relations"] == [{"label": "CID", "head": "D003000", "tail": "D006973"}]


BAD_CASES = {
    "truncated line": (GOOD.replace("227508\t32\t41\tClonidine\tChemical\tD003000", "227508\t32\t41\tClon"), 5,
                       r"truncated or malformed line: 4 tab-separated fields"),
    "non-integer offset": (GOOD.replace("\t32\t41\t", "\t32\tx41\t"), 5, r"offsets must be integers, got start='32' end='x41'"),
    "out-of-range offset": (GOOD.replace("\t32\t41\t", "\t62\t71\t"), 5, r"offsets 62-71 out of range for a text of 66 characters"),
    "mention text mismatch": (GOOD.replace("\t0\t8\tNaloxone", "\t1\t9\tNaloxone"), 3,
                              r"mention text 'Naloxone' does not match the document text 'aloxone ' at 1-9"),
    "missing title": (GOOD.replace(f"227508|t|{TITLE}\n", ""), 1, r"missing title line: .* found an abstract line for PMID 227508"),
    "missing abstract": (GOOD.replace(f"227508|a|{ABSTRACT}\n", ""), 1, r"missing abstract line 'PMID\|a\|abstract' for PMID 227508: found '227508\\t0\\t8"),
    "unknown relation label": (GOOD.replace("\tCID\t", "\tCAUSES\t"), 6, r"unknown relation label 'CAUSES' \(expected one of \['CID'\]\)"),
    "relation to an absent entity": (GOOD.replace("\tCID\tD003000", "\tCID\tD000001"), 6,
                                     r"relation CID names Chemical 'D000001', absent from the mentions of PMID 227508"),
    "relation with wrongly typed argument": (GOOD.replace("\tCID\tD003000\tD006973", "\tCID\tD003000\tD009270"), 6,
                                             r"relation CID names Disease 'D009270', absent"),
    "duplicated PMID": (GOOD + GOOD, 8, r"duplicated PMID 227508 \(first seen at line 1\)"),
    "empty file": ("\n\n", 1, r"file is empty: no PubTator document found"),
    "unknown entity type": (GOOD.replace("\tDisease\t", "\tSpecies\t"), 4, r"unknown entity type 'Species'"),
    "mention of another PMID": (GOOD.replace("227508\t0\t8", "999\t0\t8"), 3, r"mention line names PMID '999' inside the document of PMID 227508"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_names_file_line_and_problem(tmp_path, case):
    text, line, message = BAD_CASES[case]
    path = write(tmp_path, text)
    with pytest.raises(PubTatorFormatError, match=rf"^{str(path)}, line {line}: {message}") as error:
        parse_bc5cdr(path)
    assert (error.value.path, error.value.line) == (str(path), line)


def test_gzipped_input_and_errors(tmp_path):
    path = tmp_path / "abstracts.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(GOOD.replace("\t32\t41\t", "\t32\t4_1\t"))
    with pytest.raises(PubTatorFormatError, match=r"abstracts\.txt\.gz, line 5: offsets must be integers"):
        parse_bc5cdr(path)


def test_relation_tsv_errors(tmp_path):
    labels = CHEM_DIS_GENE_LABELS
    bad_label = write(tmp_path, "1\tchem_gene:affects^binding\tMESH:D1\t154\n1\tchem_gene:inhibits\tMESH:D1\t154\n", "r.tsv")
    with pytest.raises(PubTatorFormatError, match=r"r\.tsv, line 2: unknown relation label 'chem_gene:inhibits'"):
        list(iter_relation_tsv(bad_label, labels))
    truncated = write(tmp_path, "1\tchem_gene:affects^binding\tMESH:D1\n", "t.tsv")
    with pytest.raises(PubTatorFormatError, match=r"t\.tsv, line 1: truncated or malformed line: 3 tab-separated fields"):
        list(iter_relation_tsv(truncated, labels))
    with pytest.raises(PubTatorFormatError, match=r"e\.tsv, line 1: file is empty"):
        list(iter_relation_tsv(write(tmp_path, "", "e.tsv"), labels))


def test_non_strict_reports_and_skips_with_a_count(tmp_path):
    text = (
        GOOD.replace("\t0\t8\t", "\t0\tx8\t")  # bad mention: the line is skipped
        + GOOD.replace("227508", "1001").replace("\tCID\tD003000", "\tCID\tD000001")  # bad relation: skipped
        + GOOD.replace("227508", "1002").replace("1002|a|" + ABSTRACT + "\n", "")  # no abstract: document skipped
        + GOOD  # duplicated PMID: document skipped
    )
    report = ParseReport()
    docs = parse_bc5cdr(write(tmp_path, text), strict=False, report=report)
    assert [d["pmid"] for d in docs] == ["227508", "1001"]
    assert [[m["text"] for m in d["mentions"]] for d in docs] == [["hypertension", "Clonidine"], ["Naloxone", "hypertension", "Clonidine"]]
    assert [len(d["relations"]) for d in docs] == [1, 0]
    assert report.count == 4
    assert [p.split(": ", 1)[1].split(" ")[0] for p in report.problems] == ["offsets", "relation", "missing", "duplicated"]


def bc5cdr_dir(tmp_path: Path, train: str) -> Path:
    folder = tmp_path / "bc5cdr"
    folder.mkdir()
    for split, name in BC5CDR_FILES.items():
        (folder / name).write_text(train if split == "train" else GOOD, encoding="utf-8")
    return folder


def test_builder_raises_the_reader_error_unwrapped(tmp_path):
    folder = bc5cdr_dir(tmp_path, GOOD.replace("\t0\t8\tNaloxone", "\t1\t9\tNaloxone"))
    with pytest.raises(PubTatorFormatError, match=r"CDR_TrainingSet\.PubTator\.txt, line 3: mention text 'Naloxone'"):
        load_corpus("bc5cdr", data_dir=str(folder), cache_dir=str(tmp_path / "cache"))


def test_builder_non_strict_mode_counts_what_it_skipped(tmp_path):
    folder = bc5cdr_dir(tmp_path, GOOD + GOOD)
    builder = prepare_corpus("bc5cdr", "documents", data_dir=str(folder), cache_dir=str(tmp_path / "cache"), strict=False)
    assert builder.as_dataset()["train"].num_rows == 1
    assert builder.reports["train"].count == 1 and "duplicated PMID" in builder.reports["train"].problems[0]
    assert builder.reports["test"].count == 0


# ---- encoding and duplicate lines (issue 15) ------------------------------------------------------------
def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.PubTator.txt"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode("utf-8"))
    (doc,) = parse_bc5cdr(path)
    assert doc["pmid"] == "227508" and doc["title"] == TITLE
    assert [m["text"] for m in doc["mentions"]] == ["Naloxone", "hypertension", "Clonidine"]


def test_byte_order_mark_in_a_gzipped_file_is_accepted(tmp_path):
    path = tmp_path / "bom.txt.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"\xef\xbb\xbf" + GOOD.encode("utf-8"))
    assert [d["pmid"] for d in parse_bc5cdr(path)] == ["227508"]


def test_undecodable_bytes_name_file_and_line(tmp_path):
    path = tmp_path / "latin1.PubTator.txt"
    path.write_bytes(GOOD.replace("Clonidine and", "Clonidine caf\u00e9 and").encode("latin-1"))
    with pytest.raises(PubTatorFormatError, match=rf"^{path}, line 2: not UTF-8: byte 0xe9 at byte 23 of the line") as error:
        parse_bc5cdr(path)
    assert (error.value.path, error.value.line) == (str(path), 2)


def test_undecodable_bytes_through_the_builder_name_file_and_line(tmp_path):
    folder = bc5cdr_dir(tmp_path, GOOD)
    (folder / BC5CDR_FILES["train"]).write_bytes(GOOD.encode("utf-8") + b"\n1|t|bad \xff byte\n1|a|x\n")
    with pytest.raises(PubTatorFormatError, match=r"CDR_TrainingSet\.PubTator\.txt, line 9: not UTF-8: byte 0xff"):
        load_corpus("bc5cdr", data_dir=str(folder), cache_dir=str(tmp_path / "cache"))


def test_exact_duplicate_mention_line_is_kept_once_and_noted(tmp_path, caplog):
    duplicated = GOOD.replace(
        "227508\t18\t30\thypertension\tDisease\tD006973\n",
        "227508\t18\t30\thypertension\tDisease\tD006973\n" * 2,
    )
    path = write(tmp_path, duplicated)
    for strict in (True, False):
        report = ParseReport()
        with caplog.at_level("WARNING", logger="loaders.pubtator"):
            (doc,) = parse_bc5cdr(path, strict=strict, report=report)
        assert [m["text"] for m in doc["mentions"]] == ["Naloxone", "hypertension", "Clonidine"]
        assert report.duplicates == 1 and report.count == 0
        assert report.notes == [f"{path}, line 5: exact duplicate of the mention line at line 4; kept once"]
        assert report.notes[0] in caplog.text


def test_same_span_with_other_ids_is_not_an_exact_duplicate(tmp_path):
    path = write(tmp_path, GOOD.replace(
        "227508\t18\t30\thypertension\tDisease\tD006973\n",
        "227508\t18\t30\thypertension\tDisease\tD006973\n227508\t18\t30\thypertension\tDisease\tD000001\n",
    ).replace("227508\tCID", "227508\tCID"))
    raws = list(iter_pubtator(path, ENTITY_TYPES["bc5cdr"], ["CID"]))
    assert [m.ids for m in raws[0].mentions] == [["D009270"], ["D006973"], ["D000001"], ["D003000"]]


def test_any_type_and_label_when_none_are_given(tmp_path):
    path = write(tmp_path, GOOD.replace("\tDisease\t", "\tSpecies\t").replace("\tCID\t", "\tCAUSES\t"))
    (raw,) = iter_pubtator(path, None, None)
    assert [m.type for m in raw.mentions] == ["Chemical", "Species", "Chemical"]
    assert [r.label for r in raw.relations] == ["CAUSES"]
