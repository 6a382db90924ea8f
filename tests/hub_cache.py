"""A model folder laid out as a Hub repository in a local Hub cache (what `hf_hub_download` leaves there), so
that loading by repo id runs offline (`HF_HUB_OFFLINE=1`, `HF_HUB_CACHE=<cache>`) through huggingface_hub's real
cache lookup."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def write_hub_cache(folder: Path, cache: Path, repo_id: str, leave_out: tuple[str, ...] = ()) -> Path:
    """Copy `folder` (without the entries named in `leave_out`) into `cache` as the snapshot of `repo_id`'s main
    branch; return the snapshot folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()  # any 40-hex name; refs/main points to it
    snapshot = repo / "snapshots" / commit
    shutil.copytree(folder, snapshot, ignore=lambda _, names: [n for n in names if n in leave_out])
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot
