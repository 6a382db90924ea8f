"""The training loop: a plain Accelerate loop that runs the same on a laptop CPU, one GPU or many nodes.

    accelerate launch train.py --dataset bc5cdr [--config run.yaml] [--flags ...]

`train` reads as the steps of a run, each a small function below: build the accelerator, the model, the data,
the optimizer and its schedule; resume from a checkpoint; then one epoch at a time, one batch at a time, and
after each optimizer step: log, validate and keep the best model, checkpoint; finally summarise.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
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


def train(args: TrainingArguments) -> dict[str, Any]:
    """Train, select the best model on validation, save it to ``args.output_dir``; return the metrics."""
    with full_determinism(args.full_determinism):
        return _train(args)


def _train(args: TrainingArguments) -> dict[str, Any]:
    """The run, step by step. The order matters: it fixes what the seeded random generators give each step."""
    accelerator = build_accelerator(args)
    set_seed(args.seed)
    model, tokenizer = build_model(args)
    with accelerator.main_process_first():  # the main process builds the dataset caches, the others read them
        train_docs, val_docs, train_features = load_data(args, tokenizer, model)
    loader, batch_sampler = make_train_dataloader(
        train_features.with_format(None), args.per_device_batch_size, args.seed, tokenizer.pad_token_id,
        args.group_by_length, num_processes=accelerator.num_processes,
    )
    optimizer = build_optimizer(model, args.encoder_lr, args.head_lr, args.weight_decay)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    schedule = Schedule.for_run(len(loader), args)
    scheduler = accelerator.prepare(build_scheduler(optimizer, schedule.total_steps, args.warmup_ratio))
    state = TrainerState()
    accelerator.register_for_checkpointing(state)  # saved and restored with the model, optimizer and RNGs
    run = TrainingRun(args, accelerator, model, tokenizer, optimizer, scheduler, loader, batch_sampler, val_docs,
                      schedule, state, Path(args.output_dir))
    resume(run)
    start(run, len(train_docs))

    # a checkpoint written when early stopping fired holds the count that fired it: resuming it stops too
    stop = state.global_step >= schedule.total_steps or early_stopped(state, args.early_stopping_patience)
    for epoch in range(state.epoch, schedule.num_epochs):
        if stop:
            break
        stop = train_epoch(run, epoch)
    return finish(run)


# ---- the objects of a run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """How many optimizer steps the run takes, and how often it validates."""

    batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    num_epochs: int
    eval_interval: int

    @classmethod
    def for_run(cls, batches_per_epoch: int, args: TrainingArguments) -> "Schedule":
        """The schedule of `args` (epochs or ``max_steps``) over a loader of `batches_per_epoch` batches."""
        steps_per_epoch = math.ceil(batches_per_epoch / args.gradient_accumulation_steps)
        total_steps = args.max_steps or math.ceil(steps_per_epoch * args.num_epochs)
        return cls(
            batches_per_epoch=batches_per_epoch,
            steps_per_epoch=steps_per_epoch,
            total_steps=total_steps,
            num_epochs=math.ceil(total_steps / steps_per_epoch),
            eval_interval=max(1, round(steps_per_epoch * args.eval_every_epochs)),
        )


@dataclass
class LossWindow:
    """What the batches since the last logged step add up to: loss, its parts, tokens and training seconds."""

    loss: float = 0.0
    parts: dict[str, Any] = field(default_factory=lambda: {"ner_loss": 0.0, "re_loss": 0.0})
    batches: int = 0
    tokens: int = 0
    seconds: float = 0.0

    def add(self, outputs: Any, batch: dict[str, Any], seconds: float) -> None:
        """Count one batch's outputs; `seconds` is its training time (validation and saving are not counted)."""
        self.loss += outputs.loss.detach().float().item()
        for part in self.parts:  # summed as tensors: no extra device sync per step
            value = getattr(outputs, part)
            if value is not None:
                self.parts[part] += value.detach().float()
        self.batches += 1
        self.tokens += _batch_tokens(batch)
        self.seconds += seconds


