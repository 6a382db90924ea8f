"""The ONNX Runtime backend: export of a tiny random BERT, parity with torch on BC5CDR validation documents,
the int8 model, the CLI flag, and a clear error where onnxruntime is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime")

from biomed_nerre.evaluation.run import evaluate_model, main, predict  # noqa: E402
from biomed_nerre.evaluation.scoring import score_documents  # noqa: E402
from loaders import load_corpus  # noqa: E402
from loaders.schema import ENTITY_TYPES, RELATION_TYPES  # noqa: E402
from modeling import SciBertForJointNerRe, load_tokenizer  # noqa: E402
from modeling.onnx_joint_ner_re import INFO_FILE, INT8_FILE, ONNX_DIR, ONNX_FILE, encoder_fingerprint  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BC5CDR = ROOT.parent / "shared" / "data" / "bc5cdr"
PARITY_DOCUMENTS = 120


@pytest.fixture(scope="module")
def saved(encoder, tmp_path_factory) -> Path:
    """A tiny random joint model saved like train.py saves one. The NER bias towards "O" keeps mentions to a few
    per document (as a trained model has), and a relation bias puts about half of the candidate pairs above the
    threshold, so both mention and relation decisions are tested."""
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(encoder, entity_types=ENTITY_TYPES["bc5cdr"],
                                              relation_types=RELATION_TYPES["bc5cdr"], window_length=64, stride=16,
                                              re_block_size=8)
    with torch.no_grad():
        model.ner_classifier.bias[0] += 0.3
    folder = tmp_path_factory.mktemp("onnx_model") / "model"
    model.save_pretrained(folder)
    load_tokenizer(str(encoder)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def validation(cache) -> list[dict]:
    documents = load_corpus("bc5cdr", "documents", data_dir=str(BC5CDR), cache_dir=str(cache))["validation"]
    return [dict(documents[i]) for i in range(PARITY_DOCUMENTS)]


def padded_batch(vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    input_ids = torch.randint(5, vocab_size, (3, 50), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 30:] = 0
    attention_mask[2, 4:] = 0
    return input_ids, attention_mask


def test_export_of_a_tiny_bert_is_written_once_into_the_model_folder_and_matches_torch(saved, tmp_path):
    model = SciBertForJointNerRe.from_pretrained(saved).eval()
    runtime = model.use_backend("onnx")._encoder_runtime
    assert runtime.path == saved / ONNX_DIR / ONNX_FILE
    info = json.loads((saved / ONNX_DIR / INFO_FILE).read_text())
    assert info["encoder_fingerprint"] == encoder_fingerprint(model.encoder) and info["encoder"] == "BertModel"
    input_ids, attention_mask = padded_batch(model.config.encoder_config["vocab_size"])
    with torch.inference_mode():
        expected = model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        got = runtime(input_ids, attention_mask)
    real = attention_mask.bool()
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert (got - expected)[real].abs().max().item() < 1e-4  # dynamic batch and length: not the export's 2 x 16
    assert model.training is False and model.encoder.config._attn_implementation != "eager"  # live model untouched

    written = runtime.path.stat().st_mtime_ns
    again = SciBertForJointNerRe.from_pretrained(saved).use_backend("onnx")._encoder_runtime
    assert again.path == runtime.path and again.path.stat().st_mtime_ns == written  # reused, not exported again
    with pytest.raises(RuntimeError, match="inference"):
        runtime(input_ids, attention_mask)  # grad mode: the backend cannot train

    # other weights in the same folder: the stale export is replaced
    changed = SciBertForJointNerRe.from_pretrained(saved)
    embeddings = changed.encoder.embeddings.word_embeddings.weight
    original = embeddings.detach().clone()
    with torch.no_grad():
        embeddings.mul_(1.5)
    copy_folder = tmp_path / "changed"
    fresh = changed.use_backend("onnx", folder=copy_folder)._encoder_runtime
    assert fresh.path == copy_folder / ONNX_FILE
    with torch.inference_mode():
        moved = changed.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        assert (fresh(input_ids, attention_mask) - moved)[real].abs().max().item() < 1e-4
    assert changed.use_backend("onnx", folder=copy_folder, int8=True)._encoder_runtime.path == copy_folder / INT8_FILE
    with torch.no_grad():
        embeddings.copy_(original)
    changed.use_backend("onnx", folder=copy_folder)  # the weights are back: exported again over the stale file
    assert not (copy_folder / INT8_FILE).exists()  # the stale int8 copy went with it
    assert json.loads((copy_folder / INFO_FILE).read_text())["encoder_fingerprint"] == encoder_fingerprint(model.encoder)
    assert model.use_backend("torch")._encoder_runtime is None


def test_the_export_is_the_fused_bert_graph_and_the_plain_one_without_fusion(saved, tmp_path):
    """ONNX Runtime's transformer optimizer fuses each layer's attention, residual layer norms and GELU; the
    fused file matches torch like the plain one. fuse=False writes the plain trace."""
    import onnx

    from modeling.onnx_joint_ner_re import export_encoder

    model = SciBertForJointNerRe.from_pretrained(saved).eval()
    layers = model.config.encoder_config["num_hidden_layers"]
    runtime = model.use_backend("onnx")._encoder_runtime
    assert json.loads((saved / ONNX_DIR / INFO_FILE).read_text())["graph"] == "fused"
    fused = Counter(node.op_type for node in onnx.load(str(runtime.path)).graph.node)
    assert (fused["Attention"], fused["SkipLayerNormalization"], fused["Softmax"]) == (layers, 2 * layers, 0)
    assert export_encoder(model.encoder, tmp_path / "plain.onnx", fuse=False) == "plain"
    plain = Counter(node.op_type for node in onnx.load(str(tmp_path / "plain.onnx")).graph.node)
    assert (plain["Attention"], plain["Softmax"], plain["MatMul"]) == (0, layers, 8 * layers)

    input_ids, attention_mask = padded_batch(model.config.encoder_config["vocab_size"])
    real = attention_mask.bool()
    with torch.inference_mode():
        expected = model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        assert (runtime(input_ids, attention_mask) - expected)[real].abs().max().item() < 1e-4
        from modeling.onnx_joint_ner_re import OnnxEncoder

        unfused = OnnxEncoder(tmp_path / "plain.onnx")
        assert (unfused(input_ids, attention_mask) - expected)[real].abs().max().item() < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.onnx"]  # no partial file left behind


def test_a_batch_over_the_cpu_attention_budget_runs_in_row_slices_with_the_same_output(saved, monkeypatch):
    """ONNX Runtime's CPU attention holds a rows x heads x length^2 score tensor; batches above the budget run in
    slices of rows, which give the rows the whole batch gives."""
    import modeling.onnx_joint_ner_re as onnx_module

    model = SciBertForJointNerRe.from_pretrained(saved).eval()
    runtime = model.use_backend("onnx")._encoder_runtime
    input_ids, attention_mask = padded_batch(model.config.encoder_config["vocab_size"])  # 3 rows of 50
    real = attention_mask.bool()
    session = runtime.session(torch.get_num_threads())
    rows_per_run: list[int] = []

    class RecordingSession:  # the real session, with the rows of each run written down
        def run(self, names, feeds):
            rows_per_run.append(len(feeds["input_ids"]))
            return session.run(names, feeds)

    runtime._sessions[torch.get_num_threads()] = RecordingSession()
    with torch.inference_mode():
        expected = model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        whole = runtime(input_ids, attention_mask)
        monkeypatch.setattr(onnx_module, "CPU_ATTENTION_BUDGET", 2 * 50 * 50)
        sliced = runtime(input_ids, attention_mask)
    assert rows_per_run == [3, 2, 1]
    assert sliced.shape == whole.shape and (sliced - whole)[real].abs().max().item() < 1e-5
    assert (sliced - expected)[real].abs().max().item() < 1e-4


def _relation_set(prediction: dict) -> set:
    return {(r["label"], r["head"], r["tail"]) for r in prediction["relations"]}


def test_onnx_backend_predicts_what_torch_does_on_bc5cdr_validation(saved, validation):
    """The acceptance parity: same mentions and relation sets in >= 99 % / 97 % of documents, shared relations'
    scores within 1e-3, the same F1 to 3 decimals, in both relation modes."""
    model = SciBertForJointNerRe.from_pretrained(saved).eval()
    tokenizer = load_tokenizer(saved)
    modes = ["gold", "end2end"]
    torch_predictions = predict(model, tokenizer, validation, modes, batch_size=4)
    onnx_predictions = predict(model.use_backend("onnx"), tokenizer, validation, modes, batch_size=4)
    n = len(validation)
    same_mentions = sum(t["mentions"] == o["mentions"] for t, o in zip(torch_predictions["end2end"],
                                                                        onnx_predictions["end2end"]))
    assert same_mentions >= 0.99 * n
    assert sum(len(p["mentions"]) for p in torch_predictions["end2end"]) > n  # a test with mentions to compare
    for mode in modes:
        pairs = list(zip(torch_predictions[mode], onnx_predictions[mode]))
        assert sum(_relation_set(t) == _relation_set(o) for t, o in pairs) >= 0.97 * n, mode
        assert sum(len(t["relations"]) for t, _ in pairs) > 20, mode
        for t, o in pairs:
            scores = {(r["label"], r["head"], r["tail"]): r["score"] for r in o["relations"]}
            for r in t["relations"]:
                key = (r["label"], r["head"], r["tail"])
                if key in scores:
                    assert abs(scores[key] - r["score"]) < 1e-3, (mode, t["pmid"], key)
    torch_scores, onnx_scores = (score_documents(validation, p, ENTITY_TYPES["bc5cdr"], list(RELATION_TYPES["bc5cdr"]))
                                 for p in (torch_predictions, onnx_predictions))
    assert round(torch_scores["ner"]["mentions"]["micro"]["f1"], 3) == round(onnx_scores["ner"]["mentions"]["micro"]["f1"], 3)
    for mode in modes:
        assert round(torch_scores[f"re_{mode}"]["micro"]["f1"], 3) == round(onnx_scores[f"re_{mode}"]["micro"]["f1"], 3)

    two_at_once = predict(model, tokenizer, validation[:16], modes, batch_size=4, parallel_batches=2)
    assert [p["mentions"] for p in two_at_once["end2end"]] == [p["mentions"] for p in onnx_predictions["end2end"][:16]]


def test_a_model_with_token_shape_features_exports_them_and_predicts_what_torch_does(encoder, validation, tmp_path):
    torch.manual_seed(1)
    model = SciBertForJointNerRe.from_encoder(encoder, entity_types=ENTITY_TYPES["bc5cdr"],
                                              relation_types=RELATION_TYPES["bc5cdr"], window_length=64, stride=16,
                                              re_block_size=8, token_shape_features=True)
    with torch.no_grad():
        model.ner_classifier.bias[0] += 0.3
        model.token_feature_embeddings.weight.normal_(std=0.5)  # trained-like: the shapes move the encoder's states
    folder = tmp_path / "shaped"
    model.save_pretrained(folder)
    load_tokenizer(str(encoder)).save_pretrained(folder)
    loaded = SciBertForJointNerRe.from_pretrained(folder).eval()
    tokenizer = load_tokenizer(folder)
    expected = loaded.extract(validation[:24], tokenizer, batch_size=4)
    runtime = loaded.use_backend("onnx")._encoder_runtime
    info = json.loads((folder / ONNX_DIR / INFO_FILE).read_text())
    assert info["inputs"] == ["input_ids", "attention_mask", "feature_ids"]
    assert info["encoder_fingerprint"] == encoder_fingerprint(loaded.encoder, loaded.token_feature_embeddings)
    assert info["encoder_fingerprint"] != encoder_fingerprint(loaded.encoder)  # the shape weights are in the key
    got = loaded.extract(validation[:24], tokenizer, batch_size=4)
    assert sum(e["mentions"] == g["mentions"] for e, g in zip(expected, got)) >= 23
    assert sum(len(e["mentions"]) for e in expected) > 24
    input_ids, attention_mask = padded_batch(loaded.config.encoder_config["vocab_size"])
    with pytest.raises(Exception, match="feature_ids"):
        with torch.inference_mode():
            runtime(input_ids, attention_mask)  # a file that takes shapes, called without them


def test_onnx_int8_model_runs_close_to_float32(saved, validation):
    model = SciBertForJointNerRe.from_pretrained(saved).eval()
    runtime = model.use_backend("onnx", int8=True)._encoder_runtime
    assert runtime.path == saved / ONNX_DIR / INT8_FILE and (saved / ONNX_DIR / ONNX_FILE).is_file()
    import onnx

    operators = Counter(node.op_type for node in onnx.load(str(runtime.path)).graph.node)
    layers = model.config.encoder_config["num_hidden_layers"]
    # the fused graph's Attention (query, key and value in one weight) runs as QAttention, the other 3 Linear
    # layers of each block as MatMulInteger: no float MatMul is left
    assert (operators["QAttention"], operators["MatMulInteger"], operators["MatMul"]) == (layers, 3 * layers, 0)
    assert INT8_FILE in json.loads((saved / ONNX_DIR / INFO_FILE).read_text())["files"]
    input_ids, attention_mask = padded_batch(model.config.encoder_config["vocab_size"])
    with torch.inference_mode():
        expected = model.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        got = runtime(input_ids, attention_mask)
    real = attention_mask.bool()
    relative = ((got - expected)[real].norm() / expected[real].norm()).item()
    assert 0 < relative < 0.1  # quantized (not the float file), and still the same encoder
    results = model.extract(validation[:4], load_tokenizer(saved), mode="gold")
    assert len(results) == 4 and all("relations" in r for r in results)
    with pytest.raises(ValueError, match="CPU provider"):
        model.use_backend("onnx", int8=True, provider="cuda")


def test_evaluate_cli_backend_onnx_scores_like_torch(saved, cache, tmp_path):
    common = ["--model", str(saved), "--dataset", "bc5cdr", "--data-dir", str(BC5CDR), "--cache-dir", str(cache),
              "--limit", "6", "--batch-size", "2", "--output-dir", str(tmp_path / "results")]
    assert main(common + ["--run-name", "torch"]) == 0
    assert main(common + ["--run-name", "onnx", "--backend", "onnx"]) == 0
    by_torch, by_onnx = (json.loads((tmp_path / "results" / run / "bc5cdr-test" / "metrics.json").read_text())
                         for run in ("torch", "onnx"))
    assert (by_torch["backend"], by_onnx["backend"]) == ("torch", "onnx")
    for key in ("re_gold", "re_end2end"):
        assert by_torch[key]["micro"]["f1"] == pytest.approx(by_onnx[key]["micro"]["f1"], abs=1e-3)
    with pytest.raises(ValueError, match="float32"):
        evaluate_model(str(saved), dataset="bc5cdr", data_dir=str(BC5CDR), cache_dir=str(cache), limit=1,
                       output_dir=tmp_path / "r", backend="onnx", dtype="bfloat16")


# None in sys.modules: `import onnxruntime` raises ModuleNotFoundError and importlib.util.find_spec returns None
# (what transformers' availability checks use), as where the package is not installed
BLOCKED = r"""
import sys
sys.modules["onnxruntime"] = None
"""

WITHOUT_ONNXRUNTIME = BLOCKED + r"""
from transformers import AutoModel
folder = sys.argv[1]
model = AutoModel.from_pretrained(folder, trust_remote_code=True)  # the remote code loads without onnxruntime
try:
    model.use_backend("onnx")
