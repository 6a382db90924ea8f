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
- `bioc-xml`, `bioc-json`: a collection; per document the passages it was read with (BioC input), else a title
  and an abstract passage (or one `text` passage); each mention an annotation of the passage that holds it, with
  document offsets; relations at document level; ids and relations in infons of one of two layouts
  (`bioc_layout`: BC5CDR's own, or PubTator3's).
- `parquet`: the JSONL columns, loadable with `datasets.load_dataset("parquet", data_files=...)`.
"""

from __future__ import annotations

import bisect
import gzip
import io
import json
from pathlib import Path
from typing import Any, Mapping, TextIO

from loaders.pubtator import PubTatorWriter as RawPubTatorWriter
from modeling.outputs_joint_ner_re import passage_is_skipped

from .bioc_layout import BIOC_LAYOUTS, annotation_infons, relation_infons
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


def bioc_passages(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The passages a document is written back with: its own (BioC input: offsets, text and infons as read), else a
    title and an abstract passage, else one `text` passage."""
    if document.get("passages"):
        return [dict(p) for p in document["passages"]]
    title, abstract = document.get("title"), document.get("abstract")
    if title is not None and abstract is not None:
        return [{"offset": 0, "text": title, "infons": {"type": "title"}},
                {"offset": len(title) + 1, "text": abstract, "infons": {"type": "abstract"}}]
    return [{"offset": 0, "text": document["text"], "infons": {"type": "text"}}]


def holding_passage(passages: list[dict[str, Any]], starts: list[int], start: int, end: int) -> int | None:
    """The index of the tagged passage whose text holds [start, end) (BioC document offsets; `starts`: the passages'
    offsets, in order), or None when the span crosses a passage boundary (possible only where two passages touch
    with no character between them) or lies outside every tagged passage."""
    k = bisect.bisect_right(starts, start) - 1  # the last passage starting at or before the mention
    if k < 0:
        return None
    passage = passages[k]
    inside = end <= passage["offset"] + len(passage["text"]) and not passage_is_skipped(passage)
    return k if inside else None


def bioc_document(document: Mapping[str, Any], result: Mapping[str, Any], layout: str = "pubtator3",
                  left_out: list[tuple[str, int, int]] | None = None) -> Any:
    """A `bioc.BioCDocument` holding the document's passages and its predictions in `layout` (`bioc_layout`):
    each mention as an annotation of the passage that holds it (locations in document offsets), relations at
    document level. A mention that crosses a passage boundary has no passage to go in: it is left out and
    appended to `left_out` as (document id, start, end)."""
    from bioc import BioCAnnotation, BioCDocument, BioCLocation, BioCNode, BioCPassage, BioCRelation

    doc = BioCDocument()
    doc.id = result["pmid"]
    doc.infons.update(document.get("infons") or {})
    passages = bioc_passages(document)
    starts = [p["offset"] for p in passages]
    written = []
    for p in passages:
        passage = BioCPassage()
        passage.infons.update(p.get("infons") or {})
        passage.offset = p["offset"]
        passage.text = p["text"]
        written.append(passage)
        doc.add_passage(passage)
    entities_of: dict[int, list[str]] = {}
    for entity in result["entities"]:
        for i in entity["mention_indices"]:
            entities_of.setdefault(i, []).append(entity["id"])
    placed: set[int] = set()
    for i, m in enumerate(result["mentions"]):
        k = holding_passage(passages, starts, m["start"], m["end"])
        if k is None:
            if left_out is not None:
                left_out.append((str(result["pmid"]), int(m["start"]), int(m["end"])))
            continue
        annotation = BioCAnnotation()
        annotation.id = str(i)
        annotation.text = m["text"]
        annotation.infons.update(annotation_infons(m, entities_of.get(i, []), layout))
        annotation.add_location(BioCLocation(m["start"], m["end"] - m["start"]))
        written[k].add_annotation(annotation)
        placed.add(i)
    mentions_of: dict[str, list[int]] = {}  # an id with entities of two types (rare) names the mentions of both
    for entity in result["entities"]:
        mentions_of.setdefault(entity["id"], []).extend(entity["mention_indices"])
    seen: set[tuple[str, ...]] = set()
    for r in result["relations"]:
        infons = relation_infons(r, layout)
        key = tuple(v for k, v in sorted(infons.items()) if k != "score") if infons else ()
        if infons is None or key in seen:  # bc5cdr: one row per pair of concept ids, as in the corpus
            continue
        seen.add(key)
        relation = BioCRelation()
        relation.id = f"R{len(seen) - 1}"
        relation.infons.update(infons)
        if layout == "pubtator3":
            for role in ("head", "tail"):
                for i in mentions_of.get(r[role], []):
                    if i in placed:
                        relation.add_node(BioCNode(str(i), role))
        doc.add_relation(relation)
    return doc


class BiocXmlWriter:
    def __init__(self, path: Path, gz: bool = False, source: str = "", bioc_layout: str = "pubtator3", **_: Any) -> None:
        from bioc import BioCCollection
        from bioc.biocxml import BioCXMLDocumentWriter

        self.layout = bioc_layout
        self.left_out: list[tuple[str, int, int]] = []
        self.raw = gzip.open(path, "wb") if gz else open(path, "wb")
        self.writer = BioCXMLDocumentWriter(self.raw)
        collection = BioCCollection()
        collection.source, collection.key = source, "predictions.key"
        self.writer.write_collection_info(collection)

    def write(self, document: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        self.writer.write_document(bioc_document(document, result, self.layout, self.left_out))

    def close(self) -> None:
        self.writer.close()
        self.raw.close()


class BiocJsonWriter:
    """A BioC JSON collection written document by document (the `documents` list is streamed)."""

    def __init__(self, path: Path, gz: bool = False, source: str = "", bioc_layout: str = "pubtator3", **_: Any) -> None:
        self.layout = bioc_layout
        self.left_out: list[tuple[str, int, int]] = []
        self.handle = _open_text(path, gz)
        head = json.dumps({"source": source, "date": "", "key": "predictions.key", "infons": {}})
        self.handle.write(head[:-1] + ', "documents": [\n')
        self.first = True

    def write(self, document: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        from bioc import biocjson

        doc = bioc_document(document, result, self.layout, self.left_out)
        self.handle.write(("" if self.first else ",\n") + biocjson.dumps(doc))
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


def open_writer(path: str | Path, fmt: str, *, gz: bool | None = None, id_style: str = "bc5cdr", source: str = "",
                bioc_layout: str = "pubtator3") -> Any:
    """A writer of `fmt` to `path` (gzip when `gz`, by default when the name ends in .gz). BioC writers collect the
    mentions they could not place in a passage in `left_out` (see `bioc_document`)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown output format {fmt!r} (expected one of {', '.join(OUTPUT_FORMATS)})")
    if bioc_layout not in BIOC_LAYOUTS:
        raise ValueError(f"unknown BioC layout {bioc_layout!r}; expected one of: {', '.join(BIOC_LAYOUTS)}")
    path = Path(path)
    gz = path.name.lower().endswith(".gz") if gz is None else gz
    return WRITERS[fmt](path, gz=gz, id_style=id_style, source=source, bioc_layout=bioc_layout)
