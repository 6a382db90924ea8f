"""train.py end to end on real BC5CDR documents with a tiny random encoder: outputs, resume, evaluate.py, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from biomed_nerre.training.main import main as train_main

REPO = Path(__file__).resolve().parents[1]
BC5CDR = REPO.parent / "shared" / "data" / "bc5cdr"
pytestmark = pytest.mark.slow


def _common_flags(encoder: Path, cache: Path) -> list[str]:
    return [
        "--dataset", "bc5cdr", "--data-dir", str(BC5CDR), "--cache-dir", str(cache),
        "--encoder", str(encoder), "--max-length", "64", "--stride", "16", "--re-block-size", "8",
        "--limit-train-docs", "4", "--limit-eval-docs", "2", "--per-device-batch-size", "1",
        "--encoder-lr", "1e-3", "--head-lr", "1e-3", "--mixed-precision", "no", "--logging-steps", "1",
        "--early-stopping-patience", "0", "--linker-vocabularies", "false",
    ]


@pytest.fixture(scope="module")
def trained(encoder, cache, vocabulary_sample, tmp_path_factory) -> tuple[Path, Path, dict]:
    work = tmp_path_factory.mktemp("run")
    out, results = work / "model", work / "results"
    metrics = train_main(
        _common_flags(encoder, cache)
        + ["--num-epochs", "1", "--output-dir", str(out), "--results-dir", str(results), "--limit-test-docs", "3",
           "--report-to", "tensorboard", "--head-lr", "4e-3", "--re-loss-weight", "0.5", "--calibration-docs", "3",
           "--linker-vocabularies", "true", "--linker-vocab-dir", str(vocabulary_sample)]
    )
    return out, results, metrics


def test_training_writes_a_complete_model_folder(trained):
    out, results, metrics = trained
    for name in ["model.safetensors", "config.json", "tokenizer_config.json", "training_args.json", "metrics.json", "README.md"]:
        assert (out / name).is_file(), name
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    config = json.loads((out / "config.json").read_text())
    assert "AutoModel" in config["auto_map"]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["training"]["global_step"] == 4  # 4 documents, batch 1, one epoch
    validation = saved["validation"]
    assert set(validation) >= {"ner_f1", "re_gold_f1", "re_end2end_f1", "re_gold_f1_calibrated"}
    # margin 0 is on the grid, so the best over the grid is at least the F1 at 0; with calibration on, the
    # best model was chosen on the mean of NER F1 and that calibrated relation F1
    assert validation["re_gold_f1_calibrated"] >= validation["re_gold_f1"]
    assert saved["training"]["best_validation_value"] == pytest.approx(
        (validation["ner_f1"] + validation["re_gold_f1_calibrated"]) / 2)
    assert 0.0 <= saved["test"]["ner"]["seqeval"]["micro"]["f1"] <= 1.0
    # the relation threshold was chosen on 3 validation documents and stored in the saved config
    calibration = saved["re_threshold_calibration"]
    assert calibration["documents"] == 3 and calibration["default_threshold"] == 0.0
    assert config["re_threshold"] == calibration["threshold"]
    assert calibration["f1"] == max(row["f1"] for row in calibration["table"]) >= calibration["default_f1"]
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "model-index" in card
    assert list((out / "logs").rglob("events.out.tfevents.*")), "no TensorBoard event file"
    log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]
    assert all(r["tokens_per_second"] > 0 for r in log if "loss" in r)
    for record in (r for r in log if "loss" in r):  # the parts and both learning rates are logged
        assert record["loss"] == pytest.approx(record["ner_loss"] + 0.5 * record["re_loss"], rel=1e-5)
        assert record["lr_heads"] == pytest.approx(4 * record["lr_encoder"])
    test_dir = results / "model" / "bc5cdr-test"
    assert (test_dir / "metrics.json").is_file()
    assert list(test_dir.glob("*.PubTator*"))
    # the linker: built from train + validation names and the vocabulary rows, saved next to the weights,
    # described in the card, and scored on test (gold mentions, concept ids, relations on ids)
    linker_config = json.loads((out / "linker" / "linker_config.json").read_text())
    assert linker_config["corpus_splits"] == ["train", "validation"]
    assert [v["name"] for v in linker_config["vocabularies"]] == ["mesh_descriptors", "mesh_supplementary", "medic"]
    assert linker_config["names"]["Chemical"] > 1000 and linker_config["names"]["Disease"] > 1000
    assert "## Concept linking" in card and "mesh_descriptors: MeSH 2023 descriptors" in card
    test = saved["test"]
    assert test["linking"]["mentions"]["Chemical"] > 0 and 0.0 <= test["linking"]["accuracy_Disease"] <= 1.0
    assert "concept_ids" in test and "re_end2end_ids" in test
    assert (test_dir / "predictions_linking.PubTator.txt").is_file()


def test_training_on_the_rest_of_validation_adds_those_documents(encoder, cache, tmp_path):
    out = tmp_path / "model"
    metrics = train_main(
        _common_flags(encoder, cache)
        + ["--num-epochs", "1", "--output-dir", str(out), "--train-on-validation-from", "497", "--calibration-docs", "2",
           "--evaluate-test", "false", "--linker", "false"]
    )
    assert metrics["training"]["global_step"] == 7  # 4 train + validation documents 497, 498 and 499, batch 1
    assert metrics["re_threshold_calibration"]["documents"] == 2


def test_evaluate_script_runs_on_the_trained_model(trained, cache, tmp_path):
    out, _, _ = trained
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(cache)}
    done = subprocess.run(
        [sys.executable, "evaluate.py", "--model", str(out), "--dataset", "bc5cdr", "--split", "validation",
         "--data-dir", str(BC5CDR), "--limit", "3", "--output-dir", str(tmp_path), "--run-name", "e2e"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "e2e" / "bc5cdr-validation" / "metrics.json").read_text())
    assert "ner" in metrics


def test_killed_and_resumed_run_matches_an_uninterrupted_one(encoder, cache, tmp_path):
    flags = _common_flags(encoder, cache) + [
        "--num-epochs", "2", "--save-steps", "3", "--save-total-limit", "10", "--evaluate-test", "false",
        "--dropout", "0.3", "--full-determinism", "true",  # on a GPU too, the two runs must match bit for bit
    ]
    straight = train_main(flags + ["--output-dir", str(tmp_path / "straight")])
    # checkpoints at steps 3 (mid-epoch), 4 (epoch end), 6 (mid-epoch) and 8. The process is SIGKILLed while it
    # writes step 8's, after logging steps 7 and 8: the resumed run restarts from step 6 inside the second
    # epoch, skipping the batches it had already seen, and ignores the half-written step-000008.partial
    out = tmp_path / "resumed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run([sys.executable, str(REPO / "tests" / "train_killed.py"), "8", *flags, "--output-dir", str(out)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "step-000003", "step-000004", "step-000006", "step-000008.partial"]
    assert _logged_steps(out)[-1] == (8, "validation") and not (out / "metrics.json").exists()
    resumed = train_main(flags + ["--output-dir", str(out), "--resume-from-checkpoint", "latest"])
    assert straight["training"]["global_step"] == resumed["training"]["global_step"] == 8
    assert straight["training"]["final_lr"] == resumed["training"]["final_lr"]
    assert straight["training"]["best_step"] == resumed["training"]["best_step"]
    assert not (out / "checkpoints" / "step-000008.partial").exists()
    # the resumed run dropped the logged records of steps 7 and 8 before running them again: each step logged once
    assert _logged_steps(out) == _logged_steps(tmp_path / "straight")
    final_a = load_file(tmp_path / "straight" / "checkpoints" / "step-000008" / "model.safetensors")
    final_b = load_file(out / "checkpoints" / "step-000008" / "model.safetensors")
    assert final_a.keys() == final_b.keys()
    for key in final_a:
        assert (final_a[key] == final_b[key]).all(), key


def _logged_steps(output_dir: Path) -> list[tuple[int, str]]:
    records = [json.loads(line) for line in (output_dir / "trainer_log.jsonl").read_text().splitlines()]
    return [(r["step"], "validation" if "validation" in r else "loss") for r in records]


def test_resuming_an_early_stopped_run_keeps_its_best_step_weights_and_metrics(encoder, cache, tmp_path):
    out = tmp_path / "model"
    flags = _common_flags(encoder, cache) + [
        "--num-epochs", "3", "--eval-every-epochs", "0.5", "--early-stopping-patience", "1", "--save-steps", "0",
        "--save-total-limit", "0", "--evaluate-test", "false", "--calibrate-re-threshold", "false",
        "--output-dir", str(out),
    ]
    first = train_main(flags)
    assert first["training"]["global_step"] < 12  # 4 steps per epoch: it stopped early, on its checkpoint
    weights, log = (out / "model.safetensors").read_bytes(), (out / "trainer_log.jsonl").read_text()
    # as after a crash during calibration or test scoring: the rerun resumes from the early-stop checkpoint
    resumed = train_main(flags + ["--resume-from-checkpoint", "latest"])
    assert resumed["training"] == first["training"] and resumed["validation"] == first["validation"]
    assert (out / "model.safetensors").read_bytes() == weights
    assert (out / "trainer_log.jsonl").read_text() == log  # nothing trained, validated or logged again


def test_two_process_ddp_run_finishes_its_schedule_and_gives_a_usable_model(encoder, cache, tmp_path):
    out = tmp_path / "ddp"
    # Accelerate 1.x sends `--cpu` to its single-process launcher (multi-CPU needs MPI); its torchrun-based
    # launcher with ACCELERATE_USE_CPU gives real two-process DDP over gloo on CPUs. GPUs are hidden: on a one-GPU
    # machine the second process would otherwise look for a second GPU.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true",
           "CUDA_VISIBLE_DEVICES": ""}
    # 5 documents at batch 2 leave short batches, which the shuffled batch order can put anywhere: each epoch
    # must still give both processes len(loader) = 2 batches, so 2 steps per epoch and 4 in all
    done = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533",
         "train.py", *_common_flags(encoder, cache), "--limit-train-docs", "5", "--per-device-batch-size", "2",
         "--num-epochs", "2", "--save-steps", "0", "--save-total-limit", "0", "--output-dir", str(out),
         "--results-dir", str(tmp_path / "results"), "--limit-test-docs", "2", "--calibration-docs", "2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["training"]["num_processes"] == 2
    assert saved["training"]["global_step"] == 4
    assert all(rate == 0.0 for rate in saved["training"]["final_lr"].values()), saved["training"]["final_lr"]
    assert [p.name for p in (out / "checkpoints").iterdir()] and sorted(
        p.name for p in (out / "checkpoints").iterdir()) == ["step-000002", "step-000004"]  # the epoch ends
    log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]
    assert [r["step"] for r in log if "validation" in r] == [2, 4]  # after each epoch, so after the last step
    from transformers import AutoModel

    model = AutoModel.from_pretrained(out, trust_remote_code=True)
    assert model.config.entity_types == ["Chemical", "Disease"]


def test_validation_predicts_in_float32_when_training_runs_in_bf16(encoder, cache):
    """The best model is chosen on float32 predictions, the precision calibration and test scoring use."""
    import torch
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    from modeling import SciBertForJointNerRe
    from modeling.preprocessing_joint_ner_re import load_tokenizer
    from biomed_nerre.training.data import corpus_labels, load_documents
    from biomed_nerre.training.validation import validate

    entity_types, relation_types = corpus_labels("bc5cdr")
    model = SciBertForJointNerRe.from_encoder(str(encoder), entity_types=entity_types, relation_types=relation_types,
                                              window_length=64, stride=16, re_block_size=8)
    documents = load_documents("bc5cdr", data_dir=str(BC5CDR), cache_dir=str(cache))["validation"].select(range(2))
    AcceleratorState._reset_state(reset_partial_state=True)  # the process's earlier runs fixed another precision
    try:
        accelerator = Accelerator(mixed_precision="bf16", cpu=True)
        prepared = accelerator.prepare(model)
        with accelerator.autocast():  # what validation ran under before: training's bf16 autocast
            assert torch.is_autocast_enabled("cpu")
        seen = []
        unwrapped = accelerator.unwrap_model(prepared)
        real_extract_modes = unwrapped.extract_modes

        def recording_extract_modes(*args, **kwargs):
            seen.append(torch.is_autocast_enabled("cpu"))
            return real_extract_modes(*args, **kwargs)

        unwrapped.extract_modes = recording_extract_modes
        metrics = validate(accelerator, prepared, load_tokenizer(str(encoder)), documents, batch_size=2)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert seen == [False] and 0.0 <= metrics["ner_f1"] <= 1.0


def test_quality_record_summary_has_the_kept_keys_from_a_real_run(trained):
    """bench/quality.py's results/quality.json: the issue's keys, read from a real metrics.json."""
    import argparse

    from bench.quality import record_summary

    _, _, metrics = trained
    summary = record_summary(argparse.Namespace(epochs=1.0, seed=42), metrics, None, 2.5, "python bench/quality.py")
    assert list(summary) == ["ner_f1", "ner_f1_chemical", "ner_f1_disease", "cid_gold_f1", "cid_end2end_f1",
                             "linking_acc_chemical", "linking_acc_disease", "concept_id_f1_chemical",
                             "concept_id_f1_disease", "baseline_ner_f1", "epochs", "seed", "minutes", "command"]
    test = metrics["test"]
    assert summary["concept_id_f1_chemical"] == round(test["concept_ids"]["per_type"]["Chemical"]["f1"], 4)
    assert summary["cid_end2end_f1"] == round(test["re_end2end_ids"]["micro"]["f1"], 4)  # on concept ids
    assert summary["linking_acc_disease"] == round(test["linking"]["accuracy_Disease"], 4)
    assert summary["ner_f1"] == round(test["ner"]["seqeval"]["micro"]["f1"], 4) and summary["baseline_ner_f1"] is None


def test_quality_record_over_seeds_states_mean_range_documents_and_machine(trained):
    """bench/quality.py's record over seeds: each test figure as mean and range, both systems' training documents,
    the augmentation settings, software versions and CPU."""
    import argparse

    from bench.quality import baseline_training_rows, record_over_seeds, record_summary, validation_summary
    from loaders import load_corpus

    _, _, metrics = trained
    runs = []
    for seed, shift in ((1, 0.0), (2, 0.1)):  # a second "seed": the same run with its NER F1 moved by 0.1
        summary = record_summary(argparse.Namespace(epochs=1.0, seed=seed), metrics, None, 2.5, "python bench/quality.py")
        summary["ner_f1"] = round(summary["ner_f1"] + shift, 4)
        runs.append({"seed": seed, "summary": summary, "validation": validation_summary(metrics), "seconds": 150.0})
    args = argparse.Namespace(epochs=1.0, seeds=[1, 2], baseline_seeds=[1],
                              train_flags=["--augment-copies", "1", "--augment-sentence-shuffle", "true"])
    ner = load_corpus("bc5cdr", "ner", data_dir=str(REPO.parent / "shared" / "data" / "bc5cdr"))
    baseline_rows = baseline_training_rows(ner, 200)
    assert len(baseline_rows) == 800 and baseline_rows[500]["pmid"] == ner["validation"][200]["pmid"]
    record = record_over_seeds(args, runs, [], 800, len(baseline_rows), "python bench/quality.py --seeds 1,2")
    ner_f1 = record["test"]["ner_f1"]
    assert ner_f1["runs"] == [runs[0]["summary"]["ner_f1"], runs[1]["summary"]["ner_f1"]]
    assert ner_f1["min"] == min(ner_f1["runs"]) and ner_f1["max"] == max(ner_f1["runs"])
    assert ner_f1["mean"] == pytest.approx(sum(ner_f1["runs"]) / 2, abs=1e-4)
    assert record["test"]["cid_gold_f1"]["min"] == record["test"]["cid_gold_f1"]["max"]
    assert record["training_documents"] == record["baseline_training_documents"] == 800
    assert record["augmentation"] == {"copies": 1, "mention_replacement": 0.5, "sentence_shuffle": True,
                                      "synonym_swap": 0.0}
    assert record["validation"]["selection_value"]["mean"] == round(metrics["training"]["best_validation_value"], 4)
    assert set(record["software"]) >= {"torch", "transformers", "datasets", "accelerate"} and record["machine"]["cpu"]


def test_quality_record_rebuilt_from_finished_seeds_keeps_their_scores_and_files(trained, tmp_path, monkeypatch,
                                                                                capsys):
    """bench/quality.py --reuse-finished-seeds: seeds whose quality.json holds a finished run are not trained
    again (a stopped record resumes); the record is built from their scores and their files stay as they were."""
    import json
    import sys

    from bench.quality import main as quality_main

    _, _, metrics = trained
    out = tmp_path / "record"
    for seed, seconds in ((1, 60.0), (2, 90.0)):
        (out / f"seed-{seed}").mkdir(parents=True)
        result = {"seed": seed, "joint": metrics, "joint_seconds": seconds}
        if seed == 1:
            result |= {"baseline": metrics["test"]["ner"], "baseline_seconds": 30.0, "baseline_training_documents": 800}
        (out / f"seed-{seed}" / "quality.json").write_text(json.dumps(result))
    before = {p: p.read_bytes() for p in out.glob("seed-*/quality.json")}
    monkeypatch.setattr(sys, "argv", ["bench/quality.py", "--data-dir", str(REPO.parent / "shared" / "data" / "bc5cdr"),
                                      "--seeds", "1,2", "--reuse-finished-seeds", "--out", str(out),
                                      "--train-on-validation-from", "200"])
    quality_main()
    record = json.loads((out / "record.json").read_text())
    ner = round(metrics["test"]["ner"]["seqeval"]["micro"]["f1"], 4)
    assert record["test"]["ner_f1"]["runs"] == [ner, ner] and record["minutes_per_seed"] == [1.0, 1.5]
    assert record["baseline_test"]["ner_f1"]["runs"] == [ner] and record["baseline_training_documents"] == 800
    assert record["training_documents"] == 800
    assert {p: p.read_bytes() for p in out.glob("seed-*/quality.json")} == before
    (out / "seed-2" / "quality.json").write_text('{"joint": ')  # a damaged run file is named, not retrained over
    with pytest.raises(SystemExit, match=r"seed-2/quality.json: line 1: not JSON"):
        quality_main()
