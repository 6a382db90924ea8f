"""The training loop: a plain Accelerate loop that runs the same on a laptop CPU, one GPU or many nodes.

    accelerate launch train.py --dataset bc5cdr [--config run.yaml] [--flags ...]
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import datasets
import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from tqdm.auto import tqdm

from modeling import SciBertForJointNerRe
from modeling.preprocessing_joint_ner_re import load_tokenizer
from biomed_nerre.training.arguments import TrainingArguments
from biomed_nerre.training.checkpointing import TrainerState, resolve_resume_path, save_checkpoint, truncate_log
from biomed_nerre.training.data import corpus_labels, featurize, load_documents, make_train_dataloader
from biomed_nerre.training.determinism import full_determinism
from biomed_nerre.training.memory import explain_out_of_memory
from biomed_nerre.training.optimization import accumulation_scale, build_optimizer, build_scheduler
from biomed_nerre.training.validation import selection_value, validate

logger = logging.getLogger(__name__)


def _limit(dataset, n: int):
    return dataset.select(range(min(n, len(dataset)))) if n > 0 else dataset


def _batch_tokens(batch: dict[str, Any]) -> int:
    mask = batch.get("attention_mask")
    return int(mask.sum().item()) if isinstance(mask, torch.Tensor) else 0


def _learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Current learning rate per named parameter group ("lr_encoder", "lr_heads")."""
    rates: dict[str, float] = {}
    for group in optimizer.param_groups:
        rates.setdefault(f"lr_{group.get('name', 'group')}", group["lr"])
    return rates


def train(args: TrainingArguments) -> dict[str, Any]:
    """Train, select the best model on validation, save it to ``args.output_dir``; return the metrics."""
    with full_determinism(args.full_determinism):
        return _train(args)


