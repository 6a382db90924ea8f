"""Stop a multi-process launch that Accelerate would run as independent single-process runs.

`accelerate launch --multi_gpu --num_processes N train.py` on a machine without GPUs starts N processes
(WORLD_SIZE=N), but Accelerate then finds no GPU and gives each process a world of one: N runs train the same
model side by side and crash on each other's files in the shared output folder. `ACCELERATE_USE_CPU=true`
makes the same launch run DDP on the CPU (gloo).
"""

from __future__ import annotations

import os

from loaders.cli_errors import UsageError


def check_processes_joined() -> None:
    """Raise `UsageError` when the launcher started several processes that Accelerate did not join into one
    distributed run."""
    launched = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if launched <= 1:
        return
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    # PartialState reads ACCELERATE_USE_CPU only when told (Accelerator tells it); created here first without
    # it, the singleton would be fixed as a world of one and a CPU DDP launch would be refused
    joined = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU")).num_processes
    if joined == launched:
        return
    import torch

    device = "no GPU" if not torch.cuda.is_available() else f"{torch.cuda.device_count()} GPU(s)"
    raise UsageError(
        f"{launched} processes were launched (WORLD_SIZE={launched}) but Accelerate joined {joined} "
        f"(this machine has {device}), so each would train alone into the same output folder: launch one "
        f"process, or set ACCELERATE_USE_CPU=true to run DDP on the CPU"
    )
