"""Reading the files of a saved model, so that a damaged one fails with one line naming it.

`from_pretrained` checks a local model folder (`check_model_folder`) before transformers reads it, and the
linker's and the gazetteer's loaders read their files with `read_json` / `read_gzip`: a file cut short, emptied
or overwritten raises `InputError` (`outputs_joint_ner_re`) as `<file>[, line <n>]: <what is wrong>` instead of
an `EOFError`, `JSONDecodeError` or `SafetensorError` that names no file.

A safetensors file starts with the length of its JSON header, and the header gives every tensor's byte range, so
a cut or a padded file is found from the header alone (a few kilobytes read, whatever the weights' size);
changed bytes inside the tensors are not (there is no checksum in the format).

Imports only the standard library (this file ships with the model).
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import zlib
from typing import Any

from .outputs_joint_ner_re import InputError

CONFIG_NAME = "config.json"
# the parts of a saved model whose JSON files are checked (the model folder itself, then these sub-folders)
PART_FOLDERS = ("linker", "gazetteer", "onnx")
_MAX_HEADER_BYTES = 100 << 20  # the safetensors format's own limit on a header


def _read_bytes(path: str | os.PathLike) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: a folder, not a file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror or error})") from None


def read_json_value(path: str | os.PathLike) -> Any:
    """The JSON value in `path` (object, list, ...); `InputError` naming the file (and line) when it is missing,
    empty, not UTF-8 or not JSON (cut short, overwritten)."""
    raw = _read_bytes(path)
    if not raw.strip():
        raise InputError(f"{path}: empty file (JSON was expected)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 (byte {error.start + 1}): a damaged file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{path}, line {error.lineno}: not valid JSON ({error.msg}): the file is damaged or cut "
                         "short") from None


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object in `path`; `InputError` naming the file (and line) as `read_json_value` does, and when the
    file holds another kind of JSON value."""
    value = read_json_value(path)
    if not isinstance(value, dict):
        raise InputError(f"{path}: a JSON {type(value).__name__} where an object was expected")
    return value


def read_gzip(path: str | os.PathLike) -> bytes:
    """The decompressed bytes of the gzip file `path`; `InputError` naming it when it is cut short or damaged."""
    raw = _read_bytes(path)
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise InputError(f"{path}: the gzip file is cut short (its compressed stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise InputError(f"{path}: not a readable gzip file ({error})") from None


def config_value(config: dict[str, Any], key: str, kind: type | tuple[type, ...], path: str | os.PathLike) -> Any:
    """`config[key]` when it is of `kind`; `InputError` naming the file otherwise (a hand-edited or damaged file)."""
    if key not in config:
        raise InputError(f"{path}: no {key!r} (a damaged file, or one this code did not write)")
    value, kinds = config[key], kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # True is an int too
        raise InputError(f"{path}: {key!r} is {value!r}, not a {getattr(kind, '__name__', kind)}")
    return value


def check_safetensors(path: str | os.PathLike) -> None:
    """`InputError` naming `path` when its size is not the one its header describes (cut short or padded), or its
    header is not one (an emptied or overwritten file)."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if size < 8:
            raise InputError(f"{path}: {size} bytes, too short for a safetensors file (cut short?)")
        (header_size,) = struct.unpack("<Q", handle.read(8))
        if header_size > min(size - 8, _MAX_HEADER_BYTES):
            raise InputError(f"{path}: its header would take {header_size:,} bytes of a {size:,}-byte file: not a "
                             "safetensors file, or cut short")
        try:
            header = json.loads(handle.read(header_size))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InputError(f"{path}: its header is not valid JSON: the file is damaged") from None
    if not isinstance(header, dict):
        raise InputError(f"{path}: its header is not a JSON object: the file is damaged")
    try:
        data = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
    except (KeyError, TypeError, ValueError, IndexError):
        raise InputError(f"{path}: its header does not describe tensors: the file is damaged") from None
    expected = 8 + header_size + data
    if expected != size:
        state = "cut short" if size < expected else "longer than its tensors"
        raise InputError(f"{path}: {state}: its header describes {expected:,} bytes, the file has {size:,}")


def check_model_folder(folder: str | os.PathLike) -> None:
    """Check a local model folder before it is loaded: `config.json` present, every JSON file of the folder and of
    its `linker/`, `gazetteer/` and `onnx/` parts readable, every safetensors file whole. `InputError` names the
    first file that is not (what cannot be checked without reading it all, such as the gzipped name tables, is
    checked when it is read)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: not a folder (a model is the folder that train.py or save_pretrained writes)")
    if not os.path.isfile(os.path.join(folder, CONFIG_NAME)):
        raise InputError(f"{folder}: no {CONFIG_NAME}: not a model folder (train.py and save_pretrained write one)")
    for part in ("", *PART_FOLDERS):
        where = os.path.join(folder, part)
        if not os.path.isdir(where):
            continue
        for name in sorted(os.listdir(where)):
            path = os.path.join(where, name)
            if name.endswith(".json") and os.path.isfile(path):
                # config.json is an object; other JSON files may hold any value (sentence-transformers folders,
                # such as the quick start's encoder, ship a list in data_config.json)
                read_json(path) if (part, name) == ("", CONFIG_NAME) else read_json_value(path)
            elif name.endswith(".safetensors") and os.path.isfile(path):
                check_safetensors(path)
