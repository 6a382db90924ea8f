"""BIO view, writers, plots and the evaluate.py / `import evaluate` split."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from biomed_nerre.evaluation.ner_metrics import bio_tag_sequences
from biomed_nerre.evaluation.plots import plot_confusion, plot_f1_bars
from biomed_nerre.evaluation.scoring import score_documents
from biomed_nerre.evaluation.writers import write_metrics_json, write_pubtator, write_relationships_tsv
from loaders.pubtator import iter_pubtator

REPO = Path(__file__).resolve().parents[1]

TITLE = "Famotidine-associated delirium."
ABSTRACT = "Famotidine caused delirium and renal failure in rats."
TEXT = TITLE + " " + ABSTRACT
#          0         1         2         3         4         5         6         7         8
#          0123456789012345678901234567890123456789012345678901234567890123456789012345678901234


def span(word: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(word, start + 1)
    return start, start + len(word)


def mention(word: str, etype: str, nth: int = 0, ids: tuple[str, ...] = ()) -> dict:
    start, end = span(word, nth)
    return {"start": start, "end": end, "text": word, "type": etype, "ids": list(ids),
            "link_score": 1.0 if ids else None}


GOLD = {
    "pmid": "42", "title": TITLE, "abstract": ABSTRACT, "text": TEXT,
    "mentions": [mention("Famotidine", "Chemical"), mention("delirium", "Disease"),
                 mention("Famotidine", "Chemical", 1), mention("delirium", "Disease", 1),
                 mention("renal failure", "Disease"), mention("failure", "Disease")],  # overlapping pair
    "entities": [{"id": "D015738", "type": "Chemical", "mention_indices": [0, 2]},
                 {"id": "D003693", "type": "Disease", "mention_indices": [1, 3]},
                 {"id": "D051437", "type": "Disease", "mention_indices": [4]},
                 {"id": "NIL:Disease:failure", "type": "Disease", "mention_indices": [5]}],
    "relations": [{"label": "CID", "head": "D015738", "tail": "D003693"},
                  {"label": "CID", "head": "D015738", "tail": "D051437"}],
}
END2END = {  # "Famotidine-associated" tagged as one Chemical, second delirium and renal failure found
    "pmid": "42",
    "mentions": [mention("delirium", "Disease", 1, ("MESH:D003693",)),
                 {"start": 0, "end": 21, "text": TEXT[:21], "type": "Chemical", "ids": ["MESH:D015738"],
                  "link_score": 0.9},
                 mention("Famotidine", "Chemical", 1, ("MESH:D015738",)), mention("renal failure", "Disease")],
    "entities": [{"id": "MESH:D015738", "type": "Chemical", "mention_indices": [1, 2]},
                 {"id": "MESH:D003693", "type": "Disease", "mention_indices": [0]},
                 {"id": "NIL:Disease:renal failure", "type": "Disease", "mention_indices": [3]}],
    "relations": [{"label": "CID", "head": "MESH:D015738", "tail": "MESH:D003693", "score": 0.9},
                  {"label": "CID", "head": "MESH:D015738", "tail": "NIL:Disease:renal failure", "score": 0.4}],
}


def test_bio_view_uses_one_tokenization_and_counts_dropped_mentions():
    gold_tags, pred_tags, stats = bio_tag_sequences([GOLD], [END2END])
    assert len(gold_tags[0]) == len(pred_tags[0])
    # tokens: Famotidine - associated delirium . Famotidine caused delirium and renal failure in rats .
    assert gold_tags[0][:5] == ["B-Chemical", "O", "O", "B-Disease", "O"]
    assert pred_tags[0][:5] == ["B-Chemical", "I-Chemical", "I-Chemical", "O", "O"]
    assert gold_tags[0][5:12] == pred_tags[0][5:12] == ["B-Chemical", "O", "B-Disease", "O", "B-Disease",
                                                        "I-Disease", "O"]
    assert stats == {"gold_mentions": 6, "predicted_mentions": 4, "gold_dropped": 1, "predicted_dropped": 0}


def test_score_documents_ner_and_both_relation_modes():
    gold_mode = {**END2END, "mentions": GOLD["mentions"], "entities": GOLD["entities"],
                 "relations": [{"label": "CID", "head": "D015738", "tail": "D003693"}]}
    result = score_documents([GOLD], {"gold": [gold_mode], "end2end": [END2END]}, ["Chemical", "Disease"], ["CID"])
    seqeval = result["ner"]["seqeval"]["micro"]  # BIO view: gold 5 entities (1 dropped), 3 predicted correct
    assert (seqeval["precision"], seqeval["recall"], seqeval["support"]) == (0.75, 0.6, 5)
    mentions = result["ner"]["mentions"]["micro"]  # all 6 gold mentions count here
    assert (mentions["tp_pred"], mentions["n_pred"], mentions["n_gold"]) == (3, 4, 6)
    assert result["ner"]["bio_view"]["gold_dropped"] == 1
    assert math.isclose(result["re_gold"]["micro"]["f1"], 2 / 3)
    e2e = result["re_end2end"]["micro"]  # E0 matches D015738 through its 2nd mention: both pairs correct
    assert (e2e["tp_pred"], e2e["n_pred"], e2e["tp_gold"], e2e["n_gold"]) == (2, 2, 2, 2)
    assert score_documents([GOLD], {"gold": [gold_mode]}) == {"ner": None, "re_gold": result["re_gold"]}
    # gold mode alone: NER from the end-to-end results given apart (the NER head's mentions)
    gold_only = score_documents([GOLD], {"gold": [gold_mode]}, ner_predictions=[END2END])
    assert gold_only["ner"]["mentions"] == result["ner"]["mentions"] and "re_end2end" not in gold_only
    with pytest.raises(ValueError, match="unknown prediction mode"):
        score_documents([GOLD], {"e2e": [END2END]})
    with pytest.raises(ValueError, match="end2end: prediction 0 is for pmid '9', but gold document 0 is pmid '42'"):
        score_documents([GOLD], {"end2end": [{**END2END, "pmid": "9"}]})


def test_pubtator_file_and_round_trip_through_strict_reader(tmp_path):
    path = write_pubtator(tmp_path / "e.PubTator.txt", [GOLD], [END2END])
    assert path.read_text().splitlines() == [
        f"42|t|{TITLE}", f"42|a|{ABSTRACT}",
        "42\t0\t21\tFamotidine-associated\tChemical\tD015738",
        f"42\t{span('Famotidine', 1)[0]}\t{span('Famotidine', 1)[1]}\tFamotidine\tChemical\tD015738",
        f"42\t{span('delirium', 1)[0]}\t{span('delirium', 1)[1]}\tdelirium\tDisease\tD003693",
        f"42\t{span('renal failure')[0]}\t{span('renal failure')[1]}\trenal failure\tDisease\t-1",
        "42\tCID\tD015738\tD003693", ""]  # the relation with a NIL end names no concept: left out
    gold_mode = {"pmid": "42", "mentions": [{**m, "ids": [e["id"] for e in GOLD["entities"] if i in e["mention_indices"]
                                                          and not e["id"].startswith("NIL:")], "link_score": None}
                                            for i, m in enumerate(GOLD["mentions"])],
                 "entities": GOLD["entities"], "relations": [{**r, "score": 1.0} for r in GOLD["relations"]]}
    path = write_pubtator(tmp_path / "p.PubTator.txt", [GOLD, {**GOLD, "pmid": "43"}],
                          [gold_mode, {**END2END, "pmid": "43"}])
    docs = list(iter_pubtator(path, ["Chemical", "Disease"], ["CID"]))
    assert [d.pmid for d in docs] == ["42", "43"] and docs[0].text == TEXT
    assert [(m.start, m.end, m.ids) for m in docs[0].mentions] == sorted(
        (m["start"], m["end"], ["-1"] if m["text"] == "failure" else [e["id"]])
        for e in GOLD["entities"] for m in (GOLD["mentions"][i] for i in e["mention_indices"]))
    assert [(r.head, r.tail) for r in docs[0].relations] == [("D015738", "D003693"), ("D015738", "D051437")]
    without = write_pubtator(tmp_path / "n.PubTator.txt", [GOLD], [END2END], with_relations=False)
    assert "CID" not in without.read_text()


def test_writers_reject_what_the_format_cannot_hold(tmp_path):
    out_of_text = {**END2END, "mentions": [{"start": 0, "end": 999, "text": "x", "type": "Chemical", "ids": [],
                                            "link_score": None}]}
    with pytest.raises(ValueError, match=r"document 42: mention offsets 0-999 are outside the text"):
        write_pubtator(tmp_path / "bad.txt", [GOLD], [out_of_text])
    assert not (tmp_path / "bad.txt").exists() and not (tmp_path / "bad.txt.partial").exists()
    with pytest.raises(ValueError, match="type 'Chem\\\\tical' is empty or holds a tab"):
        write_pubtator(tmp_path / "bad.txt", [GOLD], [{**END2END, "mentions": [
            {**END2END["mentions"][0], "type": "Chem\tical"}]}])
    with pytest.raises(ValueError, match="1 gold documents but 2 predictions"):
        write_relationships_tsv(tmp_path / "r.tsv", [GOLD], [END2END, END2END])
    with pytest.raises(ValueError, match="Out of range float"):
        write_metrics_json(tmp_path / "m.json", {"f1": float("nan")})
    assert not (tmp_path / "m.json").exists()


def test_title_line_breaks_are_written_as_spaces_keeping_offsets(tmp_path):
    path = write_pubtator(tmp_path / "t.txt", [{**GOLD, "title": TITLE.replace(" ", "\n")}], [END2END])
    [document] = iter_pubtator(path, ["Chemical", "Disease"], ["CID"])
    assert document.title == TITLE and len(document.mentions) == 4


def test_relationships_tsv_multi_label_and_metrics_json(tmp_path):
    labels = ("chem_gene:increases^activity", "chem_gene:affects^binding")
    pred = {"relations": [{"label": label, "head": "MESH:D013726", "tail": "NCBIGene:154"} for label in labels * 2]}
    path = write_relationships_tsv(tmp_path / "r.tsv", [GOLD, {**GOLD, "pmid": "7"}], [pred, {"relations": []}])
    assert path.read_text() == (
        "42\tchem_gene:affects^binding\tMESH:D013726\t154\n42\tchem_gene:increases^activity\tMESH:D013726\t154\n")
    path = write_metrics_json(tmp_path / "out" / "metrics.json", {"micro": {"f1": 0.5}})
    assert json.loads(path.read_text()) == {"micro": {"f1": 0.5}}


def test_plots_write_png(tmp_path):
    bars = plot_f1_bars(tmp_path / "f1.png", {"a": {"Chemical": 0.9, "Disease": 0.5}, "b": {"Gene": 0.1}}, "F1")
    confusion = plot_confusion(tmp_path / "c.png", ["Chemical", "O"], [[3, 1], [2, 0]], "confusion")
    for path in (bars, confusion):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="must be 2x2"):
        plot_confusion(tmp_path / "bad.png", ["Chemical", "O"], [[1, 2, 3]], "bad")


def run_in_repo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_evaluate_py_is_our_cli_and_import_evaluate_is_hugging_face():
    cli = run_in_repo("evaluate.py", "--help")
    assert cli.returncode == 0, cli.stderr
    assert "--dataset {bc5cdr,chem_dis_gene}" in cli.stdout and "--modes" in cli.stdout
    code = ("import sys, evaluate; from evaluate import load; import biomed_nerre.evaluation.run; "
            "print(evaluate.__file__, load is evaluate.load, sys.path[0] == '')")
    imported = run_in_repo("-c", code)
    assert imported.returncode == 0, imported.stderr
    location, same, path_restored = imported.stdout.split()
    assert "site-packages" in location and not location.startswith(str(REPO / "evaluate"))
    assert same == path_restored == "True"
