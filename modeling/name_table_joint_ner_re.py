"""A saved linker's name tables read as they are stored: `read_name_tables(names.tsv.gz)`.

`ConceptLinker.save` writes one line per name, `type TAB exact|loose TAB key TAB ids TAB score TAB source`,
grouped by kind and type and sorted by key. Read into dicts, the quick start's 1.2 million lines took 2 to 4 s
and 269 MiB; a `NameTable` keeps each group's lines as the file's UTF-8 bytes (the file and two arrays of
line offsets: about 155 MiB, read in about 1.1 s) and finds a key by bisection, parsing an entry only when
it is asked for. The whole file is still checked when it is read, with tensor operations over its bytes; a
problem is reported with the file and the line by the line-by-line check (`check_lines`), which also says
what a well-formed file is.

Imports only torch and the standard library (this file ships with the model).
"""

from __future__ import annotations

import bisect
import os
import re
import warnings
from array import array
from typing import Iterator, Mapping

import torch

from .files_joint_ner_re import read_gzip
from .outputs_joint_ner_re import InputError

Entry = tuple[tuple[str, ...], float, str]  # ids, score, source
KINDS = (b"exact", b"loose")
FIELDS = "expected type, exact|loose, key, ids, score, source"
_STRIDE = 32  # lines per step of the sampled keys
_CACHE_SIZE = 1 << 16  # looked-up keys remembered per table (mentions repeat within and across documents)
_MISSING = object()


class NameTable(Mapping[str, Entry]):
    """One (type, kind) group of a names file: key -> (ids, score, source), read-only, keys in sorted order.

    `blob` is the whole decompressed file, shared by the groups; line i starts at `line_starts[i]` (the next
    line at `line_starts[i + 1]`) and its key ends at `key_ends[i]`; this group holds lines `first` to
    `end - 1`, each starting with the same `type TAB kind TAB` prefix of `prefix_length` bytes."""

    def __init__(self, blob: bytes, line_starts: array, key_ends: array, first: int, end: int,
                 prefix_length: int, path: str = "") -> None:
        self._blob, self._starts, self._key_ends, self.path = blob, line_starts, key_ends, path
        self._first, self._end, self._prefix = first, end, prefix_length
        self._cache: dict[str, Entry | None] = {}
        # every _STRIDE-th key, for a bisection in C before the one over the file's bytes
        self._sampled = [self._key_at(line) for line in range(first, end, _STRIDE)]

    def _key_at(self, line: int) -> bytes:
        return self._blob[self._starts[line] + self._prefix : self._key_ends[line]]

    def _entry_at(self, line: int) -> Entry:
        rest = self._blob[self._key_ends[line] + 1 : self._starts[line + 1] - 1].decode("utf-8")
        ids, score, source = rest.split("\t")
        try:
            return tuple(ids.split("|")), float(score), source
        except ValueError:  # of score's characters (checked on reading), but not a number: "1.2.3"
            raise InputError(f"{self.path}, line {line + 1}: score {score!r} is not a number") from None

    def _find(self, key: str) -> Entry | None:
        probe = key.encode("utf-8", "surrogatepass")
        block = bisect.bisect_right(self._sampled, probe) - 1
        if block < 0:
            return None
        low = self._first + block * _STRIDE
        high = min(low + _STRIDE, self._end)
        line = low + bisect.bisect_left(range(low, high), probe, key=self._key_at)
        if line < high and self._key_at(line) == probe:
            return self._entry_at(line)
        return None

    def __getitem__(self, key: str) -> Entry:
        found = self._cache.get(key, _MISSING)
        if found is _MISSING:
            found = self._find(key) if isinstance(key, str) else None
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        if found is None:
            raise KeyError(key)
        return found  # type: ignore[return-value]

    def __len__(self) -> int:
        return self._end - self._first

    def _lines(self) -> list[str]:
        text = self._blob[self._starts[self._first] : self._starts[self._end]].decode("utf-8")
        return text.split("\n")[:-1]

    def __iter__(self) -> Iterator[str]:
        return (line.split("\t", 3)[2] for line in self._lines())

    def items(self) -> Iterator[tuple[str, Entry]]:  # type: ignore[override]
        """(key, entry) pairs in key order, parsed in one pass."""
        for line in self._lines():
            _, _, key, ids, score, source = line.split("\t")
            yield key, (tuple(ids.split("|")), float(score), source)

    def values(self) -> Iterator[Entry]:  # type: ignore[override]
        return (entry for _, entry in self.items())

    def keys_with_source(self, sources: tuple[str, ...]) -> list[str]:
        """The keys (in order) whose entry's source is one of `sources`."""
        endings = tuple("\t" + s for s in sources)
        return [line.split("\t", 3)[2] for line in self._lines() if line.endswith(endings)]

    def __repr__(self) -> str:
        return f"NameTable({len(self)} names)"


