"""Bidirectional against causal attention in a decoder LLM backbone, on the same tiny task.

    python bench/bidirectional.py [--family llama] [--train-docs 60] [--eval-docs 60] [--epochs 8] [--seeds 0 1]

A tiny random decoder (tests/tiny_backbones.py: hidden 64, 2 layers, a byte-level BPE tokenizer of 2,000 pieces
trained on the first 300 BC5CDR training abstracts) is trained from scratch by train.py on the first
`--train-docs` training documents, once with `--bidirectional-attention true` and once with `false`, same seed,
same steps, and scored on the first `--eval-docs` validation documents: NER F1, relation F1 with gold entities
and end to end. Random weights, so the figures compare the two attentions only, not what a pretrained LLM reaches.
Prints one JSON line per run and a table.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from bench.common import bench_parser
    from biomed_nerre.training.main import main as train_main
    from tests.tiny_backbones import FAMILIES, train_tokenizer, training_texts, write_tiny_backbone

    parser = bench_parser(__doc__)
    parser.add_argument("--family", default="llama", choices=[n for n, f in FAMILIES.items() if f.decoder])
    parser.add_argument("--train-docs", type=int, default=60)
    parser.add_argument("--eval-docs", type=int, default=60)
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    family = FAMILIES[args.family]
    family = dataclasses.replace(family, config=dict(family.config, hidden_size=64, intermediate_size=128,
                                                     num_attention_heads=4, max_position_embeddings=512))
    work = Path(tempfile.mkdtemp(prefix="bench-bidirectional-"))
    texts = training_texts(300)
    rows = []
    for seed in args.seeds:
        encoder = write_tiny_backbone(family, work / f"encoder-{seed}", texts, seed=seed,
                                      tokenizer=train_tokenizer(family, texts, vocab_size=2000))
        for bidirectional in (True, False):
            out = work / f"run-{seed}-{bidirectional}"
            start = time.perf_counter()
            metrics = train_main([
                "--dataset", "bc5cdr", "--data-dir", args.data_dir, "--cache-dir", str(work / "cache"),
                "--encoder", str(encoder), "--output-dir", str(out), "--max-length", "128", "--stride", "32",
                "--re-block-size", "16", "--limit-train-docs", str(args.train_docs),
                "--limit-eval-docs", str(args.eval_docs), "--per-device-batch-size", "4",
                "--num-epochs", str(args.epochs), "--eval-every-epochs", str(args.epochs),
                "--encoder-lr", "3e-3", "--head-lr", "3e-3", "--re-loss-weight", "0.1", "--dropout", "0.0",
                "--mixed-precision", "no", "--early-stopping-patience", "0", "--save-steps", "0",
                "--save-total-limit", "1", "--calibrate-re-threshold", "false", "--evaluate-test", "false",
                "--linker", "false", "--seed", str(seed), "--logging-steps", "1000",
                "--bidirectional-attention", str(bidirectional).lower(),
            ])
            log = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
            validation = metrics["validation"]
            row = {"family": args.family, "seed": seed, "bidirectional": bidirectional,
                   "steps": metrics["training"]["global_step"],
                   "final_train_loss": [r["loss"] for r in log if "loss" in r][-1],
                   "ner_f1": validation["ner_f1"], "re_gold_f1": validation["re_gold_f1"],
                   "re_end2end_f1": validation["re_end2end_f1"], "seconds": round(time.perf_counter() - start, 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| attention | seed | steps | final train loss | NER F1 | RE F1 (gold) | RE F1 (end to end) | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {'bidirectional' if r['bidirectional'] else 'causal'} | {r['seed']} | {r['steps']} | "
              f"{r['final_train_loss']:.3f} | {r['ner_f1']:.3f} | {r['re_gold_f1']:.3f} | {r['re_end2end_f1']:.3f} | "
              f"{r['seconds']} |")


if __name__ == "__main__":
    main()
