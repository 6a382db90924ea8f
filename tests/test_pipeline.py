"""pipeline(model=folder, trust_remote_code=True) on a folder written by `push_to_hub.py model --local-dir`,
in a fresh process that cannot import the project; and in-process with the registered task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomed_nerre.hub.cli import main as push_to_hub
from modeling import load_tokenizer
from tests.fresh_process import run_without_project_code
from tests.predict_model import write_tiny_model

ROOT = Path(__file__).resolve().parents[1]
BC5CDR_TEST = ROOT.parent / "shared" / "data" / "bc5cdr" / "CDR_TestSet.PubTator.txt"


def first_abstracts(n: int) -> list[dict]:
    from loaders.pubtator import iter_pubtator

    raws = iter_pubtator(BC5CDR_TEST, None, None)
    return [{"pmid": r.pmid, "title": r.title, "abstract": r.abstract} for r, _ in zip(raws, range(n))]


def save_linker_of_gold_names(folder: Path) -> None:
    """A linker in `folder/linker/` (as train.py writes it) that knows every word of the first 20 BC5CDR
    training abstracts (as naloxone for chemicals, hypertension for diseases), so that whatever words the random
    model tags link to a MeSH id: the pipeline's entities then carry the shipped linker's ids."""
    import re

    from loaders.pubtator import iter_pubtator
    from modeling.linking_joint_ner_re import LINKER_FOLDER, ConceptLinker, NameRow

    raws = iter_pubtator(BC5CDR_TEST.parent / "CDR_TrainingSet.PubTator.txt", None, None)
    words = {w for r, _ in zip(raws, range(20)) for w in re.findall(r"\w+", r.title + " " + r.abstract)}
    rows = [NameRow(t, (i,), w, "corpus") for w in sorted(words)
            for t, i in (("Chemical", "MESH:D009270"), ("Disease", "MESH:D006973"))]
    linker = ConceptLinker.from_names(rows, entity_types=["Chemical", "Disease"])
    linker.end2end_fuzzy_threshold = 0.01
    linker.save(folder / LINKER_FOLDER)


ABSTRACT = first_abstracts(1)[0]

FRESH = r"""
import json, sys
import transformers
from transformers import pipeline
pipe = pipeline(model=sys.argv[1], trust_remote_code=True)
document = json.loads(sys.argv[2])
print(json.dumps({
    "class": type(pipe).__name__, "task": pipe.task,
    "one": pipe(document["title"] + " " + document["abstract"]),
    "documents": pipe([document, {"text": ""}], batch_size=2),
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("modeling", "biomed_nerre", "loaders")),
}))
"""


@pytest.fixture(scope="module")
def exported(encoder, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pipeline")
    folder = write_tiny_model(encoder, tmp / "model")
    save_linker_of_gold_names(folder)
    assert push_to_hub(["model", str(folder), "--local-dir", str(tmp / "export"), "--allow-missing-metrics"]) == 0
    return tmp / "export"


def test_export_carries_the_pipeline(exported):
    config = json.loads((exported / "config.json").read_text())
    assert config["custom_pipelines"]["joint-ner-re"]["impl"] == "pipeline_joint_ner_re.JointNerRePipeline"
    assert (exported / "pipeline_joint_ner_re.py").is_file()


def test_pipeline_in_a_fresh_process_without_the_project(exported, tmp_path):
    out = run_without_project_code(FRESH, str(exported), json.dumps(ABSTRACT), cwd=tmp_path, timeout=600)
    assert out["class"] == "JointNerRePipeline" and out["task"] == "joint-ner-re"
    assert out["modules"] == []  # nothing of the project was imported
    one, (document, empty) = out["one"], out["documents"]
    text = ABSTRACT["title"] + " " + ABSTRACT["abstract"]
    assert one["mentions"] and all(text[m["start"]:m["end"]] == m["text"] for m in one["mentions"])
    assert one["relations"] and all(0.0 <= r["score"] <= 1.0 for r in one["relations"])
    ids = {e["id"] for e in one["entities"]}
    assert all(r["head"] in ids and r["tail"] in ids for r in one["relations"])
    assert any(e["id"].startswith("MESH:D") for e in one["entities"]), one["entities"]  # the shipped linker's ids
    assert all(m["ids"] == [] or m["ids"][0].startswith("MESH:") for m in one["mentions"])
    assert document["pmid"] == ABSTRACT["pmid"] and document["mentions"] == one["mentions"]
    assert document["relations"] == one["relations"]
    assert empty == {"pmid": "input-1", "mentions": [], "entities": [], "relations": []}


def test_registered_task_in_process(exported):
    from transformers import AutoModel, pipeline

    model = AutoModel.from_pretrained(exported, trust_remote_code=True)
    pipe = pipeline("joint-ner-re", model=model, tokenizer=load_tokenizer(exported))
    text = ABSTRACT["title"] + " " + ABSTRACT["abstract"]
    direct = model.extract([{"pmid": "x", "text": text}], pipe.tokenizer)[0]
    assert pipe({"pmid": "x", "text": text}) == direct
    streamed = list(pipe(iter([text, text]), batch_size=1))
    assert [r["pmid"] for r in streamed] == ["input-0", "input-1"]
    assert [{**r, "pmid": "input-0"} for r in streamed] == [pipe(text)] * 2
    with pytest.raises(ValueError, match="needs 'text', or 'title' and 'abstract'"):
        pipe({"pmid": "y"})
