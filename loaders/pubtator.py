"""Streaming, validating reader for PubTator abstracts files and relationship TSV files.

Why not `bioc.pubtator` (bioc 2.1, installed): its `iterparse` does stream, but it
- strips every line, so leading/trailing spaces of a title or abstract vanish and offsets can shift;
- prints and skips lines it cannot parse, and reads a truncated 4-field mention line as a relation;
- reports no file or line number, checks no PMID consistency, no offsets, no duplicate PMIDs, no empty
  file, and drops a document without a title without a word;
- joins title and abstract with a newline and has no composite-part or unlinked-id handling.
Those checks are the point of this module (the issue forbids silent skips), so the reader is written
here: a small line-by-line state machine that holds one document at a time.

The writer (`format_document`, `PubTatorWriter`, `write_pubtator`, `write_relation_tsv`) is the one way the
project writes these formats: evaluation files, `predict.py` output, `link.py` and the demo's download.

Errors are `PubTatorFormatError("<file>, line <n>: <what is wrong>")`. With `strict=False` the same
problems are recorded in a `ParseReport` and the offending unit is skipped: a bad mention or relation
line skips that line, a missing title/abstract line or a duplicated PMID skips the whole document.
An empty file is an error in both modes (there is nothing to skip to).

Handled without an error, in both modes: a UTF-8 byte-order mark at the start of a file is dropped; Windows
line endings ("\r\n") are read as line ends; an exact duplicate of a mention line (every field equal, within one
document) is kept once and noted: a warning naming the file, both lines, and a count in
`ParseReport.duplicates` (the copy adds nothing, so it is not an error, but it is never dropped without a word).

Damage stops the read with the file and the line reached, in both modes (there is no line to skip to): bytes
that are not UTF-8 (UTF-16 is named as such), a gzip file cut short or corrupted, a line longer than
`MAX_LINE_BYTES` (a binary file?). Control characters other than tab and line breaks in a title or abstract
(a NUL byte from a crashed write) are a problem of that document. The corpus builders also pass the id forms of
their corpus (`loaders.ids`: a cut inside an id field leaves an id of no valid form) and `complete=True`: a
release file ends every line with a line break, so a last line without one means the file was cut short.
"""

from __future__ import annotations

import codecs
import gzip
import io
import logging
import re
import zlib
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, TextIO

from modeling.outputs_joint_ner_re import InputError, control_character_problem, document_text

logger = logging.getLogger(__name__)

_TITLE_OR_ABSTRACT = re.compile(r"^([^|\t]*)\|([ta])\|(.*)$", re.DOTALL)
_MAX_STORED_PROBLEMS = 1000
# A line longer than this is not text of these formats (a binary file, a file of NUL bytes): refused before it is
# read whole into memory. A full-text article on one line is a few hundred kilobytes.
MAX_LINE_BYTES = 64 << 20
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)  # what reading a damaged gzip stream raises
IdCheck = Callable[[str], "str | None"]  # a raw id -> what is wrong with its form, or None


class PubTatorFormatError(InputError):
    """A problem in an input file, located by file and 1-based line number (an `InputError`)."""

    def __init__(self, path: str | PathLike, line: int, message: str):
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}, line {line}: {message}")


class DamagedFileError(PubTatorFormatError):
    """A file that cannot be read on from `line` (a gzip stream cut short, UTF-16 text, a line too long): no
    reader skips past it, whatever its strictness."""


@dataclass
class ParseReport:
    """Problems met in `strict=False` mode (the first 1000 kept verbatim, all counted)."""

    count: int = 0
    problems: list[str] = field(default_factory=list)
    duplicates: int = 0  # exact duplicate mention lines kept once (noted, not errors)
    notes: list[str] = field(default_factory=list)

    def record(self, error: PubTatorFormatError) -> None:
        self.count += 1
        if len(self.problems) < _MAX_STORED_PROBLEMS:
            self.problems.append(str(error))
        logger.warning("skipped (strict=False): %s", error)

    def record_duplicate(self, message: str) -> None:
        self.duplicates += 1
        if len(self.notes) < _MAX_STORED_PROBLEMS:
            self.notes.append(message)
        logger.warning("%s", message)


