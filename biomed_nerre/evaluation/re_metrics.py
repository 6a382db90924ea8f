"""Document-level relation extraction metrics on (pmid, label, head id, tail id) tuples.

Both modes work on sets: a tuple predicted twice counts once, and a pair with two labels is two tuples.

``gold`` mode (the model was given the gold entities, so its head/tail ids are gold entity ids):
    TP = |predicted tuples ∩ gold tuples|, P = TP / |predicted|, R = TP / |gold|.

``end2end`` mode (the model found its own entities, ids "E0", "E1", ... that mean nothing to the gold):
    1. Predicted and gold entities of a document are *matched one to one*. A pair can match only if they
       share a mention span: some mention of the predicted entity has exactly the (start, end, type) of
       some mention of the gold entity. Among such pairs, the matching maximises the total number of
       shared mention spans (an optimal assignment); ties go to the pairing first in the documents' entity
       order. Every entity, predicted or gold, is in at most one pair.
    2. A predicted tuple (pmid, label, h, t) is *correct* when h and t are matched to gold entities H and T
       and the gold tuple (pmid, label, H, T) exists. Precision = correct predicted tuples / predicted
       tuples; recall = gold tuples found / gold tuples.
    Because the matching is one to one, a correct predicted tuple finds exactly one gold tuple and no gold
    tuple is found twice: ``tp_pred == tp_gold``. A gold entity the model split into k predicted entities
    is matched to one of them (the one sharing most spans), so relations predicted for the other k - 1
    count as wrong, and an entity that merged two gold entities stands for one of them only. (An earlier
    version let one shared span match any pair, so a split gold entity earned k true positives for one
    gold tuple; that count rewarded over-splitting and is gone.) Micro scores sum the counts over
    documents and labels.

Undefined ratios are 0.0 (see ``biomed_nerre.evaluation.counts``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from .counts import prf

MODES = ("gold", "end2end")

RelationKey = tuple[str, str, str]  # (label, head id, tail id) inside one document
SpanKey = tuple[int, int, str]  # (start, end, type)


def relation_keys(relations: Iterable[Mapping], where: str = "") -> set[RelationKey]:
    """The set of (label, head, tail) of a document's relations (extra keys such as "score" are ignored)."""
    keys: set[RelationKey] = set()
    for i, rel in enumerate(relations):
        try:
            keys.add((str(rel["label"]), str(rel["head"]), str(rel["tail"])))
        except KeyError as err:
            raise ValueError(f"{where}relation {i} has no {err.args[0]!r} field: {dict(rel)!r}") from None
    return keys


def entity_span_keys(document: Mapping, where: str = "") -> dict[str, set[SpanKey]]:
    """Map each entity id of a document (gold or predicted) to the (start, end, type) of its mentions."""
    mentions = document["mentions"]
    out: dict[str, set[SpanKey]] = defaultdict(set)
    for entity in document["entities"]:
        for index in entity["mention_indices"]:
            if not 0 <= index < len(mentions):
                raise ValueError(f"{where}entity {entity['id']!r} points at mention {index}, "
                                 f"but the document has {len(mentions)} mentions")
            m = mentions[index]
            out[str(entity["id"])].add((int(m["start"]), int(m["end"]), str(m["type"])))
    return out


def shared_span_counts(gold_document: Mapping, predicted_document: Mapping,
                       where: str = "") -> dict[tuple[str, str], int]:
    """{(predicted id, gold id): number of mention spans (start, end, type) the two entities share}, for the
    pairs that share at least one: the candidates of the one-to-one matching."""
    gold_spans = entity_span_keys(gold_document, where + "gold ")
    counts: dict[tuple[str, str], int] = {}
    for pred_id, spans in entity_span_keys(predicted_document, where + "predicted ").items():
        for gold_id, gold in gold_spans.items():
            shared = len(spans & gold)
            if shared:
                counts[(pred_id, gold_id)] = shared
    return counts


