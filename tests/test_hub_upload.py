"""Uploading: repository creation / branch / commit arguments, and the token never surfacing.

The Hub cannot be reached here, so the call sequence is checked against a recorder standing in for
`HfApi`; the token handling is checked with the real `huggingface_hub` in a subprocess (offline mode).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from biomed_nerre.hub.upload import MissingTokenError, require_token, upload_folder

ROOT = Path(__file__).resolve().parents[1]
SECRET = "hf_testSECRETtoken1234567890abcdef"
DATA = ROOT.parent / "shared" / "data"


class RecordingApi:
    """Records the HfApi calls `upload_folder` makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))

    def create_branch(self, *args, **kwargs):
        self.calls.append(("create_branch", args, kwargs))

    def upload_folder(self, *args, **kwargs):
        self.calls.append(("upload_folder", args, kwargs))
        return type("Commit", (), {"commit_url": "https://huggingface.co/me/x/commit/abc"})()


def exported_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "README.md").write_text("---\nlicense: mit\n---\n")
    return folder


def test_upload_creates_the_repo_branch_and_commit_as_asked(tmp_path) -> None:
    api = RecordingApi()
    url = upload_folder(
        exported_folder(tmp_path),
        "me/x",
        repo_type="dataset",
        private=True,
        revision="v1",
        commit_message="first",
        api=api,
    )
    assert url.endswith("/commit/abc")
    assert [name for name, _, _ in api.calls] == ["create_repo", "create_branch", "upload_folder"]
    _, args, kwargs = api.calls[0]
    assert args == ("me/x",) and kwargs == {"repo_type": "dataset", "private": True, "exist_ok": True}
    assert api.calls[1][2] == {"branch": "v1", "repo_type": "dataset", "exist_ok": True}
    upload = api.calls[2][2]
    assert upload["folder_path"] == str(tmp_path / "export") and upload["revision"] == "v1"
    assert upload["commit_message"] == "first" and upload["repo_type"] == "dataset"


def test_upload_to_main_of_a_public_repo_creates_no_branch(tmp_path) -> None:
    api = RecordingApi()
    upload_folder(exported_folder(tmp_path), "me/x", api=api)
    assert [name for name, _, _ in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][2]["private"] is None  # never turns an existing private repo public
    assert api.calls[1][2]["commit_message"] == "Upload model from export"


def test_upload_refuses_a_folder_that_was_not_exported(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no README.md"):
        upload_folder(tmp_path, "me/x", api=RecordingApi())


def test_missing_token_is_a_clear_error(tmp_path, monkeypatch) -> None:
    from huggingface_hub import constants

    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "token"))  # no cached login there
    with pytest.raises(MissingTokenError, match="set HF_TOKEN or run `hf auth login`"):
        require_token()


def test_token_from_env_is_used_but_never_printed_or_written(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {
        "HF_TOKEN": SECRET,
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_HUB_OFFLINE": "1",
        "TMPDIR": str(tmp_path),
        "HF_DATASETS_OFFLINE": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "push_to_hub.py",
            "dataset",
            "chem_dis_gene",
            "--data-dir",
            str(DATA / "chem_dis_gene" / "sample"),
            "--config",
            "curated_re",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--repo-id",
            "me/cdg",
            "--private",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # the token was found (no MissingTokenError), the export ran, then offline mode stopped the upload
    assert result.returncode == 2, result.stderr[-2000:]
    assert "exported chem_dis_gene" in result.stdout
    assert "upload to me/cdg failed: OfflineModeIsEnabled" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
