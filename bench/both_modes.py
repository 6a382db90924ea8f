"""Scoring both relation modes: one `extract_modes` pass against one `extract` call per mode.

    python bench/both_modes.py --model results/bench-quality-v5/joint-model [--limit 200] [--repeats 3]

Runs `biomed_nerre.evaluation.run.predict` over the first `--limit` BC5CDR validation abstracts in gold and end2end mode,
alternating the two ways in one process after a warm-up, and prints the seconds of each and whether their
predictions are equal. Validation during training and evaluate.py take the `extract_modes` way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from transformers import AutoTokenizer

    from bench.common import bench_parser
    from biomed_nerre.evaluation.run import predict
    from loaders import load_corpus
    from modeling import SciBertForJointNerRe

    parser = bench_parser(__doc__, model=True)
    parser.add_argument("--limit", type=int, default=200, help="Validation documents to run.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()

    validation = load_corpus("bc5cdr", "documents", data_dir=args.data_dir)["validation"]
    documents = [dict(validation[i]) for i in range(min(args.limit, len(validation)))]
    # this checkout's modeling code, not the copy saved with the model
    model = SciBertForJointNerRe.from_pretrained(args.model).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)

    class ExtractOnly:
        """The interface of a model saved before `extract_modes`: `predict` then calls `extract` per mode."""

        extract = model.extract

    modes = ["gold", "end2end"]
    predict(model, tokenizer, documents[:8], modes, batch_size=args.batch_size)  # warm-up
    for repeat in range(args.repeats):
        start = time.perf_counter()
        per_mode = predict(ExtractOnly(), tokenizer, documents, modes, batch_size=args.batch_size)
        separate = time.perf_counter() - start
        start = time.perf_counter()
        shared = predict(model, tokenizer, documents, modes, batch_size=args.batch_size)
        together = time.perf_counter() - start
        print(f"[{repeat + 1}/{args.repeats}] {len(documents)} documents: one extract per mode {separate:.1f} s, "
              f"extract_modes {together:.1f} s ({separate / together:.2f}x); same predictions: {per_mode == shared}",
              flush=True)


if __name__ == "__main__":
    main()
