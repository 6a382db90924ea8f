"""Streaming readers: each input format as an iterator of `Document`s (and `Problem`s for bad units).

Formats (`INPUT_FORMATS`; guessed from the name by `input_format_for`, `.gz` is looked through and gzip is
detected by its magic bytes):
- `pubtator`: PubTator abstracts, with or without annotation lines (read by the project's strict reader,
  `loaders.pubtator`; annotations are checked but not used);
- `bioc-xml` (streamed document by document) and `bioc-json` (a BioC JSON collection, which is loaded whole,
  or BioC JSON lines, one document per line, streamed), read with the `bioc` package: abstracts and PMC
  full-text articles alike, each document's passages kept with their offsets and infons (its text is
  `passages_text`: each passage at its own offset, reference passages, and tables with `skip_tables`, blanked);
  existing annotations, in either layout of `bioc_layout`, are not read;
- `jsonl`: one object per line with `text`, or `title`/`abstract`, and an id (`--id-column`, else `pmid`
  or `id`, else the line number); whitespace-only lines are not documents;
- `text`: one document per line, its line number as id (an empty line is an empty document);
- `parquet` (files or a folder of them), `dataset` (a `datasets.save_to_disk` folder) and `hub` (a Hub
  dataset name, streamed): rows with a text column, as in `jsonl`.

A bad unit (a malformed line, a row without text) is yielded as a `Problem` naming file and line; the
runner stops on it unless --skip-errors. Problems that leave no way to continue (undecodable bytes in a
PubTator file, broken XML) raise `InputError` with file and line.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from loaders.pubtator import (
    GZIP_ERRORS,
    DamagedFileError,
    ErrorPolicy,
    PubTatorFormatError,
    decode_line,
    gzip_problem,
    iter_pubtator,
    open_binary,
    raw_lines,
)
from modeling.outputs_joint_ner_re import InputError, is_reference_passage, is_table_passage

from .records import Document, Problem

INPUT_FORMATS = ("pubtator", "bioc-xml", "bioc-json", "jsonl", "text", "parquet", "dataset", "hub")
Item = Document | Problem


@dataclass(frozen=True)
class Columns:
    """Reader options: which columns of a row (JSONL object, Parquet/dataset row) hold the id and the text, and
    which BioC passages are tagged."""

    text: str = "text"
    id: str | None = None  # None: "pmid", then "id", then the row number
    split: str = "train"  # the split of a `dataset` folder or `hub` dataset
    skip_tables: bool = False  # leave BioC table passages (PMC `type` table) untagged; references always are


def _strip_gz(name: str) -> str:
    return name[:-3] if name.lower().endswith(".gz") else name


def _first_line(path: Path) -> str:
    with open_binary(path) as handle:
        raw = handle.readline(4096)
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff")


def input_format_for(spec: str) -> str:
    """The input format of a path or Hub dataset name, from its name (and, for .txt, its first line)."""
    path = Path(spec)
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return "dataset"
        if any(path.glob("**/*.parquet")):
            return "parquet"
        raise InputError(f"{spec}: a folder with neither a saved dataset (dataset_info.json) nor Parquet files")
    if not path.exists():
        if spec.count("/") == 1 and not spec.startswith((".", "/")):
            return "hub"
        raise InputError(f"{spec}: no such file or folder")
    name = _strip_gz(path.name.lower())
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".xml"):
        return "bioc-xml"
    if name.endswith(".json"):
        return "bioc-json"
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".pubtator") or ".pubtator." in name:
        return "pubtator"
    first = _first_line(path)
    head = first.split("|", 2)
    return "pubtator" if len(head) == 3 and head[1] == "t" and head[0].isdigit() else "text"


def read_inputs(specs: Sequence[str], input_format: str | None = None, columns: Columns = Columns()) -> Iterator[Item]:
    """All documents of the inputs, in order (inputs one after the other). An input that holds nothing (an empty
    file) or that breaks off (a damaged gzip stream) raises `InputError` naming it: it cannot be read on."""
    for spec in specs:
        items = 0
        try:
            fmt = input_format or input_format_for(spec)
            if fmt not in INPUT_FORMATS:
                raise InputError(f"{spec}: unknown input format {fmt!r} (expected one of {', '.join(INPUT_FORMATS)})")
            for item in READERS[fmt](spec, columns):
                items += 1
                yield item
        except GZIP_ERRORS as err:  # a stream cut within the first lines, read whole to guess the format
            raise InputError(f"{spec}: {gzip_problem(err)}") from None
        if items == 0:
            raise InputError(f"{spec}: no documents in it (an empty {fmt} input)")


# ---- PubTator --------------------------------------------------------------------------------------------
class _CollectingPolicy(ErrorPolicy):
    """Non-strict policy that keeps the reader's problems so they come out in stream order."""

    def __init__(self) -> None:
        super().__init__(strict=False)
        self.pending: list[PubTatorFormatError] = []

    def fail(self, path, line, message) -> None:  # type: ignore[override]
        self.pending.append(PubTatorFormatError(path, line, message))


