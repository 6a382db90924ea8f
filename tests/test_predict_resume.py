"""predict.py's resumable runs never mix (issue 29, items 1 and 6).

- A run killed with SIGKILL at five random moments (a fixed seed: during start-up, between and inside chunks),
  resumed each time, writes the output of an uninterrupted run byte for byte.
- A run killed, whose model folder is then retrained in place (as quickstart.sh does), is refused when rerun,
  with one line naming what changed; `--overwrite` starts again and gives the new model's output.
- Every part of the model and every setting that changes predictions is named when it changed under an
  unfinished run: weights, config, tokenizer, linker, gazetteer, the ONNX file, the threshold, the batch size.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.predict_model import write_tiny_model
from tests.test_damaged_input import ENV, error_line, nothing_half_written, run_entry
from tests.test_pipeline import save_linker_of_gold_names

ROOT = Path(__file__).resolve().parents[1]
BC5CDR_TEST = ROOT.parent / "shared" / "data" / "bc5cdr" / "CDR_TestSet.PubTator.txt"
DOCUMENTS, CHUNK = 80, 4  # 20 chunks


@pytest.fixture(scope="module")
def model_dir(encoder, tmp_path_factory) -> Path:
    folder = write_tiny_model(encoder, tmp_path_factory.mktemp("resume") / "model")
    save_linker_of_gold_names(folder)
    return folder


@pytest.fixture(scope="module")
def abstracts(tmp_path_factory) -> Path:
    """The first BC5CDR test abstracts (read to predict on, as a user would; nothing is learnt from them)."""
    blocks = BC5CDR_TEST.read_text(encoding="utf-8").split("\n\n")[:DOCUMENTS]
    path = tmp_path_factory.mktemp("abstracts") / "abstracts.PubTator"
    path.write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    return path


def command(model: Path, source: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(ROOT / "predict.py"), "--no-progress", "--model", str(model), "--input", str(source),
            "--output", str(out), "--chunk-size", str(CHUNK), "--batch-size", "4", *extra]


def run_to_end(argv: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def run_here(argv: list[str], capsys) -> tuple[int, str, str]:
    """`command(...)` run by predict.py's main in this process (no interpreter start-up, the same code)."""
    from biomed_nerre.prediction.cli import main as predict_main

    return run_entry(predict_main, argv[2:], capsys)


def chunk_files(parts: Path) -> list[Path]:
    return sorted(parts.glob("chunk-*.jsonl"))