class ErrorPolicy:
    """Raise on the first problem (`strict=True`) or record it in `report` and let the caller skip."""

    def __init__(self, strict: bool = True, report: ParseReport | None = None):
        self.strict = strict
        self.report = report if report is not None else ParseReport()

    def fail(self, path: str | PathLike, line: int, message: str) -> None:
        error = PubTatorFormatError(path, line, message)
        if self.strict:
            raise error
        self.report.record(error)

    def duplicate(self, path: str | PathLike, line: int, first_line: int) -> None:
        """Note an exact duplicate mention line (kept once, in both modes)."""
        self.report.record_duplicate(
            f"{path}, line {line}: exact duplicate of the mention line at line {first_line}; kept once"
        )


@dataclass(slots=True)
class RawMention:
    """A mention line: offsets into the document text, the text, the type, the ids as written (`-1` / `-` for
    none), a composite mention's parts (7th column), and the line it was read from (0 when built in code)."""

    start: int
    end: int
    text: str
    type: str
    ids: list[str]
    composite_parts: list[str] = field(default_factory=list)
    line: int = 0


@dataclass(slots=True)
class RawRelation:
    """A relation line `PMID<TAB>label<TAB>head<TAB>tail` (ids as written), and where it was read from."""

    label: str
    head: str
    tail: str
    path: str = ""
    line: int = 0


@dataclass(slots=True)
class RawDocument:
    """One PubTator document as written in the file: what the reader yields and the writer takes."""

    pmid: str
    title: str
    abstract: str
    mentions: list[RawMention] = field(default_factory=list)
    relations: list[RawRelation] = field(default_factory=list)
    path: str = ""
    line: int = 0  # line of the title

    @property
    def text(self) -> str:
        return document_text(self.title, self.abstract)


def open_text(path: str | PathLike) -> TextIO:
    """Open a UTF-8 text file, transparently gunzipping it (detected by magic bytes, not by name); a leading
    byte-order mark is dropped.

    Lines are split on "\\n" only: a stray "\\r" inside a title must not start a new line.
    """
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", newline="\n")


def open_binary(path: str | PathLike) -> BinaryIO:
    """Open a file for reading bytes, gunzipping it when it starts with the gzip magic bytes."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def gzip_problem(error: BaseException) -> str:
    """What a damaged gzip stream's exception means, in words."""
    if isinstance(error, EOFError):
        return "the gzip file is cut short (its compressed stream ends early)"
    return f"the gzip file is damaged ({error})"


def raw_lines(path: str | PathLike) -> Iterator[tuple[int, bytes]]:
    """(1-based number, raw bytes with their line break) for each line of a file (gzip detected by its magic
    bytes). A damaged gzip stream or a line over `MAX_LINE_BYTES` raises `PubTatorFormatError` naming the file
    and the line reached; nothing is skipped."""
    number, limit = 0, MAX_LINE_BYTES + 1
    try:
        with open_binary(path) as handle:
            readline = handle.readline  # bound once: the loop runs once per line
            while raw := readline(limit):
                number += 1
                if len(raw) > MAX_LINE_BYTES:
                    raise DamagedFileError(path, number, f"line longer than {MAX_LINE_BYTES:,} bytes: not a text "
                                                            "file of this format (a binary file?)")
                yield number, raw
    except GZIP_ERRORS as error:
        raise DamagedFileError(path, number + 1, gzip_problem(error)) from None
    except IsADirectoryError:
        raise InputError(f"{path}: a folder, not a file") from None


