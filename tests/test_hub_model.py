"""Model export: the folder push_to_hub.py writes loads with `trust_remote_code=True` in a fresh process
outside the repository and extracts the same entities and relations; refusals; the model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from biomed_nerre.hub.cli import main as push_to_hub
from biomed_nerre.hub.export_model import ExportError, export_model, plan_model_export
from biomed_nerre.hub.model_card import build_model_card, write_model_card
from modeling import SciBertForJointNerRe, load_tokenizer
from tests.tiny_encoder import write_tiny_encoder
from tests.fresh_process import run_without_project_code

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Naloxone reverses the antihypertensive effect of clonidine in rats."
METRICS = {
    "training": {"global_step": 3},
    "validation": {"ner_f1": 0.5, "mention_f1": 0.5, "re_gold_f1": 0.25, "re_end2end_f1": 0.125},
    "test": {
        "dataset": "bc5cdr",
        "ner": {
            "seqeval": {
                "micro": {"precision": 0.6, "recall": 0.4, "f1": 0.48},
                "per_type": {"Chemical": {"precision": 0.7, "recall": 0.5, "f1": 0.5833}},
            }
        },
        "re_gold": {"mode": "gold", "micro": {"precision": 0.3, "recall": 0.2, "f1": 0.24}, "per_label": {}},
        "re_end2end": {"mode": "end2end", "micro": {"precision": 0.1, "recall": 0.1, "f1": 0.1}},
    },
}

LOAD_SCRIPT = r"""
import json, sys
import torch
from transformers import AutoModel, AutoTokenizer
folder, text = sys.argv[1], sys.argv[2]
model = AutoModel.from_pretrained(folder, trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
model.eval()
print(json.dumps({
    "module": type(model).__module__,
    "checksum": float(sum(p.double().abs().sum() for p in model.state_dict().values())),
    "extract": model.extract([text], tokenizer, mode="end2end"),
}))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A tiny random model saved the way train.py saves one (weights, code, tokenizer, args, metrics)."""
    tmp = tmp_path_factory.mktemp("hub_model")
    encoder = write_tiny_encoder(tmp / "encoder")
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(
        str(encoder),
        entity_types=["Chemical", "Disease"],
        relation_types={"CID": ["Chemical", "Disease"]},
        max_length=64,
        stride=16,
        re_block_size=8,
    ).eval()
    tokenizer = load_tokenizer(encoder)
    folder = tmp / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "metrics.json").write_text(json.dumps(METRICS))
    training_args = {"dataset": "bc5cdr", "encoder": str(encoder), "seed": 1}
    (folder / "training_args.json").write_text(json.dumps(training_args))
    write_model_card(folder, metrics=METRICS, training_args=training_args)  # as train.py does
    return {"tmp": tmp, "folder": folder, "model": model, "tokenizer": tokenizer}


def copy_of(folder: Path, dest: Path) -> Path:
    shutil.copytree(folder, dest)
    return dest


def test_exported_model_loads_with_remote_code_in_a_fresh_process(trained) -> None:
    tmp, out = trained["tmp"], trained["tmp"] / "export"
    extra = copy_of(trained["folder"], tmp / "with_extras")
    (extra / "checkpoint-3").mkdir()
    (extra / "predictions.jsonl").write_text("{}\n")
    assert push_to_hub(["model", str(extra), "--local-dir", str(out), "--repo-id", "someone/tiny-joint"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [
            "README.md",
            "config.json",
            "model.safetensors",
            "metrics.json",
            "training_args.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "configuration_joint_ner_re.py",
            "modeling_joint_ner_re.py",
            "preprocessing_joint_ner_re.py",
            "postprocessing_joint_ner_re.py",
            "pipeline_joint_ner_re.py",  # named by config.json's custom_pipelines
            "onnx_joint_ner_re.py",  # imported by use_backend("onnx")
            "linking_joint_ner_re.py",  # the concept linker's code
            "dense_linking_joint_ner_re.py",  # the linker's optional dense ranker
            "name_table_joint_ner_re.py",  # how the linker reads its names file
            "gazetteer_joint_ner_re.py",  # the gazetteer's code (for models with gazetteer features)
            "outputs_joint_ner_re.py",  # the result contract
            "relation_blocks_joint_ner_re.py",  # the relation head's pair context in blocks
            "files_joint_ner_re.py",  # reads the saved files, naming a damaged one
            "backbones_joint_ner_re.py",  # bidirectional attention, LoRA adapters
        ]
    )
    loaded = run_without_project_code(LOAD_SCRIPT, str(out), TEXT, cwd=tmp)
    assert loaded["module"].startswith("transformers_modules.")  # the copied code, not the repository's
    model = trained["model"]
    assert loaded["checksum"] == pytest.approx(
        float(sum(p.double().abs().sum() for p in model.state_dict().values())), rel=1e-12
    )
    [expected] = model.extract([TEXT], trained["tokenizer"], mode="end2end")
    [got] = loaded["extract"]
    assert got["mentions"] == expected["mentions"] and got["entities"] == expected["entities"]
    assert [(r["label"], r["head"], r["tail"]) for r in got["relations"]] == [
        (r["label"], r["head"], r["tail"]) for r in expected["relations"]
    ]
    assert [r["score"] for r in got["relations"]] == pytest.approx([r["score"] for r in expected["relations"]])


def test_model_card_metadata_and_model_index(trained, tmp_path) -> None:
    out = tmp_path / "export"
    export_model(
        trained["folder"],
        out,
        repo_id="someone/tiny-joint",
        datasets=["someone/bc5cdr"],
        base_model="allenai/scibert_scivocab_cased",
    )
    card = ModelCard.load(out / "README.md")
    data = card.data.to_dict()
    # no Hub pipeline runs joint NER + RE: "other", not token-classification (whose widget would call that pipeline)
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "other"
    assert data["base_model"] == "allenai/scibert_scivocab_cased" and data["datasets"] == ["someone/bc5cdr"]
    assert data["license"] == "apache-2.0" and "bc5cdr" in data["tags"]
    found = {(r.dataset_split, r.metric_name): r.metric_value for r in card.data.eval_results}
    assert found[("test", "NER micro f1 (test)")] == 0.48
    assert found[("test", "RE (gold entities) precision (test)")] == 0.3
    assert found[("test", "RE (end-to-end) recall (test)")] == 0.1
    assert found[("validation", "RE (gold entities) f1 (validation (model-selection pass))")] == 0.25
    assert len(found) == 3 * 3 + 3  # test: 3 tasks x P/R/F1; validation: the three F1s
    assert 'AutoModel.from_pretrained("someone/tiny-joint", trust_remote_code=True)' in card.text
    assert "| test | `Chemical` | 70.00 | 50.00 | 58.33 |" in card.text


def test_card_front_matter_is_yaml_with_license_pipeline_tag_and_model_index(trained) -> None:
    """The template's front matter, read as plain YAML (not through huggingface_hub), holds what the Hub reads."""
    import yaml

    text = build_model_card(trained["folder"], metrics=METRICS, repo_id="someone/tiny-joint")
    assert text.startswith("---\n")
    front, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(front)
    assert (meta["license"], meta["pipeline_tag"], meta["library_name"]) == ("apache-2.0", "other", "transformers")
    [index] = meta["model-index"]
    metrics = {(r["dataset"]["split"], m["name"]): m["value"] for r in index["results"] for m in r["metrics"]}
    assert metrics[("test", "NER micro f1 (test)")] == 0.48 and metrics[("test", "RE (end-to-end) recall (test)")] == 0.1
    assert "`joint-ner-re`" in body and 'pipeline(model="someone/tiny-joint", trust_remote_code=True)' in body
    assert "{{" not in body and "{%" not in body  # every template expression was rendered


def test_card_tolerates_missing_metrics_parts(trained) -> None:
    only_validation = build_model_card(trained["folder"], metrics={"validation": {"ner_f1": 0.5}})
    card = ModelCard(only_validation)
    assert [(r.dataset_split, r.metric_type) for r in card.data.eval_results] == [("validation", "f1")]
    empty = ModelCard(build_model_card(trained["folder"], metrics={}))
    assert card.data.library_name == empty.data.library_name == "transformers"
    assert not empty.data.eval_results and "No evaluation was recorded" in empty.text
    # a local encoder folder is not a Hub id, so no base_model is claimed
    assert empty.data.base_model is None


def test_export_refuses_pickle_weights_unless_allowed(trained, tmp_path) -> None:
    folder = copy_of(trained["folder"], tmp_path / "model")
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ExportError, match=r"pickle weights \['pytorch_model.bin'\]"):
        plan_model_export(folder)
    assert push_to_hub(["model", str(folder), "--local-dir", str(tmp_path / "refused")]) == 2
    assert not (tmp_path / "refused").exists()
    files, _ = export_model(folder, tmp_path / "allowed", allow_pickle=True)
    assert (tmp_path / "allowed" / "pytorch_model.bin") in files