def read_pubtator(spec: str, columns: Columns = Columns()) -> Iterator[Item]:
    policy = _CollectingPolicy()
    try:
        for raw in iter_pubtator(spec, None, None, policy):
            yield from _pending(policy, raw.pmid)
            yield Document(raw.pmid, raw.text, f"{spec}, line {raw.line}", raw.title, raw.abstract)
        yield from _pending(policy, None)
    except PubTatorFormatError as err:  # undecodable bytes, an empty file: no way to read on
        raise InputError(str(err)) from None


def _pending(policy: _CollectingPolicy, pmid: str | None) -> Iterator[Problem]:
    for error in policy.pending:
        yield Problem(f"{error.path}, line {error.line}", error.message)
    policy.pending.clear()


# ---- line formats ----------------------------------------------------------------------------------------
def _decoded_lines(spec: str) -> Iterator[tuple[int, str | Problem]]:
    """Numbered lines; an undecodable line comes as a Problem (line formats can skip a line)."""
    for number, raw in raw_lines(spec):  # a damaged gzip stream raises here: there is no next line to read
        try:
            yield number, decode_line(spec, number, raw)
        except DamagedFileError:  # UTF-16: no line of the file can be read
            raise
        except PubTatorFormatError as err:
            yield number, Problem(f"{spec}, line {number}", err.message)


def read_text(spec: str, columns: Columns = Columns()) -> Iterator[Item]:
    for number, line in _decoded_lines(spec):
        yield line if isinstance(line, Problem) else Document(str(number), line, f"{spec}, line {number}")


def read_jsonl(spec: str, columns: Columns = Columns()) -> Iterator[Item]:
    for number, line in _decoded_lines(spec):
        source = f"{spec}, line {number}"
        if isinstance(line, Problem):
            yield line
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            yield Problem(source, f"invalid JSON ({err.msg} at column {err.colno})")
            continue
        yield document_from_row(row, source, str(number), columns)


def document_from_row(row: Any, source: str, default_id: str, columns: Columns) -> Item:
    """A document from a JSON object or table row: text column, or title/abstract; id column or default."""
    if not isinstance(row, Mapping):
        return Problem(source, f"expected an object with a {columns.text!r} field, got {type(row).__name__}")
    id_keys = [columns.id] if columns.id else ["pmid", "id"]
    pmid = next((str(row[k]) for k in id_keys if row.get(k) is not None), None)
    if columns.id and pmid is None:
        return Problem(source, f"no {columns.id!r} field (--id-column)")
    pmid = pmid if pmid is not None else default_id
    text, title, abstract = row.get(columns.text), row.get("title"), row.get("abstract")
    for name, value in ((columns.text, text), ("title", title), ("abstract", abstract)):
        if value is not None and not isinstance(value, str):
            return Problem(source, f"field {name!r} must be a string, got {type(value).__name__}", pmid)
    if text is None and title is None and abstract is None:
        return Problem(source, f"no {columns.text!r} field (nor 'title'/'abstract'); fields: {sorted(row)[:10]}", pmid)
    return Document.from_parts(pmid, source, title, abstract, text)