@dataclass
class TrainingRun:
    """What the steps of one run share: the prepared objects, the schedule and the resumable state."""

    args: TrainingArguments
    accelerator: Accelerator
    model: Any
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loader: Any
    batch_sampler: Any
    val_docs: datasets.Dataset
    schedule: Schedule
    state: TrainerState
    output_dir: Path
    window: LossWindow = field(default_factory=LossWindow)
    progress: Any = None

    @property
    def log_path(self) -> Path:
        return self.output_dir / "trainer_log.jsonl"

    def record_history(self, record: dict[str, Any]) -> None:
        """Append one record to trainer_log.jsonl at once, so a killed run keeps its log."""
        if self.accelerator.is_main_process:
            with open(self.log_path, "a") as handle:
                handle.write(json.dumps(record) + "\n")


# ---- building ------------------------------------------------------------------------------------------------


def build_accelerator(args: TrainingArguments) -> Accelerator:
    """The Accelerator of the run (precision, accumulation, trackers), and logging for its processes."""
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
    return accelerator


def enable_activation_checkpointing(model) -> None:
    """Activation (gradient) checkpointing, non-reentrant, by the name the installed transformers has
    (`gradient_checkpointing_enable` is deprecated from transformers 5.x on, with a FutureWarning)."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def build_model(args: TrainingArguments) -> tuple[SciBertForJointNerRe, Any]:
    """The joint model on the pretrained encoder, with the corpus's labels (and its gazetteer), and the tokenizer."""
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
        token_shape_features=args.token_shape_features,
        gazetteer_features=args.gazetteer_features,
        bidirectional_attention=args.bidirectional_attention,
        encoder_dtype=args.encoder_dtype,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha or None,
        lora_dropout=args.lora_dropout,
        lora_target_modules=[m.strip() for m in args.lora_target_modules.split(",") if m.strip()] or None,
        load_in_4bit=args.load_in_4bit,
    )
    if args.gradient_checkpointing:  # long documents: the encoder keeps fewer activations, recomputes the rest
        enable_activation_checkpointing(model)
    if args.gazetteer_features:
        from biomed_nerre.training.gazetteer import build_gazetteer

        model.set_gazetteer(build_gazetteer(args, entity_types))
    return model, tokenizer


def load_data(args: TrainingArguments, tokenizer: Any, model: SciBertForJointNerRe
              ) -> tuple[datasets.Dataset, datasets.Dataset, datasets.Dataset]:
    """Training documents (plus the validation documents from ``train_on_validation_from`` on), validation
    documents for model selection, and the training features."""
    corpus = load_documents(args.dataset, args.dataset_config, args.data_dir, args.cache_dir)
    train_docs = _limit(corpus["train"], args.limit_train_docs)
    if args.train_on_validation_from:
        validation = corpus["validation"]
        extra = validation.select(range(min(args.train_on_validation_from, len(validation)), len(validation)))
        train_docs = datasets.concatenate_datasets([train_docs, extra])
    val_docs = _limit(corpus["validation"], args.limit_eval_docs)
    if args.augment_copies:
        train_docs = add_augmented_copies(args, train_docs)
    train_features = featurize(train_docs, tokenizer, model.config, desc="train features", gazetteer=model.gazetteer)
    return train_docs, val_docs, train_features


def add_augmented_copies(args: TrainingArguments, train_docs: datasets.Dataset) -> datasets.Dataset:
    """`train_docs` followed by ``--augment-copies`` augmented copies of each; replacement names come from
    `train_docs` themselves (never the test split) and the vocabularies."""
    from biomed_nerre.training.augmentation import AugmentationSettings, augmented_copies, name_pool_for_run

    start_time = time.perf_counter()
    settings = AugmentationSettings(args.augment_copies, args.augment_mention_replacement,
                                    args.augment_sentence_shuffle, args.seed, args.augment_synonym_swap)
    documents = [dict(row) for row in train_docs]
    pool = None
    if settings.mention_replacement > 0 or settings.synonym_swap > 0:
        pool = name_pool_for_run(documents, corpus_labels(args.dataset)[0], args.linker_vocab_dir,
                                 use_vocabularies=args.linker_vocabularies)
    copies = augmented_copies(documents, pool, settings)
    augmented = datasets.Dataset.from_list(copies, features=train_docs.features)
    logger.info("augmentation: %d copies of %d training documents in %.0f s", len(copies), len(documents),
                time.perf_counter() - start_time)
    return datasets.concatenate_datasets([train_docs, augmented])


