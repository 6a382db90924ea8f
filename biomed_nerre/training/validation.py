"""Validation during training: predictions sharded over processes, metrics from `evaluation`."""

from __future__ import annotations

from typing import Any

import datasets
from accelerate import Accelerator
from accelerate.utils import gather_object

from biomed_nerre.evaluation.scoring import score_documents
from biomed_nerre.training.calibration import SCORE_FLOOR, best_threshold_row, keep_relations_above, threshold_table

SELECTION_KEYS = {"ner_f1": ("ner_f1",), "re_f1": ("re_gold_f1",), "mean_f1": ("ner_f1", "re_gold_f1")}


def validate(
    accelerator: Accelerator, model, tokenizer, documents: datasets.Dataset, batch_size: int
) -> dict[str, float]:
    """Predict the validation documents (each process a slice) and score them on every process.

    Returns flat metrics: ``ner_f1`` (seqeval strict micro), ``mention_f1``, ``re_gold_f1`` (relations
    with gold entities, at the model's ``re_threshold``), ``re_end2end_f1``, and ``re_gold_f1_calibrated``
    with its ``re_gold_calibrated_threshold``: the best gold-entity relation F1 over the calibration grid
    (`biomed_nerre.training.calibration`), which is what the model scores once its threshold is calibrated after training.
    Every process gets the same numbers, so decisions taken on them (best model, early stopping) agree.
    Predictions run in float32 whatever the training precision (``extract_modes`` calls the encoder
    directly, not the autocast-wrapped ``forward`` that `Accelerator.prepare` installs).
    """
    model.eval()
    unwrapped = accelerator.unwrap_model(model)
    rank, world = accelerator.process_index, accelerator.num_processes
    indices = list(range(rank, len(documents), world))
    shard = [documents[i] for i in indices]
    predictions: dict[str, list] = {"gold": [], "end2end": []}
    if shard:
        # One encoder pass for both modes; gold mode keeps every candidate relation with its score, and the
        # thresholds are applied below. No autocast, even when training runs in bf16/fp16: the model is chosen
        # in float32, the precision its threshold is calibrated in and its test scores are computed in.
        predictions = unwrapped.extract_modes(shard, tokenizer, {"gold": SCORE_FLOOR, "end2end": None},
                                              batch_size=batch_size)
    gathered = gather_object([(i, g, e) for i, g, e in zip(indices, predictions["gold"], predictions["end2end"])])
    gathered.sort(key=lambda item: item[0])
    gold_documents = [documents[i] for i, _, _ in gathered]
    scored_gold = [g for _, g, _ in gathered]
    threshold = unwrapped.config.re_threshold
    scores = score_documents(
        gold_documents,
        {"gold": [keep_relations_above(g, threshold) for g in scored_gold], "end2end": [e for _, _, e in gathered]},
    )
    best = best_threshold_row(threshold_table(gold_documents, scored_gold, unwrapped.config.relation_labels))
    return {
        "ner_f1": scores["ner"]["seqeval"]["micro"]["f1"],
        "mention_f1": scores["ner"]["mentions"]["micro"]["f1"],
        "re_gold_f1": scores["re_gold"]["micro"]["f1"],
        "re_end2end_f1": scores["re_end2end"]["micro"]["f1"],
        "re_gold_f1_calibrated": best["f1"],
        "re_gold_calibrated_threshold": best["threshold"],
    }


def selection_value(metrics: dict[str, Any], selection_metric: str, calibrated: bool = False) -> float:
    """The number the best model is chosen by. RE F1 is the gold-entity one (it isolates the RE head); with
    `calibrated`, its best value over the threshold grid, since the saved model's threshold is calibrated."""
    keys = SELECTION_KEYS[selection_metric]
    if calibrated:
        keys = tuple("re_gold_f1_calibrated" if key == "re_gold_f1" else key for key in keys)
    return sum(metrics[key] for key in keys) / len(keys)