def numbered_lines(path: str | PathLike) -> Iterator[tuple[int, str]]:
    """(1-based number, line without its "\\n" / "\\r\\n") for each line of a UTF-8 file (gzip accepted).

    A UTF-8 byte-order mark at the start is dropped (editors on Windows write one). Bytes that are not UTF-8
    raise `PubTatorFormatError` naming the file, the line and the byte (decoding line by line is what
    makes the line known; a text-mode read fails with neither); so does a damaged file (`raw_lines`).
    """
    for number, raw in raw_lines(path):
        yield number, decode_line(path, number, raw)


def decode_line(path: str | PathLike, number: int, raw: bytes) -> str:
    """One raw line as text without its "\\n" / "\\r\\n" (and, on line 1, without a UTF-8 byte-order mark);
    `PubTatorFormatError` naming the file, the line and the byte when it is not UTF-8."""
    if number == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    if number == 1 and raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DamagedFileError(path, number, "UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = raw[err.start : err.start + 1]
        raise PubTatorFormatError(
            path, number, f"not UTF-8: byte 0x{bad.hex()} at byte {err.start + 1} of the line ({err.reason})"
        ) from None
    return line.removesuffix("\n").removesuffix("\r")


class _LastLine:
    """Numbered lines (`track`) that remember the last line's number and whether it lacked its line break."""

    def __init__(self) -> None:
        self.number, self.cut = 0, False

    def track(self, path: str) -> Iterator[tuple[int, str]]:
        for number, raw in raw_lines(path):
            self.number, self.cut = number, not raw.endswith(b"\n")
            yield number, decode_line(path, number, raw)


def _blocks(lines: Iterable[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    """Group numbered lines into blank-line separated blocks (one document each)."""
    block: list[tuple[int, str]] = []
    for number, line in lines:
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def iter_pubtator(
    path: str | PathLike,
    entity_types: Iterable[str] | None,
    relation_labels: Iterable[str] | None = (),
    policy: ErrorPolicy | None = None,
    check_id: IdCheck | None = None,
    complete: bool = False,
) -> Iterator[RawDocument]:
    """Yield the documents of a PubTator file one at a time, validated line by line.

    `entity_types` are the allowed mention types; `relation_labels` the allowed labels of in-file
    relation lines (`PMID<TAB>label<TAB>id1<TAB>id2`, BC5CDR); pass none where the file has no relations.
    `None` for either accepts any type / label (files read for prediction, whose annotations are not used).
    Checks: title then abstract line with the same numeric PMID, no control characters in them, 6 or 7 fields
    per mention line, integer offsets with 0 <= start < end <= len(text), mention text == text[start:end], known
    type, composite parts matching the ids, known relation label, unique PMIDs, a non-empty file; with
    `check_id`, the form of every mention and relation id (`loaders.ids`); with `complete`, a line break at the
    end of the last line (a file that ends inside a line was cut short: its last document is the problem).
    Entity-level checks (relation arguments exist) happen in `loaders.documents`.
    """
    policy = policy or ErrorPolicy()
    entity_types = None if entity_types is None else frozenset(entity_types)
    relation_labels = None if relation_labels is None else frozenset(relation_labels)
    seen: dict[str, int] = {}  # pmid -> line of its title (small: one entry per document)
    path = str(path)
    empty = True
    last = _LastLine()
    for block in _blocks(last.track(path)):
        empty = False
        if complete and last.cut and block[-1][0] == last.number:
            policy.fail(path, last.number, "the file ends inside this line (no line break after it): it was cut short")
            continue
        document = _parse_block(path, block, entity_types, relation_labels, policy, check_id)
        if document is None:
            continue
        if document.pmid in seen:
            policy.fail(path, document.line, f"duplicated PMID {document.pmid} (first seen at line {seen[document.pmid]})")
            continue
        seen[document.pmid] = document.line
        yield document
    if empty:
        raise PubTatorFormatError(path, 1, "file is empty: no PubTator document found")


def _parse_block(
    path: str,
    block: list[tuple[int, str]],
    entity_types: frozenset[str] | None,
    relation_labels: frozenset[str] | None,
    policy: ErrorPolicy,
    check_id: IdCheck | None = None,
) -> RawDocument | None:
    header = _title_or_abstract(block[0][1])
    first_line = block[0][0]
    if header is None or header[1] != "t":
        what = f"an abstract line for PMID {header[0]}" if header else f"{block[0][1][:60]!r}"
        policy.fail(path, first_line, f"missing title line: a document must start with 'PMID|t|title', found {what}")
        return None
    pmid, _, title = header
    if not _is_decimal(pmid):
        policy.fail(path, first_line, f"PMID {pmid!r} is not a number")
        return None
    second = _title_or_abstract(block[1][1]) if len(block) > 1 else None
    if second is None or second[1] != "a" or second[0] != pmid:
        found = f"{block[1][1][:60]!r} at line {block[1][0]}" if len(block) > 1 else "the end of the document"
        policy.fail(path, first_line, f"missing abstract line 'PMID|a|abstract' for PMID {pmid}: found {found}")
        return None
    abstract = second[2]
    for (number, _), part, where in ((block[0], title, "the title"), (block[1], abstract, "the abstract")):
        problem = control_character_problem(part, where)
        if problem is not None:
            policy.fail(path, number, f"{problem}; PMID {pmid}")
            return None
    document = RawDocument(pmid, title, abstract, [], [], path, first_line)
    text = document.text
    mention_lines: dict[str, int] = {}  # mention line -> its first line number (exact duplicates)
    for number, line in block[2:]:
        fields = line.split("\t")
        if len(fields) in (6, 7):
            mention = _parse_mention(path, number, fields, pmid, text, entity_types, policy, check_id)
            if mention is None:
                continue
            if line in mention_lines:
                policy.duplicate(path, number, mention_lines[line])
                continue
            mention_lines[line] = number
            document.mentions.append(mention)
        elif len(fields) == 4 and not _is_decimal(fields[1]):
            relation = _parse_relation(path, number, fields, pmid, relation_labels, policy, check_id)
            if relation is not None:
                document.relations.append(relation)
        elif _title_or_abstract(line) is not None:
            policy.fail(path, number, f"title/abstract line inside the document of PMID {pmid} (missing blank line?)")
        else:
            policy.fail(
                path,
                number,
                f"truncated or malformed line: {len(fields)} tab-separated fields, expected 6 or 7 "
                "(mention: PMID, start, end, text, type, ids[, parts]) or 4 (relation: PMID, label, id1, id2)",
            )
    return document


def _is_decimal(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _title_or_abstract(line: str) -> tuple[str, str, str] | None:
    match = _TITLE_OR_ABSTRACT.match(line)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def _parse_mention(
    path: str,
    number: int,
    fields: list[str],
    pmid: str,
    text: str,
    entity_types: frozenset[str] | None,
    policy: ErrorPolicy,
    check_id: IdCheck | None = None,
) -> RawMention | None:
    line_pmid, start_s, end_s, mention_text, entity_type, ids_field = fields[:6]
    if line_pmid != pmid:
        policy.fail(path, number, f"mention line names PMID {line_pmid!r} inside the document of PMID {pmid}")
        return None
    # int() alone would also take " 41", "+41" and "4_1"
    if not (_is_decimal(start_s) and _is_decimal(end_s)):
        policy.fail(path, number, f"offsets must be integers, got start={start_s!r} end={end_s!r}")
        return None
    start, end = int(start_s), int(end_s)
    if not 0 <= start < end <= len(text):
        policy.fail(path, number, f"offsets {start}-{end} out of range for a text of {len(text)} characters")
        return None
    if text[start:end] != mention_text:
        policy.fail(
            path, number, f"mention text {mention_text!r} does not match the document text {text[start:end]!r} at {start}-{end}"
        )
        return None
    if entity_types is not None and entity_type not in entity_types:
        policy.fail(path, number, f"unknown entity type {entity_type!r} (expected one of {sorted(entity_types)})")
        return None
    if not ids_field:
        policy.fail(path, number, "empty concept id field (unlinked mentions are written -1 or -)")
        return None
    ids = ids_field.split("|")
    problem = _id_problem(ids, check_id)
    if problem is not None:
        policy.fail(path, number, problem)
        return None
    # A 7th column may be present but empty (a trailing tab in 18 BC5CDR training lines): no parts.
    parts = fields[6].split("|") if len(fields) == 7 and fields[6] else []
    if parts and len(parts) != len(ids):
        policy.fail(path, number, f"composite mention has {len(ids)} ids but {len(parts)} parts")
        return None
    return RawMention(start, end, mention_text, entity_type, ids, parts, number)


def _id_problem(ids: Iterable[str], check_id: IdCheck | None) -> str | None:
    """The first id of a form `check_id` refuses, in words, or None."""
    if check_id is None:
        return None
    return next((problem for problem in map(check_id, ids) if problem is not None), None)


def _parse_relation(
    path: str, number: int, fields: list[str], pmid: str, labels: frozenset[str] | None, policy: ErrorPolicy,
    check_id: IdCheck | None = None,
) -> RawRelation | None:
    line_pmid, label, head, tail = fields
    if line_pmid != pmid:
        policy.fail(path, number, f"relation line names PMID {line_pmid!r} inside the document of PMID {pmid}")
        return None
    if labels is not None and not labels:
        policy.fail(path, number, f"relation line {label!r} in a file that holds no relations (truncated mention line?)")
        return None
    if labels is not None and label not in labels:
        policy.fail(path, number, f"unknown relation label {label!r} (expected one of {sorted(labels)})")
        return None
    if not head or not tail:
        policy.fail(path, number, "relation with an empty entity id")
        return None
    problem = _id_problem((head, tail), check_id)
    if problem is not None:
        policy.fail(path, number, problem)
        return None
    return RawRelation(label, head, tail, path, number)


def iter_relation_tsv(
    path: str | PathLike, labels: Iterable[str], policy: ErrorPolicy | None = None, check_id: IdCheck | None = None,
    complete: bool = False,
) -> Iterator[tuple[str, RawRelation]]:
    """Yield (pmid, relation) from a ChemDisGene relationship file `PMID<TAB>label<TAB>subject<TAB>object`
    (`check_id` and `complete` as in `iter_pubtator`)."""
    policy = policy or ErrorPolicy()
    labels = frozenset(labels)
    path = str(path)
    rows = 0
    last = _LastLine()
    for number, line in last.track(path):
        if not line.strip():
            continue
        rows += 1
        if complete and last.cut:
            policy.fail(path, number, "the file ends inside this line (no line break after it): it was cut short")
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            policy.fail(path, number, f"truncated or malformed line: {len(fields)} tab-separated fields, expected 4 (PMID, label, subject, object)")
            continue
        if not _is_decimal(fields[0]):
            policy.fail(path, number, f"PMID {fields[0]!r} is not a number")
            continue
        relation = _parse_relation(path, number, fields, fields[0], labels, policy, check_id)
        if relation is not None:
            yield fields[0], relation
    if rows == 0:
        raise PubTatorFormatError(path, 1, "file is empty: no relationship found")


def read_pmid_list(path: str | PathLike) -> set[str]:
    """Read a one-PMID-per-line file (ChemDisGene `drugprot_pmids.txt.gz`); an empty list is allowed, a last
    line without its line break (a cut file, whose last PMID may be cut too) is not."""
    pmids: set[str] = set()
    last = _LastLine()
    for number, line in last.track(str(path)):
        line = line.strip()
        if not line:
            continue
        if last.cut:
            raise PubTatorFormatError(path, number, "the file ends inside this line (no line break after it): it was cut short")
        if not _is_decimal(line):
            raise PubTatorFormatError(path, number, f"expected one numeric PMID per line, got {line[:60]!r}")
        pmids.add(line)
    return pmids



# ---- writing -------------------------------------------------------------------------------------------------
def one_line(text: str) -> str:
    """`text` with tabs and line breaks as spaces: the same length, so offsets into it still hold, and it fits
    on one PubTator line (the reader splits lines on "\\n" and mention fields on tabs)."""
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _identifier(value: str, what: str, pmid: str) -> str:
    if not value or any(ch in value for ch in "\t\r\n"):
        raise ValueError(f"document {pmid}: {what} {value!r} is empty or holds a tab or line break; it cannot be "
                         "written as a PubTator field")
    return value


def format_document(document: RawDocument) -> str:
    """One document as PubTator text, ending with the blank line that separates documents: the title and
    abstract lines, one line per mention in (start, end) order (`PMID, start, end, text, type, ids` and the
    composite parts when there are some; ids joined by "|"), then one line per relation
    (`PMID, label, head, tail`). Tabs and line breaks inside the title, abstract and mention texts are written as
    spaces (`one_line`); a PMID, type, id or label that holds one is refused (ValueError)."""
    pmid = _identifier(document.pmid, "PMID", document.pmid)
    if "|" in pmid:
        raise ValueError(f"document {pmid}: a PMID cannot hold '|' in PubTator")
    text_length = len(document.text)
    lines = [f"{pmid}|t|{one_line(document.title)}", f"{pmid}|a|{one_line(document.abstract)}"]
    for m in sorted(document.mentions, key=lambda m: (m.start, m.end)):
        if not 0 <= m.start < m.end <= text_length:
            raise ValueError(f"document {pmid}: mention offsets {m.start}-{m.end} are outside the text "
                             f"({text_length} characters)")
        fields = [pmid, str(m.start), str(m.end), one_line(m.text), _identifier(m.type, "type", pmid),
                  "|".join(_identifier(i, "id", pmid) for i in m.ids)]
        if m.composite_parts:
            fields.append("|".join(one_line(part) for part in m.composite_parts))
        lines.append("\t".join(fields))
    for r in document.relations:
        lines.append("\t".join([pmid, _identifier(r.label, "relation label", pmid),
                                _identifier(r.head, "relation head", pmid), _identifier(r.tail, "relation tail", pmid)]))
    return "\n".join(lines) + "\n\n"


class PubTatorWriter:
    """Writes PubTator documents one at a time to `path` (gzip-compressed when `gz`, by default when the name ends
    in .gz; gzip output carries no timestamp, so the same documents give the same bytes)."""

    def __init__(self, path: str | PathLike, gz: bool | None = None) -> None:
        path = Path(path)
        gz = path.name.lower().endswith(".gz") if gz is None else gz
        raw = gzip.GzipFile(path, "wb", mtime=0) if gz else open(path, "wb")
        self.handle = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")

    def write(self, document: RawDocument) -> None:
        self.handle.write(format_document(document))

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> "PubTatorWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Run `write(temporary path)` and rename the result to `path`: an interrupted write never leaves a
    truncated file under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        write(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_pubtator(path: str | PathLike, documents: Iterable[RawDocument], gz: bool | None = None) -> Path:
    """Write `documents` as a PubTator file at `path`, atomically (see `PubTatorWriter` for gzip)."""
    path = Path(path)
    gz = path.name.lower().endswith(".gz") if gz is None else gz

    def write(partial: Path) -> None:
        with PubTatorWriter(partial, gz=gz) as writer:
            for document in documents:
                writer.write(document)

    return _atomic(path, write)


def write_relation_tsv(path: str | PathLike, rows: Iterable[tuple[str, RawRelation]]) -> Path:
    """Write a ChemDisGene relationship file (`PMID<TAB>label<TAB>subject<TAB>object`, no header) atomically:
    what `iter_relation_tsv` reads."""
    path = Path(path)

    def write(partial: Path) -> None:
        with open(partial, "w", encoding="utf-8", newline="\n") as handle:
            for pmid, r in rows:
                handle.write("\t".join([_identifier(pmid, "PMID", pmid), _identifier(r.label, "relation label", pmid),
                                        _identifier(r.head, "relation head", pmid),
                                        _identifier(r.tail, "relation tail", pmid)]) + "\n")

    return _atomic(path, write)