# ---- BioC ------------------------------------------------------------------------------------------------
def _passage_records(doc: Any, source: str, skip_tables: bool = False) -> list[dict[str, Any]] | Problem:
    """A BioC document's passages as `{"offset", "text", "infons", "skip"}` (a Problem for a passage that holds
    sentences instead of text, which this reader does not join): references are skipped, tables when
    `skip_tables`."""
    records = []
    for k, passage in enumerate(doc.passages):
        if passage.text is None and passage.sentences:
            return Problem(source, f"passage {k} (offset {passage.offset}) holds sentences, not text; "
                                   "give the passage's text", doc.id or None)
        infons = {str(key): str(value) for key, value in passage.infons.items()}
        skip = is_reference_passage(infons) or (skip_tables and is_table_passage(infons))
        records.append({"offset": int(passage.offset), "text": passage.text or "", "infons": infons, "skip": skip})
    return records


def _bioc_document(doc: Any, source: str, columns: Columns) -> Item:
    """A BioC document (either annotation layout; its annotations are not read) as a `Document` that keeps its
    passages: the text is `passages_text` of them, so predicted offsets are BioC document offsets."""
    passages = _passage_records(doc, source, columns.skip_tables)
    if isinstance(passages, Problem):
        return passages
    infons = {str(key): str(value) for key, value in doc.infons.items()}
    try:
        return Document.from_passages(doc.id or "", source, passages, infons)
    except InputError as err:  # a passage layout of no valid form
        return Problem(source, str(err).removeprefix(source + ", "), doc.id or None)


def iter_bioc_documents(spec: str, fmt: str | None = None) -> Iterator[tuple[str, Any] | Problem]:
    """(source, `bioc.BioCDocument`) of each document of a BioC XML or JSON file (`fmt` "bioc-xml" or "bioc-json",
    by default from the name; JSON: a collection, or JSON lines, one document per line, streamed; XML is streamed
    too); a Problem for a JSON line that is no BioC document. `InputError` with file and line for broken XML or
    JSON, or a gzip stream cut short or corrupted."""
    try:
        if (fmt or input_format_for(spec)) == "bioc-xml":
            yield from _iter_bioc_xml(spec)
        else:
            yield from _iter_bioc_json(spec)
    except GZIP_ERRORS as err:  # lxml and json read bytes, not lines: the file is named, the line is not known
        raise InputError(f"{spec}: {gzip_problem(err)}") from None


def _iter_bioc_xml(spec: str) -> Iterator[tuple[str, Any]]:
    from bioc.biocxml import BioCXMLDocumentReader
    from lxml import etree

    with open_binary(spec) as handle:
        try:
            for number, doc in enumerate(BioCXMLDocumentReader(handle), 1):
                yield f"{spec}, document {number}", doc
        except etree.XMLSyntaxError as err:
            raise InputError(f"{spec}, line {err.lineno}: invalid BioC XML ({err.msg})") from None


def _iter_bioc_json(spec: str) -> Iterator[tuple[str, Any] | Problem]:
    from bioc.biocjson.decoder import parse_collection, parse_doc

    if _is_json_lines(spec):  # BioC JSON lines: one document object per line, streamed
        for number, line in _decoded_lines(spec):
            source = f"{spec}, line {number}"
            if isinstance(line, Problem) or not line.strip():
                if isinstance(line, Problem):
                    yield line
                continue
            try:
                doc = parse_doc(json.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
                yield Problem(source, f"not a BioC JSON document ({type(err).__name__}: {err})")
                continue
            yield source, doc
        return
    with open_binary(spec) as raw:  # one collection: JSON has no streaming parser in the standard library
        try:
            obj = json.load(io.TextIOWrapper(raw, encoding="utf-8-sig"))
        except json.JSONDecodeError as err:
            raise InputError(f"{spec}, line {err.lineno}: invalid JSON ({err.msg})") from None
        except UnicodeDecodeError as err:
            raise InputError(f"{spec}: not UTF-8 ({err.reason})") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("documents"), list):
        raise InputError(f"{spec}: not a BioC JSON collection (an object with 'documents')")
    try:
        documents = parse_collection(obj).documents
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise InputError(f"{spec}: not a BioC JSON collection ({type(err).__name__}: {err})") from None
    for number, doc in enumerate(documents, 1):
        yield f"{spec}, document {number}", doc


