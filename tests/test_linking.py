"""The concept linker (issue 14) on real vocabulary rows: exact lookup, supplementary concepts typed by their
descriptors, abbreviations, composite mentions, suffix variants, loose keys, the fuzzy step and NIL, source
precedence, the save/load round trip, users' names files, each bad-input case, the official file forms, and a
model with a linker loaded with `trust_remote_code=True` in a fresh process.

Vocabulary folders are small copies made of REAL rows of `../shared/data/vocab` (the rows of the concepts the
tests name, plus the first few hundred of each file), with the shared folder's file names; the full
323k-row supplementary file is never loaded.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from biomed_nerre.linking import NamesFileError, VocabularyFormatError, VocabularyReport, linker_rows, read_names_file
from biomed_nerre.linking.build import vocabulary_names
from biomed_nerre.linking.vocabularies import read_hgnc, read_medic, read_mesh_descriptors_tsv, read_mesh_supplementary_tsv
from modeling.name_table_joint_ner_re import NameTable
from modeling.linking_joint_ner_re import (
    NAMES_FILE,
    ConceptLinker,
    LinkResult,
    NameRow,
    _TrigramIndex,
    _trigrams,
    document_abbreviations,
    group_linked_mentions,
)
from modeling.outputs_joint_ner_re import InputError, curie_to_corpus_id, to_curie
from tests.fresh_process import run_without_project_code

ROOT = Path(__file__).resolve().parents[1]
VOCAB = ROOT.parent / "shared" / "data" / "vocab"
TYPES = ["Chemical", "Disease", "Gene"]

# the concepts the tests name (real ids); D014770/D048909 are the other descriptors C536013 is mapped to
DESCRIPTORS = {"D001561", "D001943", "D002945", "D003920", "D004409", "D005472", "D006331", "D006973",
               "D007674", "D009369", "D010051", "D012640", "D014770", "D048909"}
SUPPLEMENTS = {"C000002", "C536013"}  # bevonium (-> D001561, a chemical); Achard-Thiers syndrome (-> D010051, ...)
MEDIC = {"D001943", "D010051", "D006973", "D009369", "D012640"}
GENES = {"HGNC:1100", "HGNC:11892"}  # BRCA1 (NCBI Gene 672), TNF (7124)


def _pick(path: Path, wanted: set[str], first: int, key) -> list[str]:
    """The first `first` lines of `path` and the lines whose key is wanted (stops once all are found)."""
    wanted, picked = set(wanted), []
    with open(path, encoding="utf-8", newline="") as handle:
        for number, line in enumerate(handle):
            k = key(line)
            if number < first or k in wanted:
                picked.append(line)
                wanted.discard(k)
            elif not wanted:
                break
    assert not wanted, f"{path}: rows not found: {sorted(wanted)}"
    return picked


def _medic_key(line: str) -> str | None:
    ids = line.split("||", 1)[0].split("|")
    return "C" if ids == ["C"] else next((i for i in ids if i in MEDIC), None)


def write_vocab(folder: Path) -> Path:
    """A small vocabulary folder of real rows, with the shared folder's file names."""
    folder.mkdir(parents=True, exist_ok=True)
    first_field = lambda line: line.split("\t", 1)[0]  # noqa: E731
    files = {
        "mesh_descriptors_2023.tsv": _pick(VOCAB / "mesh_descriptors_2023.tsv", DESCRIPTORS, 300, first_field),
        "mesh_supplementary_2023.tsv": _pick(VOCAB / "mesh_supplementary_2023.tsv", SUPPLEMENTS, 300, first_field),
        "medic_06Jul2012.txt": _pick(VOCAB / "medic_06Jul2012.txt", MEDIC | {"C"}, 200, _medic_key),
        "hgnc_genes.tsv": _pick(VOCAB / "hgnc_genes.tsv", GENES, 301, first_field),  # header + 300
    }
    for name, lines in files.items():
        (folder / name).write_text("".join(lines), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> Path:
    return write_vocab(tmp_path_factory.mktemp("vocab"))


@pytest.fixture(scope="module")
def linker(vocab) -> ConceptLinker:
    rows, metadata = linker_rows([], TYPES, vocab_dir=vocab)
    return ConceptLinker.from_names(rows, metadata=metadata, entity_types=TYPES)


def spans(text: str, *names_and_types: tuple[str, str]) -> list[dict]:
    """Mentions (start, end, type) of every occurrence of each name in `text`, in text order."""
    found = [{"start": m.start(), "end": m.end(), "type": t}
             for name, t in names_and_types for m in re.finditer(re.escape(name), text)]
    return sorted(found, key=lambda m: m["start"])


# ---- lookup -----------------------------------------------------------------------------------------------
def test_exact_lookup_on_real_rows_returns_curies(linker) -> None:
    assert linker.link("cisplatin", "Chemical") == LinkResult(("MESH:D002945",), 1.0, "exact")
    assert linker.link("cis-Diamminedichloroplatinum(II)", "Chemical").ids == ("MESH:D002945",)  # entry term
    assert linker.link("5-Fluorouracil", "Chemical").ids == ("MESH:D005472",)
    assert linker.link("High Blood Pressure", "Disease").ids == ("MESH:D006973",)
    assert linker.link("Cancer of the Ovary", "Disease").ids == ("MESH:D010051",)  # a MEDIC synonym only
    assert linker.link("BRCA1", "Gene").ids == ("NCBIGene:672",)
    assert linker.link("tumor necrosis factor", "Gene").ids == ("NCBIGene:7124",)  # approved name
    assert linker.link("TNF-alpha", "Gene").ids == ("NCBIGene:7124",)  # alias
    assert linker.link("TNFA", "Gene").ids == ("NCBIGene:7124",)  # previous symbol
    # a name is linked within its type only
    assert linker.link("cisplatin", "Disease").is_nil
    assert linker.link("cisplatin", "Species") == LinkResult((), 0.0, "nil")


def test_supplementary_concept_takes_the_types_of_its_mapped_descriptors(linker) -> None:
    # C536013 is mapped to "D010051,D014770,D048909" (comma-joined in the 2023 copy): D010051 is a disease
    assert linker.link("Achard-Thiers syndrome", "Disease").ids == ("MESH:C536013",)
    assert linker.link("Bearded female with diabetes", "Disease").ids == ("MESH:C536013",)  # a synonym
    assert linker.link("Achard-Thiers syndrome", "Chemical", fuzzy=False).is_nil
    assert linker.link("bevonium", "Chemical").ids == ("MESH:C000002",)  # mapped to D001561, a chemical
    assert linker.link("bevonium", "Disease", fuzzy=False).is_nil


def test_abbreviations_defined_in_the_document_link_like_their_long_form(linker) -> None:
    text = ("Rats given cisplatin (CDDP) and 5-fluorouracil (5-FU) developed high blood pressure (HBP). "
            "CDDP and 5-FU raised HBP further.")
    mentions = spans(text, ("cisplatin", "Chemical"), ("CDDP", "Chemical"), ("5-fluorouracil", "Chemical"),
                     ("5-FU", "Chemical"), ("HBP", "Disease"))
    links = linker.link_mentions(text, mentions)
    got = [(text[m["start"]:m["end"]], link.ids, link.method) for m, link in zip(mentions, links)]
    assert got == [
        ("cisplatin", ("MESH:D002945",), "exact"),
        ("CDDP", ("MESH:D002945",), "abbreviation"),  # "cisplatin (CDDP)": no letter of CDDP is a problem
        ("5-fluorouracil", ("MESH:D005472",), "exact"),
        ("5-FU", ("MESH:D005472",), "abbreviation"),
        ("HBP", ("MESH:D006973",), "abbreviation"),  # long form "high blood pressure" is no mention here
        ("CDDP", ("MESH:D002945",), "abbreviation"),
        ("5-FU", ("MESH:D005472",), "abbreviation"),
        ("HBP", ("MESH:D006973",), "abbreviation"),
    ]
    assert document_abbreviations(text)["HBP"] == "high blood pressure"
    # without the document's definitions the short forms are unknown names: NIL, never an arbitrary id
    assert linker.link("CDDP", "Chemical").is_nil and linker.link("HBP", "Disease").is_nil
    # one entity per id in the document
    entities = group_linked_mentions([{**m, "text": text[m["start"]:m["end"]]} for m in mentions], links)
    assert [(e["id"], len(e["mention_indices"])) for e in entities] == [
        ("MESH:D002945", 3), ("MESH:D005472", 3), ("MESH:D006973", 2)
    ]


def test_composite_mentions_carry_each_parts_id(linker) -> None:
    assert linker.link("breast and ovarian cancer", "Disease") == LinkResult(
        ("MESH:D001943", "MESH:D010051"), 1.0, "composite"
    )
    assert linker.link("breast or ovarian cancers", "Disease").ids == ("MESH:D001943", "MESH:D010051")
    assert linker.link("hypertension and seizures", "Disease").ids == ("MESH:D006973", "MESH:D012640")
    assert linker.link("hypertension and xyzzy", "Disease", fuzzy=False).is_nil  # every part must link
    # a composite is in each of its ids' entities
    mentions = [{"text": "breast and ovarian cancer", "type": "Disease"}, {"text": "breast cancer", "type": "Disease"}]
    links = [linker.link(m["text"], "Disease") for m in mentions]
    entities = group_linked_mentions(mentions, links)
    assert [(e["id"], e["mention_indices"]) for e in entities] == [("MESH:D001943", [0, 1]), ("MESH:D010051", [0])]


def test_suffix_variants_and_loose_keys(linker) -> None:
    assert linker.link("hypertensive", "Disease") == LinkResult(("MESH:D006973",), 1.0, "variant")
    assert linker.link("Neoplasms, Breast", "Disease").ids == ("MESH:D001943",)  # an entry term
    assert linker.link("neoplasm of the breast", "Disease") == LinkResult(("MESH:D001943",), 1.0, "loose")
    assert linker.link("Breast Neoplasm", "Disease").method == "exact"
    assert linker.link("neoplasms of the ovary", "Disease") == LinkResult(("MESH:D010051",), 1.0, "loose")
    assert linker.link("anaemia", "Disease", fuzzy=False).is_nil  # not in the small vocabulary: no guess


def test_fuzzy_step_and_nil(linker, vocab) -> None:
    fuzzy = linker.link("cisplatinum", "Chemical")
    assert fuzzy.ids == ("MESH:D002945",) and fuzzy.method == "fuzzy" and 0.8 <= fuzzy.score < 1.0
    assert linker.link("cisplatinum", "Chemical", fuzzy=False).is_nil  # exact lookup alone: NIL
    assert linker.link("brest neoplasm", "Disease").ids == ("MESH:D001943",)
    # a mention with no candidate is NIL
    for name, entity_type in (("xyzzy quux", "Disease"), ("qqqq", "Chemical"), ("", "Chemical"), ("--", "Gene")):
        assert linker.link(name, entity_type) == LinkResult((), 0.0, "nil")
    # below the threshold: NIL (the same names, a stricter linker)
    rows, _ = linker_rows([], TYPES, vocab_dir=vocab)
    strict = ConceptLinker.from_names(rows, fuzzy_threshold=0.9, entity_types=TYPES)
    assert strict.link("brest neoplasm", "Disease").is_nil
    assert strict.link("fluorouracill", "Chemical").ids == ("MESH:D005472",)  # similarity above 0.9
    assert linker.link("brest neoplasm", "Disease").score < 0.9 < linker.link("fluorouracill", "Chemical").score
    # several at once: one trigram search, the same answers
    names = ["cisplatinum", "xyzzy quux", "cisplatin"]
    assert linker.link_many(names, "Chemical") == [linker.link(n, "Chemical") for n in names]


def _reference_nearest(names: list[str], query: str) -> tuple[int, float]:
    """The trigram TF-IDF cosine search written out name by name (what `_TrigramIndex` computes with tensors)."""
    import math
    from collections import Counter

    grams = [Counter(_trigrams(n)) for n in names]
    frequency = Counter(g for counts in grams for g in counts)
    idf = {g: math.log((1 + len(names)) / (1 + df)) + 1.0 for g, df in frequency.items()}

    def unit(counts: Counter) -> dict[str, float]:
        weights = {g: (1.0 + math.log(k)) * idf[g] for g, k in counts.items() if g in idf}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {g: w / norm for g, w in weights.items()}

    wanted = unit(Counter(_trigrams(query)))
    scores = [sum(w * unit(counts).get(g, 0.0) for g, w in wanted.items()) for counts in grams]
    best = max(range(len(names)), key=lambda i: (scores[i], -i))
    return (best, scores[best]) if scores[best] > 0 else (-1, 0.0)


def test_trigram_index_matches_the_search_written_out(linker) -> None:
    names = sorted(k for table in linker.exact.values() for k in table)
    assert len(names) > 500
    names += ["tnf alpha", "β blocker", "ü ö", "x"]  # non-ASCII and a one-letter name
    index = _TrigramIndex(names)
    queries = ["cisplatinum", "brest neoplasm", "fluorouracill", "tnf alfa", "β blockers", "ü", "x", "qqqq", "",
               names[100][:-1], names[200][1:], names[300] + " s"]
    found = index.nearest(queries)
    for query, (row, score) in zip(queries, found):
        expected_row, expected_score = _reference_nearest(names, query)
        assert row == expected_row and score == pytest.approx(expected_score, abs=1e-6), query
    assert found[queries.index("")] == (-1, 0.0)  # no trigram of a name
    assert index.nearest([]) == [] and _TrigramIndex([]).nearest(["abc"]) == [(-1, 0.0)]


def test_medic_omim_only_and_root_rows_are_skipped_and_counted(vocab) -> None:
    report = VocabularyReport()
    rows = list(read_medic(vocab / "medic_06Jul2012.txt", report))
    assert report.counts["medic:root"] == 1  # "C||Diseases"
    assert report.counts["medic:omim-only"] > 0  # e.g. "145250||HYPERPIGMENTATION, FAMILIAL PROGRESSIVE, 2"
    names = {r.name for r in rows}
    assert "Diseases" not in names and "HYPERPIGMENTATION, FAMILIAL PROGRESSIVE, 2" not in names
    assert all(r.ids[0].startswith("MESH:") and r.entity_type == "Disease" for r in rows)
    # "167000|D010051||Ovarian Neoplasms|...": the MeSH id, not the OMIM number
    assert {r.ids for r in rows if r.name == "Ovarian Neoplasms"} == {("MESH:D010051",)}


def test_source_precedence_corpus_over_vocabularies() -> None:
    rows = [
        NameRow("Disease", ("MESH:D009369",), "Cancer", "mesh-descriptor", 1.0),  # real entry term of Neoplasms
        NameRow("Disease", ("MESH:D009369",), "Cancer", "medic", 1.0),
        NameRow("Disease", ("MESH:D001943",), "cancer", "corpus", 1.0),
        NameRow("Disease", ("MESH:D001943",), "cancer", "corpus", 1.0),
        NameRow("Disease", ("MESH:D010051",), "cancer", "corpus", 1.0),
        NameRow("Chemical", ("MESH:C000002",), "bevonium", "mesh-supplementary", 2.0),
        NameRow("Chemical", ("MESH:D001561",), "bevonium", "mesh-descriptor", 1.0),
    ]
    linker = ConceptLinker.from_names(rows)
    # the corpus decides over MEDIC and MeSH; within it the most annotated id, scored by its share
    assert linker.link("cancer", "Disease") == LinkResult(("MESH:D001943",), 0.6667, "exact")
    assert linker.exact["Disease"]["cancer"][2] == "corpus"
    # MeSH descriptors over supplementary concepts, whatever the weight
    assert linker.link("bevonium", "Chemical").ids == ("MESH:D001561",)
    # a user's name over everything
    user = linker.extended([NameRow("Disease", ("MESH:D009369",), "cancer", "corpus")])
    assert user.link("cancer", "Disease") == LinkResult(("MESH:D009369",), 1.0, "exact")
    assert user.exact["Disease"]["cancer"][2] == "user"
    with pytest.raises(ValueError, match="unknown name source 'wikipedia'"):
        ConceptLinker.from_names([NameRow("Disease", ("MESH:D009369",), "cancer", "wikipedia")])


def test_ids_in_curie_and_corpus_forms() -> None:
    assert to_curie("D002945", "Chemical") == "MESH:D002945"
    assert to_curie("C536013", "Disease") == "MESH:C536013"
    assert to_curie("154", "Gene") == "NCBIGene:154"
    assert to_curie("NCBIGene:154", "Gene") == "NCBIGene:154"
    for bad, entity_type in (("154", "Chemical"), ("X12", "Disease"), ("MESH:154", "Chemical"), ("HGNC:5", "Gene")):
        with pytest.raises(ValueError, match="unknown identifier"):
            to_curie(bad, entity_type)
    assert curie_to_corpus_id("MESH:D002945") == "D002945"
    assert curie_to_corpus_id(None) == "-1" and curie_to_corpus_id("NIL:Disease:xyz") == "-1"
    assert curie_to_corpus_id("MESH:D002945", "chem_dis_gene") == "MESH:D002945"
    assert curie_to_corpus_id("NCBIGene:154", "chem_dis_gene") == "154"
    assert curie_to_corpus_id(None, "chem_dis_gene") == "-"


# ---- saving ------------------------------------------------------------------------------------------------
PROBES = [("cisplatin", "Chemical"), ("cisplatinum", "Chemical"), ("Achard-Thiers syndrome", "Disease"),
          ("neoplasm of the breast", "Disease"), ("breast and ovarian cancer", "Disease"), ("hypertensive", "Disease"),
          ("xyzzy quux", "Disease"), ("TNF-alpha", "Gene"), ("brest neoplasm", "Disease"), ("5 FU", "Chemical")]


def test_save_load_round_trip_keeps_ids_and_bytes(linker, tmp_path) -> None:
    linker.save(tmp_path / "a")
    loaded = ConceptLinker.load(tmp_path / "a")
    assert loaded.exact == linker.exact  # every name, id, score and source, bit for bit
    assert [loaded.link(n, t) for n, t in PROBES] == [linker.link(n, t) for n, t in PROBES]
    assert loaded.fuzzy_threshold == linker.fuzzy_threshold and loaded.fuzzy_sources == linker.fuzzy_sources
    loaded.save(tmp_path / "b")
    for name in ("linker_config.json", NAMES_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    config = json.loads((tmp_path / "a" / "linker_config.json").read_text())
    assert config["names"] == {t: len(linker.exact[t]) for t in TYPES}
    assert [v["name"] for v in config["vocabularies"]] == ["mesh_descriptors", "mesh_supplementary", "medic", "hgnc"]
    # no pickle: a gzipped TSV and JSON
    rows = gzip.decompress((tmp_path / "a" / NAMES_FILE).read_bytes()).decode("utf-8").splitlines()
    assert "Chemical\texact\tcisplatin\tMESH:D002945\t1.0\tmesh-descriptor" in rows


def _write_names_gz(folder: Path, lines: list[str]) -> Path:
    with gzip.open(folder / NAMES_FILE, "wt", encoding="utf-8") as handle:
        handle.write("".join(lines))
    return folder / NAMES_FILE


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("Chemical\texact\tcisplatin\tMESH:D002945\t1.0\n", "expected type, exact|loose, key, ids, score, source"),
        ("Chemical\tfuzzy\tcisplatin\tMESH:D002945\t1.0\tcorpus\n", "expected type, exact|loose"),
        ("Chemical\texact\t\tMESH:D002945\t1.0\tcorpus\n", "expected type"),
        ("Chemical\texact\tcisplatin\tMESH:D002945\tone\tcorpus\n", "score 'one' is not a number"),
    ],
)
def test_load_names_a_malformed_row_by_file_and_line(linker, tmp_path, bad_line, message) -> None:
    linker.save(tmp_path)
    good = gzip.decompress((tmp_path / NAMES_FILE).read_bytes()).decode("utf-8").splitlines(keepends=True)
    path = _write_names_gz(tmp_path, good[:2] + [bad_line] + good[2:])
    with pytest.raises(ValueError, match=re.escape(f"{path}, line 3: ") + ".*" + re.escape(message)):
        ConceptLinker.load(tmp_path)


