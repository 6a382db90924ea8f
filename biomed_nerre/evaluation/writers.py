"""Prediction and metrics files: PubTator and BioC (both readable by the BioCreative V CDR evaluation kit), the
ChemDisGene relationships TSV (PubTator and TSV through `loaders.pubtator`, the one writer of those formats; BioC
through `prediction.writers`, the one BioC writer), and metrics JSON. Every file is written to a temporary name and renamed, so an interrupted run never leaves a truncated file
under the final name."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from biomed_nerre.prediction.corpus_ids import pubtator_document, relation_rows
from biomed_nerre.prediction.writers import open_writer
from loaders import pubtator

logger = logging.getLogger(__name__)


def _atomic_write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _check_count(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping]) -> None:
    if len(gold_documents) != len(predictions):
        raise ValueError(f"{len(gold_documents)} gold documents but {len(predictions)} predictions")


def write_pubtator(path: str | Path, gold_documents: Sequence[Mapping], predictions: Sequence[Mapping],
                   with_relations: bool = True, id_style: str = "bc5cdr") -> Path:
    """The predictions as a PubTator file (the project's one writer, `loaders.pubtator`): per document the gold
    title and abstract, one line per predicted mention with its ids in the corpus's form (`id_style`: "bc5cdr" or
    "chem_dis_gene"; `-1` / `-` when it has none) and, if `with_relations`, one line per distinct relation between
    concept ids (`PMID<TAB>CID<TAB>chemical<TAB>disease` for BC5CDR). Gold documents and predictions pair up in
    order."""
    _check_count(gold_documents, predictions)
    documents = (
        pubtator_document(str(doc["pmid"]), doc["title"], doc["abstract"], pred, id_style, with_relations)
        for doc, pred in zip(gold_documents, predictions)
    )
    return pubtator.write_pubtator(path, documents)


def write_bioc(path: str | Path, gold_documents: Sequence[Mapping], predictions: Sequence[Mapping],
               layout: str = "bc5cdr") -> Path:
    """The predictions as a BioC XML file in `layout` (`prediction.bioc_layout`; "bc5cdr": the corpus's own, which
    the evaluation kit reads in BioC mode): per document the gold title and abstract passages, the predicted
    mentions as annotations, relations between concept ids. Holds what `write_pubtator` writes, in BioC."""
    _check_count(gold_documents, predictions)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    writer = open_writer(tmp, "bioc-xml", gz=path.name.lower().endswith(".gz"), source="biomed-nerre evaluate.py",
                         bioc_layout=layout)
    try:
        for doc, pred in zip(gold_documents, predictions):
            writer.write({"title": doc["title"], "abstract": doc["abstract"], "text": doc["text"]}, pred)
    finally:
        writer.close()
    os.replace(tmp, path)
    if writer.left_out:  # a mention over the title's end and the abstract's start: in the PubTator file only
        logger.warning("%s: left out %d mention(s) that cross the title/abstract boundary: %s", path,
                       len(writer.left_out), writer.left_out[:5])
    return path


def gold_results(documents: Sequence[Mapping]) -> list[dict]:
    """The gold annotations of ``documents`` rows as results (ids in the corpus's form, relation score 1.0), so that
    the prediction writers write the gold standard too: ``write_bioc(path, documents, gold_results(documents))``
    is the BC5CDR gold in the corpus's BioC layout, from its PubTator release."""
    return [
        {"pmid": str(doc["pmid"]),
         "mentions": [{"start": m["start"], "end": m["end"], "text": m["text"], "type": m["type"],
                       "ids": list(m["ids"]), "link_score": None} for m in doc["mentions"]],
         "entities": [dict(e) for e in doc["entities"]],
         "relations": [{"label": r["label"], "head": r["head"], "tail": r["tail"], "score": 1.0}
                       for r in doc["relations"]]}
        for doc in documents
    ]


def write_relationships_tsv(path: str | Path, gold_documents: Sequence[Mapping],
                            predictions: Sequence[Mapping]) -> Path:
    """ChemDisGene relationships TSV (no header): one ``PMID<TAB>label<TAB>head<TAB>tail`` line per distinct predicted
    relation between concept ids, documents in input order, rows sorted within a document."""
    _check_count(gold_documents, predictions)
    rows = ((str(doc["pmid"]), relation) for doc, pred in zip(gold_documents, predictions)
            for relation in relation_rows(pred, "chem_dis_gene"))
    return pubtator.write_relation_tsv(path, rows)


def write_metrics_json(path: str | Path, metrics: Mapping) -> Path:
    """Write metrics as indented JSON (fails on values JSON cannot hold, rather than stringifying them)."""
    return _atomic_write_text(Path(path), json.dumps(metrics, indent=2, allow_nan=False) + "\n")