def _read_bioc(spec: str, columns: Columns, fmt: str) -> Iterator[Item]:
    for item in iter_bioc_documents(spec, fmt):
        yield item if isinstance(item, Problem) else _bioc_document(item[1], item[0], columns)


def read_bioc_xml(spec: str, columns: Columns = Columns()) -> Iterator[Item]:
    return _read_bioc(spec, columns, "bioc-xml")


def read_bioc_json(spec: str, columns: Columns = Columns()) -> Iterator[Item]:
    return _read_bioc(spec, columns, "bioc-json")


def _is_json_lines(spec: str) -> bool:
    """Whether the first non-blank line is a whole JSON object other than a collection."""
    with open_binary(spec) as handle:
        for raw in handle:
            line = raw.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                return False
            return isinstance(obj, dict) and "documents" not in obj
    return False


# ---- tables ----------------------------------------------------------------------------------------------
def _rows(rows: Iterator[Mapping[str, Any]], spec: str, columns: Columns) -> Iterator[Item]:
    for number, row in enumerate(rows, 1):
        yield document_from_row(row, f"{spec}, row {number}", str(number), columns)


def read_parquet(spec: str, columns: Columns = Columns()) -> Iterator[Item]:
    import pyarrow.parquet as pq

    import pyarrow as pa

    path = Path(spec)
    files = sorted(path.glob("**/*.parquet")) if path.is_dir() else [path]
    for file in files:
        try:
            parquet = pq.ParquetFile(file)
            def rows() -> Iterator[Mapping[str, Any]]:
                for batch in parquet.iter_batches(batch_size=1024):
                    yield from batch.to_pylist()
            yield from _rows(rows(), str(file), columns)
        except pa.ArrowException as err:  # a file cut short or overwritten: pyarrow's message names no file
            raise InputError(f"{file}: not a readable Parquet file ({str(err).strip().splitlines()[0]})") from None


def read_dataset(spec: str, columns: Columns = Columns()) -> Iterator[Item]:
    import pyarrow as pa
    from datasets import DatasetDict, load_from_disk

    try:
        dataset = load_from_disk(spec)
    except (OSError, ValueError, pa.ArrowException) as err:  # a damaged or partly deleted save_to_disk folder
        raise InputError(f"{spec}: cannot load the saved dataset ({type(err).__name__}: "
                         f"{(str(err).strip().splitlines() or [''])[0]})") from None
    if isinstance(dataset, DatasetDict):
        if columns.split not in dataset:
            raise InputError(f"{spec}: no split {columns.split!r} (splits: {', '.join(dataset)}); pass --split")
        dataset = dataset[columns.split]
    yield from _rows(iter(dataset), spec, columns)


def read_hub(spec: str, columns: Columns = Columns()) -> Iterator[Item]:
    from datasets import load_dataset

    try:
        dataset = load_dataset(spec, split=columns.split, streaming=True)
    except Exception as err:  # offline, no such repo, no such split: one line, naming the dataset
        raise InputError(f"{spec}: cannot load the Hub dataset (split {columns.split!r}): {type(err).__name__}: {err}") from None
    yield from _rows(iter(dataset), f"{spec}[{columns.split}]", columns)


READERS = {
    "pubtator": read_pubtator,
    "bioc-xml": read_bioc_xml,
    "bioc-json": read_bioc_json,
    "jsonl": read_jsonl,
    "text": read_text,
    "parquet": read_parquet,
    "dataset": read_dataset,
    "hub": read_hub,
}