def read_name_tables(path: str | os.PathLike) -> dict[tuple[str, str], NameTable]:
    """The (type, kind) groups of a gzipped names file written by `ConceptLinker.save`, as `NameTable`s.
    `InputError` naming the file (and the first bad line) for a damaged or malformed file (`check_lines`); the
    writer ends every line with a line break, so a last line without one means the file was cut short."""
    blob = read_gzip(path)
    if blob and not blob.endswith(b"\n"):
        last_line = blob.count(b"\n") + 1
        raise InputError(f"{path}, line {last_line}: the file ends inside this line: it was cut short")
    line_starts, key_ends = array("q", [0]), array("q")
    with warnings.catch_warnings():  # the tensor only reads the bytes
        warnings.simplefilter("ignore", UserWarning)
        data = torch.frombuffer(blob, dtype=torch.uint8) if blob else torch.zeros(0, dtype=torch.uint8)
    offset = 0
    while offset < len(blob):  # in slices of whole lines, so that no tensor is as large as the file
        stop = blob.rfind(b"\n", offset, offset + _SLICE_BYTES) + 1 or blob.index(b"\n", offset) + 1
        if not _check_slice(blob, data, offset, stop, line_starts, key_ends):
            check_lines(path, blob)
        offset = stop
    tables: dict[tuple[str, str], NameTable] = {}
    lines, first = len(key_ends), 0
    while first < lines:
        start = line_starts[first]
        prefix = blob[start : blob.index(b"\t", blob.index(b"\t", start) + 1) + 1]
        entity_type, kind = prefix[:-1].split(b"\t")
        group = (entity_type.decode("utf-8"), kind.decode("utf-8"))
        last = blob.rfind(b"\n" + prefix)  # the newline before the group's last line
        end = first + 1 if last < start else bisect.bisect_right(line_starts, last + 1)
        together = blob.count(b"\n" + prefix, start, line_starts[end - 1] + len(prefix)) == end - first - 1
        if kind not in KINDS or group in tables or not together or not _sorted_keys(blob, line_starts, key_ends,
                                                                                     first, end, len(prefix)):
            check_lines(path, blob)
        tables[group] = NameTable(blob, line_starts, key_ends, first, end, len(prefix), str(path))
        first = end
    return tables


_SLICE_BYTES = 1 << 24
_SCORE = re.compile(r"[0-9.eE+-]+")  # a score is a decimal number (float() also parses "inf" and "nan")
_SCORE_BYTES = torch.zeros(256, dtype=torch.bool)
_SCORE_BYTES[list(b"0123456789.eE+-")] = True


def _check_slice(blob: bytes, data: torch.Tensor, offset: int, stop: int, line_starts: array, key_ends: array) -> bool:
    """Check the lines in bytes [offset, stop) (UTF-8, five tabs each, a key, ids, a score of `_SCORE`'s
    characters) and add their line starts and key ends; False at the first problem."""
    try:
        blob[offset:stop].decode("utf-8")
    except UnicodeDecodeError:
        return False
    part = data[offset:stop]
    newlines = (part == 10).nonzero().flatten() + offset
    tabs = (part == 9).nonzero().flatten() + offset
    lines = len(newlines)
    if len(tabs) != 5 * lines:
        return False
    fields = tabs.view(-1, 5)
    if not (bool((torch.searchsorted(newlines, tabs).view(-1, 5) == torch.arange(lines).unsqueeze(1)).all())
            and bool((fields[:, 2] > fields[:, 1] + 1).all()) and bool((fields[:, 3] > fields[:, 2] + 1).all())):
        return False  # a line without five tabs, an empty key or empty ids
    score_start, score_end = fields[:, 3] + 1 - offset, fields[:, 4] - offset
    if not bool((score_end > score_start).all()):
        return False
    positions = score_start.unsqueeze(1) + torch.arange(int((score_end - score_start).max()))  # [lines, longest]
    outside = positions >= score_end.unsqueeze(1)
    if not bool((_SCORE_BYTES[part[positions.clamp(max=len(part) - 1)].long()] | outside).all()):
        return False  # a score with other characters
    line_starts.extend((newlines + 1).tolist())
    key_ends.extend(fields[:, 2].tolist())
    return True


def _sorted_keys(blob: bytes, line_starts: array, key_ends: array, first: int, end: int, prefix: int) -> bool:
    """Whether the keys of lines first..end-1 increase strictly (sorted, none twice)."""
    step = 1 << 16
    previous = b""
    for low in range(first, end, step):
        high = min(low + step, end)
        keys = [blob[line_starts[i] + prefix : key_ends[i]] for i in range(low, high)]
        if keys[0] <= previous or any(a >= b for a, b in zip(keys, keys[1:])):
            return False
        previous = keys[-1]
    return True


def check_lines(path: str | os.PathLike, blob: bytes) -> None:
    """Read a names file's lines one by one and raise InputError naming the file and the first bad line: not
    UTF-8, not six fields, not exact|loose, an empty key or ids, a score that is not a number, or lines out of
    order (each (type, kind) group together, keys sorted and unique, as `ConceptLinker.save` writes them)."""
    seen: set[tuple[str, str]] = set()
    group: tuple[str, str] | None = None
    previous = ""
    for number, raw in enumerate(blob.split(b"\n")[:-1], 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(f"{path}, line {number}: not UTF-8 ({err.reason} at byte {err.start})") from None
        parts = line.split("\t")
        if len(parts) != 6 or parts[1] not in ("exact", "loose") or not parts[2] or not parts[3]:
            raise InputError(f"{path}, line {number}: {FIELDS}")
        try:
            if not _SCORE.fullmatch(parts[4]):
                raise ValueError
            float(parts[4])
        except ValueError:
            raise InputError(f"{path}, line {number}: score {parts[4]!r} is not a number") from None
        if (parts[0], parts[1]) != group:
            group, previous = (parts[0], parts[1]), ""
            if group in seen:
                raise InputError(f"{path}, line {number}: the {group[0]} {group[1]} rows are not all together "
                                 "(rows come grouped by kind and type, sorted by key, as ConceptLinker.save writes them)")
            seen.add(group)
        if parts[2].encode("utf-8") <= previous.encode("utf-8"):
            raise InputError(f"{path}, line {number}: key {parts[2]!r} is not after the previous row's "
                             f"{previous!r} (keys come sorted and once each, as ConceptLinker.save writes them)")
        previous = parts[2]
    raise InputError(f"{path}: malformed ({FIELDS} per line)")  # the fast checks found what these did not