# ---- a user's names file ---------------------------------------------------------------------------------
def test_loaded_tables_look_up_every_key_like_the_built_ones(linker, tmp_path) -> None:
    linker.save(tmp_path)
    loaded = ConceptLinker.load(tmp_path)
    for kind in ("exact", "loose"):
        for entity_type, built in getattr(linker, kind).items():
            table = getattr(loaded, kind)[entity_type]
            assert isinstance(table, NameTable)
            saved = {k: e for k, e in built.items() if not (kind == "loose" and linker.exact[entity_type].get(k) == e)}
            assert len(table) == len(saved) > 32  # more than one step of the sampled keys
            assert all(table[key] == entry for key, entry in saved.items())  # each by bisection
            assert list(table) == sorted(saved)
            first, last = min(saved), max(saved)
            for missing in ("", " ", first[:-1], last + "z", first + " zz", "\U0010ffff", "\ud800"):
                assert missing in saved or missing not in table
            with pytest.raises(KeyError):
                table["no such name at all"]


def _bad_names_file(linker, tmp_path: Path, edit) -> Path:
    linker.save(tmp_path)
    lines = gzip.decompress((tmp_path / NAMES_FILE).read_bytes()).splitlines(keepends=True)
    (tmp_path / NAMES_FILE).write_bytes(gzip.compress(b"".join(edit(lines))))
    return tmp_path / NAMES_FILE