except Exception as err:
    print(type(err).__name__, err)
# predict.py and evaluate.py turn the model's own OnnxBackendError (remote code or this checkout's) into a UsageError
from biomed_nerre.prediction.runner import use_backend
from loaders.cli_errors import UsageError
from modeling import SciBertForJointNerRe
for loaded in (model, SciBertForJointNerRe.from_pretrained(folder)):
    try:
        use_backend(loaded, "onnx")
    except UsageError as err:
        print("UsageError from", type(loaded).__module__.split(".")[0], err)
"""


def test_without_onnxruntime_the_model_loads_and_the_backend_says_how_to_install_it(saved, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    script = tmp_path / "without.py"
    script.write_text(WITHOUT_ONNXRUNTIME)
    done = subprocess.run([sys.executable, str(script), str(saved)], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "OnnxBackendError" in done.stdout and "pip install onnxruntime" in done.stdout
    usage = [line for line in done.stdout.splitlines() if line.startswith("UsageError from")]
    assert [line.split()[2] for line in usage] == ["transformers_modules", "modeling"]
    assert all("pip install onnxruntime" in line for line in usage)

    cli = tmp_path / "cli.py"
    cli.write_text(BLOCKED + "sys.path.insert(0, sys.argv.pop(1))\nfrom biomed_nerre.evaluation.run import cli\ncli()\n")
    done = subprocess.run([sys.executable, str(cli), str(ROOT), "--model", str(saved), "--dataset", "bc5cdr",
                           "--backend", "onnx"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --backend onnx needs the onnxruntime package: pip install -r requirements-onnx.txt"]


USE_SHIPPED_EXPORT = r"""
import json, sys
from transformers import AutoModel
model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
print(json.dumps({"module": type(model).__module__, "path": str(model.use_backend("onnx")._encoder_runtime.path)}))
"""


def test_push_to_hub_model_onnx_ships_the_export_and_remote_code_uses_it(saved, tmp_path, capsys):
    from biomed_nerre.hub.cli import main as push_to_hub

    SciBertForJointNerRe.from_pretrained(saved).use_backend("onnx")  # the folder has an export (or gets one)
    assert push_to_hub(["model", str(saved), "--local-dir", str(tmp_path / "plain"), "--allow-missing-metrics"]) == 0
    assert not (tmp_path / "plain" / ONNX_DIR).exists()
    assert "left out (not part of the model repo): onnx" in capsys.readouterr().out
    out = tmp_path / "repo"
    assert push_to_hub(["model", str(saved), "--local-dir", str(out), "--allow-missing-metrics", "--onnx"]) == 0
    assert "left out" not in capsys.readouterr().out
    assert (out / ONNX_DIR / ONNX_FILE).is_file() and (out / "onnx_joint_ner_re.py").is_file()
    shipped = json.loads((out / ONNX_DIR / INFO_FILE).read_text())
    assert shipped == json.loads((saved / ONNX_DIR / INFO_FILE).read_text())
    before = (out / ONNX_DIR / ONNX_FILE).stat().st_mtime_ns
    script = tmp_path / "use.py"
    script.write_text(USE_SHIPPED_EXPORT)
    done = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    used = json.loads(done.stdout.strip().splitlines()[-1])
    assert used["module"].startswith("transformers_modules") and used["path"] == str(out / ONNX_DIR / ONNX_FILE)
    assert (out / ONNX_DIR / ONNX_FILE).stat().st_mtime_ns == before  # the shipped file, not a new export
    # the same repository loaded by its id (offline, from a Hub cache) uses its onnx/ from the cache
    from tests.hub_cache import write_hub_cache

    snapshot = write_hub_cache(out, tmp_path / "hub", "someone/with-onnx")
    done = subprocess.run([sys.executable, str(script), "someone/with-onnx"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"),
                               "HF_MODULES_CACHE": str(tmp_path / "modules")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["path"] == str(snapshot / ONNX_DIR / ONNX_FILE)


def test_predict_cli_backend_onnx_writes_what_torch_does(saved, tmp_path):
    from biomed_nerre.prediction.cli import main as predict_cli

    lines = (BC5CDR / "CDR_DevelopmentSet.PubTator.txt").read_text().split("\n\n")[:6]
    source = tmp_path / "dev6.PubTator.txt"
    source.write_text("\n\n".join(lines) + "\n\n")
    outputs = {}
    for backend in ("torch", "onnx"):
        output = tmp_path / f"{backend}.jsonl"
        assert predict_cli(["--model", str(saved), "--input", str(source), "--output", str(output), "--no-progress",
                            "--batch-size", "2", "--backend", backend]) == 0
        outputs[backend] = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(outputs["onnx"]) == 6
    assert [r["mentions"] for r in outputs["onnx"]] == [r["mentions"] for r in outputs["torch"]]
    assert [_relation_set(r) for r in outputs["onnx"]] == [_relation_set(r) for r in outputs["torch"]]
