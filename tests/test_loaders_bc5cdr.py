"""The real BC5CDR corpus (../shared/data/bc5cdr) through the builders: counts, offsets, views, sources."""

from __future__ import annotations

import zipfile
from pathlib import Path

import datasets
import pytest

from loaders import CORPORA, load_corpus
from loaders.schema import RELATION_TYPES, bio_label_names
from loaders.sources import BC5CDR_FILES, bc5cdr_paths
from loaders.words import spans_from_bio

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BC5CDR = DATA / "bc5cdr"
pytestmark = pytest.mark.skipif(not BC5CDR.is_dir(), reason="../shared/data/bc5cdr not present")


def readme_table() -> dict[str, dict[str, int]]:
    """The count table of ../shared/data/README.md, keyed by split."""
    split_of = {name: split for split, name in BC5CDR_FILES.items()}
    table = {}
    for line in (DATA / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] in split_of:
            docs, chemical, disease, cid, composite = (int(c) for c in cells[1:6])
            table[split_of[cells[0]]] = {"docs": docs, "Chemical": chemical, "Disease": disease, "CID": cid}
    assert set(table) == {"train", "validation", "test"}
    return table


@pytest.fixture(scope="session")
def bc5cdr(tmp_path_factory) -> dict[str, datasets.DatasetDict]:
    cache = tmp_path_factory.mktemp("bc5cdr_cache")
    return {view: load_corpus("bc5cdr", view, data_dir=str(BC5CDR), cache_dir=str(cache)) for view in ("documents", "ner", "re")}


def test_counts_equal_the_published_table(bc5cdr):
    for split, expected in readme_table().items():
        documents = bc5cdr["documents"][split]
        types = [m["type"] for doc in documents for m in doc["mentions"]]
        relations = [r for doc in documents for r in doc["relations"]]
        assert documents.num_rows == expected["docs"]
        assert types.count("Chemical") == expected["Chemical"]
        assert types.count("Disease") == expected["Disease"]
        assert len(relations) == expected["CID"]
        assert {r["label"] for r in relations} == {"CID"}
        assert bc5cdr["re"][split].num_rows == expected["CID"]


def test_offsets_text_and_composites_match_the_raw_file(bc5cdr):
    for split, name in BC5CDR_FILES.items():
        # independent scan of the raw file: mentions with a non-empty 7th column (composite parts)
        rows = [line.split("\t") for line in (BC5CDR / name).read_text().splitlines()]
        with_parts = sum(1 for fields in rows if len(fields) == 7 and fields[6])
        documents = bc5cdr["documents"][split]
        seen_parts = 0
        for doc in documents:
            assert doc["text"] == doc["title"] + " " + doc["abstract"]
            for m in doc["mentions"]:
                assert doc["text"][m["start"] : m["end"]] == m["text"]
                if m["composite_parts"]:
                    seen_parts += 1
                    assert len(m["composite_parts"]) == len(m["ids"]) > 1
        assert seen_parts == with_parts > 0


def test_entities_and_relations_are_consistent(bc5cdr):
    unlinked = 0
    for doc in bc5cdr["documents"]["train"]:
        entities = {(e["id"], e["type"]): e for e in doc["entities"]}
        assert len(entities) == len(doc["entities"])
        firsts = [e["mention_indices"][0] for e in doc["entities"]]
        assert firsts == sorted(firsts)
        for index, m in enumerate(doc["mentions"]):
            for k, raw_id in enumerate(m["ids"]):
                if raw_id == "-1":
                    unlinked += 1
                    surface = m["composite_parts"][k] if m["composite_parts"] else m["text"]
                    entity_id = f"NIL:{m['type']}:{' '.join(surface.casefold().split())}"
                else:
                    entity_id = raw_id
                assert index in entities[entity_id, m["type"]]["mention_indices"]
        covered = sorted(i for e in doc["entities"] for i in set(e["mention_indices"]))
        assert set(covered) == set(range(len(doc["mentions"])))
        for r in doc["relations"]:
            head_type, tail_type = RELATION_TYPES["bc5cdr"][r["label"]]
            assert (r["head"], head_type) in entities and (r["tail"], tail_type) in entities
    assert unlinked > 0


