"""ChemDisGene: the format sample (../shared/data/chem_dis_gene/sample) and small corpora built in tmp_path."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from loaders import CORPORA, PubTatorFormatError, load_corpus
from loaders.__main__ import main
from loaders.schema import bio_label_names
from loaders.words import spans_from_bio

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "chem_dis_gene" / "sample"

TITLE = "Effects of ketotifen &lt;10 mg&gt; on tachycardia."
ABSTRACT = "The beta 2-adrenoceptor and an unnamed kinase were studied; ketotifen lowered tachycardia."


def write_gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)


def pubtator_doc(pmid: str, title: str = TITLE, abstract: str = ABSTRACT, spans=None) -> str:
    """A ChemDisGene-style PubTator document; mentions located by string search."""
    text = title + " " + abstract
    spans = spans or [
        ("ketotifen", "Chemical", "MESH:D007657", 0),
        ("tachycardia", "Disease", "MESH:D013610", 0),
        ("beta 2-adrenoceptor", "Gene", "154", 0),
        ("kinase", "Gene", "-", 0),
        ("ketotifen", "Chemical", "MESH:D007657", 1),
        ("tachycardia", "Disease", "MESH:D013610", 1),
    ]
    lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
    for surface, entity_type, ids, occurrence in spans:
        start = -1
        for _ in range(occurrence + 1):
            start = text.index(surface, start + 1)
        lines.append(f"{pmid}\t{start}\t{start + len(surface)}\t{surface}\t{entity_type}\t{ids}")
    return "\n".join(lines) + "\n\n"


def make_corpus(root: Path, relations: str, new_relations: str = "", drugprot: str = "") -> Path:
    """A ChemDisGene data/ folder with two abstracts (PMIDs 1 and 2) in every split."""
    abstracts = pubtator_doc("1") + pubtator_doc("2")
    for stem in ("train", "dev", "test"):
        write_gz(root / "ctd_derived" / f"{stem}_abstracts.txt.gz", abstracts)
        write_gz(root / "ctd_derived" / f"{stem}_relationships.tsv.gz", relations)
    write_gz(root / "curated" / "abstracts.txt.gz", abstracts)
    write_gz(root / "curated" / "approved_relns_ctd_v1.tsv.gz", relations)
    write_gz(root / "curated" / "approved_relns_new_v1.tsv.gz", new_relations or relations)
    write_gz(root / "curated" / "drugprot_pmids.txt.gz", drugprot)
    return root


RELATIONS = (
    "1\tchem_disease:therapeutic\tMESH:D007657\tMESH:D013610\n"
    "1\tchem_gene:affects^binding\tMESH:D007657\t154\n"
    "1\tchem_gene:decreases^activity\tMESH:D007657\t154\n"
    "2\tgene_disease:marker/mechanism\t154\tMESH:D013610\n"
)


def test_sample_both_families_load(tmp_path):
    ctd = load_corpus("chem_dis_gene", "ctd_derived_documents", data_dir=str(SAMPLE), cache_dir=str(tmp_path))
    curated = load_corpus("chem_dis_gene", "curated_documents", data_dir=str(SAMPLE), cache_dir=str(tmp_path))
    assert set(ctd) == {"train", "validation", "test"} and set(curated) == {"test"}
    doc = ctd["train"][0]
    assert doc["pmid"] == "10226872" and doc["is_drugprot"] is False
    for m in doc["mentions"]:
        assert doc["text"][m["start"] : m["end"]] == m["text"]
    # HTML entities are kept as written, and the offsets after them still count them
    first_entity = doc["text"].index("&lt;")
    assert any(m["start"] > first_entity for m in doc["mentions"])
    # a pair with two labels stays two relations
    pair = [r["label"] for r in doc["relations"] if (r["head"], r["tail"]) == ("MESH:D013726", "154")]
    assert sorted(pair) == ["chem_gene:affects^binding", "chem_gene:increases^activity"]
    # curated gold = approved_relns_ctd_v1 ∪ approved_relns_new_v1
    ctd_keys = {tuple(r.values()) for r in doc["relations"]}
    curated_keys = {tuple(r.values()) for r in curated["test"][0]["relations"]}
    assert ctd_keys < curated_keys
    assert curated_keys - ctd_keys == {("chem_disease:therapeutic", "MESH:D007657", "MESH:D013610")}


def test_unlinked_ids_union_and_drugprot_flag(tmp_path):
    duplicate = "1\tchem_gene:affects^binding\tMESH:D007657\t154\n"  # also in RELATIONS: the union keeps one
    root = make_corpus(tmp_path / "data", RELATIONS, new_relations=duplicate, drugprot="2\n")
    curated = load_corpus("chem_dis_gene", "curated_documents", data_dir=str(root), cache_dir=str(tmp_path / "c"))["test"]
    first, second = curated[0], curated[1]
    assert (first["is_drugprot"], second["is_drugprot"]) == (False, True)
    kinase = next(m for m in first["mentions"] if m["text"] == "kinase")
    assert kinase["ids"] == ["-"]
    unlinked = [e for e in first["entities"] if e["id"] == "NIL:Gene:kinase"]
    assert len(unlinked) == 1 and unlinked[0]["type"] == "Gene"
    assert first["mentions"][unlinked[0]["mention_indices"][0]]["text"] == "kinase"
    assert len(first["relations"]) == 3 and len(second["relations"]) == 1
    assert first["text"].startswith("Effects of ketotifen &lt;10 mg&gt; on")

    re_rows = load_corpus("chem_dis_gene", "curated_re", data_dir=str(root), cache_dir=str(tmp_path / "c"))["test"]
    assert re_rows.num_rows == 4
    gene_disease = re_rows.filter(lambda r: r["relation"].startswith("gene_disease"))[0]
    assert (gene_disease["entity1_type"], gene_disease["entity1_mentions"]) == ("Gene", ["beta 2-adrenoceptor"])
    assert gene_disease["is_drugprot"] is True

    ner = load_corpus("chem_dis_gene", "ctd_derived_ner", data_dir=str(root), cache_dir=str(tmp_path / "c"))["train"][0]
    names = bio_label_names("chem_dis_gene")
    assert names[-2:] == ["B-Gene", "I-Gene"]
    spans = spans_from_bio(list(zip(ner["token_starts"], ner["token_ends"])), [names[t] for t in ner["ner_tags"]])
    assert sorted(spans) == sorted((m["start"], m["end"], m["type"]) for m in first["mentions"])


def test_relation_for_a_pmid_without_abstract_is_an_error(tmp_path):
    root = make_corpus(tmp_path / "data", RELATIONS + "3\tchem_disease:therapeutic\tMESH:D007657\tMESH:D013610\n")
    with pytest.raises(PubTatorFormatError, match=r"train_relationships\.tsv\.gz, line 5: relation for PMID 3, which is not in"):
        load_corpus("chem_dis_gene", "ctd_derived_documents", data_dir=str(root), cache_dir=str(tmp_path / "c"))


def test_cli_builds_every_config_and_prints_counts(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["build", "chem_dis_gene", "--data-dir", str(SAMPLE), "--out", str(out), "--cache-dir", str(tmp_path / "c")]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(c.name for c in CORPORA["chem_dis_gene"].BUILDER_CONFIGS)
    table = capsys.readouterr().out.splitlines()
    header = next(line.split() for line in table if line.startswith("family"))
    curated = next(line.split() for line in table if line.startswith("curated"))
    row = dict(zip(header, curated))
    assert (row["split"], row["docs"], row["relations"], row["re_rows"], row["ner_dropped"]) == ("test", "1", "4", "4", "0")
