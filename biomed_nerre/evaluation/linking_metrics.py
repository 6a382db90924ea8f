"""Concept-id metrics, the BioCreative V CDR way.

- Linking on gold mentions (`score_linking`): accuracy@1 per type over the gold mentions that have ids (a
  mention is right when its predicted id set equals its gold id set, so a composite mention needs all its
  ids), the share of those mentions left NIL, and the document-level id F1 below computed from these links.
- Concept ids from raw text (`concept_id_scores`): per document, the set of unique (type, id) predicted
  against the set of gold (type, id); micro P/R/F1 per type. Gold `-1` / `-` ids are not counted, NIL
  predictions are not counted.
- Relations on ids (`relation_id_scores`): the set of (PMID, label, head id, tail id) predicted against gold,
  micro and per label; a relation with a NIL end is not counted.

Ids are compared as CURIEs (`MESH:D002945`): corpus ids are converted with `to_curie`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Mapping, Sequence

from modeling.linking_joint_ner_re import LinkResult
from modeling.outputs_joint_ner_re import to_curie
from modeling.outputs_joint_ner_re import UNLINKED_RAW_IDS

from .counts import prf


def gold_mention_ids(mention: Mapping[str, Any]) -> tuple[str, ...] | None:
    """A gold mention's ids as CURIEs, or None when any of them is unlinked (`-1`)."""
    ids = list(mention["ids"])
    if not ids or any(i in UNLINKED_RAW_IDS for i in ids):
        return None
    return tuple(sorted({to_curie(i, mention["type"]) for i in ids}))


def gold_concepts(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (type, CURIE) set of a gold document's linked mentions (each id of a composite mention)."""
    found = set()
    for mention in document["mentions"]:
        for raw in mention["ids"]:
            if raw not in UNLINKED_RAW_IDS:
                found.add((mention["type"], to_curie(raw, mention["type"])))
    return found


def _set_scores(gold: Iterable[set], predicted: Iterable[set], key_type) -> dict[str, Any]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for g, p in zip(gold, predicted):
        for item in g | p:
            counts = totals[key_type(item)]
            counts[0] += item in g and item in p
            counts[1] += item in p
            counts[2] += item in g
    all_tp, all_pred, all_gold = (sum(c[i] for c in totals.values()) for i in range(3))
    # set matching: a true positive counts on both sides (precision and recall)
    return {"micro": prf(all_tp, all_pred, all_tp, all_gold),
            "per_type": {k: prf(tp, n_pred, tp, n_gold) for k, (tp, n_pred, n_gold) in sorted(totals.items())}}


def score_linking(gold_documents: Sequence[Mapping[str, Any]], links: Sequence[Sequence[LinkResult]]) -> dict[str, Any]:
    """Accuracy@1 per type, NIL rate and document-level id F1 of links for the documents' gold mentions."""
    right: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    nil = 0
    gold_sets, predicted_sets = [], []
    for document, doc_links in zip(gold_documents, links, strict=True):
        mentions = document["mentions"]
        if len(doc_links) != len(mentions):
            raise ValueError(f"document {document['pmid']}: {len(doc_links)} links for {len(mentions)} mentions")
        predicted = set()
        for mention, link in zip(mentions, doc_links):
            predicted.update((mention["type"], i) for i in link.ids)
            gold = gold_mention_ids(mention)
            if gold is None:
                continue
            total[mention["type"]] += 1
            right[mention["type"]] += tuple(sorted(set(link.ids))) == gold
            nil += link.is_nil
        gold_sets.append(gold_concepts(document))
        predicted_sets.append(predicted)
    ids = _set_scores(gold_sets, predicted_sets, lambda item: item[0])
    out: dict[str, Any] = {
        "accuracy": sum(right.values()) / max(sum(total.values()), 1),
        "nil_rate": nil / max(sum(total.values()), 1),
        "mentions": dict(total),
        "id_f1": ids["micro"]["f1"],
    }
    for entity_type in sorted(total):
        out[f"accuracy_{entity_type}"] = right[entity_type] / total[entity_type]
        out[f"id_f1_{entity_type}"] = ids["per_type"].get(entity_type, prf(0, 0, 0, 0))["f1"]
    return out


def predicted_concepts(result: Mapping[str, Any]) -> set[tuple[str, str]]:
    """The (type, CURIE) set of one end-to-end result: its linked entities (NIL and `E<n>` ids excluded)."""
    return {(e["type"], e["id"]) for e in result["entities"] if _is_concept(e["id"])}


def _is_concept(entity_id: str) -> bool:
    prefix, sep, _ = entity_id.partition(":")
    return bool(sep) and prefix in ("MESH", "NCBIGene", "OMIM")


def concept_id_scores(gold_documents: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Concept-id P/R/F1 from raw text, micro and per type (module docstring)."""
    _check_aligned(gold_documents, results)
    return _set_scores(
        [gold_concepts(d) for d in gold_documents], [predicted_concepts(r) for r in results], lambda item: item[0]
    )


def gold_relation_ids(document: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """(label, head CURIE, tail CURIE) of a gold document's relations."""
    type_of = {e["id"]: e["type"] for e in document["entities"]}
    return {
        (r["label"], to_curie(r["head"], type_of[r["head"]]), to_curie(r["tail"], type_of[r["tail"]]))
        for r in document["relations"]
    }


def relation_id_scores(gold_documents: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """End-to-end relation P/R/F1 on (PMID, label, head id, tail id), micro and per label."""
    _check_aligned(gold_documents, results)
    predicted = [
        {(r["label"], r["head"], r["tail"]) for r in result["relations"] if _is_concept(r["head"]) and _is_concept(r["tail"])}
        for result in results
    ]
    scores = _set_scores([gold_relation_ids(d) for d in gold_documents], predicted, lambda item: item[0])
    return {"micro": scores["micro"], "per_label": scores["per_type"]}


def _check_aligned(gold_documents: Sequence[Mapping[str, Any]], results: Sequence[Mapping[str, Any]]) -> None:
    if len(gold_documents) != len(results):
        raise ValueError(f"{len(results)} results for {len(gold_documents)} documents")
    for document, result in zip(gold_documents, results):
        if str(document["pmid"]) != str(result["pmid"]):
            raise ValueError(f"results out of order: {result['pmid']} where {document['pmid']} was expected")
