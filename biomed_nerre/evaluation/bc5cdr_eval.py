"""The BioCreative V CDR evaluation's measures, recomputed from PubTator files alone.

What the official kit (BC5CDR_Evaluation) scores, and so what this module scores from a gold and a predicted
PubTator file: for entities, per document the set of unique (type, id) of the mention lines (a composite id
`D001|D002` counts each id; `-1` is not counted); for relations, per document the set of (chemical id, disease
id) of the `CID` lines; micro precision, recall and F1 over the documents of the gold file (or those given).
`evaluate.py` writes `predictions_end2end.PubTator.txt`; its `metrics.json` figures `concept_ids` and
`re_end2end_ids` must equal what this module computes on that file (a test checks it).

    python -m biomed_nerre.evaluation.bc5cdr_eval GOLD.PubTator.txt PREDICTED.PubTator.txt
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from loaders.pubtator import iter_pubtator
from modeling.outputs_joint_ner_re import UNLINKED_RAW_IDS

from .counts import prf


def read_annotations(path: str | Path) -> tuple[dict[str, set[tuple[str, str]]], dict[str, set[tuple[str, str]]]]:
    """(pmid -> {(type, id)}, pmid -> {(chemical id, disease id)}) of a PubTator file, read with the project's one
    strict reader; every document's pmid appears in both, possibly with empty sets."""
    concepts: dict[str, set[tuple[str, str]]] = {}
    relations: dict[str, set[tuple[str, str]]] = {}
    for document in iter_pubtator(path, None, None):
        concepts[document.pmid] = {(m.type, i) for m in document.mentions for i in m.ids if i not in UNLINKED_RAW_IDS}
        relations[document.pmid] = {(r.head, r.tail) for r in document.relations if r.label == "CID"}
    return concepts, relations


def score_files(gold_path: str | Path, predicted_path: str | Path, pmids: set[str] | None = None) -> dict:
    """Per entity type and for CID: P/R/F1 over the gold file's documents (or `pmids`)."""
    gold_concepts, gold_relations = read_annotations(gold_path)
    predicted_concepts, predicted_relations = read_annotations(predicted_path)
    documents = sorted(pmids if pmids is not None else gold_concepts)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for pmid in documents:
        gold, predicted = gold_concepts.get(pmid, set()), predicted_concepts.get(pmid, set())
        for item in gold | predicted:
            c = counts[item[0]]
            c[0] += item in gold and item in predicted
            c[1] += item in predicted
            c[2] += item in gold
        gold_r, predicted_r = gold_relations.get(pmid, set()), predicted_relations.get(pmid, set())
        c = counts["CID"]
        c[0] += len(gold_r & predicted_r)
        c[1] += len(predicted_r)
        c[2] += len(gold_r)
    return {name: prf(tp, n_pred, tp, n_gold) for name, (tp, n_pred, n_gold) in sorted(counts.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a predicted PubTator file against a gold one the "
                                     "BioCreative V CDR way (concept ids per document, CID pairs).")
    parser.add_argument("gold", help="gold PubTator file (e.g. CDR_TestSet.PubTator.txt)")
    parser.add_argument("predicted", help="predicted PubTator file (e.g. predictions_end2end.PubTator.txt)")
    parser.add_argument("--predicted-documents-only", action="store_true",
                        help="score only the documents of the predicted file (a run with --limit)")
    args = parser.parse_args(argv)
    pmids = set(read_annotations(args.predicted)[0]) if args.predicted_documents_only else None
    for name, s in score_files(args.gold, args.predicted, pmids).items():
        print(f"{name:10} P {s['precision']:.4f} R {s['recall']:.4f} F1 {s['f1']:.4f} "
              f"(tp {s['tp_pred']}, predicted {s['n_pred']}, gold {s['n_gold']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