def _train(args: TrainingArguments) -> dict[str, Any]:
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(project_dir=str(output_dir), logging_dir=str(output_dir / "logs")),
        # the schedule is counted in optimizer steps of this loop, stepped once per step below
        step_scheduler_with_optimizer=False,
    )
    logging.basicConfig(level=logging.INFO if accelerator.is_main_process else logging.WARNING)
    set_seed(args.seed)

    entity_types, relation_types = corpus_labels(args.dataset)
    tokenizer = load_tokenizer(args.encoder)
    model = SciBertForJointNerRe.from_encoder(
        args.encoder,
        entity_types=entity_types,
        relation_types=relation_types,
        window_length=args.max_length,
        stride=args.stride,
        classifier_dropout=args.dropout,
        re_block_size=args.re_block_size,
        encoder_overrides=None if args.attention_dropout is None else {"attention_probs_dropout_prob": args.attention_dropout},
        ner_loss_weight=args.ner_loss_weight,
        re_loss_weight=args.re_loss_weight,
        ner_label_continuations=args.ner_label_continuations,
        token_shape_features=args.token_shape_features,
        gazetteer_features=args.gazetteer_features,
    )
    if args.gradient_checkpointing:  # long documents: the encoder keeps fewer activations, recomputes the rest
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if args.gazetteer_features:
        from biomed_nerre.training.gazetteer import build_gazetteer

        model.set_gazetteer(build_gazetteer(args, entity_types))

    with accelerator.main_process_first():
        corpus = load_documents(args.dataset, args.dataset_config, args.data_dir, args.cache_dir)
        train_docs = _limit(corpus["train"], args.limit_train_docs)
        if args.train_on_validation_from:
            validation = corpus["validation"]
            extra = validation.select(range(min(args.train_on_validation_from, len(validation)), len(validation)))
            train_docs = datasets.concatenate_datasets([train_docs, extra])
        val_docs = _limit(corpus["validation"], args.limit_eval_docs)
        train_features = featurize(train_docs, tokenizer, model.config, desc="train features", gazetteer=model.gazetteer)
    loader, batch_sampler = make_train_dataloader(
        train_features.with_format(None), args.per_device_batch_size, args.seed, tokenizer.pad_token_id, args.group_by_length,
        num_processes=accelerator.num_processes,
    )
    optimizer = build_optimizer(model, args.encoder_lr, args.head_lr, args.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)

    steps_per_epoch = math.ceil(len(loader) / args.gradient_accumulation_steps)
    total_steps = args.max_steps or math.ceil(steps_per_epoch * args.num_epochs)
    num_epochs = math.ceil(total_steps / steps_per_epoch)
    eval_interval = max(1, round(steps_per_epoch * args.eval_every_epochs))
    scheduler = accelerator.prepare(build_scheduler(optimizer, total_steps, args.warmup_ratio))
    state = TrainerState()
    accelerator.register_for_checkpointing(state)

    if args.resume_from_checkpoint:
        resume_path = resolve_resume_path(args.resume_from_checkpoint, output_dir)
        accelerator.load_state(str(resume_path))
        logger.info("resumed from %s at step %d (epoch %d, batch %d)", resume_path, state.global_step, state.epoch, state.batches_done_in_epoch)

    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        args.save(output_dir / "training_args.json")
    if args.report_to != "none":
        accelerator.init_trackers(args.run_name, config={k: v for k, v in args.to_dict().items() if v is not None})
    logger.info(
        "%d training documents, %d validation documents, %d processes, %d optimizer steps (%d per epoch)",
        len(train_docs), len(val_docs), accelerator.num_processes, total_steps, steps_per_epoch,
    )

    log_path = output_dir / "trainer_log.jsonl"
    if args.resume_from_checkpoint and accelerator.is_main_process:
        truncate_log(log_path, state.global_step)  # the steps after the checkpoint are run (and logged) again

    def record_history(record: dict[str, Any]) -> None:
        """Append one record to trainer_log.jsonl at once, so a killed run keeps its log."""
        if accelerator.is_main_process:
            with open(log_path, "a") as handle:
                handle.write(json.dumps(record) + "\n")

    progress = tqdm(total=total_steps, initial=state.global_step, desc="training", disable=not accelerator.is_local_main_process)
    window_loss, window_batches, window_tokens, window_seconds = 0.0, 0, 0, 0.0
    window_parts = {"ner_loss": 0.0, "re_loss": 0.0}
    # a checkpoint written when early stopping fired holds the count that fired it: resuming it stops too
    stop = state.global_step >= total_steps or early_stopped(state, args.early_stopping_patience)

    for epoch in range(state.epoch, num_epochs):
        if stop:
            break
        skip = state.batches_done_in_epoch if epoch == state.epoch else 0
        epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
        # Accelerate's loader re-applies its own epoch counter to the sampler when iteration starts (it can
        # reach ours when it is not wrapped), so set both: the data order then depends on `epoch` alone.
        epoch_loader.set_epoch(epoch)
        batch_sampler.set_epoch(epoch)
        state.epoch, state.batches_done_in_epoch = epoch, skip
        model.train()
        batch_start = time.perf_counter()
        for batch in epoch_loader:
            pmids = batch.pop("pmid", None)  # for the error that names a batch too large for the device
            with accelerator.accumulate(model):
                with explain_out_of_memory(batch, pmids, accelerator.device):
                    outputs = model(**batch)
                    scale = accumulation_scale(state.batches_done_in_epoch, len(loader), args.gradient_accumulation_steps)
                    accelerator.backward(outputs.loss * scale if scale != 1.0 else outputs.loss)
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            state.batches_done_in_epoch += 1
            window_loss += outputs.loss.detach().float().item()
            for part in window_parts:  # summed as tensors: no extra device sync per step
                value = getattr(outputs, part)
                if value is not None:
                    window_parts[part] += value.detach().float()
            window_batches += 1
            window_tokens += _batch_tokens(batch)
            window_seconds += time.perf_counter() - batch_start  # training time only, not validation or saving
            if not accelerator.sync_gradients:
                batch_start = time.perf_counter()
                continue

            scheduler.step()
            state.global_step += 1
            progress.update(1)
            if state.global_step % args.logging_steps == 0 or state.global_step == total_steps:
                tokens = accelerator.gather(torch.tensor([window_tokens], device=accelerator.device)).sum().item()
                record = {
                    "step": state.global_step,
                    "epoch": state.global_step / steps_per_epoch,
                    "loss": window_loss / max(window_batches, 1),
                    **{part: float(total) / max(window_batches, 1) for part, total in window_parts.items()},
                    **_learning_rates(optimizer),
                    "tokens": tokens,
                    "train_seconds": window_seconds,
                    "tokens_per_second": tokens / max(window_seconds, 1e-9),
                }
                accelerator.log(record, step=state.global_step)
                record_history(record)
                progress.set_postfix(loss=f"{record['loss']:.4f}")
                window_loss, window_batches, window_tokens, window_seconds = 0.0, 0, 0, 0.0
                window_parts = dict.fromkeys(window_parts, 0.0)

            if state.global_step % eval_interval == 0 or state.global_step == total_steps:
                metrics = validate(accelerator, model, tokenizer, val_docs, args.eval_batch_size)
                value = selection_value(metrics, args.selection_metric, calibrated=args.calibrate_re_threshold)
                record = {"step": state.global_step, "validation": metrics, args.selection_metric: value}
                record_history(record)
                accelerator.log({f"validation/{k}": v for k, v in metrics.items() if isinstance(v, float)}, step=state.global_step)
                logger.info("step %d validation %s = %.4f", state.global_step, args.selection_metric, value)
                if value > state.best_metric:
                    state.best_metric, state.best_step = value, state.global_step
                    state.evaluations_without_improvement = 0
                    state.best_validation = metrics
                    _save_model(accelerator, model, tokenizer, output_dir)
                else:
                    state.evaluations_without_improvement += 1
                model.train()
                if early_stopped(state, args.early_stopping_patience):
                    logger.info("early stopping: %d validations without improvement", state.evaluations_without_improvement)
                    stop = True

            if state.global_step >= total_steps:
                stop = True
            at_epoch_end = state.batches_done_in_epoch == len(loader)
            if (args.save_steps and state.global_step % args.save_steps == 0) or at_epoch_end or stop:
                if at_epoch_end:  # the checkpoint resumes at the start of the next epoch
                    state.epoch, state.batches_done_in_epoch = epoch + 1, 0
                save_checkpoint(accelerator, output_dir, state.global_step, args.save_total_limit)
            if args.stop_after_steps and state.global_step >= args.stop_after_steps:
                logger.warning("--stop-after-steps %d reached: exiting as if killed", args.stop_after_steps)
                accelerator.end_training()
                return {"stopped_at_step": state.global_step}
            if stop:
                break
            batch_start = time.perf_counter()
        if not stop and state.epoch == epoch:  # the epoch-end bookkeeping above never ran
            raise RuntimeError(f"epoch {epoch}: the loader gave {state.batches_done_in_epoch} batches on process "
                               f"{accelerator.process_index}, not len(loader) = {len(loader)}; the schedule, "
                               "epoch-end checkpoints and final validation rely on that count")
    progress.close()

    summary = {
        "best_step": state.best_step,
        "global_step": state.global_step,
        "num_processes": accelerator.num_processes,
        "selection_metric": args.selection_metric,
        "best_validation_value": state.best_metric,
        "validation": state.best_validation,
        "final_lr": _learning_rates(optimizer),
    }
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


def early_stopped(state: TrainerState, patience: int) -> bool:
    """Whether `patience` validations in a row without improvement have been reached (patience 0: never)."""
    return 0 < patience <= state.evaluations_without_improvement


def _save_model(accelerator: Accelerator, model, tokenizer, output_dir: Path) -> None:
    """Write the (best so far) model and tokenizer as safetensors + config, with the modeling code."""
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.save_pretrained(
        output_dir, is_main_process=accelerator.is_main_process, save_function=accelerator.save, safe_serialization=True
    )
    if accelerator.is_main_process:
        tokenizer.save_pretrained(output_dir)
    accelerator.wait_for_everyone()
