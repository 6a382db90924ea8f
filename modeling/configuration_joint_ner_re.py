"""Configuration of the joint NER + relation extraction model (`JointNerReConfig`).

Imports only the standard library and transformers: this file is copied next to `config.json` for
`trust_remote_code=True` loading.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

from transformers import AutoConfig, BertConfig, PretrainedConfig

from .outputs_joint_ner_re import margin_to_probability

# The pipeline (modeling/pipeline_joint_ner_re.py) declared in every saved config.json, so that
# `pipeline(model=folder, trust_remote_code=True)` finds the task and its class from the folder.
PIPELINE_TASK = "joint-ner-re"
PIPELINE_FILE = "pipeline_joint_ner_re.py"
CUSTOM_PIPELINES = {
    PIPELINE_TASK: {"impl": "pipeline_joint_ner_re.JointNerRePipeline", "pt": ["AutoModel"], "tf": [], "type": "text"}
}


# Options measured as not helping and removed (results/benchmarks.md): every subword of a mention is labelled
# (continuations included) and no mention is propagated, whatever an older config.json says. Decoding reads
# each word's first subword either way, so a model trained with `ner_label_continuations=False` predicts as before.
REMOVED_OPTIONS = ("ner_label_continuations", "ner_propagate_mentions")
ENCODER_DTYPES = ("float32", "bfloat16")


def bio_labels(entity_types: Sequence[str]) -> list[str]:
    """BIO tag set over `entity_types`: "O" first, then B-/I- for each type in order."""
    labels = ["O"]
    for entity_type in entity_types:
        labels += [f"B-{entity_type}", f"I-{entity_type}"]
    return labels


class JointNerReConfig(PretrainedConfig):
    """Config of `SciBertForJointNerRe`.

    Args:
        encoder_config: the encoder's config as a dict (with its `model_type`), so that building the model
            needs no network. Default: a BERT-base config.
        entity_types: entity type names; the NER tags are BIO over them (`ner_labels`, "O" first).
        relation_types: `{label: [head_type, tail_type]}`; its order is the logit order (kept in
            `relation_labels`, since config.json sorts keys); only entity pairs whose types match a label's
            signature are candidates, and only the matching labels get a logit.
        max_length: encoder window in tokens, special tokens included (`window_length=` is accepted as an alias).
        stride: overlap in tokens between consecutive windows.
        classifier_dropout: dropout before the NER layer and on entity embeddings.
        ner_loss_weight, re_loss_weight: weights of the two losses in `loss`. The RE default 0.1 is measured:
            at 1.0 the relation gradient dominates the shared encoder early on and NER learns much more slowly
            (BC5CDR, all-MiniLM-L6-v2: validation NER F1 0.29 vs 0.71 after one epoch; results/benchmarks.md).
        ner_constrained_decoding: decode each document's words as the most probable valid BIO sequence
            (Viterbi; no `I-X` after `O` or another type) instead of the argmax tag per word. Measured on the
            500 BC5CDR validation abstracts (all-MiniLM-L6-v2 joint model): NER F1 0.818 -> 0.826.
        re_threshold: margin on the adaptive threshold; a label is predicted when
            `logit(label) - logit(TH) > re_threshold`.
        re_embedding_size: size of the head/tail projections (default: the encoder's hidden size).
        re_block_size: block size of the group bilinear classifier (must divide `re_embedding_size`).
        re_use_context: add an attention-pooled, pair-specific context vector to the head/tail inputs.
        windows_per_pass: most windows the encoder takes in one call; a document (or batch) with more is encoded
            in several calls, so the encoder's working memory stays that of this many windows.
        re_pairs_per_block, re_tokens_per_block: the relation head scores a document's candidate pairs in
            blocks of at most this many pairs, and forms their context vectors over blocks of at most this many
            tokens, so its memory depends on these sizes rather than on the document's length or pair count
            (docs/model.md, "Long documents and memory"). They change no prediction beyond float rounding.
        token_shape_features: add a learned embedding of each token's written shape (lowercase, Capitalised,
            UPPER, mIxed, digits, ... of its characters in the original text; `token_shape`) to the encoder's
            input embeddings. It gives back the case that an uncased tokenizer throws away ("NO" the chemical
            against "no"); zero at the start, so training begins from the pretrained encoder unchanged.
        gazetteer_features: add a learned embedding of each token's dictionary tags (B/I/O of the longest
            vocabulary names of each entity type in the text; `gazetteer_joint_ner_re`) in the same way. The
            model then needs its `gazetteer/` (train.py builds it from the vocabularies, never from the corpus).
        bidirectional_attention: let a decoder LLM's tokens attend to the whole window, as an encoder's do
            (LLM2Vec and VANER remove the causal mask for tagging); False keeps the checkpoint's causal
            attention. No effect on encoders (nothing causal) or on state-space layers (causal by construction).
        lora: None (every encoder weight is trained and saved), or the LoRA adapter the encoder carries:
            `{"r", "alpha", "dropout", "target_modules"}` (`backbones_joint_ner_re`). The base encoder is then
            frozen and not saved: the model folder holds the adapter and the heads, and `from_pretrained` reads
            the base weights from `encoder_name_or_path` (needs `peft`).
        encoder_dtype: "float32" (default) or "bfloat16": the dtype of the encoder's weights (bf16 halves the
            memory of a frozen LLM under LoRA); the heads stay float32.
        encoder_name_or_path: the checkpoint the encoder came from (for the record; an adapter model's base).
        do_lower_case: whether the tokenizer lowercases (False for cased checkpoints).
    """

    model_type = "scibert_joint_ner_re"
    # Declared as a config field: transformers refuses to save undeclared generation-parameter names
    # (`max_length` is one) in a model config.
    max_length: int = 512

    def __init__(
        self,
        encoder_config: Mapping[str, Any] | None = None,
        entity_types: Sequence[str] = ("Chemical", "Disease"),
        relation_types: Mapping[str, Sequence[str]] | None = None,
        max_length: int = 512,
        stride: int = 128,
        classifier_dropout: float = 0.1,
        ner_loss_weight: float = 1.0,
        re_loss_weight: float = 0.1,
        ner_constrained_decoding: bool = True,
        re_threshold: float = 0.0,
        re_embedding_size: int | None = None,
        re_block_size: int = 64,
        re_use_context: bool = True,
        windows_per_pass: int = 32,
        re_pairs_per_block: int = 1024,
        re_tokens_per_block: int = 4096,
        token_shape_features: bool = False,
        gazetteer_features: bool = False,
        encoder_name_or_path: str | None = None,
        do_lower_case: bool = False,
        bidirectional_attention: bool = True,
        lora: Mapping[str, Any] | None = None,
        encoder_dtype: str = "float32",
        **kwargs: Any,
    ) -> None:
        if "window_length" in kwargs:
            max_length = kwargs.pop("window_length")
        kwargs.pop("ner_labels", None)  # derived from entity_types; a saved copy is ignored
        for key in REMOVED_OPTIONS:  # configs saved before the options went still load, and are saved without them
            kwargs.pop(key, None)
        # config.json is written with sorted keys, so the logit order of the relation labels is stored apart
        relation_labels = kwargs.pop("relation_labels", None)
        if not kwargs.get("custom_pipelines"):
            kwargs["custom_pipelines"] = {k: dict(v) for k, v in CUSTOM_PIPELINES.items()}
        if encoder_config is None:
            encoder_config = BertConfig().to_dict()
        elif isinstance(encoder_config, PretrainedConfig):
            encoder_config = encoder_config.to_dict()
        encoder_config = dict(encoder_config)
        if "model_type" not in encoder_config:
            raise ValueError("encoder_config needs a 'model_type' (e.g. 'bert')")
        if relation_types is None:
            relation_types = {"CID": ["Chemical", "Disease"]}
        self.encoder_config = encoder_config
        self.entity_types = list(entity_types)
        relation_types = {str(k): list(v) for k, v in relation_types.items()}
        if relation_labels is not None:
            if sorted(relation_labels) != sorted(relation_types):
                raise ValueError(f"relation_labels {relation_labels} do not match relation_types {relation_types}")
            relation_types = {label: relation_types[label] for label in relation_labels}
        self.relation_types = relation_types
        self.relation_labels = list(relation_types)
        self.ner_labels = bio_labels(self.entity_types)
        self.max_length = int(max_length)
        self.stride = int(stride)
        self.classifier_dropout = float(classifier_dropout)
        self.ner_loss_weight = float(ner_loss_weight)
        self.re_loss_weight = float(re_loss_weight)
        self.ner_constrained_decoding = bool(ner_constrained_decoding)
        self.re_threshold = float(re_threshold)
        self.re_embedding_size = re_embedding_size
        self.re_block_size = int(re_block_size)
        self.re_use_context = bool(re_use_context)
        self.windows_per_pass = int(windows_per_pass)
        self.re_pairs_per_block = int(re_pairs_per_block)
        self.re_tokens_per_block = int(re_tokens_per_block)
        self.token_shape_features = bool(token_shape_features)
        self.gazetteer_features = bool(gazetteer_features)
        self.encoder_name_or_path = encoder_name_or_path
        self.do_lower_case = bool(do_lower_case)
        self.bidirectional_attention = bool(bidirectional_attention)
        self.lora = None if lora is None else {
            "r": int(lora["r"]), "alpha": float(lora["alpha"]), "dropout": float(lora.get("dropout", 0.0)),
            "target_modules": list(lora["target_modules"]),
        }
        self.encoder_dtype = str(encoder_dtype)
        super().__init__(**kwargs)
        self._validate()

    @property
    def relation_threshold(self) -> float:
        """The calibrated relation threshold as a probability: the scale of every `threshold` users set and of
        the relations' `score` (`re_threshold` stores it as the relation head's logit margin)."""
        return margin_to_probability(self.re_threshold)

    def _validate(self) -> None:
        if not self.entity_types:
            raise ValueError("entity_types is empty")
        if len(set(self.entity_types)) != len(self.entity_types):
            raise ValueError(f"entity_types has duplicates: {self.entity_types}")
        for label, signature in self.relation_types.items():
            if len(signature) != 2:
                raise ValueError(f"relation_types[{label!r}] must be [head_type, tail_type], got {signature}")
            unknown = [t for t in signature if t not in self.entity_types]
            if unknown:
                raise ValueError(
                    f"relation_types[{label!r}] = {signature} names unknown entity type(s) {unknown}; "
                    f"entity_types = {self.entity_types}"
                )
        if self.max_length < 3:
            raise ValueError(f"max_length must be >= 3 (2 special tokens + content), got {self.max_length}")
        if not 0 <= self.stride < self.max_length - 2:
            raise ValueError(
                f"stride (window overlap) must be in [0, max_length - 2 = {self.max_length - 2}), "
                f"got {self.stride}"
            )
        for name in ("windows_per_pass", "re_pairs_per_block", "re_tokens_per_block"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.encoder_dtype not in ENCODER_DTYPES:
            raise ValueError(f"encoder_dtype must be one of {ENCODER_DTYPES}, got {self.encoder_dtype!r}")
        if self.lora is not None:
            if self.lora["r"] < 1 or not self.lora["target_modules"]:
                raise ValueError(f"lora needs r >= 1 and target modules, got {self.lora}")
            if not self.encoder_name_or_path:
                raise ValueError("a LoRA model names its base checkpoint: encoder_name_or_path is empty")
        size = self.embedding_size
        if size % self.re_block_size:
            raise ValueError(f"re_block_size {self.re_block_size} does not divide re_embedding_size {size}")

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> None:
        """Save config.json; a config registered for the auto classes (saved with its code for
        `trust_remote_code`) also gets the pipeline file that its `custom_pipelines` names."""
        pipeline_source = Path(__file__).with_name(PIPELINE_FILE)
        if self._auto_class is not None and pipeline_source.is_file() and PIPELINE_TASK in (self.custom_pipelines or {}):
            os.makedirs(save_directory, exist_ok=True)
            target = Path(save_directory) / PIPELINE_FILE
            if pipeline_source.resolve() != target.resolve():
                shutil.copyfile(pipeline_source, target)
        super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> "JointNerReConfig":
        """Build from a saved dict. `entity_types=` / `relation_types=` given as loading kwargs (e.g.
        `AutoModel.from_pretrained(dir, entity_types=[...])`) must equal the checkpoint's label sets: they fix
        the head sizes and the meaning of every logit, so a mismatch is a ValueError, not an override."""
        for key in ("entity_types", "relation_types"):
            given, stored = kwargs.get(key), config_dict.get(key)
            if given is None or stored is None:
                continue
            if key == "entity_types":
                same = sorted(given) == sorted(stored)
            else:
                same = {str(k): list(v) for k, v in given.items()} == {k: list(v) for k, v in stored.items()}
            if not same:
                raise ValueError(f"{key} {given} do not match the checkpoint's {stored}")
            kwargs.pop(key)
        return super().from_dict(config_dict, **kwargs)

    # ---- derived views -------------------------------------------------------------------------------
    @property
    def embedding_size(self) -> int:
        """Size of the head/tail projections of the RE head."""
        if self.re_embedding_size:
            return int(self.re_embedding_size)
        hidden = self.encoder_config.get("hidden_size")
        return int(hidden if hidden is not None else self.build_encoder_config().hidden_size)

    def build_encoder_config(self) -> PretrainedConfig:
        """The encoder's `PretrainedConfig`, rebuilt from the stored dict (no network)."""
        cfg = dict(self.encoder_config)
        return AutoConfig.for_model(cfg.pop("model_type"), **cfg)


# `save_pretrained` writes `auto_map` (and copies this code next to the weights) for classes marked like this
JointNerReConfig.register_for_auto_class()
