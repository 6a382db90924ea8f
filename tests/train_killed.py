"""Test support, not a user command: run train.py in this process and SIGKILL it, as a crash would, while it
writes the checkpoint of step N.

    python tests/train_killed.py N <train.py flags ...>

The kill comes right after `Accelerator.save_state` has filled ``checkpoints/step-N.partial`` and before the
folder is marked complete: every step up to N has run and been logged, the newest complete checkpoint is an
older one, and a half-written checkpoint is left behind. Nothing is faked: training, saving and the kill are
real; only the moment is chosen, so that the test that resumes from it is deterministic. The process exits
with status 1 if training ends without ever saving step N.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from accelerate import Accelerator


def kill_while_saving(step: int) -> None:
    """Make this process SIGKILL itself once `Accelerator.save_state` has written the checkpoint of `step`."""
    save_state = Accelerator.save_state

    def save_then_die(self: Accelerator, output_dir: str | None = None, **kwargs):
        written = save_state(self, output_dir, **kwargs)
        if output_dir is not None and Path(output_dir).name == f"step-{step:06d}.partial":
            os.kill(os.getpid(), signal.SIGKILL)
        return written

    Accelerator.save_state = save_then_die


if __name__ == "__main__":
    kill_while_saving(int(sys.argv[1]))
    from biomed_nerre.training.main import main

    main(sys.argv[2:])
    sys.exit(f"training finished without saving step {sys.argv[1]}: it was never killed")
