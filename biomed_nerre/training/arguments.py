"""Training settings: one dataclass, exposed as command-line flags and accepted from a YAML file.

Precedence: built-in defaults < YAML file (``--config run.yaml``) < flags given on the command line.
The defaults are meant for SciBERT on one GPU; the offline quick start overrides them in
``configs/quickstart.yaml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from loaders.cli_errors import OneLineErrorParser, UsageError, unknown_name
from loaders.schema import CORPUS_NAMES

# the config family train.py can train on, per corpus ("" for none); ChemDisGene's curated family is test-only
TRAINABLE_FAMILIES = {"bc5cdr": ("",), "chem_dis_gene": ("ctd_derived",)}
SELECTION_METRICS = ("ner_f1", "re_f1", "mean_f1")


@dataclass
class TrainingArguments:
    """Every setting of a training run (each is also a ``--flag``)."""

    # data
    dataset: str = field(default="bc5cdr", metadata={"help": "Corpus: bc5cdr or chem_dis_gene."})
    dataset_config: str = field(
        default="", metadata={"help": "Config family for chem_dis_gene (ctd_derived); empty for bc5cdr."}
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Local copy of the release (offline); default downloads it."}
    )
    cache_dir: str | None = field(default=None, metadata={"help": "datasets cache folder."})
    limit_train_docs: int = field(default=0, metadata={"help": "Use only the first N training documents (0: all)."})
    limit_eval_docs: int = field(default=0, metadata={"help": "Use only the first N validation documents (0: all)."})
    limit_test_docs: int = field(default=0, metadata={"help": "Score only the first N test documents (0: all)."})
    train_on_validation_from: int = field(
        default=0,
        metadata={"help": "Also train on the validation documents from this index on (0: none). Selection "
                  "(--limit-eval-docs) and calibration (--calibration-docs) must then keep to the documents before it."},
    )
    augment_copies: int = field(
        default=0,
        metadata={"help": "Augmented copies of each training document added to the training set (0: no augmentation); "
                  "each copy applies the augmentations below (biomed_nerre/training/augmentation.py)."},
    )
    augment_mention_replacement: float = field(
        default=0.5,
        metadata={"help": "With --augment-copies: the chance each concept of a copy is replaced by another of its type "
                  "(names of the training documents and of --linker-vocab-dir's vocabularies, never test), all its "
                  "mentions renamed and its relations kept (0: no replacement)."},
    )
    augment_sentence_shuffle: bool = field(
        default=False,
        metadata={"help": "With --augment-copies: shuffle the order of each copy's abstract sentences (title first)."},
    )
    augment_synonym_swap: float = field(
        default=0.0,
        metadata={"help": "With --augment-copies: the chance each concept not replaced gets another name of the same "
                  "concept (its names in the training documents and the vocabularies' synonyms), all its mentions "
                  "renamed, its id and relations kept (0: no swap)."},
    )
    # model
    encoder: str = field(
        default="allenai/scibert_scivocab_cased", metadata={"help": "Encoder checkpoint (Hub id or local folder)."}
    )
    max_length: int = field(default=512, metadata={"help": "Encoder window length in tokens."})
    stride: int = field(default=128, metadata={"help": "Overlap between consecutive windows, in tokens."})
    dropout: float = field(default=0.1, metadata={"help": "Dropout of the NER and RE heads."})
    attention_dropout: float | None = field(
        default=None,
        metadata={"help": "Encoder attention dropout (default: the checkpoint's; 0 speeds up CPU training by ~30%)."},
    )
    re_block_size: int = field(
        default=64, metadata={"help": "Block size of the group-bilinear RE classifier (divides the entity embedding size)."}
    )
    ner_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the NER loss."})
    re_loss_weight: float = field(
        default=0.1,
        metadata={"help": "Weight of the RE loss (0.1: at 1.0 the RE gradient swamped NER in the shared encoder; "
                  "see results/benchmarks.md)."},
    )
    token_shape_features: bool = field(
        default=False,
        metadata={"help": "Add a learned embedding of each token's written shape (case, digits) to the encoder input: "
                  "it gives back the case an uncased tokenizer drops."},
    )
    gazetteer_features: bool = field(
        default=False,
        metadata={"help": "Add a learned embedding of each token's dictionary tags (longest MeSH / CTD / HGNC names of "
                  "each type in the text; the vocabularies of --linker-vocab-dir, never the corpus) to the encoder input."},
    )
    bidirectional_attention: bool = field(
        default=True,
        metadata={"help": "Decoder LLMs (Llama, Qwen2, Mistral, Gemma, Jamba): let every token attend to the whole "
                  "window instead of its left context only (no effect on encoders and state-space layers)."},
    )
    # parameter-efficient training (docs/backbones.md)
    lora_r: int = field(
        default=0,
        metadata={"help": "Train a LoRA adapter of this rank on the frozen encoder (needs peft); 0: train every "
                  "encoder weight. The heads are always fully trained; the saved model holds the adapter and heads."},
    )
    lora_alpha: float = field(default=0.0, metadata={"help": "LoRA scaling numerator (0: twice --lora-r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA adapter's input."})
    lora_target_modules: str = field(
        default="",
        metadata={"help": "Comma-separated module names that get adapters (empty: every attention and MLP "
                  "projection of the encoder's family, modeling/backbones_joint_ner_re.py)."},
    )
    encoder_dtype: str = field(
        default="float32",
        metadata={"help": "float32 or bfloat16: the dtype of the encoder's weights (bfloat16 halves a frozen LLM's "
                  "memory under --lora-r; the heads stay float32)."},
    )
    load_in_4bit: bool = field(
        default=False,
        metadata={"help": "Load the frozen encoder in 4-bit NF4 (QLoRA; needs --lora-r, bitsandbytes and a CUDA GPU)."},
    )
    # optimisation
    num_epochs: float = field(default=10.0, metadata={"help": "Training epochs (may be fractional)."})
    max_steps: int = field(default=0, metadata={"help": "Stop after this many optimizer steps (0: by epochs)."})
    per_device_batch_size: int = field(default=4, metadata={"help": "Documents per batch on each process."})
    gradient_checkpointing: bool = field(
        default=False,
        metadata={"help": "Recompute the encoder's activations in the backward pass instead of keeping them: "
                          "much less memory for long documents (full texts), at the cost of a second encoder forward pass."},
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    encoder_lr: float = field(default=3e-5, metadata={"help": "Learning rate of the encoder."})
    head_lr: float = field(default=1e-4, metadata={"help": "Learning rate of the NER and RE heads."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases/LayerNorm)."})
    warmup_ratio: float = field(default=0.06, metadata={"help": "Share of steps with linear warmup."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (0: off)."})
    mixed_precision: str | None = field(
        default=None, metadata={"help": "no, fp16 or bf16 (default: what `accelerate launch` / its config says)."}
    )
    group_by_length: bool = field(default=True, metadata={"help": "Batch documents of similar length together."})
    seed: int = field(default=42, metadata={"help": "Seed for weights of the heads, dropout and data order."})
    full_determinism: bool = field(
        default=False,
        metadata={"help": "Deterministic GPU kernels (slower): a run and its resumed copy match bit for bit."},
    )
    # evaluation, selection, checkpoints
    eval_every_epochs: float = field(default=1.0, metadata={"help": "Validate every this many epochs."})
    eval_batch_size: int = field(default=8, metadata={"help": "Documents per batch when validating."})
    selection_metric: str = field(
        default="mean_f1",
        metadata={"help": "ner_f1, re_f1 or mean_f1 (validation). With --calibrate-re-threshold the relation F1 is "
                  "the best over the calibration grid, as the saved model will use its calibrated threshold."},
    )
    early_stopping_patience: int = field(
        default=3, metadata={"help": "Stop after this many validations without improvement (0: never)."}
    )
    save_steps: int = field(default=500, metadata={"help": "Checkpoint every N optimizer steps (0: epoch ends only)."})
    save_total_limit: int = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    resume_from_checkpoint: str | None = field(
        default=None, metadata={"help": "A checkpoint folder, or `latest` (newest complete one in output_dir)."}
    )
    # output and logging
    output_dir: str = field(default="models/joint-ner-re", metadata={"help": "Final model folder."})
    run_name: str = field(default="", metadata={"help": "Run name for trackers and results/ (default: folder name)."})
    results_dir: str = field(default="results", metadata={"help": "Where test-set evaluations go."})
    evaluate_test: bool = field(default=True, metadata={"help": "Evaluate the best model on the test split at the end."})
    calibrate_re_threshold: bool = field(
        default=True,
        metadata={"help": "After training, set the saved model's re_threshold to the margin with the best validation "
                  "relation F1 (gold entities); see training/calibration.py."},
    )
    calibration_docs: int = field(
        default=0, metadata={"help": "Validation documents for threshold calibration (0: the whole split)."}
    )
    # concept linking (built after training, saved as linker/ in the model folder)
    linker: bool = field(
        default=True, metadata={"help": "Build the concept linker (mention -> MeSH / NCBI Gene ids) into the model."}
    )
    linker_name_splits: str = field(
        default="train,validation",
        metadata={"help": "Splits whose gold annotations give the linker names, comma-separated (never test)."},
    )
    linker_vocab_dir: str | None = field(
        default=None,
        metadata={"help": "Local vocabulary folder (file names of ../shared/data/vocab); default downloads the "
                  "official MeSH, CTD MEDIC and HGNC releases once."},
    )
    linker_vocabularies: bool = field(
        default=True, metadata={"help": "Add the public vocabularies' names (false: the corpus annotations only)."}
    )
    linker_fuzzy_threshold: float = field(
        default=0.4,
        metadata={"help": "Least character-trigram cosine for a given mention's name not in the dictionary to link "
                  "(accuracy on BC5CDR validation gold mentions, bench/linking.py)."},
    )
    linker_end2end_fuzzy_threshold: float = field(
        default=0.9,
        metadata={"help": "The same for the NER head's mentions in extract (concept-id F1 on BC5CDR validation, "
                  "bench/linking_thresholds.py)."},
    )
    linker_dense_encoder: str | None = field(
        default=None,
        metadata={"help": "An encoder (folder or Hub id: all-MiniLM-L6-v2, a SapBERT checkpoint, a trained linker's "
                  "linker/encoder) whose cosine ranks candidate names for mentions no exact name links (docs/linking.md)."},
    )
    linker_dense_train_seconds: float = field(
        default=0.0,
        metadata={"help": "Fine-tune --linker-dense-encoder on the linker's names for at most this many seconds (0: as it is)."},
    )
    linker_dense_threshold: float = field(
        default=0.85, metadata={"help": "Least dense cosine for a given mention to link, else NIL (BC5CDR validation)."}
    )
    linker_end2end_dense_threshold: float = field(
        default=0.9, metadata={"help": "The same for the NER head's mentions in extract (as the trigram step's)."}
    )
    report_to: str = field(default="none", metadata={"help": "tensorboard, wandb or none."})
    logging_steps: int = field(default=10, metadata={"help": "Log loss, lr and tokens/s every N steps."})

    def __post_init__(self) -> None:
        if self.dataset not in CORPUS_NAMES:
            raise unknown_name("dataset", self.dataset, CORPUS_NAMES)
        families = TRAINABLE_FAMILIES[self.dataset]
        if self.dataset_config not in families:
            allowed = " or ".join(repr(f) for f in families) if families != ("",) else "none (leave it empty)"
            raise UsageError(f"dataset_config {self.dataset_config!r} cannot be trained on {self.dataset}: "
                             f"expected {allowed}")
        if self.selection_metric not in SELECTION_METRICS:
            raise ValueError(f"selection_metric must be one of {SELECTION_METRICS}, got {self.selection_metric!r}")
        if self.report_to not in ("none", "tensorboard", "wandb"):
            raise ValueError(f"report_to must be tensorboard, wandb or none, got {self.report_to!r}")
        if self.mixed_precision not in (None, "no", "fp16", "bf16"):
            raise ValueError(f"mixed_precision must be no, fp16 or bf16, got {self.mixed_precision!r}")
        for name in ("limit_train_docs", "limit_eval_docs", "limit_test_docs", "calibration_docs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 (0: all documents), got {getattr(self, name)}")
        if self.train_on_validation_from < 0:
            raise ValueError(f"train_on_validation_from must be >= 0, got {self.train_on_validation_from}")
        if self.train_on_validation_from:
            held_out = self.train_on_validation_from
            for name in ("limit_eval_docs", "calibration_docs"):
                value = getattr(self, name)
                if not 0 < value <= held_out:
                    raise UsageError(
                        f"train_on_validation_from {held_out} trains on validation documents {held_out} onwards, so "
                        f"{name} must be between 1 and {held_out} (got {value}{': all documents' if not value else ''}): "
                        "a model is never selected or calibrated on documents it was trained on")
        if self.augment_copies < 0:
            raise UsageError(f"augment_copies must be >= 0, got {self.augment_copies}")
        for name in ("augment_mention_replacement", "augment_synonym_swap"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise UsageError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.augment_copies and not (self.augment_mention_replacement or self.augment_synonym_swap
                                        or self.augment_sentence_shuffle):
            raise UsageError("augment_copies adds copies that nothing changes: set augment_mention_replacement or "
                             "augment_synonym_swap above 0, or augment_sentence_shuffle true")
        if self.lora_r < 0:
            raise ValueError(f"lora_r must be >= 0 (0: no adapter), got {self.lora_r}")
        if self.encoder_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"encoder_dtype must be float32 or bfloat16, got {self.encoder_dtype!r}")
        if self.load_in_4bit:
            if not self.lora_r:
                raise UsageError("--load-in-4bit freezes the encoder in 4-bit: it needs a LoRA adapter (--lora-r)")
            _check_four_bit_possible()
        if self.stride >= self.max_length - 2:
            raise ValueError(f"stride ({self.stride}) must be smaller than max_length - 2 ({self.max_length - 2})")
        splits = [s.strip() for s in self.linker_name_splits.split(",") if s.strip()]
        if "test" in splits or any(s not in ("train", "validation") for s in splits):
            raise UsageError(f"linker_name_splits {self.linker_name_splits!r}: expected train and/or validation "
                             "(never test)")
        if not self.run_name:
            self.run_name = Path(self.output_dir).name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def _check_four_bit_possible() -> None:
    """UsageError unless bitsandbytes is installed and a CUDA GPU is visible (what 4-bit weights need)."""
    import importlib.util

    import torch

    if importlib.util.find_spec("bitsandbytes") is None or not torch.cuda.is_available():
        raise UsageError("--load-in-4bit needs bitsandbytes (pip install bitsandbytes) and a CUDA GPU")


def _str_to_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser with one flag per field of `TrainingArguments` plus ``--config``."""
    parser = OneLineErrorParser(
        prog="train.py",
        description="Train SciBertForJointNerRe (joint NER + document-level RE) with Accelerate.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--config", help="YAML file of settings (keys are the flag names, with _ or -).")
    for f in dataclasses.fields(TrainingArguments):
        flag = "--" + f.name.replace("_", "-")
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        help_text = f.metadata["help"].replace("%", "%%")  # argparse formats help with %
        if kind == "bool":
            parser.add_argument(flag, type=_str_to_bool, default=f.default, help=help_text)
        elif kind.startswith("int"):
            parser.add_argument(flag, type=int, default=f.default, help=help_text)
        elif kind.startswith("float"):
            parser.add_argument(flag, type=float, default=f.default, help=help_text)
        else:
            parser.add_argument(flag, type=str, default=f.default, help=help_text)
    return parser