def resume(run: TrainingRun) -> None:
    """Restore model, optimizer, scheduler, RNGs and `TrainerState` from ``--resume-from-checkpoint``, if given."""
    if not run.args.resume_from_checkpoint:
        return
    resume_path = resolve_resume_path(run.args.resume_from_checkpoint, run.output_dir)
    run.accelerator.load_state(str(resume_path))
    state = run.state
    logger.info("resumed from %s at step %d (epoch %d, batch %d)", resume_path, state.global_step, state.epoch,
                state.batches_done_in_epoch)


def start(run: TrainingRun, num_train_docs: int) -> None:
    """Write the settings, start the trackers and the progress bar; a resumed run first drops the log records
    of the steps after its checkpoint, which it runs (and logs) again."""
    args, accelerator = run.args, run.accelerator
    if accelerator.is_main_process:
        run.output_dir.mkdir(parents=True, exist_ok=True)
        args.save(run.output_dir / "training_args.json")
    if args.report_to != "none":
        accelerator.init_trackers(args.run_name, config={k: v for k, v in args.to_dict().items() if v is not None})
    logger.info(
        "%d training documents, %d validation documents, %d processes, %d optimizer steps (%d per epoch)",
        num_train_docs, len(run.val_docs), accelerator.num_processes, run.schedule.total_steps,
        run.schedule.steps_per_epoch,
    )
    if args.resume_from_checkpoint and accelerator.is_main_process:
        truncate_log(run.log_path, run.state.global_step)
    run.progress = tqdm(total=run.schedule.total_steps, initial=run.state.global_step, desc="training",
                        disable=not accelerator.is_local_main_process)


# ---- one epoch, one batch, one optimizer step --------------------------------------------------------------


def train_epoch(run: TrainingRun, epoch: int) -> bool:
    """Train on the batches of `epoch` (a resumed epoch skips the ones already done); True when the run is to
    stop (schedule done, or early stopping)."""
    state, loader = run.state, run.loader
    skip = state.batches_done_in_epoch if epoch == state.epoch else 0
    epoch_loader = run.accelerator.skip_first_batches(loader, skip) if skip else loader
    # Accelerate's loader re-applies its own epoch counter to the sampler when iteration starts (it can
    # reach ours when it is not wrapped), so set both: the data order then depends on `epoch` alone.
    epoch_loader.set_epoch(epoch)
    run.batch_sampler.set_epoch(epoch)
    state.epoch, state.batches_done_in_epoch = epoch, skip
    run.model.train()
    batch_start = time.perf_counter()
    for batch in epoch_loader:
        outputs = train_batch(run, batch)
        state.batches_done_in_epoch += 1
        run.window.add(outputs, batch, time.perf_counter() - batch_start)
        if run.accelerator.sync_gradients and after_optimizer_step(run, epoch):
            return True
        batch_start = time.perf_counter()
    if state.epoch == epoch:  # the epoch-end bookkeeping of `checkpoint_if_due` never ran
        raise RuntimeError(f"epoch {epoch}: the loader gave {state.batches_done_in_epoch} batches on process "
                           f"{run.accelerator.process_index}, not len(loader) = {len(loader)}; the schedule, "
                           "epoch-end checkpoints and final validation rely on that count")
    return False


def train_batch(run: TrainingRun, batch: dict[str, Any]) -> Any:
    """Forward and backward on one batch; the optimizer steps when Accelerate's accumulation says so."""
    args, accelerator = run.args, run.accelerator
    pmids = batch.pop("pmid", None)  # for the error that names a batch too large for the device
    with accelerator.accumulate(run.model):
        with explain_out_of_memory(batch, pmids, accelerator.device):
            outputs = run.model(**batch)
            scale = accumulation_scale(run.state.batches_done_in_epoch, len(run.loader),
                                       args.gradient_accumulation_steps)
            accelerator.backward(outputs.loss * scale if scale != 1.0 else outputs.loss)
        if accelerator.sync_gradients and args.max_grad_norm > 0:
            accelerator.clip_grad_norm_(run.model.parameters(), args.max_grad_norm)
        run.optimizer.step()
        run.optimizer.zero_grad()
    return outputs


def after_optimizer_step(run: TrainingRun, epoch: int) -> bool:
    """Advance the schedule by one step, then log, validate and checkpoint when due; True when the run is to stop."""
    state, schedule, args = run.state, run.schedule, run.args
    run.scheduler.step()
    state.global_step += 1
    run.progress.update(1)
    last = state.global_step == schedule.total_steps
    if state.global_step % args.logging_steps == 0 or last:
        log_training(run)
    stop = False
    if state.global_step % schedule.eval_interval == 0 or last:
        stop = validate_and_select(run)
    if state.global_step >= schedule.total_steps:
        stop = True
    checkpoint_if_due(run, epoch, stop)
    return stop


