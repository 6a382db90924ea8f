"""Streaming writers of prediction results: JSONL, PubTator, BioC XML, BioC JSON, Parquet.

Each writer takes `(document, result)` pairs one at a time (`document`: a `Document.to_json()` dict,
`result`: a `DocumentResult`, the result contract) and holds at most one Parquet row group in memory. A name ending in
`.gz` is gzip-compressed (not for Parquet, which compresses its columns itself).

- `jsonl`: one result per line: `pmid`, `mentions` (`start`, `end`, `text`, `type`, `ids`, `link_score`),
  `entities` (`id`, `type`, `mention_indices`), `relations` (`label`, `head`, `tail`, `score`).
- `pubtator`: the project's one PubTator writer (`loaders.pubtator`) over `corpus_ids.pubtator_document`: title
  and abstract lines, one line per mention (ids in the corpus form) and one per relation between concept ids
  (`PMID<TAB>label<TAB>head<TAB>tail`, no score: the strict reader takes 4 fields). A text without a
  title/abstract split is written as the title with an empty abstract. Tabs and line breaks, which PubTator lines
  cannot hold, are written as spaces (same length: offsets are unchanged).
- `bioc-xml`, `bioc-json`: a collection; per document a title and an abstract passage (or one passage),
  annotations with document offsets and infons `type`, `identifier` (ids joined with ";", absent when
  unlinked), `entity` (the entity ids), `link_score`; relations with infons `type` (label), `head`, `tail`
  (entity ids), `score`, and nodes pointing at the mentions of both entities (roles `head`, `tail`).
- `parquet`: the JSONL columns, loadable with `datasets.load_dataset("parquet", data_files=...)`.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any, Mapping, TextIO

from loaders.pubtator import PubTatorWriter as RawPubTatorWriter

from .corpus_ids import pubtator_document

OUTPUT_FORMATS = ("jsonl", "pubtator", "bioc-xml", "bioc-json", "parquet")
_SUFFIXES = {".jsonl": "jsonl", ".parquet": "parquet", ".xml": "bioc-xml", ".json": "bioc-json",
             ".pubtator": "pubtator", ".txt": "pubtator"}
PARQUET_ROWS_PER_GROUP = 1000


def output_format_for(path: str | Path) -> str:
    """The output format from the file name (`.gz` looked through); ValueError if it says none."""
    name = Path(path).name.lower().removesuffix(".gz")
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise ValueError(f"{path}: cannot tell the output format from the name; pass --format ({', '.join(OUTPUT_FORMATS)})")


def _open_text(path: Path, gz: bool) -> TextIO:
    if gz:
        return io.TextIOWrapper(gzip.open(path, "wb"), encoding="utf-8", newline="\n")
    return open(path, "w", encoding="utf-8", newline="\n")


class JsonlWriter:
    def __init__(self, path: Path, gz: bool = False, **_: Any) -> None:
        self.handle = _open_text(path, gz)

    def write(self, document: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        self.handle.write(json.dumps(result, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.handle.close()


class PubTatorWriter:
    def __init__(self, path: Path, gz: bool = False, id_style: str = "bc5cdr", **_: Any) -> None:
        self.writer = RawPubTatorWriter(path, gz=gz)
        self.id_style = id_style

    def write(self, document: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        title, abstract = document.get("title"), document.get("abstract")
        if title is None or abstract is None:
            title, abstract = document["text"], ""
        self.writer.write(pubtator_document(result["pmid"], title, abstract, result, self.id_style))

    def close(self) -> None:
        self.writer.close()


def bioc_document(document: Mapping[str, Any], result: Mapping[str, Any]) -> Any:
    """A `bioc.BioCDocument` holding the document's text and its predictions."""
    from bioc import BioCAnnotation, BioCDocument, BioCLocation, BioCNode, BioCPassage, BioCRelation

    doc = BioCDocument()
    doc.id = result["pmid"]
    title, abstract = document.get("title"), document.get("abstract")
    parts = [("title", 0, title), ("abstract", len(title) + 1, abstract)] if title is not None and abstract is not None \
        else [("text", 0, document["text"])]
    passages = []
    for kind, offset, text in parts:
        passage = BioCPassage()
        passage.infons["type"] = kind
        passage.offset = offset
        passage.text = text
        passages.append(passage)
        doc.add_passage(passage)
    entities_of: dict[int, list[str]] = {}
    for entity in result["entities"]:
        for i in entity["mention_indices"]:
            entities_of.setdefault(i, []).append(entity["id"])
    for i, m in enumerate(result["mentions"]):
        annotation = BioCAnnotation()
        annotation.id = str(i)
        annotation.text = m["text"]
        annotation.infons["type"] = m["type"]
        if m["ids"]:
            annotation.infons["identifier"] = ";".join(m["ids"])
        annotation.infons["entity"] = ";".join(entities_of.get(i, []))
        if m["link_score"] is not None:
            annotation.infons["link_score"] = repr(m["link_score"])
        annotation.add_location(BioCLocation(m["start"], m["end"] - m["start"]))
        # the passage holding the mention's start (the last one starting at or before it)
        holder = next(p for p in reversed(passages) if p.offset <= m["start"])
        holder.add_annotation(annotation)
    mentions_of = {e["id"]: e["mention_indices"] for e in result["entities"]}
    for k, r in enumerate(result["relations"]):
        relation = BioCRelation()
        relation.id = f"R{k}"
        relation.infons.update({"type": r["label"], "head": r["head"], "tail": r["tail"], "score": repr(r["score"])})
        for role in ("head", "tail"):
            for i in mentions_of.get(r[role], []):
                relation.add_node(BioCNode(str(i), role))
        doc.add_relation(relation)
    return doc


