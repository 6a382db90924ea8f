"""NER metrics: seqeval strict IOB2 on a shared word tokenization, and exact character-span mention F1.

* ``seqeval_scores``: entity-level P/R/F1 from ``seqeval`` (``mode="strict"``, ``scheme=IOB2``), micro and
  per type, over word-level BIO sequences. ``bio_tag_sequences`` builds those sequences for gold and
  predicted mentions with the same encoder (``loaders.words``), so both go through the same overlap rule;
  the mentions that the BIO view cannot hold (overlaps) are counted and reported, never silently lost.
* ``mention_scores``: a mention is the tuple (pmid, start, end, type); P/R/F1 on the sets of gold and
  predicted tuples (a duplicated mention counts once), micro and per type. This is the BioCreative V
  "mention" measure and it sees overlapping mentions that the BIO view cannot.
* ``span_confusion``: a type confusion matrix from exact span matching, with an "O" row (predicted spans
  with no gold mention) and an "O" column (gold spans the model missed).

Undefined ratios are 0.0 (see ``biomed_nerre.evaluation.counts``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from .counts import prf

OUTSIDE = "O"

SpanKey = tuple[int, int, str]  # (start, end, type) inside one document


def _check_aligned(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping]) -> None:
    if len(gold_documents) != len(predictions):
        raise ValueError(f"{len(gold_documents)} gold documents but {len(predictions)} predictions")


def mention_keys(mentions: Iterable[Mapping], where: str = "") -> set[SpanKey]:
    """The set of (start, end, type) of a document's mentions; rejects spans that are empty or reversed."""
    keys: set[SpanKey] = set()
    for i, m in enumerate(mentions):
        try:
            start, end, etype = int(m["start"]), int(m["end"]), str(m["type"])
        except KeyError as err:
            raise ValueError(f"{where}mention {i} has no {err.args[0]!r} field: {dict(m)!r}") from None
        if not 0 <= start < end:
            raise ValueError(f"{where}mention {i} has an empty or reversed span [{start}, {end})")
        keys.add((start, end, etype))
    return keys


def mention_scores(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping],
                   entity_types: Sequence[str] = ()) -> dict:
    """Exact-span-and-type mention P/R/F1: ``{"micro": {...}, "per_type": {type: {...}}}``.

    ``entity_types`` are always reported (zeros when absent); types met only in the data are added.
    """
    _check_aligned(gold_documents, predictions)
    counts: dict[str, list[int]] = {t: [0, 0, 0, 0] for t in entity_types}  # tp, n_pred, tp, n_gold
    for i, (gold_doc, pred_doc) in enumerate(zip(gold_documents, predictions)):
        where = f"document {i} (pmid {gold_doc.get('pmid', '?')}): "
        gold = mention_keys(gold_doc["mentions"], where + "gold ")
        predicted = mention_keys(pred_doc["mentions"], where + "predicted ")
        for key in gold:
            counts.setdefault(key[2], [0, 0, 0, 0])[3] += 1
        for key in predicted:
            c = counts.setdefault(key[2], [0, 0, 0, 0])
            c[1] += 1
            if key in gold:
                c[0] += 1
                c[2] += 1
    order = list(dict.fromkeys(entity_types)) + sorted(set(counts) - set(entity_types))
    micro = [sum(c[k] for c in counts.values()) for k in range(4)]
    return {"micro": prf(*micro), "per_type": {t: prf(*counts[t]) for t in order}}


