"""`train.py` entry point: train, then score the best model on the test split and write its card."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

from biomed_nerre.training.arguments import TrainingArguments, parse_args
from biomed_nerre.training.loop import train

logger = logging.getLogger(__name__)


def calibrate(args: TrainingArguments, model: Any, tokenizer: Any) -> dict[str, Any]:
    """Choose the saved best model's `re_threshold` on validation documents, set it on `model` and write it to
    the output folder's config.json."""
    from biomed_nerre.evaluation.run import load_documents
    from biomed_nerre.training.calibration import calibrate_re_threshold

    documents = load_documents(args.dataset, "validation", args.dataset_config or None, args.data_dir,
                               args.cache_dir, limit=args.calibration_docs or None)
    result = calibrate_re_threshold(model, tokenizer, documents, args.eval_batch_size)
    model.config.re_threshold = result["threshold"]
    model.config.save_pretrained(args.output_dir)
    at_default = "n/a" if result["default_f1"] is None else f"{result['default_f1']:.4f}"
    logger.info("re_threshold %.2f: validation relation F1 %.4f (%s at %.2f) on %d documents", result["threshold"],
                result["f1"], at_default, result["default_threshold"], result["documents"])
    return result


def finalize(args: TrainingArguments, summary: dict[str, Any]) -> dict[str, Any]:
    """Calibrate the relation threshold and evaluate the saved best model on test (main process only), write
    metrics.json and the model card. The saved model is loaded once for both steps."""
    from biomed_nerre.evaluation.run import evaluate_model, load_model
    from biomed_nerre.hub.model_card import write_model_card

    output_dir = Path(args.output_dir)
    metrics: dict[str, Any] = {"training": {k: v for k, v in summary.items() if k != "validation"}}
    metrics["validation"] = summary["validation"]
    if args.linker:
        from modeling.linking_joint_ner_re import LINKER_FOLDER
        from biomed_nerre.training.linker import linker_for_run

        linker_for_run(args).save(output_dir / LINKER_FOLDER)  # load_model below restores it with the weights
    if args.calibrate_re_threshold or args.evaluate_test:
        model, tokenizer = load_model(str(output_dir))
        if args.calibrate_re_threshold:
            metrics["re_threshold_calibration"] = calibrate(args, model, tokenizer)
        if args.evaluate_test:
            # validation as the saved model scores it: the calibration documents (the whole split unless
            # --calibration-docs), at the saved threshold; the model card reports these, not the selection pass
            metrics["validation_full"] = evaluate_model(
                model_path=str(output_dir), model=model, tokenizer=tokenizer, dataset=args.dataset,
                split="validation", config=args.dataset_config or None, data_dir=args.data_dir,
                cache_dir=args.cache_dir, output_dir=args.results_dir, run_name=args.run_name,
                batch_size=args.eval_batch_size, limit=args.calibration_docs or None,
            )
            metrics["test"] = evaluate_model(
                model_path=str(output_dir),
                model=model,
                tokenizer=tokenizer,
                dataset=args.dataset,
                split="test",
                config=args.dataset_config or None,
                data_dir=args.data_dir,
                cache_dir=args.cache_dir,
                output_dir=args.results_dir,
                run_name=args.run_name,
                batch_size=args.eval_batch_size,
                limit=args.limit_test_docs or None,
            )
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_model_card(output_dir, metrics=metrics, training_args=args.to_dict())
    return metrics


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run(parse_args(argv))


def cli(argv: Sequence[str] | None = None) -> int:
    """`train.py` / `nerre-train`: a user error (a bad setting, a missing folder or release file, a launch
    Accelerate cannot join) prints one ``error:`` line and exits 2; anything else is a bug and keeps its traceback."""
    from loaders.cli_errors import exit_with_error, one_line_errors
    from biomed_nerre.training.launch_check import check_processes_joined
    from biomed_nerre.training.memory import BatchDoesNotFitError

    try:
        args = parse_args(argv)
        check_processes_joined()
    except ValueError as err:  # UsageError and the settings' own checks
        exit_with_error(str(err))
    with one_line_errors():  # the release files the loaders could not read, a damaged encoder folder, ...
        try:
            run(args)
        except BatchDoesNotFitError as err:  # a document too long for the device's memory, named with what to change
            exit_with_error(str(err))
    return 0


def run(args: TrainingArguments) -> dict[str, Any]:
    """Train with `args`, then (main process) calibrate, score on test and write the card."""
    summary = train(args)
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return summary
    return finalize(args, summary)
