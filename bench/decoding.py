"""NER decoding rules compared on one trained model: argmax per word against constrained (valid-BIO Viterbi)
decoding.

    python bench/decoding.py --model results/bench-quality-w01/joint-model [--split validation]

Runs `extract` (end-to-end) over the split once per rule (`config.ner_constrained_decoding`) and prints NER strict P/R/F1 (micro, F1 per type) and end-to-end CID F1 for
each. The model is loaded with this repository's `SciBertForJointNerRe`, so every rule runs the current
decoding code, whatever code the checkpoint folder carries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    import torch
    from transformers import AutoTokenizer

    from bench.common import bench_parser
    from biomed_nerre.evaluation.run import load_documents
    from biomed_nerre.evaluation.scoring import score_documents
    from modeling import SciBertForJointNerRe

    parser = bench_parser(__doc__, model=True)
    parser.add_argument("--split", default="validation")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    model = SciBertForJointNerRe.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    documents = load_documents("bc5cdr", args.split, data_dir=args.data_dir)
    rows = {}
    for name, constrained in {"argmax": False, "constrained": True}.items():
        model.config.ner_constrained_decoding = constrained
        with torch.inference_mode():
            predictions = model.extract(documents, tokenizer, mode="end2end", batch_size=args.batch_size)
        metrics = score_documents(documents, {"end2end": predictions}, model.config.entity_types,
                                  model.config.relation_labels)
        seqeval = metrics["ner"]["seqeval"]
        rows[name] = {
            "ner_f1": seqeval["micro"]["f1"], "ner_precision": seqeval["micro"]["precision"],
            "ner_recall": seqeval["micro"]["recall"],
            **{f"ner_f1_{t}": scores["f1"] for t, scores in seqeval["per_type"].items()},
            "cid_f1_end2end": metrics["re_end2end"]["micro"]["f1"],
        }
        print(f"{args.split} ({len(documents)} documents), {name}: {json.dumps(rows[name])}", flush=True)


if __name__ == "__main__":
    main()
