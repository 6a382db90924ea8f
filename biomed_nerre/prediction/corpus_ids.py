"""Results in a corpus's own id form, as PubTator documents (`D009270`, `MESH:D009270`, `154`, NIL `-1` / `-`).

`pubtator_document` is the one conversion from the result contract to a PubTator document, used by every
PubTator file the project writes from predictions (`evaluate.py`, `predict.py`, the demo); `loaders.pubtator`
writes it.
"""

from __future__ import annotations

from typing import Any, Mapping

from loaders.pubtator import RawDocument, RawMention, RawRelation
from modeling.outputs_joint_ner_re import curie_to_corpus_id, is_nil_id

ID_STYLES = ("bc5cdr", "chem_dis_gene")
CONCEPT_PREFIXES = ("MESH:", "NCBIGene:", "OMIM:")


def corpus_id(entity_id: str, style: str) -> str | None:
    """An id as the corpus writes it: a concept CURIE in the corpus's form (`MESH:D002945` -> `D002945` for
    BC5CDR; ChemDisGene keeps `MESH:` and writes genes as numbers); None for a NIL id (it names no concept); an
    id already in a corpus's form (a gold id) unchanged."""
    if not entity_id or is_nil_id(entity_id):
        return None
    if entity_id.startswith(CONCEPT_PREFIXES):
        return curie_to_corpus_id(entity_id, style)
    return entity_id


def unlinked_marker(style: str) -> str:
    """What the corpus writes in a mention's id column when it has no concept id: `-1` (BC5CDR) or `-`."""
    return curie_to_corpus_id(None, style)


def mention_ids_field(ids: list[str], style: str) -> list[str]:
    """A mention's ids as its PubTator id column lists them: in the corpus form, or the unlinked marker."""
    written = [i for i in (corpus_id(str(i), style) for i in ids) if i]
    return written or [unlinked_marker(style)]


def relation_rows(result: Mapping[str, Any], style: str) -> list[RawRelation]:
    """A result's relations between concept ids, in the corpus form, distinct and sorted; a relation with a NIL
    end is left out (it names no concept; JSONL, Parquet and BioC keep it)."""
    rows = set()
    for r in result["relations"]:
        head, tail = corpus_id(str(r["head"]), style), corpus_id(str(r["tail"]), style)
        if head is not None and tail is not None:
            rows.add((str(r["label"]), head, tail))
    return [RawRelation(label, head, tail) for label, head, tail in sorted(rows)]


def pubtator_document(pmid: str, title: str, abstract: str, result: Mapping[str, Any], style: str,
                      with_relations: bool = True) -> RawDocument:
    """A `DocumentResult` (whose offsets index title + " " + abstract) as a PubTator document in the corpus's id
    form."""
    if style not in ID_STYLES:
        raise ValueError(f"unknown id style {style!r}; expected one of: {', '.join(ID_STYLES)}")
    mentions = [
        RawMention(int(m["start"]), int(m["end"]), str(m["text"]), str(m["type"]), mention_ids_field(m["ids"], style))
        for m in result["mentions"]
    ]
    relations = relation_rows(result, style) if with_relations else []
    return RawDocument(str(pmid), title, abstract, mentions, relations)


def default_id_style(entity_types: list[str]) -> str:
    """ChemDisGene's form for models with a Gene type, BC5CDR's otherwise."""
    return "chem_dis_gene" if "Gene" in entity_types else "bc5cdr"
