"""Upload an exported folder to the Hugging Face Hub.

The token is resolved by huggingface_hub itself (`HF_TOKEN`, then the cached `hf auth login`); this
module only checks that one exists and never prints, logs or writes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from huggingface_hub import HfApi, get_token


class HubApi(Protocol):
    """The part of `huggingface_hub.HfApi` used here."""

    def create_repo(self, repo_id: str, **kwargs: Any) -> Any: ...

    def create_branch(self, repo_id: str, **kwargs: Any) -> Any: ...

    def upload_folder(self, **kwargs: Any) -> Any: ...


class MissingTokenError(RuntimeError):
    """No Hub token: neither HF_TOKEN nor a cached login."""


def require_token() -> None:
    """Raise `MissingTokenError` unless huggingface_hub can find a token (the token itself stays unseen)."""
    if not get_token():
        raise MissingTokenError(
            "no Hugging Face token found: set HF_TOKEN or run `hf auth login` "
            "(or use --local-dir to write the files without uploading)"
        )


def upload_folder(
    folder: str | Path,
    repo_id: str,
    *,
    repo_type: str = "model",
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    api: HubApi | None = None,
) -> str:
    """Create `repo_id` if needed (and the branch `revision`), upload every file of `folder`; return the commit URL."""
    folder = Path(folder)
    if not folder.is_dir() or not (folder / "README.md").is_file():
        raise FileNotFoundError(f"{folder}: not an exported folder (no README.md)")
    if api is None:
        require_token()
        api = HfApi()  # token=None: huggingface_hub resolves HF_TOKEN / cached login
    # private=None keeps the Hub default (public) and never changes an existing repo's visibility
    api.create_repo(repo_id, repo_type=repo_type, private=True if private else None, exist_ok=True)
    if revision and revision != "main":
        api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=str(folder),
        repo_type=repo_type,
        revision=revision,
        commit_message=commit_message or f"Upload {repo_type} from {folder.name}",
    )
    return str(getattr(commit, "commit_url", commit))