def load_yaml_settings(path: str | Path) -> dict[str, Any]:
    """Read a YAML settings file; a missing file, bad YAML or an unknown key is a `UsageError` naming the file."""
    if not Path(path).is_file():
        raise UsageError(f"--config {path}: no such file")
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as err:
        raise UsageError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from err
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    known = [f.name for f in dataclasses.fields(TrainingArguments)]
    settings = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"{path}: unknown setting {key!r}{hint}; the settings are train.py's flags "
                             "(python train.py --help)")
        settings[name] = value
    return settings


def parse_args(argv: Sequence[str] | None = None) -> TrainingArguments:
    """Parse flags (and an optional YAML file) into `TrainingArguments`. Bad flags exit with one ``error:`` line;
    bad settings (a YAML key, a value, a missing --data-dir folder) raise `ValueError` (`UsageError`)."""
    parser = build_parser()
    pre, _ = parser.parse_known_args(argv)
    if pre.config:
        parser.set_defaults(**load_yaml_settings(pre.config))
    namespace = vars(parser.parse_args(argv))
    namespace.pop("config")
    if namespace["data_dir"] and not Path(namespace["data_dir"]).is_dir():  # before any download
        raise UsageError(f"--data-dir {namespace['data_dir']}: no such folder (leave it out to download the release)")
    return TrainingArguments(**namespace)
