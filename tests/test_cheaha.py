"""Cheaha SLURM scripts and Accelerate configs: syntax, and the launch lines they build from SLURM variables."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser

from biomed_nerre.training.arguments import build_parser as train_parser

ROOT = Path(__file__).resolve().parents[1]
CHEAHA = ROOT / "cheaha"
SCRIPTS = sorted(CHEAHA.glob("*.sbatch")) + sorted(CHEAHA.glob("*.sh"))
BASH = shutil.which("bash")


def slurm_env(**variables: str) -> dict[str, str]:
    """The current environment without SLURM_* / launch variables, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MAIN_PROCESS_", "CUDA_VISIBLE"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "scontrol").exists())
    return {**env, **variables}


def run_bash(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BASH, "-c", script, "test", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def dry_run(name: str, **variables: str) -> list[list[str]]:
    """Run a batch script with DRY_RUN=1 and return each printed launch line, split into arguments."""
    result = subprocess.run(
        [BASH, str(CHEAHA / name)], cwd=ROOT, env=slurm_env(DRY_RUN="1", **variables), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    lines = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if line.startswith(("launch:", "node "))]
    assert lines, result.stdout
    return [shlex.split(line) for line in lines]


def accelerate_args(argv: list[str]):
    """Parse a launch line the way `accelerate launch` does (config file merged with the flags)."""
    assert argv[:2] == ["accelerate", "launch"], argv
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(argv[2:]))
    assert args.training_script == "train.py"
    train_parser().parse_args(args.training_script_args)  # the batch script's TRAIN_ARGS are valid flags
    return args


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_pass_bash_syntax_check(script: Path) -> None:
    result = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_batch_scripts_mark_their_settings_at_the_top() -> None:
    for script in CHEAHA.glob("*.sbatch"):
        text = script.read_text()
        head = text[: text.index("set -euo pipefail")]
        for marker in (
            "EDIT: resources",
            "EDIT: environment",
            "#SBATCH --partition=",
            "#SBATCH --time=",
            "MODULES=",
            "ENV_PATH=",
            "PREDICT_ARGS=" if script.name.startswith("predict") else "TRAIN_ARGS=",
        ):
            assert marker in head, f"{script.name}: {marker!r} not in the settings block"


@pytest.mark.parametrize(
    "name, kind, processes",
    [
        ("accelerate_single_gpu.yaml", "NO", 1),
        ("accelerate_multi_gpu.yaml", "MULTI_GPU", 2),
        ("accelerate_multi_node.yaml", "MULTI_GPU", 4),
    ],
)
def test_accelerate_configs_load(name: str, kind: str, processes: int) -> None:
    config = load_config_from_file(str(CHEAHA / name))
    assert config.distributed_type.value == kind
    assert config.num_processes == processes
    assert config.use_cpu is False


@pytest.mark.parametrize(
    "nodelist, first",
    [
        ("c0101", "c0101"),
        ("c0[101-104,200],d7", "c0101"),
        ("gpu-a,gpu-b", "gpu-a"),
        ("c0[7,9]", "c07"),
        ("n[01-02]x,n3", "n01x"),
    ],
)
def test_first_host_of_a_nodelist(nodelist: str, first: str) -> None:
    result = run_bash('source cheaha/launch_line.sh && cheaha_first_host "$1"', slurm_env(), nodelist)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == first


def test_single_gpu_script_launch_line() -> None:
    [argv] = dry_run("train_single_gpu.sbatch", SLURM_GPUS_ON_NODE="1")
    args = accelerate_args(argv)
    assert args.num_processes == 1 and args.num_machines == 1 and not args.multi_gpu
    assert args.mixed_precision == "bf16"


def test_multi_gpu_script_uses_the_gpus_slurm_gave() -> None:
    [argv] = dry_run("train_multi_gpu.sbatch", SLURM_GPUS_ON_NODE="3")
    args = accelerate_args(argv)
    assert args.multi_gpu and args.num_processes == 3 and args.num_machines == 1
    # without SLURM_GPUS_ON_NODE the count comes from SLURM_GPUS_PER_NODE ("type:count")
    [argv] = dry_run("train_multi_gpu.sbatch", SLURM_GPUS_PER_NODE="a100:2")
    assert accelerate_args(argv).num_processes == 2


def test_multi_node_script_gives_each_node_its_rank_and_the_first_host() -> None:
    lines = dry_run(
        "train_multi_node.sbatch",
        SLURM_NNODES="2",
        SLURM_JOB_NODELIST="c0[201-202]",
        SLURM_GPUS_ON_NODE="2",
        SLURM_JOB_ID="4242",
    )
    assert len(lines) == 2
    for rank, argv in enumerate(lines):
        args = accelerate_args(argv)
        assert args.multi_gpu
        assert (args.num_machines, args.machine_rank, args.num_processes) == (2, rank, 4)
        assert args.main_process_ip == "c0201"
        assert args.main_process_port == 29500 + 4242 % 1000
    assert lines[0][lines[0].index("train.py") :] == lines[1][lines[1].index("train.py") :]