def test_export_refuses_missing_metrics_unless_allowed(trained, tmp_path) -> None:
    folder = copy_of(trained["folder"], tmp_path / "model")
    (folder / "metrics.json").unlink()
    with pytest.raises(ExportError, match="no metrics.json"):
        plan_model_export(folder)
    export_model(folder, tmp_path / "out", allow_missing_metrics=True)
    assert "No evaluation was recorded" in (tmp_path / "out" / "README.md").read_text()


def test_export_copies_missing_code_files_from_the_project(trained, tmp_path) -> None:
    folder = copy_of(trained["folder"], tmp_path / "model")
    for code in folder.glob("*.py"):
        code.unlink()
    plan, _ = plan_model_export(folder)
    code_files = {name: path for name, path in plan.items() if name.endswith(".py")}
    assert sorted(code_files) == sorted(p.name for p in trained["folder"].glob("*.py"))
    for name, path in code_files.items():
        assert path == ROOT / "modeling" / name  # found through auto_map and relative imports


def test_export_refuses_a_folder_without_auto_map(trained, tmp_path) -> None:
    folder = copy_of(trained["folder"], tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    del config["auto_map"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match="no `auto_map`"):
        plan_model_export(folder)


def test_keep_card_uploads_the_folders_own_card(trained, tmp_path) -> None:
    files, _ = export_model(trained["folder"], tmp_path / "out", keep_card=True, repo_id="someone/other-name")
    assert (tmp_path / "out" / "README.md").read_text() == (trained["folder"] / "README.md").read_text()
    assert "# model" in (tmp_path / "out" / "README.md").read_text()  # train.py's card names the folder


def test_card_states_the_relation_threshold_and_its_calibration(trained) -> None:
    calibrated = {**METRICS, "re_threshold_calibration": {"threshold": -1.0, "f1": 0.542, "default_threshold": 0.0,
                                                          "default_f1": 0.517, "documents": 500, "table": []}}
    text = ModelCard(build_model_card(trained["folder"], metrics=calibrated)).text
    assert "`config.re_threshold` = `0`" in text  # the folder's config.json (never calibrated) holds 0
    assert "on 500 validation documents: 54.2 against 51.7 at margin 0" in text
    plain = ModelCard(build_model_card(trained["folder"], metrics=METRICS)).text
    assert "`config.re_threshold` = `0`. Pass `threshold=`" in plain


def test_card_is_named_after_the_repo_or_model_name_and_reports_full_validation(trained, tmp_path) -> None:
    """`push_to_hub.py model DIR --local-dir /tmp/export`: the card is not named "export"; its validation rows are
    train.py's full-validation pass at the saved threshold (labelled), not the model-selection pass."""
    folder = copy_of(trained["folder"], tmp_path / "bc5cdr-minilm")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "re_threshold": -0.75}))
    full = {"n_documents": 500, "ner": {"seqeval": {"micro": {"precision": 0.8, "recall": 0.78, "f1": 0.7925}}},
            "re_gold": {"micro": {"precision": 0.5, "recall": 0.5076, "f1": 0.5038}}}
    metrics = {**METRICS, "validation_full": full}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    for argv, name in ((["--model-name", "bc5cdr-joint-minilm"], "bc5cdr-joint-minilm"),
                       (["--repo-id", "someone/bc5cdr-joint"], "bc5cdr-joint"), ([], "bc5cdr-minilm")):
        out = tmp_path / "runs" / name / "export"
        assert push_to_hub(["model", str(folder), "--local-dir", str(out), *argv]) == 0
        card = ModelCard.load(out / "README.md")
        assert card.data.model_name == name
        assert f"# {name}\n" in card.text and "# export" not in card.text
        assert card.data.to_dict()["model-index"][0]["name"] == name
        validation = {r.metric_name: r.metric_value for r in card.data.eval_results if r.dataset_split == "validation"}
        label = "validation (500 documents, relation threshold -0.75)"
        assert validation == {f"NER micro {s} ({label})": v for s, v in (("precision", 0.8), ("recall", 0.78),
                                                                          ("f1", 0.7925))} | {
            f"RE (gold entities) {s} ({label})": v for s, v in (("precision", 0.5), ("recall", 0.5076), ("f1", 0.5038))}
        assert f"| {label} | Named entity recognition | 80.00 | 78.00 | 79.25 |" in card.text
        assert "model-selection" not in card.text