@pytest.mark.parametrize(
    "edit, line, message",
    [
        (lambda lines: lines[:2] + [lines[3], lines[2]] + lines[4:], 4, "is not after the previous row's"),
        (lambda lines: lines[:3] + [lines[2]] + lines[3:], 4, "is not after the previous row's"),  # a key twice
        (lambda lines: lines[:2] + [lines[-1]] + lines[2:-1], 4, "rows are not all together"),
        (lambda lines: lines[:2] + [lines[2].replace(b"\t", b"\xff\t", 3)] + lines[3:], 3, "not UTF-8"),
        (lambda lines: lines[:2] + [lines[2].replace(b"\t", b"\t\t", 1)] + lines[3:], 3, "expected type"),
    ],
)
def test_load_refuses_rows_out_of_order_or_not_utf8(linker, tmp_path, edit, line, message) -> None:
    path = _bad_names_file(linker, tmp_path, edit)
    with pytest.raises(ValueError, match=re.escape(f"{path}, line {line}: ") + ".*" + re.escape(message)):
        ConceptLinker.load(tmp_path)


def test_load_refuses_a_file_cut_short_or_emptied_and_reads_an_empty_linker(linker, tmp_path) -> None:
    # save() ends every line with a line break: a last line without one was cut (here inside its source field)
    path = _bad_names_file(linker, tmp_path / "a", lambda lines: lines[:-1] + [lines[-1][:-4]])
    count = len(gzip.decompress(path.read_bytes()).split(b"\n"))
    with pytest.raises(InputError, match=re.escape(f"{path}, line {count}: the file ends inside this line")):
        ConceptLinker.load(path.parent)
    # a line gone (the first: an exact name), or emptied: fewer names than linker_config.json counted when saved
    for name, edit in (("b", lambda lines: lines[1:]), ("c", lambda lines: [])):
        path = _bad_names_file(linker, tmp_path / name, edit)
        with pytest.raises(InputError, match=re.escape(str(path)) + r": [\d,]+ \w+ names where .*linker_config.json "
                                             r"counts [\d,]+: the file is incomplete"):
            ConceptLinker.load(path.parent)
    (tmp_path / "d").mkdir()
    linker.save(tmp_path / "d")
    config = json.loads((tmp_path / "d" / "linker_config.json").read_text())
    config["names"] = {t: 0 for t in config["names"]}  # a linker saved with no names at all
    (tmp_path / "d" / "linker_config.json").write_text(json.dumps(config))
    (tmp_path / "d" / NAMES_FILE).write_bytes(gzip.compress(b""))
    loaded = ConceptLinker.load(tmp_path / "d")
    assert loaded.entity_types == TYPES and all(len(t) == 0 for t in loaded.exact.values())
    assert loaded.link("cisplatin", "Chemical").is_nil