class BiocXmlWriter:
    def __init__(self, path: Path, gz: bool = False, source: str = "", **_: Any) -> None:
        from bioc import BioCCollection
        from bioc.biocxml import BioCXMLDocumentWriter

        self.raw = gzip.open(path, "wb") if gz else open(path, "wb")
        self.writer = BioCXMLDocumentWriter(self.raw)
        collection = BioCCollection()
        collection.source, collection.key = source, "predictions.key"
        self.writer.write_collection_info(collection)

    def write(self, document: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        self.writer.write_document(bioc_document(document, result))

    def close(self) -> None:
        self.writer.close()
        self.raw.close()


class BiocJsonWriter:
    """A BioC JSON collection written document by document (the `documents` list is streamed)."""

    def __init__(self, path: Path, gz: bool = False, source: str = "", **_: Any) -> None:
        self.handle = _open_text(path, gz)
        head = json.dumps({"source": source, "date": "", "key": "predictions.key", "infons": {}})
        self.handle.write(head[:-1] + ', "documents": [\n')
        self.first = True

    def write(self, document: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        from bioc import biocjson

        self.handle.write(("" if self.first else ",\n") + biocjson.dumps(bioc_document(document, result)))
        self.first = False

    def close(self) -> None:
        self.handle.write("\n]}\n")
        self.handle.close()


def parquet_schema() -> Any:
    import pyarrow as pa

    mention = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("text", pa.string()), ("type", pa.string()),
                         ("ids", pa.list_(pa.string())), ("link_score", pa.float64())])
    entity = pa.struct([("id", pa.string()), ("type", pa.string()), ("mention_indices", pa.list_(pa.int64()))])
    relation = pa.struct([("label", pa.string()), ("head", pa.string()), ("tail", pa.string()), ("score", pa.float64())])
    return pa.schema([("pmid", pa.string()), ("mentions", pa.list_(mention)), ("entities", pa.list_(entity)),
                      ("relations", pa.list_(relation))])


class ParquetWriter:
    def __init__(self, path: Path, gz: bool = False, **_: Any) -> None:
        import pyarrow.parquet as pq

        if gz:
            raise ValueError(f"{path}: Parquet compresses its columns itself; drop the .gz")
        self.schema = parquet_schema()
        self.writer = pq.ParquetWriter(path, self.schema)
        self.rows: list[Mapping[str, Any]] = []

    def write(self, document: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        self.rows.append(result)
        if len(self.rows) >= PARQUET_ROWS_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self._flush()
        self.writer.close()


WRITERS = {"jsonl": JsonlWriter, "pubtator": PubTatorWriter, "bioc-xml": BiocXmlWriter, "bioc-json": BiocJsonWriter,
           "parquet": ParquetWriter}


def open_writer(path: str | Path, fmt: str, *, gz: bool | None = None, id_style: str = "bc5cdr", source: str = "") -> Any:
    """A writer of `fmt` to `path` (gzip when `gz`, by default when the name ends in .gz)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown output format {fmt!r} (expected one of {', '.join(OUTPUT_FORMATS)})")
    path = Path(path)
    gz = path.name.lower().endswith(".gz") if gz is None else gz
    return WRITERS[fmt](path, gz=gz, id_style=id_style, source=source)
