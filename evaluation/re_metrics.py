"""Document-level relation extraction metrics on (pmid, label, head id, tail id) tuples.

Both modes work on sets: a tuple predicted twice counts once, and a pair with two labels is two tuples.

``gold`` mode (the model was given the gold entities, so its head/tail ids are gold entity ids):
    TP = |predicted tuples ∩ gold tuples|, P = TP / |predicted|, R = TP / |gold|.

``end2end`` mode (the model found its own entities, ids "E0", "E1", ... that mean nothing to the gold):
    1. A predicted entity *matches* a gold entity of the same document when some mention of the predicted
       entity has exactly the (start, end, type) of some mention of the gold entity. One predicted entity
       can match several gold entities (it merged them, or it holds a composite mention that belongs to
       several gold entities) and several predicted entities can match one gold entity (the model split it).
    2. A predicted tuple (pmid, label, h, t) is *correct* when some gold tuple (pmid, label, H, T) exists
       with h matching H and t matching T. Precision = correct predicted tuples / predicted tuples.
    3. A gold tuple is *found* when at least one correct predicted tuple matches it; each gold tuple is
       found at most once. Recall = found gold tuples / gold tuples.
    So the precision numerator (``tp_pred``) and the recall numerator (``tp_gold``) can differ: a predicted
    tuple whose head merged two gold entities that both hold the relation counts once for precision and
    finds two gold tuples; a gold entity split into two predicted entities gives two correct predicted
    tuples that find one gold tuple. Micro scores sum the counts over documents and labels.

Undefined ratios are 0.0 (see ``evaluation.counts``).
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


def match_entities(gold_document: Mapping, predicted_document: Mapping, where: str = "") -> dict[str, set[str]]:
    """For each predicted entity id, the set of gold entity ids it matches (rule 1 in the module docstring)."""
    gold_by_span: dict[SpanKey, set[str]] = defaultdict(set)
    for gold_id, spans in entity_span_keys(gold_document, where + "gold ").items():
        for span in spans:
            gold_by_span[span].add(gold_id)
    matches: dict[str, set[str]] = {}
    for pred_id, spans in entity_span_keys(predicted_document, where + "predicted ").items():
        matches[pred_id] = set().union(*(gold_by_span.get(s, set()) for s in spans))
    return matches


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
    found: set[RelationKey] = set()
    for label, head, tail in predicted:
        for entity_id in (head, tail):
            if entity_id not in matches:
                raise ValueError(f"{where}predicted relation {(label, head, tail)!r} names entity "
                                 f"{entity_id!r}, which is not among the predicted entities")
        counts[label][1] += 1
        hits = {(label, g_head, g_tail) for g_head in matches[head] for g_tail in matches[tail]} & gold
        if hits:
            counts[label][0] += 1
            found |= hits
    for label, _, _ in found:
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