def test_multi_node_launch_respects_a_preset_address_and_quotes_arguments() -> None:
    env = slurm_env(
        SLURM_NNODES="3",
        SLURM_NODEID="2",
        SLURM_JOB_NODELIST="x[1-3]",
        SLURM_GPUS_ON_NODE="4",
        MAIN_PROCESS_IP="10.0.0.7",
        MAIN_PROCESS_PORT="31000",
    )
    result = run_bash(
        'source cheaha/launch_line.sh && cheaha_build_launch multi_node cfg.yaml "$@"',
        env,
        "--output-dir",
        "models/with space",
    )
    assert result.returncode == 0, result.stderr
    argv = shlex.split(result.stdout)
    assert argv[:5] == ["accelerate", "launch", "--config_file", "cfg.yaml", "--multi_gpu"]
    flags = dict(zip(argv[5:-3:2], argv[6:-3:2], strict=True))
    assert flags == {
        "--num_machines": "3",
        "--machine_rank": "2",
        "--main_process_ip": "10.0.0.7",
        "--main_process_port": "31000",
        "--num_processes": "12",
    }
    assert argv[-3:] == ["train.py", "--output-dir", "models/with space"]


def test_multi_node_launch_outside_slurm_fails_clearly() -> None:
    result = run_bash("source cheaha/launch_line.sh && cheaha_build_launch multi_node cfg.yaml", slurm_env())
    assert result.returncode != 0
    assert "SLURM_NNODES is not set" in result.stderr


LORA_8B_SCRIPT = "train_lora_8b.sbatch"  # its own config (configs/llama8b_lora_bc5cdr.yaml), tested below


@pytest.mark.parametrize("script", sorted(p for p in CHEAHA.glob("train_*.sbatch") if p.name != LORA_8B_SCRIPT),
                         ids=lambda p: p.name)
def test_batch_scripts_train_with_the_readme_config(script: Path) -> None:
    """Each batch script passes configs/scibert_bc5cdr.yaml (the Cheaha config of docs/training.md), and its flags
    parse into the settings that file holds (bf16, 20 epochs, tensorboard)."""
    from biomed_nerre.training.arguments import parse_args

    text = script.read_text()
    assert 'CONFIG="${CONFIG:-configs/scibert_bc5cdr.yaml}"' in text and "--config \"$CONFIG\"" in text
    assert "configs/scibert_bc5cdr.yaml" in (ROOT / "docs" / "training.md").read_text()
    variables = {"SLURM_GPUS_ON_NODE": "2"}
    if "multi_node" in script.name:
        variables |= {"SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "c0[201-202]"}
    argv = dry_run(script.name, **variables)[0]
    train_args = accelerate_args(argv).training_script_args
    assert train_args[:2] == ["--config", "configs/scibert_bc5cdr.yaml"]
    settings = parse_args(train_args)
    assert (settings.dataset, settings.mixed_precision, settings.num_epochs, settings.report_to) == (
        "bc5cdr", "bf16", 20, "tensorboard")


def test_multi_node_dry_run_works_without_a_slurm_allocation() -> None:
    """`DRY_RUN=1 bash cheaha/train_multi_node.sbatch` as docs/training.md gives it: no SLURM_* variables set; the
    launch lines use the #SBATCH request (2 nodes x 2 GPUs)."""
    lines = dry_run("train_multi_node.sbatch")
    assert len(lines) == 2
    for rank, argv in enumerate(lines):
        args = accelerate_args(argv)
        assert (args.num_machines, args.machine_rank, args.num_processes) == (2, rank, 4)
        assert args.main_process_ip == lines[0][lines[0].index("--main_process_ip") + 1]


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_config_files_say_what_they_are_and_parse(config: Path) -> None:
    from biomed_nerre.training.arguments import load_yaml_settings

    assert config.read_text().startswith("# "), f"{config.name}: no comment saying what it is"
    assert load_yaml_settings(config)  # every key is a setting


def test_lora_8b_script_launches_one_process_with_an_8b_adapter_run() -> None:
    """The 8B LoRA script: one process on one GPU, bf16, and train.py settings that make it fit (frozen bf16 base,
    LoRA adapters, gradient checkpointing); its memory and time are written as estimates."""
    from biomed_nerre.training.arguments import parse_args

    [argv] = dry_run(LORA_8B_SCRIPT, SLURM_GPUS_ON_NODE="1")
    args = accelerate_args(argv)
    assert args.num_processes == 1 and args.num_machines == 1 and not args.multi_gpu
    assert args.mixed_precision == "bf16"
    assert args.training_script_args[:2] == ["--config", "configs/llama8b_lora_bc5cdr.yaml"]
    settings = parse_args(args.training_script_args)
    assert settings.encoder == "meta-llama/Llama-3.1-8B"
    assert (settings.lora_r, settings.encoder_dtype, settings.gradient_checkpointing) == (16, "bfloat16", True)
    assert settings.bidirectional_attention and settings.mixed_precision == "bf16"
    text = (CHEAHA / LORA_8B_SCRIPT).read_text()
    assert "ESTIMATES, not measurements" in text and "#SBATCH --gres=gpu:1" in text
