"""User errors of the entry points: one line `error: ...` naming what is wrong (and what is allowed), exit
status 2, no traceback. Most run the entry functions in-process (fast); the first tests run the real scripts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from biomed_nerre.evaluation.run import cli as evaluate_cli
from loaders.__main__ import main as loaders_main
from biomed_nerre.training.main import cli as train_cli

ROOT = Path(__file__).resolve().parents[1]
BC5CDR = ROOT.parent / "shared" / "data" / "bc5cdr"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-3000:]
    return lines[0]


def script_error(*argv: str, cwd: Path = ROOT) -> str:
    result = subprocess.run([sys.executable, *argv], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    return one_error_line(result.stderr)


def in_process_error(entry, argv: list[str], capsys) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        entry(argv)
    assert stopped.value.code == 2
    return one_error_line(capsys.readouterr().err)


def test_train_script_unknown_dataset(tmp_path) -> None:
    line = script_error("train.py", "--dataset", "bc5", "--output-dir", str(tmp_path / "m"))
    assert "'bc5'" in line and "bc5cdr" in line and "chem_dis_gene" in line


def test_evaluate_script_missing_model_folder(tmp_path) -> None:
    (tmp_path / "models").mkdir()  # the usual layout: models/ exists, the run folder does not
    line = script_error(str(ROOT / "evaluate.py"), "--model", "models/does-not-exist", "--dataset", "bc5cdr",
                        cwd=tmp_path)
    assert "models/does-not-exist" in line and "no such folder" in line


def test_evaluate_model_id_that_cannot_be_loaded(capsys) -> None:
    line = in_process_error(evaluate_cli, ["--model", "nobody/no-such-model", "--dataset", "bc5cdr"], capsys)
    assert "nobody/no-such-model" in line and "no such folder" in line


def test_train_missing_data_dir_stops_before_any_download(tmp_path, capsys) -> None:
    # the encoder is a Hub id that would be downloaded first: the error must come before it
    line = in_process_error(train_cli, ["--data-dir", str(tmp_path / "missing"), "--encoder", "nobody/none",
                                        "--output-dir", str(tmp_path / "m")], capsys)
    assert "--data-dir" in line and "missing" in line and "no such folder" in line
    assert not (tmp_path / "m").exists()


def test_evaluate_missing_data_dir(tmp_path, capsys) -> None:
    line = in_process_error(evaluate_cli, ["--model", str(tmp_path), "--dataset", "bc5cdr", "--data-dir",
                                           str(tmp_path / "missing")], capsys)
    assert "--data-dir" in line and "no such folder" in line


def test_train_data_dir_without_the_release_files(tmp_path, capsys) -> None:
    """An existing folder that lacks the corpus files: the loader's message (the files) as the last line, after
    the encoder's loading progress, and no traceback."""
    (tmp_path / "empty").mkdir()
    from tests.tiny_encoder import write_tiny_encoder

    encoder = write_tiny_encoder(tmp_path / "encoder")
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        train_cli(["--data-dir", str(tmp_path / "empty"), "--encoder", str(encoder), "--re-block-size", "8",
                   "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "m"), "--report-to", "none",
                   "--mixed-precision", "no"])
    stderr = capsys.readouterr().err
    assert stopped.value.code == 2 and "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(tmp_path / "empty") in last and "CDR_TrainingSet" in last


def test_evaluate_unknown_split(tmp_path, capsys) -> None:
    line = in_process_error(evaluate_cli, ["--model", str(tmp_path), "--dataset", "bc5cdr", "--split", "dev"], capsys)
    assert "'dev'" in line and "train, validation, test" in line


def test_evaluate_curated_split_is_test_only(tmp_path, capsys) -> None:
    line = in_process_error(evaluate_cli, ["--model", str(tmp_path), "--dataset", "chem_dis_gene", "--config",
                                           "curated", "--split", "train"], capsys)
    assert "'train'" in line and "test" in line


def test_evaluate_config_curated_on_bc5cdr(tmp_path, capsys) -> None:
    line = in_process_error(evaluate_cli, ["--model", str(tmp_path), "--dataset", "bc5cdr", "--config", "curated"],
                            capsys)
    assert "bc5cdr" in line and "'curated'" in line


def test_train_dataset_config_on_the_wrong_corpus(tmp_path, capsys) -> None:
    line = in_process_error(train_cli, ["--dataset", "bc5cdr", "--dataset-config", "curated",
                                        "--output-dir", str(tmp_path / "m")], capsys)
    assert "'curated'" in line and "bc5cdr" in line
    line = in_process_error(train_cli, ["--dataset", "chem_dis_gene", "--dataset-config", "curated",
                                        "--output-dir", str(tmp_path / "m")], capsys)
    assert "'ctd_derived'" in line


def test_evaluate_int8_with_bfloat16(tmp_path, capsys) -> None:
    line = in_process_error(evaluate_cli, ["--model", str(tmp_path), "--dataset", "bc5cdr", "--int8", "--dtype",
                                           "bfloat16"], capsys)
    assert "--int8" in line and "bfloat16" in line and "not both" in line


def test_train_unknown_config_key(tmp_path, capsys) -> None:
    settings = tmp_path / "run.yaml"
    settings.write_text("num_epoch: 3\n")
    line = in_process_error(train_cli, ["--config", str(settings)], capsys)
    assert str(settings) in line and "'num_epoch'" in line and "'num_epochs'" in line


def test_train_config_file_missing_or_not_a_mapping(tmp_path, capsys) -> None:
    line = in_process_error(train_cli, ["--config", str(tmp_path / "nope.yaml")], capsys)
    assert "nope.yaml" in line and "no such file" in line
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    line = in_process_error(train_cli, ["--config", str(tmp_path / "list.yaml")], capsys)
    assert "list.yaml" in line and "mapping" in line


def test_train_bad_flag_value_is_one_line(capsys) -> None:
    line = in_process_error(train_cli, ["--num-epochs", "many"], capsys)
    assert "--num-epochs" in line and "'many'" in line


def test_loaders_unknown_config_both_spellings(tmp_path, capsys) -> None:
    for flag in ("--config", "--configs"):
        line = in_process_error(loaders_main, ["build", "bc5cdr", "--out", str(tmp_path), flag, "nerr"], capsys)
        assert "'nerr'" in line and "'ner'" in line and "documents, ner, re" in line


def test_loaders_missing_data_dir(tmp_path, capsys) -> None:
    line = in_process_error(loaders_main, ["build", "bc5cdr", "--data-dir", str(tmp_path / "missing"), "--out",
                                           str(tmp_path / "o"), "--config", "documents", "--cache-dir",
                                           str(tmp_path / "c")], capsys)
    assert str(tmp_path / "missing") in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="the guard is for machines without GPUs")
def test_multi_gpu_launch_without_gpus_stops_at_once(tmp_path) -> None:
    """`accelerate launch --multi_gpu --num_processes 2` on a CPU machine: each process stops with the one line
    (no N independent runs into one folder); the launcher fails."""
    env = {k: v for k, v in ENV.items() if k != "ACCELERATE_USE_CPU"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29533",
         "train.py", "--output-dir", str(tmp_path / "m"), "--data-dir", str(BC5CDR)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, result.stderr[-3000:]
    assert all("2 processes were launched" in line and "ACCELERATE_USE_CPU=true" in line for line in errors)
    # the launcher reports its failed children with its own traceback; the children printed none
    assert 'train.py", line' not in result.stderr and "training/" not in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "m").exists()