def start_and_kill(argv: list[str], parts: Path, chunks_before_kill: int, delay: float) -> bool:
    """Start predict.py, SIGKILL it `delay` seconds after the work folder holds `chunks_before_kill` chunks, or
    earlier, as soon as it holds two more (on a fast machine a fixed delay could span the rest of the run);
    whether it was still running when killed."""
    process = subprocess.Popen(argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(chunk_files(parts)) < chunks_before_kill and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    kill_at = time.time() + delay
    while time.time() < kill_at and len(chunk_files(parts)) < chunks_before_kill + 2 and process.poll() is None:
        time.sleep(0.002)
    alive = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return alive


@pytest.mark.slow  # real processes, killed and started again
def test_killed_at_five_random_moments_and_resumed_gives_the_uninterrupted_output(model_dir, abstracts, tmp_path,
                                                                                   capsys):
    reference = tmp_path / "reference.jsonl"
    assert run_here(command(model_dir, abstracts, reference), capsys)[0] == 0
    total = DOCUMENTS // CHUNK
    out = tmp_path / "resumed.jsonl"
    parts = tmp_path / "resumed.jsonl.parts"
    argv = command(model_dir, abstracts, out)
    rng = random.Random(29)
    # a moment: a number of new chunks on disk past what the last run left (0: during start-up and model loading),
    # then a random delay, which lands in start-up, in a batch, or in a chunk's write. Counted from the last run's
    # chunks, so that the kills land in progress on a fast machine too (an absolute count may already be on disk)
    new_chunks = [0, 1, 1, 2, 0]
    rng.shuffle(new_chunks)
    seen = [0]
    for extra, delay in zip(new_chunks, (rng.uniform(0.0, 0.4) for _ in new_chunks)):
        assert start_and_kill(argv, parts, seen[-1] + extra, delay), "each kill must land in a running process"
        assert not out.exists()
        nothing_half_written_chunks(parts)
        seen.append(len(chunk_files(parts)))
    seen = seen[1:]
    # progress kept between kills: three of the kills waited for new chunks
    assert seen == sorted(seen) and seen[-1] < total and len(set(seen)) >= 3, seen
    done = run_to_end(argv)
    assert f"{seen[-1]} chunk(s) of an earlier run reused" in done.stdout
    assert out.read_bytes() == reference.read_bytes()
    assert not parts.exists() and not list(tmp_path.glob("*.tmp"))


def nothing_half_written_chunks(parts: Path) -> None:
    """Every chunk under its final name is whole (a kill inside a write leaves only a `.tmp-<pid>` file)."""
    for chunk in chunk_files(parts):
        lines = chunk.read_text(encoding="utf-8").splitlines()
        assert len(lines) == CHUNK and all("result" in json.loads(line) for line in lines), chunk


def retrain_in_place(model: Path, seed: int = 1) -> None:
    """What quickstart.sh does to a model folder: new weights saved over the old ones."""
    import torch

    from modeling import SciBertForJointNerRe

    trained = SciBertForJointNerRe.from_pretrained(str(model))
    torch.manual_seed(seed)
    with torch.no_grad():
        trained.ner_classifier.weight.add_(torch.randn_like(trained.ner_classifier.weight))
    trained.save_pretrained(model)


@pytest.mark.slow  # real processes, killed and started again
def test_a_model_retrained_under_a_killed_run_is_refused_then_overwrite_starts_again(model_dir, abstracts, tmp_path,
                                                                                     capsys):
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    out, parts = tmp_path / "out.jsonl", tmp_path / "out.jsonl.parts"
    argv = command(model, abstracts, out)
    assert start_and_kill(argv, parts, 2, 0.0)
    before = {p.name: p.read_bytes() for p in chunk_files(parts)}
    assert before and not out.exists()
    retrain_in_place(model)
    assert error_line(*run_here(argv, capsys)[::2]) == (  # the same command again
        f"error: {parts} holds an unfinished run of a model that has changed since it started: the weights "
        "(model.safetensors); pass --overwrite to start again with the model as it is now (the chunks predicted so "
        "far are deleted)")
    assert not out.exists() and {p.name: p.read_bytes() for p in chunk_files(parts)} == before  # nothing touched
    assert run_here(argv + ["--overwrite"], capsys)[0] == 0
    reference = tmp_path / "reference.jsonl"
    assert run_here(command(model, abstracts, reference), capsys)[0] == 0
    assert out.read_bytes() == reference.read_bytes() and not parts.exists()


# ---- what is named -----------------------------------------------------------------------------------------
def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _add_gazetteer(model: Path) -> None:
    from modeling.gazetteer_joint_ner_re import GAZETTEER_FOLDER, Gazetteer

    Gazetteer.from_names([("naloxone", "Chemical")], ["Chemical", "Disease"]).save(model / GAZETTEER_FOLDER)


CHANGES = {  # name -> (what is done to the model folder, extra flags of the rerun, what the refusal names)
    "weights": (retrain_in_place, [], "of a model that has changed since it started: the weights (model.safetensors)"),
    "config": (lambda m: _edit_json(m / "config.json", stride=24), [], "the config (config.json)"),
    "tokenizer": (lambda m: _edit_json(m / "tokenizer_config.json", model_max_length=256), [],
                  "the tokenizer (tokenizer_config.json)"),
    "linker": (lambda m: _edit_json(m / "linker" / "linker_config.json", fuzzy_threshold=0.5), [],
               "the linker (linker/linker_config.json)"),
    "linker removed": (lambda m: shutil.rmtree(m / "linker"), [],
                       "the linker (linker/linker_config.json removed, linker/names.tsv.gz removed)"),
    "gazetteer added": (_add_gazetteer, [],
                        "the gazetteer (gazetteer/gazetteer_config.json added, gazetteer/names.tsv.gz added)"),
    "threshold": (lambda m: None, ["--threshold", "0.2"], "with other settings (threshold null -> 0.2)"),
    "batch size": (lambda m: None, ["--batch-size", "2"], "with other settings (batch_size 4 -> 2)"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_what_changed_under_an_unfinished_run_is_named(model_dir, tmp_path, capsys, change) -> None:
    from biomed_nerre.prediction.cli import main as predict_main

    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    texts = tmp_path / "texts.txt"  # the NUL byte of line 4 stops the first run after 3 chunks of one document
    texts.write_text("Naloxone.\nClonidine.\nLithium and tremor.\nBad \x00 line.\n", encoding="utf-8")
    out, parts = tmp_path / "out.jsonl", tmp_path / "out.jsonl.parts"
    argv = ["--no-progress", "--model", str(model), "--input", str(texts), "--output", str(out), "--chunk-size", "1",
            "--batch-size", "4"]
    assert "control character U+0000" in error_line(*run_entry(predict_main, argv, capsys)[::2])
    before = {p.name: p.read_bytes() for p in chunk_files(parts)}
    assert len(before) == 3
    edit, flags, named = CHANGES[change]
    edit(model)
    line = error_line(*run_entry(predict_main, argv + flags, capsys)[::2])  # a flag given twice: the last one counts
    assert line.startswith(f"error: {parts} holds an unfinished run ") and named in line, line
    assert {p.name: p.read_bytes() for p in chunk_files(parts)} == before and not out.exists()
    nothing_half_written(tmp_path)
    code, stdout, stderr = run_entry(predict_main, argv + flags + ["--skip-errors", "--overwrite"], capsys)
    assert code == 0 and "wrote 3 documents" in stdout, stderr[-2000:]


def test_an_onnx_file_changed_under_an_unfinished_run_is_named(model_dir, tmp_path, capsys) -> None:
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from biomed_nerre.prediction.cli import main as predict_main

    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    texts = tmp_path / "texts.txt"
    texts.write_text("Naloxone.\nClonidine.\nBad \x00 line.\n", encoding="utf-8")
    out, parts = tmp_path / "out.jsonl", tmp_path / "out.jsonl.parts"
    argv = ["--no-progress", "--model", str(model), "--input", str(texts), "--output", str(out), "--chunk-size", "1",
            "--backend", "onnx"]
    assert "control character U+0000" in error_line(*run_entry(predict_main, argv, capsys)[::2])
    graph = onnx.load(str(model / "onnx" / "model.onnx"))
    graph.doc_string = "re-exported"  # a valid ONNX file, other bytes: as if exported again elsewhere
    onnx.save(graph, str(model / "onnx" / "model.onnx"))
    line = error_line(*run_entry(predict_main, argv, capsys)[::2])
    assert "of a model that has changed since it started: the ONNX encoder file (onnx/model.onnx)" in line, line
    assert len(chunk_files(parts)) == 2 and not out.exists()