def test_a_score_of_digits_that_is_no_number_is_named_when_looked_up(linker, tmp_path) -> None:
    path = _bad_names_file(linker, tmp_path, lambda lines: [l.replace(b"\t1.0\t", b"\t1.0.0\t") for l in lines])
    loaded = ConceptLinker.load(tmp_path)  # the characters of a number: read; the number itself: when asked
    with pytest.raises(ValueError, match=re.escape(str(path)) + r", line \d+: score '1.0.0' is not a number"):
        loaded.link("cisplatin", "Chemical")


def test_users_names_extend_or_replace_the_vocabulary(linker, tmp_path) -> None:
    path = tmp_path / "names.tsv"
    path.write_text("# my lab's names\n\nChemical\tD002945\tPlatinol|CDDP\nDisease\tMESH:D006973\tHTN\n"
                    "Gene\tNCBIGene:7124\tcachectin\n", encoding="utf-8")
    rows = read_names_file(path, TYPES, known_ids=linker.known_ids())
    assert [(r.entity_type, r.ids, r.name, r.source) for r in rows] == [
        ("Chemical", ("MESH:D002945",), "Platinol", "user"), ("Chemical", ("MESH:D002945",), "CDDP", "user"),
        ("Disease", ("MESH:D006973",), "HTN", "user"), ("Gene", ("NCBIGene:7124",), "cachectin", "user"),
    ]
    extended = linker.extended(rows)
    assert extended.link("Platinol", "Chemical") == LinkResult(("MESH:D002945",), 1.0, "exact")
    assert extended.link("CDDP", "Chemical").ids == ("MESH:D002945",)
    assert extended.link("HTN", "Disease").ids == ("MESH:D006973",)
    assert extended.link("Achard-Thiers syndrome", "Disease").ids == ("MESH:C536013",)  # the vocabulary stays
    assert linker.link("Platinol", "Chemical", fuzzy=False).is_nil  # the original is unchanged
    replaced = linker.extended(rows, replace=True)
    assert replaced.link("Platinol", "Chemical").ids == ("MESH:D002945",)
    assert replaced.link("cisplatin", "Chemical", fuzzy=False).is_nil  # only the user's names now
    assert replaced.entity_types == TYPES  # every type keeps a (maybe empty) table
    # with replace, ids the vocabulary does not know are allowed (no known_ids check)
    new = tmp_path / "new.tsv"
    new.write_text("Chemical\tMESH:C999999\tmy compound\n", encoding="utf-8")
    with pytest.raises(NamesFileError, match="line 1: unknown id MESH:C999999"):
        read_names_file(new, TYPES, known_ids=linker.known_ids())
    own = linker.extended(read_names_file(new, TYPES), replace=True)
    assert own.link("my compound", "Chemical").ids == ("MESH:C999999",)
    # a round trip keeps the user's names
    own.save(tmp_path / "own")
    assert ConceptLinker.load(tmp_path / "own").link("my compound", "Chemical").ids == ("MESH:C999999",)
    with pytest.raises(ValueError, match="no names given"):
        linker.extended([])


