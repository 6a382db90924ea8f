"""The manifest of a resumable `predict.py` run: everything that decides its predictions, and what changed.

Written into the work folder when a run starts (`manifest.json`); a rerun compares its own with it and is refused
with one line saying what differs, since chunks of two runs must never be merged into one output. It holds:

- the inputs (each file by path, size and modification time: a file rewritten in place is another input), the
  input format and columns;
- the model by path or Hub id and by content (`fingerprint.model_fingerprint`: the weights, config, tokenizer,
  linker, gazetteer and ONNX file, the model code);
- every setting that changes a document's result: the relation threshold, the batch and chunk sizes (which
  documents share an encoder batch: padding can move the last digits of a score), the backend (torch or ONNX
  Runtime) and the device type.

Output format, id style and --skip-errors are not in it: they act when the chunks are merged or read, not on the
predictions a chunk holds. Each chunk file carries the manifest's key (`run_key`) in its name, so a chunk of
another run (a process of an older job still writing into the folder) is never read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from .fingerprint import fingerprint_changes

MANIFEST = "manifest.json"
FORMAT = 2  # format 1 (before content fingerprints) knew the model by its path only


def input_identity(spec: str) -> Any:
    """An input as the manifest records it: a file by path, size and modification time, a folder by path, a Hub
    name as given."""
    path = Path(spec)
    if path.is_file():
        stat = path.stat()
        return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    return str(path.resolve()) if path.exists() else spec


def run_key(manifest: Mapping[str, Any]) -> str:
    """A short hash of the manifest: the part of the chunk file names that ties them to their run."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def refusal(work: Path, stored: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    """The one line that refuses to resume the run in `work` (manifest `stored`) as `current`, or None when they
    are the same run."""
    if stored == current:
        return None
    if stored.get("format") != FORMAT:
        return (f"{work} holds an unfinished run of an older version of predict.py, whose manifest does not record "
                "the model's content; pass --overwrite to start again")
    settings = []
    for key in current:
        if key in ("format", "model_content") or stored.get(key) == current[key]:
            continue
        if key == "inputs":
            changed = [str(Path(str(c[0] if isinstance(c, list) else c)).name) for s, c in
                       zip(stored.get(key) or [], current[key]) if s != c]
            settings.append(f"the inputs ({', '.join(changed) or 'another list'} changed)")
        else:
            settings.append(f"{key} {_short(stored.get(key))} -> {_short(current[key])}")
    model = fingerprint_changes(stored.get("model_content") or {}, current.get("model_content") or {})
    if settings:
        return (f"{work} holds an unfinished run with other settings ({'; '.join(settings + model)}); rerun that "
                "command to finish it, or pass --overwrite to start again")
    return (f"{work} holds an unfinished run of a model that has changed since it started: {'; '.join(model)}; "
            "pass --overwrite to start again with the model as it is now (the chunks predicted so far are deleted)")
