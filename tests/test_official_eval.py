"""metrics.json's concept-id and relation-on-id figures equal what the BioCreative V CDR measures give on the
PubTator file evaluate.py writes (`evaluation.bc5cdr_eval` reads the files alone)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from biomed_nerre.evaluation.bc5cdr_eval import read_annotations, score_files
from biomed_nerre.evaluation.scoring import score_documents
from biomed_nerre.evaluation.writers import write_pubtator
from loaders import load_corpus
from modeling.linking_joint_ner_re import LinkResult, group_linked_mentions
from modeling.outputs_joint_ner_re import to_curie

BC5CDR = Path(__file__).resolve().parents[2] / "shared" / "data" / "bc5cdr"


def _noisy_prediction(document: dict, rng: random.Random) -> dict:
    """End-to-end predictions as `extract` gives them with a linker: the gold mentions with some ids changed,
    some left NIL and some dropped; entities grouped by id; the gold relations plus wrong ones, some on NIL."""
    mentions, links = [], []
    for m in document["mentions"]:
        if rng.random() < 0.1:
            continue  # a missed mention
        ids = tuple(to_curie(i, m["type"]) for i in m["ids"] if i != "-1")
        roll = rng.random()
        if roll < 0.1 or not ids:
            ids = ()  # NIL
        elif roll < 0.2:
            ids = ("MESH:D000001",)  # a wrong id
        mentions.append({"start": m["start"], "end": m["end"], "text": m["text"], "type": m["type"],
                         "ids": list(ids), "link_score": 1.0})
        links.append(LinkResult(ids, 1.0, "exact" if ids else "nil"))
    entities = group_linked_mentions(mentions, links)
    chemicals = [e["id"] for e in entities if e["type"] == "Chemical"]
    diseases = [e["id"] for e in entities if e["type"] == "Disease"]
    relations = [{"label": "CID", "head": h, "tail": t, "score": 0.9}
                 for h in chemicals for t in diseases if rng.random() < 0.3]
    return {"pmid": document["pmid"], "mentions": mentions, "entities": entities, "relations": relations}


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> list[dict]:
    corpus = load_corpus("bc5cdr", "documents", data_dir=str(BC5CDR), cache_dir=str(tmp_path_factory.mktemp("c")))
    return [dict(d) for d in corpus["validation"].select(range(40))]


def test_metrics_equal_the_official_measures_on_the_written_file(documents, tmp_path):
    rng = random.Random(7)
    predictions = [_noisy_prediction(d, rng) for d in documents]
    metrics = score_documents(documents, {"end2end": predictions}, ["Chemical", "Disease"], ["CID"])
    path = write_pubtator(tmp_path / "predictions_end2end.PubTator.txt", documents, predictions, id_style="bc5cdr")
    official = score_files(BC5CDR / "CDR_DevelopmentSet.PubTator.txt", path, {d["pmid"] for d in documents})
    for entity_type in ("Chemical", "Disease"):
        ours = metrics["concept_ids"]["per_type"][entity_type]
        assert (ours["tp_pred"], ours["n_pred"], ours["n_gold"]) == (
            official[entity_type]["tp_pred"], official[entity_type]["n_pred"], official[entity_type]["n_gold"])
        assert ours["f1"] == pytest.approx(official[entity_type]["f1"], abs=1e-12)
    ours = metrics["re_end2end_ids"]["per_label"]["CID"]
    assert (ours["tp_pred"], ours["n_pred"], ours["n_gold"]) == (
        official["CID"]["tp_pred"], official["CID"]["n_pred"], official["CID"]["n_gold"])
    # the noise made every count differ from a perfect run: wrong ids, NIL ends left out of the file
    assert 0 < ours["tp_pred"] < ours["n_gold"] and ours["n_pred"] > ours["tp_pred"]
    assert 0 < official["Disease"]["tp_pred"] < official["Disease"]["n_gold"]
    text = path.read_text()
    assert "MESH:" not in text and "NIL:" not in text  # the corpus's own id form


def test_gold_file_scores_perfectly_against_itself():
    gold = BC5CDR / "CDR_DevelopmentSet.PubTator.txt"
    scores = score_files(gold, gold)
    assert all(s["f1"] == 1.0 for s in scores.values())
    assert scores["CID"]["n_gold"] == 1012  # the release's count for the development set
    concepts, relations = read_annotations(gold)
    assert len(concepts) == len(relations) == 500


def test_a_malformed_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.PubTator.txt"
    bad.write_text("1|t|Title\n1|a|Abstract\n1\tCID\tD1\n\n")
    with pytest.raises(ValueError, match=r"bad.PubTator.txt, line 3"):
        read_annotations(bad)
