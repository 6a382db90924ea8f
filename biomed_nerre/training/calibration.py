"""Relation threshold calibration: pick `config.re_threshold` on validation documents after training.

ATLOP's adaptive threshold class makes 0 the natural margin, but a model trained for a few epochs with a
down-weighted relation loss is conservative: on BC5CDR validation its precision sits well above its recall
(results/benchmarks.md). The margin that maximises relation F1 with gold entities on validation documents
is a decoding setting like any other, so it is chosen there and stored in the saved config.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from biomed_nerre.evaluation.re_metrics import relation_scores

# margins tried (logit(label) - logit(TH)); 0 is ATLOP's default
THRESHOLD_GRID: tuple[float, ...] = tuple(x / 4 for x in range(-12, 13))
# the threshold (a probability) of the one extraction pass: every allowed label is kept, with its score
SCORE_FLOOR = 0.0


def keep_relations_above(prediction: Mapping[str, Any], threshold: float) -> dict[str, Any]:
    """`prediction` with only the relations whose margin is above `threshold` (their score is sigmoid(margin))."""
    floor = 1.0 / (1.0 + math.exp(-threshold))
    return {**prediction, "relations": [r for r in prediction["relations"] if r["score"] > floor]}


def threshold_table(
    gold_documents: Sequence[Mapping[str, Any]],
    scored_predictions: Sequence[Mapping[str, Any]],
    relation_labels: Sequence[str],
    grid: Sequence[float] = THRESHOLD_GRID,
) -> list[dict[str, float]]:
    """Micro relation P/R/F1 (gold-entity mode) at each margin of `grid`, from predictions that carry every
    candidate relation with its score (`extract(..., mode="gold", threshold=<very low>)`)."""
    rows = []
    for threshold in grid:
        kept = [keep_relations_above(p, threshold) for p in scored_predictions]
        micro = relation_scores(gold_documents, kept, "gold", relation_labels)["micro"]
        rows.append({"threshold": threshold, "precision": micro["precision"], "recall": micro["recall"],
                     "f1": micro["f1"]})
    return rows


def best_threshold_row(table: Sequence[Mapping[str, float]]) -> Mapping[str, float]:
    """The row with the highest F1; among equal F1s, the margin closest to 0 (then the lower one)."""
    return max(table, key=lambda row: (row["f1"], -abs(row["threshold"]), -row["threshold"]))


def calibrate_re_threshold(
    model: Any,
    tokenizer: Any,
    documents: Sequence[Mapping[str, Any]],
    batch_size: int = 8,
    grid: Sequence[float] = THRESHOLD_GRID,
) -> dict[str, Any]:
    """The margin of `grid` with the best gold-entity relation F1 on `documents` (ties: the one closest to 0).

    Runs `model.extract` once in gold mode and scores every margin from that pass. Returns
    `{"threshold", "f1", "default_threshold", "default_f1", "documents", "table"}`; the model is not changed.
    """
    if not documents:
        raise ValueError("calibrate_re_threshold: no documents")
    predictions = model.extract(list(documents), tokenizer, mode="gold", batch_size=batch_size, threshold=SCORE_FLOOR)
    table = threshold_table(documents, predictions, model.config.relation_labels, grid)
    best = best_threshold_row(table)
    default = model.config.re_threshold
    default_rows = [row for row in table if row["threshold"] == default]
    return {
        "threshold": best["threshold"],
        "f1": best["f1"],
        "default_threshold": default,
        "default_f1": default_rows[0]["f1"] if default_rows else None,
        "documents": len(documents),
        "table": table,
    }
