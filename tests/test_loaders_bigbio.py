"""The `bigbio_kb` configs: BigBio's kb schema, the published BC5CDR counts, and the schema's own checks (offsets
point at the text, relation arguments exist, ids unique in a document), on the real BC5CDR release and the
ChemDisGene sample."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import datasets
import pytest
from datasets import List, Value

from loaders import CORPORA, load_corpus
from loaders.sources import BC5CDR_FILES
from loaders.bigbio import SCHEMA_VERSION, bigbio_kb_row, db_reference
from modeling.outputs_joint_ner_re import InputError
from tests.test_loaders_bad_input import GOOD
from tests.test_loaders_bc5cdr import readme_table

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "bc5cdr").is_dir(), reason="../shared/data/bc5cdr not present")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, datasets.DatasetDict]:
    cache = str(tmp_path_factory.mktemp("bigbio_cache"))
    return {
        "bc5cdr": load_corpus("bc5cdr", "bigbio_kb", data_dir=str(DATA / "bc5cdr"), cache_dir=cache),
        "bc5cdr_documents": load_corpus("bc5cdr", "documents", data_dir=str(DATA / "bc5cdr"), cache_dir=cache),
        "curated": load_corpus("chem_dis_gene", "curated_bigbio_kb", data_dir=str(DATA / "chem_dis_gene" / "sample"),
                               cache_dir=cache),
    }


def check_bigbio_kb(row: dict) -> None:
    """BigBio's checks of a kb row: passages' text at their offsets, each entity's text at its offsets in the
    document those passages make, relation arguments among the entities, ids unique in the document."""
    length = max(end for p in row["passages"] for _, end in p["offsets"])
    text = [" "] * length
    for passage in row["passages"]:
        for (start, end), piece in zip(passage["offsets"], passage["text"], strict=True):
            assert end - start == len(piece), passage["id"]
            text[start:end] = piece
    text = "".join(text)
    for entity in row["entities"]:
        for (start, end), piece in zip(entity["offsets"], entity["text"], strict=True):
            assert text[start:end] == piece, (row["id"], entity)
    entity_ids = {e["id"] for e in row["entities"]}
    for relation in row["relations"]:
        assert relation["arg1_id"] in entity_ids and relation["arg2_id"] in entity_ids, relation
    ids = [p["id"] for p in row["passages"]] + [e["id"] for e in row["entities"]] + [r["id"] for r in row["relations"]]
    assert len(ids) == len(set(ids)), Counter(ids).most_common(3)


def test_the_features_are_bigbio_kb_field_for_field(built):
    features = built["bc5cdr"]["train"].features
    assert list(features) == ["id", "document_id", "passages", "entities", "events", "coreferences", "relations"]
    offsets, strings = List(List(Value("int32"))), List(Value("string"))
    entity = features["entities"].feature
    assert entity["offsets"] == offsets and entity["text"] == strings
    assert dict(entity["normalized"].feature) == {"db_name": Value("string"), "db_id": Value("string")}
    assert features["passages"].feature["offsets"] == offsets
    assert set(features["relations"].feature) == {"id", "type", "arg1_id", "arg2_id", "normalized"}
    assert set(features["events"].feature) == {"id", "type", "trigger", "arguments"}
    assert dict(features["coreferences"].feature) == {"id": Value("string"), "entity_ids": strings}
    assert SCHEMA_VERSION == "1.0.0"


def test_bc5cdr_gives_the_published_counts_and_passes_the_checks(built):
    for split, expected in readme_table().items():
        rows = built["bc5cdr"][split]
        assert rows.num_rows == expected["docs"]
        types = Counter(e["type"] for row in rows for e in row["entities"])
        assert types == {"Chemical": expected["Chemical"], "Disease": expected["Disease"]}
        relations = [r for row in rows for r in row["relations"]]
        assert len(relations) == expected["CID"] and {r["type"] for r in relations} == {"CID"}
        for row in rows:
            check_bigbio_kb(row)
            assert row["events"] == [] and row["coreferences"] == []


def test_entities_are_the_mentions_and_relations_name_their_concepts(built):
    documents = built["bc5cdr_documents"]["train"]
    rows = built["bc5cdr"]["train"]
    composite = unlinked = 0
    for document, row in zip(documents, rows, strict=True):
        assert row["id"] == row["document_id"] == document["pmid"]
        assert [p["type"] for p in row["passages"]] == ["title", "abstract"]
        for mention, entity in zip(document["mentions"], row["entities"], strict=True):
            assert entity["offsets"] == [[mention["start"], mention["end"]]] and entity["type"] == mention["type"]
            linked = list(dict.fromkeys(i for i in mention["ids"] if i != "-1"))  # D020258|D020258|D020258 once
            assert entity["normalized"] == [{"db_name": "MESH", "db_id": i} for i in linked]
            composite += len(linked) > 1
            unlinked += not linked
        by_id = {e["id"]: e for e in row["entities"]}
        for relation, gold in zip(row["relations"], document["relations"], strict=True):
            head, tail = by_id[relation["arg1_id"]], by_id[relation["arg2_id"]]
            assert (head["type"], tail["type"]) == ("Chemical", "Disease")
            assert {"db_name": "MESH", "db_id": gold["head"]} in head["normalized"]
            assert {"db_name": "MESH", "db_id": gold["tail"]} in tail["normalized"]
    assert composite > 0 and unlinked > 0  # both kinds occur in BC5CDR train


def test_a_relation_argument_is_the_first_mention_naming_only_its_concept():
    document = {
        "pmid": "1", "title": "A", "abstract": "b c d",
        "mentions": [
            {"start": 2, "end": 3, "text": "b", "type": "Chemical", "ids": ["D000001", "D000002"]},
            {"start": 4, "end": 5, "text": "c", "type": "Chemical", "ids": ["D000001"]},
            {"start": 6, "end": 7, "text": "d", "type": "Disease", "ids": ["D000003", "D000004"]},
        ],
        "entities": [
            {"id": "D000001", "type": "Chemical", "mention_indices": [0, 1]},
            {"id": "D000002", "type": "Chemical", "mention_indices": [0]},
            {"id": "D000003", "type": "Disease", "mention_indices": [2]},
            {"id": "D000004", "type": "Disease", "mention_indices": [2]},
        ],
        "relations": [{"label": "CID", "head": "D000001", "tail": "D000003"},
                      {"label": "CID", "head": "D000002", "tail": "D000004"}],
    }
    row = bigbio_kb_row(document, "bc5cdr")
    assert [(r["arg1_id"], r["arg2_id"]) for r in row["relations"]] == [("1_E1", "1_E2"), ("1_E0", "1_E2")]
    check_bigbio_kb(row)


def test_chem_dis_gene_ids_split_into_db_name_and_db_id(built):
    (row,) = built["curated"]["test"]
    check_bigbio_kb(row)
    names = Counter((e["type"], n["db_name"]) for e in row["entities"] for n in e["normalized"])
    assert set(names) == {("Chemical", "MESH"), ("Disease", "MESH"), ("Gene", "NCBIGene")}
    gene = next(e for e in row["entities"] if e["type"] == "Gene")
    assert gene["normalized"] == [{"db_name": "NCBIGene", "db_id": "154"}]
    assert row["relations"] and all(r["type"].count(":") == 1 for r in row["relations"])
    assert db_reference("MESH:C000002", "Chemical") == {"db_name": "MESH", "db_id": "C000002"}
    assert db_reference("D009270", "Chemical") == {"db_name": "MESH", "db_id": "D009270"}


def test_every_corpus_has_bigbio_kb_configs():
    assert "bigbio_kb" in {c.name for c in CORPORA["bc5cdr"].BUILDER_CONFIGS}
    assert {"ctd_derived_bigbio_kb", "curated_bigbio_kb"} <= {c.name for c in CORPORA["chem_dis_gene"].BUILDER_CONFIGS}


def test_an_id_of_no_known_form_names_the_file_and_line_in_every_config(tmp_path):
    folder = tmp_path / "bc5cdr"
    folder.mkdir()
    for name in BC5CDR_FILES.values():
        (folder / name).write_text(GOOD.replace("D003000", "X42"), encoding="utf-8")
    cache = str(tmp_path / "cache")
    for config in ("documents", "bigbio_kb"):
        with pytest.raises(InputError, match=r"CDR_\w+\.PubTator\.txt, line \d+: id 'X42' is not a MeSH id"):
            load_corpus("bc5cdr", config, data_dir=str(folder), cache_dir=cache)


def test_a_row_built_elsewhere_with_an_id_of_no_known_form_names_the_document_and_mention():
    document = {
        "pmid": "227508", "title": "Clonidine.", "abstract": "",
        "mentions": [{"start": 0, "end": 9, "text": "Clonidine", "type": "Chemical", "ids": ["X42"]}],
        "entities": [], "relations": [],
    }
    with pytest.raises(InputError, match=r"^PMID 227508, mention 0-9 'Clonidine': unknown identifier 'X42'"):
        bigbio_kb_row(document, "bc5cdr")