def _overlapping(mentions) -> int:
    """Mentions that overlap a longer (or equally long, earlier) one: brute force, for cross-checking."""
    def rank(m, i):
        return (m["start"] - m["end"], m["start"], i)

    dropped = set()
    order = sorted(range(len(mentions)), key=lambda i: rank(mentions[i], i))
    for pos, i in enumerate(order):
        for j in order[:pos]:
            if j not in dropped and mentions[i]["start"] < mentions[j]["end"] and mentions[j]["start"] < mentions[i]["end"]:
                dropped.add(i)
                break
    return len(dropped)


def test_ner_spans_map_back_to_the_kept_gold_mentions(bc5cdr):
    names = bio_label_names("bc5cdr")
    for split in ("train", "validation", "test"):
        ner, documents = bc5cdr["ner"][split], bc5cdr["documents"][split]
        assert ner.features["ner_tags"].feature.names == names == ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
        dropped_total = expected_dropped = 0
        for row, doc in zip(ner, documents):
            assert row["pmid"] == doc["pmid"]
            tokens = list(zip(row["token_starts"], row["token_ends"]))
            assert [row["text"][s:e] for s, e in tokens] == row["tokens"]
            tags = [names[t] for t in row["ner_tags"]]
            dropped = {(d["start"], d["end"], d["type"]) for d in row["dropped_mentions"]}
            gold = {(m["start"], m["end"], m["type"]) for m in doc["mentions"]}
            assert sorted(spans_from_bio(tokens, tags)) == sorted(gold - dropped)
            dropped_total += len(row["dropped_mentions"])
            expected_dropped += _overlapping(doc["mentions"])
        assert dropped_total == expected_dropped


def test_re_rows_carry_both_entities(bc5cdr):
    row = bc5cdr["re"]["train"][0]
    doc = bc5cdr["documents"]["train"][0]
    assert row["pmid"] == doc["pmid"]
    assert (row["entity1_id"], row["relation"], row["entity2_id"]) == tuple(doc["relations"][0][k] for k in ("head", "label", "tail"))
    assert (row["entity1_type"], row["entity2_type"]) == ("Chemical", "Disease")
    head_mentions = {m["text"] for m in doc["mentions"] if row["entity1_id"] in m["ids"]}
    assert set(row["entity1_mentions"]) == head_mentions and len(row["entity1_mentions"]) == len(head_mentions)


def test_download_tries_mirrors_in_order_and_checks_checksums(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as archive:
        for name in BC5CDR_FILES.values():
            archive.write(BC5CDR / name, f"CDR_Data/CDR.Corpus.v010516/{name}")
    corrupt = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(corrupt, "w") as archive:
        for name in BC5CDR_FILES.values():
            archive.writestr(f"CDR_Data/CDR.Corpus.v010516/{name}", "12|t|changed\n12|a|file\n")
    manager = datasets.DownloadManager(download_config=datasets.DownloadConfig(cache_dir=str(tmp_path / "dl")))
    urls = [str(tmp_path / "missing.zip"), str(corrupt), str(good)]
    paths = bc5cdr_paths(manager, None, urls=urls)
    assert Path(paths["train"]).read_bytes() == (BC5CDR / BC5CDR_FILES["train"]).read_bytes()
    with pytest.raises(ConnectionError, match=r"(?s)missing\.zip.*corrupt\.zip: ValueError: .*SHA256"):
        bc5cdr_paths(manager, None, urls=urls[:2])


def test_public_api():
    assert set(CORPORA) == {"bc5cdr", "chem_dis_gene"}
    assert CORPORA["bc5cdr"].DEFAULT_CONFIG_NAME == "documents"
    assert {c.name for c in CORPORA["bc5cdr"].BUILDER_CONFIGS} == {"documents", "ner", "re", "bigbio_kb"}
