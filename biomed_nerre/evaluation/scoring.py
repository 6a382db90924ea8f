"""All metrics of one evaluation from gold documents and ``model.extract`` outputs (no model, no files)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .linking_metrics import concept_id_scores, relation_id_scores
from .ner_metrics import bio_tag_sequences, mention_scores, seqeval_scores, span_confusion
from .re_metrics import MODES, relation_scores


def check_alignment(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping], mode: str) -> None:
    """ValueError unless predictions and gold documents pair up one to one (same count, same pmids)."""
    if len(gold_documents) != len(predictions):
        raise ValueError(f"{mode}: {len(gold_documents)} gold documents but {len(predictions)} predictions")
    for i, (gold, predicted) in enumerate(zip(gold_documents, predictions)):
        if "pmid" in predicted and str(predicted["pmid"]) != str(gold["pmid"]):
            raise ValueError(f"{mode}: prediction {i} is for pmid {predicted['pmid']!r}, "
                             f"but gold document {i} is pmid {gold['pmid']!r}")


def score_ner(gold_documents: Sequence[Mapping], predictions: Sequence[Mapping],
              entity_types: Sequence[str] = ()) -> dict:
    """NER metrics of end-to-end predictions: ``{"seqeval", "mentions", "confusion", "bio_view"}``.

    ``bio_view`` counts the mentions (gold and predicted) that the word-level BIO view could not hold
    (overlaps removed by the shared overlap rule); seqeval scores only what the BIO view holds, while the
    mention scores see every mention.
    """
    gold_tags, predicted_tags, dropped = bio_tag_sequences(gold_documents, predictions)
    return {
        "seqeval": seqeval_scores(gold_tags, predicted_tags, entity_types),
        "mentions": mention_scores(gold_documents, predictions, entity_types),
        "confusion": span_confusion(gold_documents, predictions, entity_types),
        "bio_view": dropped,
    }


def score_documents(gold_documents: Sequence[Mapping], predictions_by_mode: Mapping[str, Sequence[Mapping]],
                    entity_types: Sequence[str] = (), relation_labels: Sequence[str] = (),
                    ner_predictions: Sequence[Mapping] | None = None, linked: bool | None = None) -> dict:
    """Metrics for each prediction mode given: ``{"ner": ..., "re_gold": ..., "re_end2end": ...}``.

    ``predictions_by_mode`` maps "gold" and/or "end2end" to ``model.extract`` outputs aligned with
    ``gold_documents`` (a prediction carrying a "pmid" must carry its document's). NER is scored on
    ``ner_predictions`` (end-to-end results, whose mentions are the NER head's), by default the end-to-end
    predictions; ``"ner"`` is None without either (gold-mode ``mentions`` are the gold ones). ``re_<mode>`` is
    present for each mode given. When the end-to-end predictions are linked (``linked``: the model has a linker;
    by default, when a mention has ids), ``concept_ids``
    (unique (type, id) per document, the BioCreative way) and ``re_end2end_ids`` (relations on (PMID, label,
    head id, tail id)) are added; ``re_end2end`` stays the span-matched measure.
    """
    unknown = set(predictions_by_mode) - set(MODES)
    if unknown:
        raise ValueError(f"unknown prediction mode(s) {sorted(unknown)}; expected some of {MODES}")
    documents = list(gold_documents)
    for mode, predictions in predictions_by_mode.items():
        check_alignment(documents, predictions, mode)
    if ner_predictions is None:
        ner_predictions = predictions_by_mode.get("end2end")
    else:
        check_alignment(documents, ner_predictions, "ner")
    result: dict = {"ner": None}
    if ner_predictions is not None:
        result["ner"] = score_ner(documents, ner_predictions, entity_types)
    for mode in MODES:
        if mode in predictions_by_mode:
            result[f"re_{mode}"] = relation_scores(documents, predictions_by_mode[mode], mode, relation_labels)
    end2end = predictions_by_mode.get("end2end")
    if linked is None:
        linked = end2end is not None and any(m.get("ids") for p in end2end for m in p["mentions"])
    if end2end is not None and linked:
        result["concept_ids"] = concept_id_scores(documents, end2end)
        result["re_end2end_ids"] = relation_id_scores(documents, end2end)
    return result
