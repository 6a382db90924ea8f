"""One result contract: `extract`, the transformers pipeline, `predict.py` JSONL and the demo's JSON give the same
results for the same documents (BC5CDR test abstracts and a document with an empty title), with every key present,
offsets into title + " " + abstract, one NIL form and scores on the threshold's scale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from modeling import load_tokenizer
from modeling.outputs_joint_ner_re import (
    DocumentResult,
    InputError,
    document_text,
    input_documents,
    margin_to_probability,
    probability_to_margin,
    to_document_result,
)
from tests.predict_model import write_tiny_model
from tests.test_pipeline import first_abstracts, save_linker_of_gold_names

ROOT = Path(__file__).resolve().parents[1]
EMPTY_TITLE = {"pmid": "99", "title": "", "abstract": "Naloxone reverses the antihypertensive effect of clonidine."}
KEYS = {"pmid": str, "mentions": list, "entities": list, "relations": list}
MENTION_KEYS = {"start", "end", "text", "type", "ids", "link_score"}


@pytest.fixture(scope="module")
def model_dir(encoder, tmp_path_factory) -> Path:
    folder = write_tiny_model(encoder, tmp_path_factory.mktemp("contract") / "model")
    save_linker_of_gold_names(folder)
    return folder


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    return [*first_abstracts(6), EMPTY_TITLE]


def check_contract(result: DocumentResult, text: str) -> None:
    assert set(result) == set(KEYS) and all(isinstance(result[k], t) for k, t in KEYS.items())
    for m in result["mentions"]:
        assert set(m) == MENTION_KEYS and text[m["start"] : m["end"]] == m["text"]
        assert (m["link_score"] is None) == (not m["ids"])
    ids = {e["id"] for e in result["entities"]}
    for e in result["entities"]:
        assert set(e) == {"id", "type", "mention_indices"}
        assert e["id"].startswith(("MESH:", "NIL:")), e
    for r in result["relations"]:
        assert set(r) == {"label", "head", "tail", "score"} and {r["head"], r["tail"]} <= ids
        assert 0.0 <= r["score"] <= 1.0


def assert_same(a: list[DocumentResult], b: list[DocumentResult]) -> None:
    """Equal results, scores to 1e-5."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert {k: x[k] for k in ("pmid", "entities")} == {k: y[k] for k in ("pmid", "entities")}
        assert [{**m, "link_score": None} for m in x["mentions"]] == [{**m, "link_score": None} for m in y["mentions"]]
        assert [m["link_score"] for m in x["mentions"]] == pytest.approx([m["link_score"] for m in y["mentions"]],
                                                                         abs=1e-5)
        assert [(r["label"], r["head"], r["tail"]) for r in x["relations"]] == [
            (r["label"], r["head"], r["tail"]) for r in y["relations"]]
        assert [r["score"] for r in x["relations"]] == pytest.approx([r["score"] for r in y["relations"]], abs=1e-5)


def test_extract_pipeline_predict_and_demo_give_the_same_results(model_dir, documents, tmp_path):
    from transformers import AutoModel, pipeline

    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    tokenizer = load_tokenizer(model_dir)
    extracted = model.extract(documents, tokenizer)
    for document, result in zip(documents, extracted):
        check_contract(result, document_text(document["title"], document["abstract"]))
    # offsets index " " + abstract: the empty title keeps its space (checked by check_contract above)
    assert extracted[-1]["mentions"] and all(m["start"] >= 1 for m in extracted[-1]["mentions"])
    assert sum(len(r["relations"]) for r in extracted) > 0
    assert any(m["ids"] for r in extracted for m in r["mentions"])

    piped = pipeline(model=str(model_dir), trust_remote_code=True)(documents)
    assert_same(extracted, piped)

    source = tmp_path / "input.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "predict.py"), "--model", str(model_dir), "--input", str(source),
                           "--output", str(output), "--no-progress"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    predicted = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert_same(extracted, predicted)

    sys.path.insert(0, str(ROOT / "demo"))
    try:
        import app as demo_app
        import result_view as view
    finally:
        sys.path.remove(str(ROOT / "demo"))
    analyser = demo_app.Analyser(model, tokenizer, str(model_dir))
    threshold = model.config.relation_threshold
    shown = []
    for document in documents:
        text = document["title"] + "\n" + document["abstract"]  # as the demo's examples are laid out
        result = analyser.analyse(text, document["pmid"])
        shown.append(json.loads(view.result_json(text, result, threshold, str(model_dir)))["result"])
    assert_same(extracted, shown)


def test_threshold_is_a_probability_everywhere(model_dir, documents):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    tokenizer = load_tokenizer(model_dir)
    everything = model.extract(documents, tokenizer, threshold=0.0)
    for p in (0.2, 0.5, 0.9):
        kept = model.extract(documents, tokenizer, threshold=p)
        assert [[r for r in e["relations"] if r["score"] > p] for e in everything] == [k["relations"] for k in kept]
    default = model.extract(documents, tokenizer)
    assert default == model.extract(documents, tokenizer, threshold=model.config.relation_threshold)
    for bad in (-1.0, 1.5, float("nan")):
        with pytest.raises(InputError, match="a relation threshold is a probability between 0 and 1"):
            model.extract(documents[:1], tokenizer, threshold=bad)
    assert margin_to_probability(probability_to_margin(0.25)) == pytest.approx(0.25)


@pytest.mark.parametrize("bad, message", [
    (None, "expected a str, a dict .* got NoneType"),
    (42, "expected a str, a dict .* got int"),
    (b"aspirin", r"got bytes \(decode bytes to str first\)"),
    ([None], "input 0: expected a str, a dict .* got NoneType"),
    (["ok", 3.5], "input 1: expected .* got float"),
    ([{"title": 1, "abstract": "x"}], "input 0 .*'title' must be a str, got int"),
    ([{"pmid": "1"}], "a document needs 'text', or 'title' and 'abstract'"),
    ([{"text": ["a"]}], "'text' must be a str, got list"),
    ([{"text": "a", "pmid": 1.5}], "'pmid' must be a str or an int, got float"),
])
def test_bad_inputs_say_what_extract_accepts(bad, message):
    with pytest.raises(InputError, match=message):
        input_documents(bad)


def test_old_results_are_coerced_to_the_contract():
    old = {"pmid": 7, "mentions": [{"start": 0, "end": 7, "text": "Aspirin", "type": "Chemical", "link_method": "x"}],
           "entities": [{"id": "NIL:Chemical:aspirin", "type": "Chemical", "mention_indices": [0]}],
           "relations": [], "ner_mentions": []}
    assert to_document_result(old) == {
        "pmid": "7", "mentions": [{"start": 0, "end": 7, "text": "Aspirin", "type": "Chemical", "ids": [],
                                   "link_score": None}],
        "entities": [{"id": "NIL:Chemical:aspirin", "type": "Chemical", "mention_indices": [0]}], "relations": []}
