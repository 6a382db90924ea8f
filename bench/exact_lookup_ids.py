"""The issue-27 exact lookup on the mentions of any PubTator file (gold, or a model's predictions_end2end), scored
per document against a gold file the BioCreative V way (`bc5cdr_eval`'s sets: unique (type, id) per abstract).

    python bench/exact_lookup_ids.py GOLD.PubTator.txt PREDICTED.PubTator.txt LINKER_DIR

The mentions' own ids are ignored: each mention gets the exact table's ids for its normalised text (corpus
names first, then MEDIC and MeSH), or none. Set beside `link.py` on the same file to see what the linker adds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from linking import exact_lookup  # noqa: E402

from biomed_nerre.evaluation.bc5cdr_eval import _micro, read_file  # noqa: E402
from biomed_nerre.evaluation.counts import prf  # noqa: E402
from loaders.pubtator import iter_pubtator  # noqa: E402
from modeling.linking_joint_ner_re import ConceptLinker  # noqa: E402
from modeling.outputs_joint_ner_re import curie_to_corpus_id  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gold", help="gold PubTator file (e.g. CDR_TestSet.PubTator.txt)")
    parser.add_argument("predicted", help="PubTator file whose mentions are looked up")
    parser.add_argument("linker", help="a linker folder (a model's linker/)")
    args = parser.parse_args(argv)
    linker = ConceptLinker.load(args.linker)
    gold = read_file(args.gold)
    predicted = {}
    for document in iter_pubtator(args.predicted, None, None):
        predicted[document.pmid] = {(m.type, curie_to_corpus_id(curie)) for m in document.mentions
                                    for curie in exact_lookup(linker, m.text, m.type).ids}
    counts = _micro(gold.concepts, predicted, sorted(gold.concepts), key=lambda item: item[0])
    scores = {}
    for name, (tp, n_pred, n_gold) in sorted(counts.items()):
        scores[name] = s = prf(tp, n_pred, tp, n_gold)
        print(f"id {name:12} P {s['precision']:.4f} R {s['recall']:.4f} F1 {s['f1']:.4f} "
              f"(tp {tp}, predicted {n_pred}, gold {n_gold})")
    return scores


if __name__ == "__main__":
    main()