def match_entities(gold_document: Mapping, predicted_document: Mapping, where: str = "") -> dict[str, str]:
    """The one-to-one matching of rule 1 (module docstring): {predicted entity id: gold entity id}, for the
    predicted entities that are matched."""
    from scipy.optimize import linear_sum_assignment

    counts = shared_span_counts(gold_document, predicted_document, where)
    if not counts:
        return {}
    # rows and columns in the documents' entity order, which decides between equally good matchings
    predicted = list(dict.fromkeys(pred_id for pred_id, _ in counts))
    candidates = {gold_id for _, gold_id in counts}
    gold = [gid for gid in dict.fromkeys(str(e["id"]) for e in gold_document["entities"]) if gid in candidates]
    weights = [[counts.get((p, g), 0) for g in gold] for p in predicted]
    rows, columns = linear_sum_assignment(weights, maximize=True)
    return {predicted[r]: gold[c] for r, c in zip(rows, columns) if weights[r][c] > 0}


def _document_counts(gold_doc: Mapping, pred_doc: Mapping, mode: str, where: str) -> dict[str, list[int]]:
    """Per label: [tp_pred, n_pred, tp_gold, n_gold] for one document."""
    gold = relation_keys(gold_doc["relations"], where + "gold ")
    predicted = relation_keys(pred_doc["relations"], where + "predicted ")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for label, _, _ in gold:
        counts[label][3] += 1
    if mode == "gold":
        for label, head, tail in predicted:
            counts[label][1] += 1
            if (label, head, tail) in gold:
                counts[label][0] += 1
                counts[label][2] += 1
        return counts
    matches = match_entities(gold_doc, pred_doc, where)
    predicted_ids = {str(entity["id"]) for entity in pred_doc["entities"]}
    for label, head, tail in predicted:
        for entity_id in (head, tail):
            if entity_id not in predicted_ids:
                raise ValueError(f"{where}predicted relation {(label, head, tail)!r} names entity "
                                 f"{entity_id!r}, which is not among the predicted entities")
        counts[label][1] += 1
        if head in matches and tail in matches and (label, matches[head], matches[tail]) in gold:
            counts[label][0] += 1  # the matching is one to one: this finds one gold tuple, found by no other
            counts[label][2] += 1
    return counts


def relation_scores(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping], mode: str,
                    labels: Sequence[str] = ()) -> dict:
    """Document-level relation P/R/F1, micro and per label.

    ``gold_documents`` follow the ``documents`` schema; ``predictions`` are ``model.extract`` outputs in the
    same order (mentions, entities, relations). ``labels`` are always reported, even with no support; labels
    met only in the data are added. Returns ``{"mode", "micro": {...}, "per_label": {label: {...}}}`` where
    each score dict holds precision, recall, f1, tp_pred, tp_gold, n_pred, n_gold.
    """
    if mode not in MODES:
        raise ValueError(f"unknown relation evaluation mode {mode!r}; expected one of {MODES}")
    if len(gold_documents) != len(predictions):
        raise ValueError(f"{len(gold_documents)} gold documents but {len(predictions)} predictions")
    totals: dict[str, list[int]] = {label: [0, 0, 0, 0] for label in labels}
    for i, (gold_doc, pred_doc) in enumerate(zip(gold_documents, predictions)):
        where = f"document {i} (pmid {gold_doc.get('pmid', '?')}): "
        for label, c in _document_counts(gold_doc, pred_doc, mode, where).items():
            totals.setdefault(label, [0, 0, 0, 0])
            totals[label] = [a + b for a, b in zip(totals[label], c)]
    micro = [sum(c[k] for c in totals.values()) for k in range(4)]
    order = list(dict.fromkeys(labels)) + sorted(set(totals) - set(labels))
    return {"mode": mode, "micro": prf(*micro), "per_label": {label: prf(*totals[label]) for label in order}}
