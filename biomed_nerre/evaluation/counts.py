"""Precision / recall / F1 from counts, shared by the NER and RE metrics.

Convention (documented and tested): a ratio whose denominator is 0 is 0.0, never NaN. So with no
predictions precision is 0.0, with no gold recall is 0.0, and F1 is 0.0 whenever P + R == 0.
"""

from __future__ import annotations


def safe_div(numerator: float, denominator: float) -> float:
    """numerator / denominator, or 0.0 when the denominator is 0."""
    return float(numerator) / denominator if denominator else 0.0


def prf(tp_pred: int, n_pred: int, tp_gold: int, n_gold: int) -> dict[str, float | int]:
    """Scores from counts.

    ``tp_pred`` is the number of predictions judged correct (precision numerator) and ``tp_gold`` the
    number of gold items found (recall numerator). They are equal for set matching and for the one-to-one
    end-to-end relation matching (``biomed_nerre.evaluation.re_metrics``); both are kept for metrics that may differ.
    """
    precision = safe_div(tp_pred, n_pred)
    recall = safe_div(tp_gold, n_gold)
    f1 = safe_div(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1,
            "tp_pred": int(tp_pred), "tp_gold": int(tp_gold), "n_pred": int(n_pred), "n_gold": int(n_gold)}