@pytest.mark.parametrize(
    "content, line, message",
    [
        ("Chemical\tD002945\n", 1, "expected 3 tab-separated columns"),
        ("Chemical\tD002945\tcisplatin\textra\n", 1, "expected 3 tab-separated columns"),
        ("# comment\nChemical\tD002945\t\n", 2, "empty name for MESH:D002945"),
        ("Chemical\tD002945\tcisplatin||CDDP\n", 1, "empty name for MESH:D002945"),
        ("Chemical\tD002945\tcisplatin\nDisease\tD002945\tcisplatin poisoning\n", 2,
         "MESH:D002945 is a Disease here but a Chemical on line 1"),
        ("Chemical\tD999999\tnothing\n", 1, "unknown id MESH:D999999"),
        ("Protein\tD002945\tcisplatin\n", 1, "unknown entity type 'Protein'"),
        ("Chemical\tHGNC:5\tcisplatin\n", 1, "unknown identifier 'HGNC:5'"),
    ],
)
def test_names_file_errors_name_file_and_line(linker, tmp_path, content, line, message) -> None:
    path = tmp_path / "names.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(NamesFileError, match=re.escape(f"{path}, line {line}: ") + ".*" + re.escape(message)):
        read_names_file(path, TYPES, known_ids=linker.known_ids() - {"MESH:D999999"})


def test_names_file_non_strict_skips_and_counts(linker, tmp_path) -> None:
    path = tmp_path / "names.tsv"
    path.write_text("Chemical\tD002945\tPlatinol\nChemical\tD999999\tnothing\nChemical\t\nDisease\tD002945\tx\n",
                    encoding="utf-8")
    report = VocabularyReport()
    rows = read_names_file(path, TYPES, known_ids=linker.known_ids(), strict=False, report=report)
    assert [r.name for r in rows] == ["Platinol"]
    assert len(report.skipped) == 3 and all(f"{path}, line" in s for s in report.skipped)
    empty = tmp_path / "empty.tsv"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(NamesFileError, match="no names in the file"):
        read_names_file(empty, TYPES)


# ---- bad vocabulary input ------------------------------------------------------------------------------
def _copy_with(vocab: Path, folder: Path, name: str, edit) -> Path:
    """A copy of the small vocabulary folder whose file `name` has its lines changed by `edit(lines)`."""
    folder.mkdir()
    for file in vocab.iterdir():
        lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / file.name).write_text("".join(edit(lines) if file.name == name else lines), encoding="utf-8")
    return folder


# each put at line 6 of its file (a duplicate repeats an id of the first five lines, so line 6 is the second)
BAD_VOCABULARY_LINES = [
    ("mesh_descriptors_2023.tsv", "D999999\tOnly two columns\n", "expected at least 4 tab-separated columns"),
    ("mesh_descriptors_2023.tsv", "D999999\t\t\tD01.210\t\n", "descriptor D999999 has an empty name"),
    ("mesh_descriptors_2023.tsv", "D000001\tCalcimycin again\t\tD02.355\t\n", "MeSH id D000001 appears twice"),
    ("mesh_descriptors_2023.tsv", "X12\tSomething\t\tD01\t\n", "'X12' is not a MeSH id"),
    ("mesh_supplementary_2023.tsv", "C999999\tcompound\n", "expected 4 tab-separated columns, found 2"),
    ("mesh_supplementary_2023.tsv", "C999999\t\tsynonym\tD002945\n", "supplementary concept C999999 has an empty name"),
    ("mesh_supplementary_2023.tsv", "C000002\tbevonium again\t\tD001561\n", "MeSH id C000002 appears twice"),
    ("medic_06Jul2012.txt", "D999999|Something without the separator\n", "expected 'ids||names'"),
    ("medic_06Jul2012.txt", "D999999||\n", "concept D999999 has no name"),
    ("medic_06Jul2012.txt", "C565588||Epidermolysis Bullosa again\n", "MeSH id C565588 appears twice"),
    ("medic_06Jul2012.txt", "X1|D999999||name\n", "expected MeSH ids and OMIM numbers"),
    ("hgnc_genes.tsv", "HGNC:99\tABC\n", "tab-separated columns, found 2"),
    ("hgnc_genes.tsv", "HGNC:99\tA1BGX\tsecond A1BG\tApproved\t\t1\t\t\t\t\t\t\t\n", "NCBI Gene id 1 appears twice"),
    ("hgnc_genes.tsv", "HGNC:99\t\tno symbol\tApproved\t\t999999\t\t\t\t\t\t\t\n", "gene 999999 has an empty symbol"),
    ("hgnc_genes.tsv", "HGNC:99\tXYZ\tname\tApproved\t\tabc\t\t\t\t\t\t\t\n", "NCBI Gene id 'abc' is not a number"),
]


@pytest.mark.parametrize("name, bad_line, message", BAD_VOCABULARY_LINES)
def test_malformed_vocabulary_lines_name_file_and_line(vocab, tmp_path, name, bad_line, message) -> None:
    folder = _copy_with(vocab, tmp_path / "v", name, lambda lines: lines[:5] + [bad_line] + lines[5:])
    path = folder / name
    with pytest.raises(VocabularyFormatError, match=re.escape(f"{path}, line 6: ") + ".*" + re.escape(message)):
        vocabulary_names(TYPES, folder)
    # strict=False: the line is skipped and counted, every other row read
    report = VocabularyReport()
    skipped_rows, _ = vocabulary_names(TYPES, folder, strict=False, report=report)
    assert report.skipped == [f"{path}, line 6: {report.skipped[0].split(': ', 1)[1]}"]
    assert message in report.skipped[0]
    good_rows, _ = vocabulary_names(TYPES, vocab)
    assert len(skipped_rows) == len(good_rows)


