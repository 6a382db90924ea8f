"""CUDA paths: mixed-precision training, `extract` on the GPU against the CPU, bf16 inference, evaluate.py.

Skipped where torch sees no CUDA device (CI has none); `bench/gpu_check.sh` runs them on a GPU machine.
The rest of the suite also runs there: train.py and evaluate.py then pick the GPU by themselves.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from biomed_nerre.evaluation.run import main as evaluate_main
from loaders import load_corpus

REPO = Path(__file__).resolve().parents[1]
BC5CDR = REPO.parent / "shared" / "data" / "bc5cdr"
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _train(encoder: Path, cache: Path, out: Path, precision: str) -> None:
    """train.py in its own process: Accelerate keeps one mixed-precision setting per process."""
    command = [sys.executable, "train.py",
        "--dataset", "bc5cdr", "--data-dir", str(BC5CDR), "--cache-dir", str(cache), "--encoder", str(encoder),
        "--max-length", "64", "--stride", "16", "--re-block-size", "8", "--limit-train-docs", "8",
        "--limit-eval-docs", "2", "--limit-test-docs", "2", "--per-device-batch-size", "2", "--num-epochs", "2",
        "--linker-vocabularies", "false",
        "--encoder-lr", "1e-3", "--head-lr", "4e-3", "--re-loss-weight", "0.5", "--mixed-precision", precision,
        "--logging-steps", "1", "--early-stopping-patience", "0", "--calibration-docs", "2",
        "--output-dir", str(out), "--results-dir", str(out.parent / f"results-{precision}"),
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(cache)}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def trained_bf16(encoder, cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bf16") / "model"
    _train(encoder, cache, out, "bf16")
    return out


@pytest.mark.parametrize("precision", ["no", "bf16", "fp16"])
def test_train_py_runs_on_the_gpu_in_each_precision(encoder, cache, tmp_path, precision):
    out = tmp_path / "model"
    _train(encoder, cache, out, precision)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["training"]["global_step"] == 8  # 8 documents, batch 2, two epochs
    log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses), losses
    # fp16 may skip a step whose gradients overflowed (GradScaler), but training still moved the loss
    assert min(losses[4:]) < losses[0]
    assert 0.0 <= saved["test"]["ner"]["seqeval"]["micro"]["f1"] <= 1.0
    # the saved weights are float32 whatever the autocast precision, and load back on the CPU
    from modeling import SciBertForJointNerRe

    model = SciBertForJointNerRe.from_pretrained(out)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_extract_on_the_gpu_matches_the_cpu(trained_bf16):
    from transformers import AutoTokenizer

    from modeling import SciBertForJointNerRe

    documents = [dict(d) for d in load_corpus("bc5cdr", "documents", data_dir=str(BC5CDR))["test"].select(range(6))]
    tokenizer = AutoTokenizer.from_pretrained(trained_bf16)
    model = SciBertForJointNerRe.from_pretrained(trained_bf16).eval()
    on_cpu = model.extract(documents, tokenizer, mode="gold", threshold=0.0)
    on_gpu = model.to("cuda").extract(documents, tokenizer, mode="gold", threshold=0.0)
    for cpu_doc, gpu_doc in zip(on_cpu, on_gpu):
        assert gpu_doc["ner_mentions"] == cpu_doc["ner_mentions"]
        assert [(r["head"], r["tail"], r["label"]) for r in gpu_doc["relations"]] == \
            [(r["head"], r["tail"], r["label"]) for r in cpu_doc["relations"]]
        for a, b in zip(cpu_doc["relations"], gpu_doc["relations"]):
            assert b["score"] == pytest.approx(a["score"], abs=1e-4)
    # bf16 weights on the GPU: same shape of output, scores near float32's
    in_bf16 = model.to(torch.bfloat16).extract(documents, tokenizer, mode="gold", threshold=0.0)
    pairs = sum(len(d["relations"]) for d in on_cpu)
    assert pairs > 0 and sum(len(d["relations"]) for d in in_bf16) == pairs
    diffs = [abs(a["score"] - b["score"]) for x, y in zip(on_cpu, in_bf16) for a, b in zip(x["relations"], y["relations"])]
    assert max(diffs) < 0.05, max(diffs)


def test_evaluate_cli_on_the_gpu_in_float32_and_bf16(trained_bf16, cache, tmp_path):
    common = ["--model", str(trained_bf16), "--dataset", "bc5cdr", "--data-dir", str(BC5CDR), "--cache-dir", str(cache),
              "--limit", "3", "--output-dir", str(tmp_path), "--device", "cuda"]
    assert evaluate_main(common + ["--run-name", "f32"]) == 0
    assert evaluate_main(common + ["--run-name", "bf16", "--dtype", "bfloat16"]) == 0
    f32, bf16 = (json.loads((tmp_path / run / "bc5cdr-test" / "metrics.json").read_text()) for run in ("f32", "bf16"))
    assert f32["n_documents"] == bf16["n_documents"] == 3 and bf16["dtype"] == "bfloat16"
    assert abs(f32["ner"]["seqeval"]["micro"]["f1"] - bf16["ner"]["seqeval"]["micro"]["f1"]) < 0.2


def test_the_encoder_attention_skips_cudnn_on_the_gpu(trained_bf16):
    """cuDNN attention builds a plan per new batch shape; the model's encoder calls leave it out (bf16 inputs
    with a padding mask are the case where torch would try it first)."""
    from modeling import SciBertForJointNerRe

    model = SciBertForJointNerRe.from_pretrained(trained_bf16).to("cuda", torch.bfloat16).eval()
    input_ids = torch.randint(5, 50, (2, 40), device="cuda")
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 30:] = 0
    token_index = torch.arange(20, device="cuda").view(2, 10)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile, torch.no_grad():
        model.encode(input_ids, attention_mask, token_index)
    names = {event.name for event in profile.events()}
    assert any("scaled_dot_product" in name for name in names), sorted(names)
    assert not any("cudnn_attention" in name for name in names), sorted(n for n in names if "scaled_dot" in n)


def test_onnx_backend_with_the_cuda_provider_matches_torch_on_the_gpu(encoder, tmp_path):
    """The ONNX backend's CUDA provider (onnxruntime-gpu) against the torch encoder on the same GPU."""
    onnxruntime = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu)")
    from loaders.schema import ENTITY_TYPES, RELATION_TYPES
    from modeling import SciBertForJointNerRe

    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(encoder, entity_types=ENTITY_TYPES["bc5cdr"],
                                              relation_types=RELATION_TYPES["bc5cdr"], window_length=64, stride=16)
    model.save_pretrained(tmp_path / "model")
    model = SciBertForJointNerRe.from_pretrained(tmp_path / "model").to("cuda").eval()
    input_ids = torch.randint(5, model.config.encoder_config["vocab_size"], (9, 64), device="cuda")
    attention_mask = torch.ones_like(input_ids)
    attention_mask[3, 20:] = 0
    with torch.inference_mode():
        expected = model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        runtime = model.use_backend("onnx", provider="cuda")._encoder_runtime
        got = runtime(input_ids, attention_mask)
    assert runtime.provider == "cuda" and got.device.type == "cuda"
    assert (got - expected)[attention_mask.bool()].abs().max().item() < 1e-3
