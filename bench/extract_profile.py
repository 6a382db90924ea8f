"""Where `extract`'s time goes: documents/s by batch size (float32, int8, bf16), the encoder alone, and the
top operators.

    python bench/extract_profile.py --model results/bench-quality-v4/joint-model [--limit 100] \
        [--batch-sizes 1 4 16] [--parallel-batches 1 2] [--breakdown] \
        [--baseline-model results/bench-quality-v4/baseline-model/checkpoint-750]

Prints one line per (precision: float32, int8, bfloat16; batch size; batches at once, `--parallel-batches`)
after a warm-up run per precision. Then, in float32, `extract` one batch at a time against the encoder's
forward pass alone over the very batches `extract` builds (sorted by window length, `--encoder-batch-size`),
with no tokenization, decoding or relation head: what one batch at a time could gain at most; with `--baseline-model`, the token-classification pipeline at its
default batch size 1 on the same documents, and both ratios; with `--breakdown`, each part's share of a
float32 `extract` run (cProfile). Last, a `torch.profiler` table of a float32 run at batch 16.
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def encoder_only_seconds(model, tokenizer, documents: list, batch_size: int) -> float:
    """Seconds for the encoder's forward pass alone over the batches `extract` would run (features built
    beforehand, untimed)."""
    import torch

    from modeling.preprocessing_joint_ner_re import collate_features, inference_order, prepare_features

    features = {i: prepare_features({"pmid": d["pmid"], "text": d["text"]}, tokenizer, model.config,
                                    with_labels=False, with_entities=False) for i, d in enumerate(documents)}
    order = inference_order(features)
    batches = [collate_features([features[i] for i in order[b : b + batch_size]], tokenizer.pad_token_id)
               for b in range(0, len(order), batch_size)]
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches:
            model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return time.perf_counter() - start


def pipeline_seconds(baseline_model: str, documents: list) -> float:
    """Seconds for the token-classification pipeline (batch size 1, its default) over the documents, built as
    `bench/speed.py` builds it."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from bench.common import token_classification_pipeline

    model = AutoModelForTokenClassification.from_pretrained(baseline_model).eval()
    tagger = token_classification_pipeline(model, AutoTokenizer.from_pretrained(baseline_model))
    texts = [d["text"] for d in documents]
    tagger(texts[:4])  # warm-up, as for extract
    start = time.perf_counter()
    with torch.inference_mode():
        tagger(texts, batch_size=1)
    return time.perf_counter() - start


# the parts of `extract` whose cumulative time the --breakdown prints, by function name
EXTRACT_PARTS = ("encode", "prepare_features", "collate_features", "ner_tag_ids", "decode_bio", "group_mentions",
                 "entity_features", "collate_entities", "relation_logits", "decode_relations")


def extract_breakdown(model, tokenizer, documents: list, batch_size: int) -> None:
    """Print the cumulative time of each part of one float32 `extract` run (cProfile) and its share."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    model.extract(documents, tokenizer, batch_size=batch_size)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, ncalls, tottime, cumtime, callers)}
    total = max(cumtime for (_, _, name), (_, _, _, cumtime, _) in stats.items() if name == "extract")
    parts = {name: sum(v[3] for (_, _, n), v in stats.items() if n == name) for name in EXTRACT_PARTS}
    print(f"extract, float32 batch {batch_size}, {len(documents)} documents (cProfile): {total:.2f} s")
    for name, seconds in parts.items():
        print(f"  {name}: {seconds:.2f} s ({seconds / total:.0%})")
    rest = total - sum(parts.values())
    print(f"  everything else: {rest:.2f} s ({rest / total:.0%})")


def main() -> None:
    import copy

    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoTokenizer

    from bench.common import bench_parser
    from loaders import load_corpus
    from modeling import SciBertForJointNerRe

    parser = bench_parser(__doc__, model=True)
    parser.add_argument("--limit", type=int, default=100, help="Test documents to run.")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--parallel-batches", type=int, nargs="+", default=[1],
                        help="Time each batch size with this many batches at once (extract's parallel_batches).")
    parser.add_argument("--encoder-batch-size", type=int, default=4,
                        help="Batch size of the float32 extract-versus-encoder-alone comparison.")
    parser.add_argument("--baseline-model", help="A trained token-classification folder: also time the pipeline.")
    parser.add_argument("--breakdown", action="store_true",
                        help="Also print where a float32 extract run spends its time, by part (cProfile).")
    args = parser.parse_args()

    documents = list(load_corpus("bc5cdr", "documents", data_dir=args.data_dir)["test"])[: args.limit]
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    # this checkout's modeling code, not the copy saved with the model: the figures are of the code as it is
    model = SciBertForJointNerRe.from_pretrained(args.model).eval()
    runners = (("float32", model), ("int8", model.quantize_for_cpu()),
               ("bfloat16", copy.deepcopy(model).to(torch.bfloat16)))
    for precision, runner in runners:
        runner.extract(documents[:8], tokenizer, batch_size=8)  # warm-up: one-off kernel and allocator setup
        for batch_size, parallel in itertools.product(args.batch_sizes, args.parallel_batches):
            start = time.perf_counter()
            runner.extract(documents, tokenizer, batch_size=batch_size, parallel_batches=parallel)
            print(f"{precision} batch {batch_size}, {parallel} at once: "
                  f"{len(documents) / (time.perf_counter() - start):.1f} docs/s", flush=True)

    n, batch_size = len(documents), args.encoder_batch_size
    start = time.perf_counter()
    model.extract(documents, tokenizer, batch_size=batch_size)
    extract_rate = n / (time.perf_counter() - start)
    encoder_rate = n / encoder_only_seconds(model, tokenizer, documents, batch_size)
    print(f"float32 batch {batch_size}: extract {extract_rate:.1f} docs/s, the encoder alone {encoder_rate:.1f} docs/s "
          f"(extract at {extract_rate / encoder_rate:.0%} of it)", flush=True)
    if args.baseline_model:
        pipeline_rate = n / pipeline_seconds(args.baseline_model, documents)
        print(f"float32 pipeline batch 1: {pipeline_rate:.1f} docs/s; extract {extract_rate / pipeline_rate:.2f}x, "
              f"the encoder alone {encoder_rate / pipeline_rate:.2f}x", flush=True)

    if args.breakdown:
        extract_breakdown(model, tokenizer, documents, batch_size)

    with profile(activities=[ProfilerActivity.CPU]) as profiler, torch.inference_mode():
        model.extract(documents[:48], tokenizer, batch_size=16)
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
