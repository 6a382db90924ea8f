"""What a model is, for a resumable run: the content of every file that decides its predictions.

A `predict.py` run keeps its manifest and chunks while it is unfinished; the model folder may change under it
(`quickstart.sh` retrains in place, a user edits the linker), and a rerun must then not add chunks from the new
model to those of the old. The manifest therefore records the model by content, not by path:

- a local folder: the SHA-256 of each file that decides predictions, by role: the weights (`*.safetensors` and
  their index, `*.bin`), `config.json`, the tokenizer's files, every file under `linker/` and `gazetteer/`,
  and, with the ONNX backend, the ONNX file the encoder runs (`model.onnx`, wherever it was found or exported);
- a Hub model: the commit its files were loaded from (a commit's files never change);
- the code that computes the predictions: this package's `modeling/` sources (a `git pull` halfway through a
  run changes them).

Hashing reads every byte: 0.28 to 0.35 s for the quick-start model's 107 MB (weights, tokenizer, linker,
gazetteer), about 1 % of loading that model and 0.3 % of predicting 100 abstracts with it
(`bench/reliability.py`, results/benchmarks.md section 11), so nothing is cached.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping

import modeling

ROLES = ("weights", "config", "tokenizer", "linker", "gazetteer", "onnx")
_TOKENIZER_FILES = frozenset({"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                              "vocab.json", "merges.txt", "added_tokens.json", "spiece.model",
                              "sentencepiece.bpe.model"})
_CHUNK_BYTES = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def role_of(relative: str) -> str | None:
    """The role of a model folder's file (its path relative to the folder), or None for a file that does not
    decide predictions (the model card, training logs, checkpoints, the saved code)."""
    parts = Path(relative).parts
    if len(parts) > 1:
        return parts[0] if parts[0] in ("linker", "gazetteer") else None
    name = parts[0]
    if name.endswith((".safetensors", ".safetensors.index.json")) or (name.startswith("pytorch_model") and name.endswith((".bin", ".bin.index.json"))):
        return "weights"
    if name == "config.json":
        return "config"
    return "tokenizer" if name in _TOKENIZER_FILES else None


def folder_files(folder: str | os.PathLike) -> dict[str, str]:
    """`relative path -> SHA-256` of the files of a model folder that decide its predictions (`role_of`)."""
    folder = Path(folder)
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and role_of(relative) is not None:
            found[relative] = file_sha256(path)
    return found


def code_sha256() -> str:
    """One SHA-256 over this package's `modeling/` sources (name and bytes of each `.py` file)."""
    digest = hashlib.sha256()
    for path in sorted(Path(modeling.__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def model_fingerprint(model_name_or_path: str, model: Any) -> dict[str, Any]:
    """What the manifest records of the loaded `model` (see the module docstring): `files` (a local folder's,
    plus `onnx/<name>` for the ONNX file the encoder runs on) or `commit` (a Hub model's), and `code`."""
    found: dict[str, Any] = {"code": code_sha256()}
    if Path(model_name_or_path).is_dir():
        found["files"] = folder_files(model_name_or_path)
    else:
        found["commit"] = getattr(model.config, "_commit_hash", None)
    runtime = getattr(model, "_encoder_runtime", None)
    onnx_path = getattr(runtime, "path", None)
    if onnx_path is not None:
        found.setdefault("files", {})[f"onnx/{Path(onnx_path).name}"] = file_sha256(onnx_path)
    return found


def fingerprint_changes(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words: "the weights (model.safetensors)", "the linker
    (linker/names.tsv.gz, added: ...)", "the model's code (modeling/)", "the Hub commit (a -> b)"."""
    changes = []
    old_files, new_files = stored.get("files") or {}, current.get("files") or {}
    by_role: dict[str, list[str]] = {}
    for name in sorted(set(old_files) | set(new_files)):
        if old_files.get(name) == new_files.get(name):
            continue
        state = "" if name in old_files and name in new_files else (" added" if name in new_files else " removed")
        role = "onnx" if name.startswith("onnx/") else role_of(name) or "files"
        by_role.setdefault(role, []).append(name + state)
    for role in sorted(by_role, key=lambda r: ROLES.index(r) if r in ROLES else len(ROLES)):
        what = {"onnx": "the ONNX encoder file"}.get(role, f"the {role}")
        changes.append(f"{what} ({', '.join(by_role[role])})")
    if stored.get("commit") != current.get("commit"):
        changes.append(f"the Hub commit ({stored.get('commit')} -> {current.get('commit')})")
    if stored.get("code") != current.get("code"):
        changes.append("the model code (this package's modeling/ sources)")
    return changes
