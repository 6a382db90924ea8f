"""Run a script as a user who has only a model folder would: a new interpreter, offline, where the
repository's packages cannot be imported, so that `trust_remote_code` must use the code shipped with the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT_PACKAGES = ("loaders", "modeling", "biomed_nerre", "tests")

# Put before the script: importing any of the project's packages fails as if the project were not installed
# (CI installs it with `pip install -e .`, so removing the checkout from sys.path would not be enough).
_WITHOUT_PROJECT_CODE = f"""
import sys as _sys


class _NoProjectCode:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {PROJECT_PACKAGES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")


_sys.meta_path.insert(0, _NoProjectCode())
"""


def run_without_project_code(script: str, *args: str, cwd: Path, env: dict[str, str] | None = None,
                             timeout: int = 300) -> Any:
    """Run `script` (Python source, given `args` as sys.argv[1:]) in a new interpreter in `cwd`, offline, with
    its own Hugging Face home under `cwd` (so remote code is copied afresh) and none of the project's packages
    importable; the JSON its last line of output holds. Exits other than 0 fail with the end of stderr."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HF_HOME", "HF_MODULES_CACHE")}
    environment |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(cwd / "hf_home"),
                    "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    done = subprocess.run([sys.executable, "-c", _WITHOUT_PROJECT_CODE + script, *args], cwd=cwd, env=environment,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    return json.loads(lines[-1])
