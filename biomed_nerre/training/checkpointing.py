"""Crash-safe training checkpoints on top of `Accelerator.save_state`.

A checkpoint is written into ``<output_dir>/checkpoints/step-000123.partial`` and renamed to
``step-000123`` only after every process has finished writing and a ``COMPLETE`` marker is in place.
A run killed during the write therefore leaves a ``.partial`` folder, which is never taken for a
checkpoint (and is cleaned up by the next save), never a folder that looks complete but is not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from accelerate import Accelerator

CHECKPOINT_DIR = "checkpoints"
COMPLETE_MARKER = "COMPLETE"
_NAME = re.compile(r"^step-(\d+)$")


@dataclass
class TrainerState:
    """What the loop needs besides model/optimizer/scheduler/RNG to continue exactly where it stopped.

    Registered with `Accelerator.register_for_checkpointing`, so it travels inside `save_state`.
    """

    global_step: int = 0
    epoch: int = 0
    batches_done_in_epoch: int = 0
    best_metric: float = float("-inf")
    best_step: int = -1
    evaluations_without_improvement: int = 0
    best_validation: dict = field(default_factory=dict)

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / CHECKPOINT_DIR


def list_complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first (folders named step-N holding the COMPLETE marker)."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_dir() and (path / COMPLETE_MARKER).is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def resolve_resume_path(resume_from: str, output_dir: str | Path) -> Path:
    """Turn ``--resume-from-checkpoint`` (a folder or ``latest``) into a complete checkpoint folder."""
    if resume_from == "latest":
        complete = list_complete_checkpoints(output_dir)
        if not complete:
            raise FileNotFoundError(f"--resume-from-checkpoint latest: no complete checkpoint under {checkpoint_root(output_dir)}")
        return complete[-1]
    path = Path(resume_from)
    if not (path / COMPLETE_MARKER).is_file():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no {COMPLETE_MARKER} marker)")
    return path


def save_checkpoint(accelerator: Accelerator, output_dir: str | Path, step: int, total_limit: int) -> Path:
    """Save the full training state atomically (see module docstring); call on every process."""
    root = checkpoint_root(output_dir)
    final = root / f"step-{step:06d}"
    partial = root / f"step-{step:06d}.partial"
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob("*.partial"):
            shutil.rmtree(stale)
        if final.exists():  # the same step saved twice (epoch end == save step): replace it
            shutil.rmtree(final)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (partial / COMPLETE_MARKER).write_text(json.dumps({"step": step}) + "\n")
        _fsync_dir(partial)
        os.replace(partial, final)
        _fsync_dir(root)
        if total_limit > 0:
            for old in list_complete_checkpoints(output_dir)[:-total_limit]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


def truncate_log(log_path: str | Path, step: int) -> int:
    """Drop the records of steps after `step` from a JSON-lines log (and a last line cut off by a kill).

    A run resumed from the checkpoint of `step` runs and logs those steps again, so without this the log
    would hold them twice. Returns the number of lines dropped; a missing log is left missing."""
    path = Path(log_path)
    if not path.is_file():
        return 0
    lines = path.read_text().splitlines()
    kept = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # a kill in the middle of the last write
                continue
            raise ValueError(f"{path}, line {number}: not a JSON record") from None
        if record.get("step", 0) <= step:
            kept.append(line)
    if len(kept) != len(lines):
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text("".join(line + "\n" for line in kept))
        os.replace(temporary, path)
    return len(lines) - len(kept)


def _fsync_dir(path: Path) -> None:
    """Flush a folder entry to disk so a rename survives a crash (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
