"""Prediction and metrics files: PubTator (readable by the BioCreative V CDR evaluation kit), the
ChemDisGene relationships TSV, and metrics JSON. Every file is written to a temporary name and renamed,
so an interrupted run never leaves a truncated file under the final name."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

UNLINKED_PREFIX = "UNLINKED:"
NIL_PREFIX = "NIL:"
CONCEPT_PREFIXES = ("MESH:", "NCBIGene:", "OMIM:")


def _atomic_write_text(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _check_field(value: str, what: str, where: str, forbidden: str = "\t\n\r") -> str:
    if any(ch in value for ch in forbidden):
        raise ValueError(f"{where}{what} {value!r} contains a tab or line break; it cannot be written "
                         "as one PubTator/TSV field")
    return value


def corpus_form(entity_id: str, id_style: str) -> str | None:
    """An entity id as the corpus writes it: a concept CURIE in the corpus's form (`MESH:D002945` -> `D002945`
    for BC5CDR; ChemDisGene keeps `MESH:` and writes genes as numbers); None for a NIL entity (no concept id to
    write); any other id (gold corpus ids, a model without a linker's `E<n>`) unchanged."""
    from modeling.linking_joint_ner_re import curie_to_corpus_id

    if entity_id.startswith(NIL_PREFIX):
        return None
    if entity_id.startswith(CONCEPT_PREFIXES):
        return curie_to_corpus_id(entity_id, id_style)
    return entity_id


def _relation_rows(pmid: str, relations: Iterable[Mapping], where: str,
                   id_style: str = "bc5cdr") -> list[tuple[str, str, str, str]]:
    """Distinct (pmid, label, head, tail) rows in the corpus's id form; relations with a NIL end are left out
    (they name no concept, and the official evaluation scores concept ids)."""
    rows = set()
    for r in relations:
        head, tail = corpus_form(str(r["head"]), id_style), corpus_form(str(r["tail"]), id_style)
        if head is None or tail is None:
            continue
        rows.add((pmid, _check_field(str(r["label"]), "label", where), _check_field(head, "head id", where),
                  _check_field(tail, "tail id", where)))
    return sorted(rows)


def _mention_ids(prediction: Mapping, id_style: str = "bc5cdr") -> dict[int, list[str]]:
    """Mention index -> ids to write: a linked mention's own `ids` in the corpus form (none: NIL, written -1);
    otherwise the ids of the entities holding it (unlinked gold ids are written as -1 instead)."""
    ids: dict[int, list[str]] = {}
    linked = set()
    for index, mention in enumerate(prediction.get("mentions", [])):
        if "ids" in mention:
            linked.add(index)
            written = [corpus_form(str(i), id_style) for i in mention["ids"]]
            ids[index] = [i for i in written if i]
    for entity in prediction.get("entities", []):
        if str(entity["id"]).startswith((UNLINKED_PREFIX, NIL_PREFIX)):
            continue
        for index in entity["mention_indices"]:
            if int(index) not in linked:
                ids.setdefault(int(index), []).append(str(entity["id"]))
    return {k: v for k, v in ids.items() if v}


def pubtator_text(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping],
                  with_relations: bool = True, id_style: str = "bc5cdr") -> str:
    """PubTator text of the predictions: per document the title and abstract lines, one line
    ``PMID\\tstart\\tend\\ttext\\ttype\\tid`` per predicted mention (id: the ids of the predicted entities that
    hold the mention joined by "|", or -1), then, if ``with_relations``, one line
    ``PMID\\tlabel\\thead\\ttail`` per distinct predicted relation (``PMID\\tCID\\tchemical\\tdisease`` for
    BC5CDR), then a blank line. Title/abstract come from the gold documents (same order as predictions).
    Linked predictions (mentions with `ids`, entities with CURIE ids) are written in the corpus's own id form
    (`id_style`: "bc5cdr" or "chem_dis_gene"); NIL mentions get -1 and relations with a NIL end are left out."""
    if len(gold_documents) != len(predictions):
        raise ValueError(f"{len(gold_documents)} gold documents but {len(predictions)} predictions")
    lines: list[str] = []
    for i, (doc, pred) in enumerate(zip(gold_documents, predictions)):
        pmid = str(doc["pmid"])
        where = f"document {i} (pmid {pmid}): "
        title = _check_field(doc["title"], "title", where, forbidden="\n\r")
        abstract = _check_field(doc["abstract"], "abstract", where, forbidden="\n\r")
        lines += [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
        text = doc["text"]
        ids = _mention_ids(pred, id_style)
        order = sorted(range(len(pred["mentions"])),
                       key=lambda k: (pred["mentions"][k]["start"], pred["mentions"][k]["end"]))
        for k in order:
            m = pred["mentions"][k]
            start, end = int(m["start"]), int(m["end"])
            if not 0 <= start < end <= len(text):
                raise ValueError(f"{where}predicted mention {k} span [{start}, {end}) is outside the text "
                                 f"(length {len(text)})")
            surface = _check_field(text[start:end], "mention text", where)
            etype = _check_field(str(m["type"]), "mention type", where)
            lines.append(f"{pmid}\t{start}\t{end}\t{surface}\t{etype}\t{'|'.join(ids.get(k, ['-1']))}")
        if with_relations:
            lines.extend("\t".join(row) for row in _relation_rows(pmid, pred["relations"], where, id_style))
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")


def write_pubtator(path: str | Path, gold_documents: Sequence[Mapping], predictions: Sequence[Mapping],
                   with_relations: bool = True, id_style: str = "bc5cdr") -> Path:
    """Write ``pubtator_text(...)`` to ``path``."""
    return _atomic_write_text(Path(path), pubtator_text(gold_documents, predictions, with_relations, id_style))


def relationships_tsv_text(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping]) -> str:
    """ChemDisGene relationships TSV (no header): one ``PMID\\tlabel\\thead\\ttail`` line per distinct
    predicted relation, documents in input order, rows sorted within a document."""
    if len(gold_documents) != len(predictions):
        raise ValueError(f"{len(gold_documents)} gold documents but {len(predictions)} predictions")
    lines = []
    for i, (doc, pred) in enumerate(zip(gold_documents, predictions)):
        where = f"document {i} (pmid {doc['pmid']}): "
        lines.extend("\t".join(row) for row in _relation_rows(str(doc["pmid"]), pred["relations"], where,
                                                              "chem_dis_gene"))
    return "".join(line + "\n" for line in lines)


def write_relationships_tsv(path: str | Path, gold_documents: Sequence[Mapping],
                            predictions: Sequence[Mapping]) -> Path:
    """Write ``relationships_tsv_text(...)`` to ``path``."""
    return _atomic_write_text(Path(path), relationships_tsv_text(gold_documents, predictions))


def write_metrics_json(path: str | Path, metrics: Mapping) -> Path:
    """Write metrics as indented JSON (fails on values JSON cannot hold, rather than stringifying them)."""
    return _atomic_write_text(Path(path), json.dumps(metrics, indent=2, allow_nan=False) + "\n")