def test_vocabulary_folder_missing_a_file(vocab, tmp_path) -> None:
    folder = _copy_with(vocab, tmp_path / "v", "", lambda lines: lines)
    (folder / "hgnc_genes.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="hgnc_genes.tsv: not found"):
        linker_rows([], TYPES, vocab_dir=folder)


def test_vocabulary_that_is_not_utf8_names_file_and_line(vocab, tmp_path) -> None:
    folder = _copy_with(vocab, tmp_path / "v", "", lambda lines: lines)
    path = folder / "medic_06Jul2012.txt"
    path.write_bytes(path.read_bytes().replace(b"Diseases", b"Diseas\xe9s", 1))
    with pytest.raises(VocabularyFormatError, match=re.escape(str(path)) + r", line \d+: not UTF-8"):
        list(read_medic(path, VocabularyReport()))


# ---- the HGNC header in both forms and the official MeSH / CTD forms ---------------------------------------
OFFICIAL_HGNC = (
    "hgnc_id\tsymbol\tname\tlocus_group\tlocus_type\tstatus\tlocation\talias_symbol\tprev_symbol\tentrez_id\n"
    'HGNC:1100\tBRCA1\tBRCA1 DNA repair associated\tprotein-coding gene\tgene with protein product\tApproved\t17q21.31\t'
    '"RNF53|BRCC1|PPP1R53|FANCS"\t\t672\n'
    "HGNC:11892\tTNF\ttumor necrosis factor\tprotein-coding gene\tgene with protein product\tApproved\t6p21.33\t"
    '"DIF|TNF-alpha|TNFSF2"\tTNFA\t7124\n'
    "HGNC:6\tA1S9T\tsymbol withdrawn\tother\tunknown\tSymbol Withdrawn\t\t\t\t\n"
)


def test_hgnc_header_of_both_forms(vocab, tmp_path) -> None:
    shared = {(r.name, r.ids) for r in read_hgnc(vocab / "hgnc_genes.tsv", VocabularyReport())}
    official_path = tmp_path / "hgnc_complete_set.txt"
    official_path.write_text(OFFICIAL_HGNC, encoding="utf-8")
    report = VocabularyReport()
    official = {(r.name, r.ids) for r in read_hgnc(official_path, report)}
    assert report.counts["hgnc:Gene"] == 2  # the withdrawn symbol is not a gene to link to
    expected = {("BRCA1", ("NCBIGene:672",)), ("BRCA1 DNA repair associated", ("NCBIGene:672",)),
                ("RNF53", ("NCBIGene:672",)), ("FANCS", ("NCBIGene:672",)), ("TNF", ("NCBIGene:7124",)),
                ("TNF-alpha", ("NCBIGene:7124",)), ("TNFA", ("NCBIGene:7124",)), ("TNFSF2", ("NCBIGene:7124",))}
    assert expected <= official and expected <= shared  # the same names from either form
    assert not any("|" in name or '"' in name for name, _ in official)
    bad = tmp_path / "bad.txt"
    bad.write_text("hgnc_id\tsymbol\tname\tstatus\n", encoding="utf-8")
    with pytest.raises(VocabularyFormatError, match=re.escape(f"{bad}, line 1: no column for aliases")):
        list(read_hgnc(bad, VocabularyReport()))


D_BIN = """*NEWRECORD
RECTYPE = D
MH = Cisplatin
ENTRY = cis-Platinum|T109|T195|LAB|NRW|NLM (1975)|771105|abbcdef
ENTRY = Platinol
MN = D01.210.375
MN = D01.625.125
UI = D002945

*NEWRECORD
RECTYPE = D
MH = Ovarian Neoplasms
PRINT ENTRY = Ovarian Cancer|T191|EQV|NLM (2004)|030612|abcdef
ENTRY = Neoplasms, Ovarian
MN = C04.588.322.455
MN = C19.391.630.705
UI = D010051

*NEWRECORD
RECTYPE = D
MH = Abattoirs
MN = J01.576.423.200.700.100
UI = D000003
"""
C_BIN = """*NEWRECORD
RECTYPE = C
NM = Achard-Thiers syndrome
SY = Diabetic-bearded woman syndrome|EQV|OMIM (2013)|110100|
HM = *Ovarian Neoplasms
UI = C536013

*NEWRECORD
RECTYPE = C
NM = carboplatin-like compound
HM = *Cisplatin/analogs & derivatives
UI = C999990
"""
CTD_DISEASES = """# CTD MEDIC
# Fields:
# DiseaseName\tDiseaseID\tAltDiseaseIDs\tDefinition\tParentIDs\tTreeNumbers\tParentTreeNumbers\tSynonyms\tSlimMappings
#
Ovarian Neoplasms\tMESH:D010051\tOMIM:167000\tTumors of the ovary.\tMESH:D009369\tC04.588.322.455\tC04.588.322\tCancer of Ovary|Ovarian Cancer\tCancer
Hypertension\tMESH:D006973\t\tPersistently high arterial blood pressure.\tMESH:D014652\tC14.907.489\tC14.907\tBlood Pressure, High|High Blood Pressure\tCardiovascular disease
Spastic Paraplegia 45\tOMIM:613162\t\t\tMESH:D015419\tC10.574.500.825.700/613162\tC10.574.500.825.700\tSPG45\tNervous system disease
"""


def test_official_mesh_ascii_and_ctd_diseases_forms(tmp_path) -> None:
    cache = tmp_path / "cache"  # the official files where `biomed_nerre.linking.sources` downloads them, so none is fetched
    cache.mkdir()
    (cache / "d2025.bin").write_text(D_BIN, encoding="utf-8")
    (cache / "c2025.bin").write_text(C_BIN, encoding="utf-8")
    with gzip.open(cache / "CTD_diseases.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.write(CTD_DISEASES)
    (cache / "hgnc_complete_set.txt").write_text(OFFICIAL_HGNC, encoding="utf-8")
    rows, described = vocabulary_names(TYPES, cache_dir=cache)
    assert [(d["name"], d["form"], d["version"]) for d in described] == [
        ("mesh_descriptors", "official", "d2025.bin"), ("mesh_supplementary", "official", "c2025.bin"),
        ("medic", "official", "CTD_diseases.tsv.gz"), ("hgnc", "official", "hgnc_complete_set.txt"),
    ]
    got = {(r.entity_type, r.ids[0], r.name, r.source) for r in rows}
    assert {
        ("Chemical", "MESH:D002945", "Cisplatin", "mesh-descriptor"),
        ("Chemical", "MESH:D002945", "cis-Platinum", "mesh-descriptor"),
        ("Chemical", "MESH:D002945", "Platinol", "mesh-descriptor"),
        ("Disease", "MESH:D010051", "Ovarian Cancer", "mesh-descriptor"),  # PRINT ENTRY
        ("Disease", "MESH:C536013", "Achard-Thiers syndrome", "mesh-supplementary"),  # typed by its HM
        ("Disease", "MESH:C536013", "Diabetic-bearded woman syndrome", "mesh-supplementary"),
        ("Chemical", "MESH:C999990", "carboplatin-like compound", "mesh-supplementary"),  # HM with a qualifier
        ("Disease", "MESH:D010051", "Cancer of Ovary", "medic"),
        ("Disease", "MESH:D006973", "High Blood Pressure", "medic"),
        ("Gene", "NCBIGene:7124", "TNF-alpha", "hgnc"),
    } <= got
    assert not any(r.name == "Abattoirs" for r in rows)  # branch J: neither a chemical nor a disease
    assert not any(r.name in ("Spastic Paraplegia 45", "SPG45") for r in rows)  # OMIM-only
    assert not any(r.ids[0] == "MESH:C536013" and r.entity_type == "Chemical" for r in rows)
    linker = ConceptLinker.from_names(rows, entity_types=TYPES)
    assert linker.link("ovarian cancer", "Disease").ids == ("MESH:D010051",)
    assert linker.link("Platinol", "Chemical").ids == ("MESH:D002945",)


def test_official_forms_bad_lines_name_file_and_line(tmp_path) -> None:
    from biomed_nerre.linking.vocabularies import read_ctd_diseases, read_mesh_ascii

    d_bin = tmp_path / "d2025.bin"
    d_bin.write_text(D_BIN.replace("MH = Abattoirs\n", ""), encoding="utf-8")  # a record with neither MH nor NM
    with pytest.raises(VocabularyFormatError, match=re.escape(f"{d_bin}, line 19: record D000003 has neither MH nor NM")):
        list(read_mesh_ascii(d_bin, VocabularyReport()))
    ctd = tmp_path / "CTD_diseases.tsv"
    ctd.write_text(CTD_DISEASES + "Broken\tMESH:D000001\n", encoding="utf-8")
    with pytest.raises(VocabularyFormatError, match=re.escape(f"{ctd}, line 8: expected at least 8")):
        list(read_ctd_diseases(ctd, VocabularyReport()))


def test_readers_of_the_shared_forms_on_real_rows(vocab) -> None:
    report = VocabularyReport()
    descriptors = list(read_mesh_descriptors_tsv(vocab / "mesh_descriptors_2023.tsv", report))
    assert ("Disease", ("MESH:D001943",), "Neoplasms, Breast") in {(r.entity_type, r.ids, r.name) for r in descriptors}
    assert not any(r.name == "Abattoirs" for r in descriptors)  # D000003: branch J only
    types_of = {"D010051": ["Disease"]}
    supplements = list(read_mesh_supplementary_tsv(vocab / "mesh_supplementary_2023.tsv", VocabularyReport(), True, types_of))
    assert {r.entity_type for r in supplements if r.ids == ("MESH:C536013",)} == {"Disease"}


# ---- a model with its linker, loaded in a fresh process -------------------------------------------------
LOAD_SCRIPT = r"""
import json, sys
from transformers import AutoModel, AutoTokenizer
folder, text, mentions = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
print(json.dumps({
    "module": type(model).__module__,
    "linker_module": type(model.linker).__module__,
    "names": {t: len(table) for t, table in model.linker.exact.items()},
    "linked": model.link_mentions(text, mentions),
    "methods": [link.method for link in model.linker.link_mentions(text, mentions)],
    "extract": model.extract([text], tokenizer, mode="end2end"),
}))
"""


def test_model_with_linker_loads_with_remote_code_in_a_fresh_process(linker, encoder, tmp_path) -> None:
    from modeling import SciBertForJointNerRe, load_tokenizer

    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(
        str(encoder), entity_types=["Chemical", "Disease"], relation_types={"CID": ["Chemical", "Disease"]},
        max_length=64, stride=16, re_block_size=8,
    ).eval()
    with pytest.raises(ValueError, match="no linker"):
        model.link_mentions("cisplatin", [{"start": 0, "end": 9, "type": "Chemical"}])
    with pytest.raises(ValueError, match=r"no names for entity types \['Disease'\]"):
        model.set_linker(ConceptLinker.from_names([NameRow("Chemical", ("MESH:D002945",), "cisplatin", "corpus")]))
    model.set_linker(linker)
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    load_tokenizer(encoder).save_pretrained(folder)
    assert sorted(p.name for p in (folder / "linker").iterdir()) == ["linker_config.json", NAMES_FILE]
    assert "linking_joint_ner_re.py" in {p.name for p in folder.iterdir()}  # the code ships with the model

    text = "Cisplatin (CDDP) induced hypertensive crises; CDDP and xyzzy caused breast and ovarian cancer."
    mentions = spans(text, ("Cisplatin", "Chemical"), ("CDDP", "Chemical"), ("xyzzy", "Chemical"),
                     ("hypertensive", "Disease"), ("breast and ovarian cancer", "Disease"))
    loaded = run_without_project_code(LOAD_SCRIPT, str(folder), text, json.dumps(mentions), cwd=tmp_path)
    assert loaded["module"].startswith("transformers_modules.")  # not the repository's code
    assert loaded["linker_module"].startswith("transformers_modules.")
    assert loaded["names"] == {t: len(linker.exact[t]) for t in TYPES}
    got = [(m["text"], m["ids"], method) for m, method in zip(loaded["linked"], loaded["methods"])]
    assert got == [
        ("Cisplatin", ["MESH:D002945"], "exact"),
        ("CDDP", ["MESH:D002945"], "abbreviation"),
        ("hypertensive", ["MESH:D006973"], "variant"),
        ("CDDP", ["MESH:D002945"], "abbreviation"),
        ("xyzzy", [], "nil"),
        ("breast and ovarian cancer", ["MESH:D001943", "MESH:D010051"], "composite"),
    ]
    assert [(m["ids"], m["link_score"]) for m in loaded["linked"]] == [
        (m["ids"], m["link_score"]) for m in model.link_mentions(text, mentions)
    ]
    # extract on raw text: a random model finds arbitrary mentions; their entities' ids are CURIEs or NIL:...
    [extracted] = loaded["extract"]
    for entity in extracted["entities"]:
        assert re.fullmatch(r"MESH:[CD]\d{6,9}|NIL:(Chemical|Disease):.*", entity["id"]), entity
    for mention in extracted["mentions"]:
        assert all(re.fullmatch(r"MESH:[CD]\d{6,9}", i) for i in mention["ids"]), mention
    [here] = model.extract([text], load_tokenizer(encoder), mode="end2end")
    assert extracted["entities"] == here["entities"] and extracted["mentions"] == here["mentions"]


HUB_SCRIPT = r"""
import json, sys
from transformers import AutoModel
model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True)
print(json.dumps(None if model.linker is None else {t: len(table) for t, table in model.linker.exact.items()}))
"""


def test_a_model_loaded_by_repo_id_offline_finds_its_linker_in_the_hub_cache(linker, encoder, tmp_path) -> None:
    """`linker/` of a Hub repository comes through huggingface_hub's cache lookup (offline here); a repository
    without one gives a model without a linker, not an error."""
    from modeling import SciBertForJointNerRe, load_tokenizer
    from tests.hub_cache import write_hub_cache

    model = SciBertForJointNerRe.from_encoder(
        str(encoder), entity_types=["Chemical", "Disease"], relation_types={"CID": ["Chemical", "Disease"]},
        max_length=64, stride=16, re_block_size=8,
    )
    model.set_linker(linker)
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    load_tokenizer(encoder).save_pretrained(folder)
    cache = tmp_path / "hub"
    write_hub_cache(folder, cache, "someone/linked")
    write_hub_cache(folder, cache, "someone/bare", leave_out=("linker",))
    found = {repo_id: run_without_project_code(HUB_SCRIPT, repo_id, cwd=tmp_path, env={"HF_HUB_CACHE": str(cache)})
             for repo_id in ("someone/linked", "someone/bare")}
    assert found == {"someone/linked": {t: len(linker.exact[t]) for t in TYPES}, "someone/bare": None}


def test_extract_with_a_linker_keeps_the_relation_threshold(linker, encoder) -> None:
    """The linker's own thresholds never stand in for the relation threshold: with a threshold that lets every
    pair through, each (chemical entity, disease entity) pair of the linked result carries a CID relation."""
    from modeling import SciBertForJointNerRe, load_tokenizer

    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(
        str(encoder), entity_types=["Chemical", "Disease"], relation_types={"CID": ["Chemical", "Disease"]},
        max_length=64, stride=16, re_block_size=8,
    ).eval()
    model.set_linker(linker)
    text = "Cisplatin induced hypertension and nephrotoxicity in rats given cisplatin and saline."
    [result] = model.extract([text], load_tokenizer(encoder), threshold=0.0)
    chemicals = {e["id"] for e in result["entities"] if e["type"] == "Chemical"}
    diseases = {e["id"] for e in result["entities"] if e["type"] == "Disease"}
    assert chemicals and diseases, result["entities"]  # a random model finds some mentions of both types
    assert {(r["head"], r["tail"]) for r in result["relations"]} == {(c, d) for c in chemicals for d in diseases}


# ---- the linker that `python -m biomed_nerre.linking build` and train.py save --------------------------------
BUILD_SCRIPT = r"""
import sys
from biomed_nerre.linking.__main__ import main
main(sys.argv[1:])
print(sorted(m for m in sys.modules if m.startswith(("biomed_nerre.training", "biomed_nerre.evaluation"))))
"""


def test_linking_build_command_saves_the_linker_train_py_builds_without_importing_training(tmp_path) -> None:
    from biomed_nerre.training.arguments import TrainingArguments
    from biomed_nerre.training.linker import linker_for_run

    bc5cdr, cache = ROOT.parent / "shared" / "data" / "bc5cdr", tmp_path / "cache"
    flags = ["build", "--dataset", "bc5cdr", "--data-dir", str(bc5cdr), "--cache-dir", str(cache), "--splits",
             "train", "--no-vocabularies", "--fuzzy-threshold", "0.5", "--end2end-fuzzy-threshold", "0.8"]
    done = subprocess.run([sys.executable, "-c", BUILD_SCRIPT, *flags, "--out", str(tmp_path / "command")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"  # linking sits below training and evaluation
    args = TrainingArguments(dataset="bc5cdr", data_dir=str(bc5cdr), cache_dir=str(cache), linker_name_splits="train",
                             linker_vocabularies=False, linker_fuzzy_threshold=0.5, linker_end2end_fuzzy_threshold=0.8)
    linker_for_run(args).save(tmp_path / "training")
    names = sorted(p.name for p in (tmp_path / "command").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "training").iterdir()) == ["linker_config.json", NAMES_FILE]
    for name in names:
        assert (tmp_path / "command" / name).read_bytes() == (tmp_path / "training" / name).read_bytes(), name
    config = json.loads((tmp_path / "command" / "linker_config.json").read_text())
    assert (config["corpus"], config["corpus_splits"], config["fuzzy_threshold"], config["end2end_fuzzy_threshold"]) == (
        "bc5cdr", ["train"], 0.5, 0.8)
    assert config["vocabularies"] == [] and config["names"]["Chemical"] > 500


def test_vocabulary_coverage_counts_ids_the_vocabularies_lack_and_those_no_corpus_name_gives() -> None:
    """bench/vocabulary_coverage.py: a retired MeSH id (here C071741, remifentanil before MeSH promoted it to
    a descriptor) is absent from today's vocabularies; it is unreachable unless a corpus name carries it."""
    from bench.vocabulary_coverage import coverage

    docs = [{"pmid": "1", "mentions": [
        {"type": "Chemical", "ids": ["D002945"]}, {"type": "Chemical", "ids": ["C071741"]},
        {"type": "Chemical", "ids": ["C071741"]}, {"type": "Chemical", "ids": ["-1"]},
        {"type": "Disease", "ids": ["D006973"]}]},
        {"pmid": "2", "mentions": [{"type": "Chemical", "ids": ["D002945", "C999999"]}]}]
    vocabulary = {"D002945", "D006973"}
    row = coverage(docs, vocabulary, corpus_ids={"C999999"}, entity_type="Chemical")
    assert row == {"mentions": 4, "absent_mentions": 3, "unreachable_mentions": 2, "pairs": 4, "absent_pairs": 2,
                   "unreachable_pairs": 1, "unreachable_ids": ["C071741"]}
    assert coverage(docs, vocabulary, set(), "Disease")["absent_pairs"] == 0
