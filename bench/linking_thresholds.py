"""Concept-id F1 from raw text (the BioCreative way) on validation, for several fuzzy thresholds and with the
fuzzy step off, over one NER pass of a trained model: the threshold the model's linker ships with is chosen
here, on predicted mentions, since that is how `extract` uses it (linking accuracy on gold mentions is in
`bench/linking.py`).

    python bench/linking_thresholds.py --model MODEL --linker LINKER_DIR [--thresholds 0.4 0.5 ...]

LINKER_DIR: built from train names only (`python -m biomed_nerre.linking build --splits train`), so that validation names
play no part in the choice.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from biomed_nerre.evaluation.linking_metrics import concept_id_scores  # noqa: E402
from biomed_nerre.evaluation.run import load_documents, load_model  # noqa: E402
from modeling.linking_joint_ner_re import ConceptLinker, group_linked_mentions  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="trained joint model folder")
    parser.add_argument("--linker", required=True, help="linker folder (train names only)")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data/bc5cdr"))
    parser.add_argument("--split", default="validation")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    args = parser.parse_args(argv)
    model, tokenizer = load_model(args.model, device="cpu")
    model.set_linker(None)
    documents = load_documents("bc5cdr", args.split, data_dir=args.data_dir)
    predicted = model.extract(documents, tokenizer, mode="end2end", batch_size=16)  # mentions only matter here
    linker = ConceptLinker.load(args.linker)
    figures = {}
    for threshold in [None, *args.thresholds]:
        linker.fuzzy_threshold = threshold if threshold is not None else 2.0  # above any cosine: fuzzy off
        results = []
        for doc, result in zip(documents, predicted):
            links = linker.link_mentions(doc["text"], result["mentions"], fuzzy=threshold is not None)
            results.append({"pmid": result["pmid"], "entities": group_linked_mentions(result["mentions"], links)})
        scores = concept_id_scores(documents, results)
        name = "fuzzy off" if threshold is None else f"fuzzy >= {threshold}"
        figures[name] = {t: round(s["f1"], 4) for t, s in scores["per_type"].items()}
        figures[name]["micro"] = round(scores["micro"]["f1"], 4)
        print(f"{args.split} concept-id F1, {name}: " + ", ".join(f"{k} {v:.4f}" for k, v in figures[name].items()),
              flush=True)
    return figures


if __name__ == "__main__":
    main()
