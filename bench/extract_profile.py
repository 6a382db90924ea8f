"""Where `extract`'s time goes: documents/s by batch size (float32, int8, bf16) and the top operators.

    python bench/extract_profile.py --model results/bench-quality-w01/joint-model [--limit 100]

Prints one line per (precision: float32, int8, bfloat16; batch size) after a warm-up run per precision, and a
`torch.profiler` table of a float32 run at batch 16.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    import copy

    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoModel, AutoTokenizer

    from bench.common import bench_parser
    from loaders import load_corpus

    parser = bench_parser(__doc__, model=True)
    parser.add_argument("--limit", type=int, default=100, help="Test documents to run.")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()

    documents = list(load_corpus("bc5cdr", "documents", data_dir=args.data_dir)["test"])[: args.limit]
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    model = AutoModel.from_pretrained(args.model, trust_remote_code=True).eval()
    runners = (("float32", model), ("int8", model.quantize_for_cpu()),
               ("bfloat16", copy.deepcopy(model).to(torch.bfloat16)))
    for precision, runner in runners:
        runner.extract(documents[:8], tokenizer, batch_size=8)  # warm-up: one-off kernel and allocator setup
        for batch_size in args.batch_sizes:
            start = time.perf_counter()
            runner.extract(documents, tokenizer, batch_size=batch_size)
            print(f"{precision} batch {batch_size}: {len(documents) / (time.perf_counter() - start):.1f} docs/s", flush=True)
    with profile(activities=[ProfilerActivity.CPU]) as profiler, torch.inference_mode():
        model.extract(documents[:48], tokenizer, batch_size=16)
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