def log_training(run: TrainingRun) -> None:
    """Log the window's mean loss (and parts), learning rates and throughput (tokens of every process), then
    start a new window."""
    accelerator, window, state = run.accelerator, run.window, run.state
    tokens = accelerator.gather(torch.tensor([window.tokens], device=accelerator.device)).sum().item()
    record = {
        "step": state.global_step,
        "epoch": state.global_step / run.schedule.steps_per_epoch,
        "loss": window.loss / max(window.batches, 1),
        **{part: float(total) / max(window.batches, 1) for part, total in window.parts.items()},
        **_learning_rates(run.optimizer),
        "tokens": tokens,
        "train_seconds": window.seconds,
        "tokens_per_second": tokens / max(window.seconds, 1e-9),
    }
    accelerator.log(record, step=state.global_step)
    run.record_history(record)
    run.progress.set_postfix(loss=f"{record['loss']:.4f}")
    run.window = LossWindow()


def validate_and_select(run: TrainingRun) -> bool:
    """Score the validation documents; save the model when it is the best so far. True when early stopping fires."""
    args, state = run.args, run.state
    metrics = validate(run.accelerator, run.model, run.tokenizer, run.val_docs, args.eval_batch_size)
    value = selection_value(metrics, args.selection_metric, calibrated=args.calibrate_re_threshold)
    run.record_history({"step": state.global_step, "validation": metrics, args.selection_metric: value})
    run.accelerator.log({f"validation/{k}": v for k, v in metrics.items() if isinstance(v, float)},
                        step=state.global_step)
    logger.info("step %d validation %s = %.4f", state.global_step, args.selection_metric, value)
    if value > state.best_metric:
        state.best_metric, state.best_step = value, state.global_step
        state.evaluations_without_improvement = 0
        state.best_validation = metrics
        save_model(run.accelerator, run.model, run.tokenizer, run.output_dir)
    else:
        state.evaluations_without_improvement += 1
    run.model.train()
    if early_stopped(state, args.early_stopping_patience):
        logger.info("early stopping: %d validations without improvement", state.evaluations_without_improvement)
        return True
    return False


def checkpoint_if_due(run: TrainingRun, epoch: int, stop: bool) -> None:
    """Save the full training state every ``save_steps`` steps, at the end of each epoch and when stopping."""
    state, args = run.state, run.args
    at_epoch_end = state.batches_done_in_epoch == run.schedule.batches_per_epoch
    if (args.save_steps and state.global_step % args.save_steps == 0) or at_epoch_end or stop:
        if at_epoch_end:  # the checkpoint resumes at the start of the next epoch
            state.epoch, state.batches_done_in_epoch = epoch + 1, 0
        save_checkpoint(run.accelerator, run.output_dir, state.global_step, args.save_total_limit)


def finish(run: TrainingRun) -> dict[str, Any]:
    """Close the progress bar and the trackers; the summary train.py records in metrics.json."""
    run.progress.close()
    state, accelerator = run.state, run.accelerator
    summary = {
        "best_step": state.best_step,
        "global_step": state.global_step,
        "num_processes": accelerator.num_processes,
        "selection_metric": run.args.selection_metric,
        "best_validation_value": state.best_metric,
        "validation": state.best_validation,
        "final_lr": _learning_rates(run.optimizer),
    }
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return summary


def early_stopped(state: TrainerState, patience: int) -> bool:
    """Whether `patience` validations in a row without improvement have been reached (patience 0: never)."""
    return 0 < patience <= state.evaluations_without_improvement


def save_model(accelerator: Accelerator, model, tokenizer, output_dir: Path) -> None:
    """Write the (best so far) model and tokenizer as safetensors + config, with the modeling code."""
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    unwrapped.save_pretrained(
        output_dir, is_main_process=accelerator.is_main_process, save_function=accelerator.save, safe_serialization=True
    )
    if accelerator.is_main_process:
        tokenizer.save_pretrained(output_dir)
    accelerator.wait_for_everyone()


# ---- small helpers -------------------------------------------------------------------------------------------


def _limit(dataset: datasets.Dataset, n: int) -> datasets.Dataset:
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
