"""Metrics, prediction files and plots for joint NER + RE (``python evaluate.py`` is the CLI).

Light to import: seqeval, matplotlib, torch and transformers load only when a function needs them.

    from biomed_nerre.evaluation import score_documents, relation_scores, mention_scores, seqeval_scores
    from biomed_nerre.evaluation.run import evaluate_model      # predict + score + write results/<run>/<dataset>-<split>/
"""

from .counts import prf
from .ner_metrics import bio_tag_sequences, mention_scores, seqeval_scores, span_confusion
from .re_metrics import MODES, match_entities, relation_scores
from .scoring import score_documents, score_ner

__all__ = ["MODES", "bio_tag_sequences", "match_entities", "mention_scores", "prf", "relation_scores",
           "score_documents", "score_ner", "seqeval_scores", "span_confusion"]