def span_confusion(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping],
                   entity_types: Sequence[str] = ()) -> dict:
    """Type confusion from exact span matching: ``{"labels": [...types, "O"], "matrix": rows=gold, cols=pred}``.

    Per document and character span (start, end): types present in both gold and prediction go on the
    diagonal; the remaining gold and predicted types at that span are paired in sorted order (confusions);
    gold types left over go to the "O" column (missed), predicted types left over to the "O" row (spurious).
    The "O"/"O" cell is always 0.
    """
    _check_aligned(gold_documents, predictions)
    cells: Counter[tuple[str, str]] = Counter()
    for i, (gold_doc, pred_doc) in enumerate(zip(gold_documents, predictions)):
        where = f"document {i} (pmid {gold_doc.get('pmid', '?')}): "
        by_span: dict[tuple[int, int], tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
        for start, end, etype in mention_keys(gold_doc["mentions"], where + "gold "):
            by_span[(start, end)][0].add(etype)
        for start, end, etype in mention_keys(pred_doc["mentions"], where + "predicted "):
            by_span[(start, end)][1].add(etype)
        for gold_types, pred_types in by_span.values():
            for etype in gold_types & pred_types:
                cells[(etype, etype)] += 1
            gold_left = sorted(gold_types - pred_types)
            pred_left = sorted(pred_types - gold_types)
            for k in range(max(len(gold_left), len(pred_left))):
                g = gold_left[k] if k < len(gold_left) else OUTSIDE
                p = pred_left[k] if k < len(pred_left) else OUTSIDE
                cells[(g, p)] += 1
    seen = {t for pair in cells for t in pair} - {OUTSIDE}
    labels = list(dict.fromkeys(entity_types)) + sorted(seen - set(entity_types)) + [OUTSIDE]
    return {"labels": labels, "matrix": [[cells[(g, p)] for p in labels] for g in labels]}


def seqeval_scores(gold_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]],
                   entity_types: Sequence[str] = ()) -> dict:
    """seqeval strict IOB2 entity P/R/F1: ``{"micro": {...}, "per_type": {type: {...}}}``.

    Each score dict holds precision, recall, f1 and support (gold entity count) as seqeval computes them,
    with zero_division=0; types seqeval does not report (no gold and no predicted entity) get zeros.
    """
    from seqeval.metrics import classification_report  # imported here: ~2 s, only when needed
    from seqeval.scheme import IOB2

    if len(gold_tags) != len(predicted_tags):
        raise ValueError(f"{len(gold_tags)} gold tag sequences but {len(predicted_tags)} predicted ones")
    for i, (g, p) in enumerate(zip(gold_tags, predicted_tags)):
        if len(g) != len(p):
            raise ValueError(f"tag sequence {i}: {len(g)} gold tags but {len(p)} predicted tags")
    zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    report: dict = {}
    # seqeval rejects an empty list of sequences and all-"O" input without any entity; both score zero
    if any(tag != OUTSIDE for seq in (*gold_tags, *predicted_tags) for tag in seq):
        report = classification_report([list(s) for s in gold_tags], [list(s) for s in predicted_tags],
                                       mode="strict", scheme=IOB2, output_dict=True, zero_division=0)

    def convert(row: Mapping) -> dict:
        return {"precision": float(row["precision"]), "recall": float(row["recall"]),
                "f1": float(row["f1-score"]), "support": int(row["support"])}

    found = [k for k in report if not k.endswith(" avg")]
    order = list(dict.fromkeys(entity_types)) + sorted(set(found) - set(entity_types))
    micro = convert(report["micro avg"]) if report else dict(zero)
    return {"micro": micro,
            "per_type": {t: convert(report[t]) if t in report else dict(zero) for t in order}}


def _refine(tokens: Sequence[tuple[int, int]], tags: Sequence[str],
            common: Sequence[tuple[int, int]]) -> list[str]:
    """Carry BIO tags onto a finer tokenization: each common token lies inside one token of ``tokens``; it
    keeps that token's B- only if it starts there, otherwise the B- becomes I- (the span is unchanged)."""
    starts = [start for start, _ in tokens]
    out: list[str] = []
    for start, end in common:
        k = bisect_right(starts, start) - 1
        if k < 0 or tokens[k][1] < end:
            raise AssertionError(f"token [{start}, {end}) is not inside one coarser token")  # cannot happen
        tag = tags[k]
        out.append("I-" + tag[2:] if tag.startswith("B-") and tokens[k][0] != start else tag)
    return out


def bio_tag_sequences(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping]
                      ) -> tuple[list[list[str]], list[list[str]], dict[str, int]]:
    """Word-level IOB2 sequences of gold and predicted mentions over one common tokenization per document.

    Each side is encoded by ``loaders.words.bio_tags`` (same overlap rule for both); as that encoder splits
    words at the boundaries of the mentions it encodes, the two token lists can differ, so both tag lists
    are carried onto their common refinement (``tokenize_words`` split at every boundary of either side).
    Returns (gold tags, predicted tags, {"gold_dropped", "predicted_dropped", "gold_mentions",
    "predicted_mentions"}) where *_dropped count the mentions the BIO view could not hold.
    """
    from loaders.words import bio_tags, tokenize_words

    _check_aligned(gold_documents, predictions)
    gold_sequences: list[list[str]] = []
    predicted_sequences: list[list[str]] = []
    stats = {"gold_mentions": 0, "predicted_mentions": 0, "gold_dropped": 0, "predicted_dropped": 0}
    for gold_doc, pred_doc in zip(gold_documents, predictions):
        text = gold_doc["text"]
        gold_tokens, gold_tags, gold_dropped = bio_tags(text, gold_doc["mentions"])
        pred_tokens, pred_tags, pred_dropped = bio_tags(text, pred_doc["mentions"])
        cuts = {offset for token in (*gold_tokens, *pred_tokens) for offset in token}
        common = tokenize_words(text, cuts)
        gold_sequences.append(_refine(gold_tokens, gold_tags, common))
        predicted_sequences.append(_refine(pred_tokens, pred_tags, common))
        stats["gold_mentions"] += len(gold_doc["mentions"])
        stats["predicted_mentions"] += len(pred_doc["mentions"])
        stats["gold_dropped"] += len(gold_dropped)
        stats["predicted_dropped"] += len(pred_dropped)
    return gold_sequences, predicted_sequences, stats
