"""`SciBertForJointNerRe`: one shared encoder, a BIO NER head and a document-level (ATLOP-like) RE head.

Imports only torch, transformers (and huggingface_hub, which transformers depends on, for the files of a Hub
repository) and the standard library, and the sibling files through relative imports (`save_pretrained`
copies them all next to `config.json`, so `trust_remote_code=True` loading works).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TypeVar

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import ModelOutput

from .backbones_joint_ner_re import (
    attach_lora,
    default_lora_targets,
    is_base_weight,
    load_base_weights,
    make_bidirectional,
    prepare_for_four_bit_training,
)
from .configuration_joint_ner_re import JointNerReConfig, bio_labels
from .files_joint_ner_re import check_model_folder
from .gazetteer_joint_ner_re import GAZETTEER_FOLDER, Gazetteer
from .linking_joint_ner_re import LINKER_FOLDER, ConceptLinker, LinkResult, group_linked_mentions
from .outputs_joint_ner_re import (
    UNLINKED_RAW_IDS,
    DocumentResult,
    InputError,
    Mention,
    input_documents,
    probability_to_margin,
)
from .postprocessing_joint_ner_re import (
    decode_bio,
    decode_relations,
    group_mentions,
    ner_tag_ids,
    public_mention,
)
from .preprocessing_joint_ner_re import (
    collate_entities,
    collate_features,
    entity_features,
    inference_order,
    load_tokenizer,
    prepare_features,
    token_feature_sizes,
    tokenizer_lowercases,
)
from .relation_blocks_joint_ner_re import pair_context, plan_pair_blocks

# Logit given to labels a pair's type signature does not allow (finite so bf16/fp16 stay NaN-free).
MASKED_LOGIT = -1e4
_EXCLUDED = -1e30  # for the float32 loss only


@dataclass
class JointNerReOutput(ModelOutput):
    """Output of `SciBertForJointNerRe.forward`.

    loss: `ner_loss_weight * ner_loss + re_loss_weight * re_loss` over the parts whose labels were given.
    ner_loss: token cross-entropy over BIO tags (mean over labelled tokens).
    re_loss: adaptive-threshold loss (ATLOP), mean over real candidate pairs.
    ner_logits: `[batch, max_tokens, num_ner_labels]`, one row per document token (windows merged).
    re_logits: `[batch, max_pairs, num_relation_labels]`, each label's logit minus the threshold-class logit
        (float32); a label is predicted when this exceeds `config.re_threshold`; labels that the pair's type
        signature does not allow are set to `MASKED_LOGIT`.
    pairs: `[batch, max_pairs, 2]` (head, tail) entity indices of each row of `re_logits`, -1 for padding.
    """

    loss: torch.Tensor | None = None
    ner_loss: torch.Tensor | None = None
    re_loss: torch.Tensor | None = None
    ner_logits: torch.Tensor | None = None
    re_logits: torch.Tensor | None = None
    pairs: torch.Tensor | None = None


def sdpa_without_cudnn() -> AbstractContextManager:
    """A context that leaves cuDNN out of `scaled_dot_product_attention`'s backends (flash, memory-efficient
    and math remain).

    Since torch 2.9, cuDNN attention is preferred on Hopper and Blackwell GPUs for bf16/fp16 inputs. cuDNN
    builds an execution plan for each new (batch, length) shape, which others have measured at tenths of a
    second. Batches of documents keep bringing new lengths, so training and `extract` would keep
    paying for them. The choice is made in the forward pass, and the backward pass follows it.
    """
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:  # torch before 2.3 has no cuDNN attention either
        return nullcontext()
    if not hasattr(SDPBackend, "CUDNN_ATTENTION"):
        return nullcontext()
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def map_on_cpu_threads(function: Callable[[_Item], _Result], items: Sequence[_Item], threads: int) -> list[_Result]:
    """`[function(item) for item in items]`, run on `threads` Python threads at once, each with an equal share
    (at least 1) of torch's intra-op threads; results in the order of `items`, and the first exception raised.

    On a CPU, several batches side by side each on fewer threads use the cores better than one batch at a time on
    all of them: the small operators (layer norm, GELU, adds) and the Python between operators do not split
    well across cores, and torch releases the GIL inside its operators. Grad mode and autocast are per thread,
    so each worker takes the caller's. `torch.set_num_threads` is put back to the caller's value afterwards.
    """
    total = torch.get_num_threads()
    per_thread = max(1, total // threads)
    grad_enabled, inference = torch.is_grad_enabled(), torch.is_inference_mode_enabled()
    autocast = torch.is_autocast_enabled("cpu")
    autocast_dtype = torch.get_autocast_dtype("cpu")

    def call(item: _Item) -> _Result:
        mode = torch.inference_mode() if inference else torch.set_grad_enabled(grad_enabled)
        cast = torch.autocast("cpu", dtype=autocast_dtype) if autocast else nullcontext()
        with mode, cast:
            return function(item)

    try:
        with ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(per_thread,)) as pool:
            return list(pool.map(call, items))
    finally:
        torch.set_num_threads(total)  # the workers' calls changed the value new threads start from


def hub_file(repo_id: str, filename: str, options: Mapping[str, Any] | None = None) -> str | None:
    """The local path of `filename` in the Hub model repository `repo_id`: downloaded into the Hub cache, or read
    from it when offline (`HF_HUB_OFFLINE`, `local_files_only`) or when the Hub cannot be reached. None when the
    repository has no such file, or it is neither reachable nor cached. `options`: `from_pretrained`'s
    `cache_dir`, `revision`, `token`, `local_files_only` and `subfolder`. A repository that does not exist (or
    an invalid id) raises huggingface_hub's error."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError

    options = options or {}
    try:
        return hf_hub_download(
            repo_id, filename, subfolder=options.get("subfolder") or None, revision=options.get("revision"),
            cache_dir=options.get("cache_dir"), token=options.get("token"),
            local_files_only=bool(options.get("local_files_only", False)),
        )
    except EntryNotFoundError:  # its subclasses: no such file on the Hub; not cached and offline or unreachable
        return None


def _artifact_folder(name_or_path: str, kwargs: Mapping[str, Any], folder_name: str, files: Sequence[str]) -> str | None:
    """The local folder of a model's `linker/` or `gazetteer/` (downloaded from the Hub when the model is a repo
    id), or None."""
    if os.path.isdir(name_or_path):
        folder = os.path.join(name_or_path, folder_name)
        return folder if os.path.isdir(folder) else None
    resolved = None
    for name in files:
        resolved = hub_file(name_or_path, f"{folder_name}/{name}", kwargs)
        if resolved is None:
            return None
    return os.path.dirname(resolved)


def _fetch_dense_encoder(repo_id: str, kwargs: Mapping[str, Any], linker_folder: str) -> None:
    """Download the files of a Hub linker's dense encoder (`linker/encoder/`, listed in its config) next to its
    config in the cache, where `ConceptLinker.load` reads them."""
    import json

    with open(os.path.join(linker_folder, "linker_config.json"), encoding="utf-8") as handle:
        dense = json.load(handle).get("dense")
    if not isinstance(dense, Mapping):
        return
    for file_name in dense.get("files", []):
        hub_file(repo_id, f"{LINKER_FOLDER}/{dense.get('encoder', 'encoder')}/{file_name}", kwargs)


def _build_encoder(encoder_config: Any, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    # No pooler: it would be unused, and unused parameters break DDP without find_unused_parameters.
    try:
        return AutoModel.from_config(encoder_config, add_pooling_layer=False, dtype=dtype)
    except TypeError:
        return AutoModel.from_config(encoder_config, dtype=dtype)


def _load_pretrained_encoder(name: str, encoder_config: Any, **options: Any) -> PreTrainedModel:
    """The checkpoint's encoder (`AutoModel`), without a pooler where the class has one."""
    try:
        return AutoModel.from_pretrained(name, config=encoder_config, add_pooling_layer=False, **options)
    except TypeError:
        return AutoModel.from_pretrained(name, config=encoder_config, **options)


def four_bit_config(compute_dtype: torch.dtype) -> Any:
    """transformers' `BitsAndBytesConfig` for QLoRA's 4-bit NF4 weights with double quantization."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)


def adaptive_threshold_loss(
    logits: torch.Tensor, labels: torch.Tensor, allowed: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """ATLOP's adaptive-threshold loss, averaged over the pairs in `mask`.

    logits: `[..., 1 + R]` with the threshold class TH at index 0; labels, allowed: `[..., R]` (multi-hot,
    bool). Positives are pushed above TH, TH above every allowed negative; disallowed labels are ignored.
    """
    logits = logits.float()
    positive = labels.bool() & allowed
    negative = allowed & ~positive
    th = torch.ones_like(positive[..., :1])
    keep_pos = torch.cat([th, positive], dim=-1)
    keep_neg = torch.cat([th, negative], dim=-1)
    log_p_pos = torch.log_softmax(logits.masked_fill(~keep_pos, _EXCLUDED), dim=-1)
    loss_pos = -(log_p_pos[..., 1:] * positive.float()).sum(-1)
    log_p_neg = torch.log_softmax(logits.masked_fill(~keep_neg, _EXCLUDED), dim=-1)
    loss_neg = -log_p_neg[..., 0]
    per_pair = (loss_pos + loss_neg) * mask.float()
    return per_pair.sum() / mask.sum().clamp(min=1)


def quantize_linear_layers_int8(module: nn.Module) -> nn.Module:
    """`module` with every `nn.Linear` replaced by torch's int8 dynamic-quantized Linear (per-output-channel
    weight scales, activations quantized on the fly). CPU inference only.

    Per-channel scales kept 2 points of BC5CDR CID F1 that one scale per matrix lost, at the same speed.
    """
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        # torch.ao quantization is deprecated in favour of torchao, but it is what the pinned torch ships
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        return quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig})


class SciBertForJointNerRe(PreTrainedModel):
    """Joint NER + document-level relation extraction over a shared BERT-like encoder.

    Long documents are encoded as overlapping windows (see `preprocessing_joint_ner_re`) and merged so each
    token has one state. NER: dropout + linear over BIO tags. RE: an entity is the log-sum-exp of the states at
    its mentions' first tokens; every type-compatible ordered entity pair gets a pair-specific context vector
    (attention of each entity over the document tokens, multiplied), head/tail projections and a group
    bilinear classifier with an adaptive threshold class.
    """

    config_class = JointNerReConfig
    base_model_prefix = "encoder"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: JointNerReConfig) -> None:
        super().__init__(config)
        if config.ner_labels != bio_labels(config.entity_types):
            raise ValueError(f"config.ner_labels {config.ner_labels} do not match entity_types {config.entity_types}")
        config._validate()
        encoder_config = config.build_encoder_config()
        max_positions = getattr(encoder_config, "max_position_embeddings", None)
        if max_positions is not None and config.max_length > max_positions:
            raise ValueError(
                f"max_length {config.max_length} exceeds the encoder's max_position_embeddings {max_positions}"
            )
        self.encoder = _build_encoder(encoder_config, getattr(torch, config.encoder_dtype))
        self._prepare_encoder()
        hidden = encoder_config.hidden_size
        emb = config.embedding_size
        num_relations = len(config.relation_labels)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.ner_classifier = nn.Linear(hidden, len(config.ner_labels))
        extractor_in = 2 * hidden if config.re_use_context else hidden
        self.context_query = nn.Linear(hidden, hidden, bias=False) if config.re_use_context else None
        self.head_extractor = nn.Linear(extractor_in, emb)
        self.tail_extractor = nn.Linear(extractor_in, emb)
        # Group bilinear (ATLOP): the weight of Linear(emb * block, 1 + R) viewed as [1 + R, K, block, block].
        self.bilinear = nn.Linear(emb * config.re_block_size, 1 + num_relations)
        # token shapes and gazetteer tags, one table (`token_feature_sizes`) added to the encoder's input
        # embeddings (see `embed_inputs`); zeroed in `_init_weights`
        feature_rows = sum(token_feature_sizes(config))
        self.token_feature_embeddings = nn.Embedding(feature_rows, hidden) if feature_rows else None
        # vocabulary names whose matches are a token feature (config.gazetteer_features), saved as `gazetteer/`
        self.gazetteer: Gazetteer | None = None
        self._signature_cache: dict[torch.device, torch.Tensor] = {}
        # concept linker (names -> ids), saved as `linker/` next to the weights; None: entities keep "E<n>" ids
        self.linker: ConceptLinker | None = None
        self.post_init()
        if config.lora is not None:
            # an adapter model's folder has no base encoder weights: from_pretrained reads them from the base
            # checkpoint afterwards, so transformers need not report them missing
            self._keys_to_ignore_on_load_missing.add(r"^encoder\.(?!.*lora_)")

    def _prepare_encoder(self) -> None:
        """Turn off a decoder's causal mask (`config.bidirectional_attention`) and add the LoRA adapter
        (`config.lora`) to `self.encoder`."""
        if self.config.bidirectional_attention:
            make_bidirectional(self.encoder)
        if self.config.lora is not None:
            self.encoder = attach_lora(self.encoder, self.config.lora)

    def _init_weights(self, module: nn.Module) -> None:
        """transformers' initialisation, except the token-feature embeddings: zero, so a fresh model encodes
        exactly as its pretrained encoder until training moves them."""
        if module is self.token_feature_embeddings:
            nn.init.zeros_(module.weight)
            return
        super()._init_weights(module)

    # ---- construction ------------------------------------------------------------------------------------
    @classmethod
    def from_encoder(
        cls,
        encoder_name_or_path: str | os.PathLike = "allenai/scibert_scivocab_cased",
        entity_types: Sequence[str] = ("Chemical", "Disease"),
        relation_types: Mapping[str, Sequence[str]] | None = None,
        do_lower_case: bool | None = None,
        encoder_overrides: Mapping[str, Any] | None = None,
        lora_r: int = 0,
        lora_alpha: float | None = None,
        lora_dropout: float = 0.05,
        lora_target_modules: Sequence[str] | None = None,
        load_in_4bit: bool = False,
        **config_kwargs: Any,
    ) -> "SciBertForJointNerRe":
        """A model whose encoder holds the pretrained weights of `encoder_name_or_path` (Hub id or local
        folder, any BERT-like checkpoint) and whose heads are freshly initialised.

        `do_lower_case` is recorded in the config; by default it is what `load_tokenizer` does for that
        checkpoint (cased names -> False). `encoder_overrides` change the encoder's config before its weights
        load, e.g. `{"attention_probs_dropout_prob": 0.0}` (attention dropout is a third of a CPU step).
        `lora_r` > 0 adds a LoRA adapter of that rank (PEFT) to the frozen encoder: `lora_alpha` (default 2r),
        `lora_dropout`, `lora_target_modules` (default: `backbones_joint_ner_re.LORA_TARGET_MODULES` of the
        family). `load_in_4bit` loads the frozen encoder in 4-bit NF4 (bitsandbytes, CUDA only; needs an adapter).
        `encoder_dtype="bfloat16"` (a config keyword) keeps the encoder's weights in bf16.
        """
        name = str(encoder_name_or_path)
        if os.path.isdir(name):
            check_model_folder(name)  # a damaged checkpoint: InputError naming the file
        encoder_config = AutoConfig.from_pretrained(name, **dict(encoder_overrides or {}))
        if do_lower_case is None:
            do_lower_case = tokenizer_lowercases(load_tokenizer(name))
        lora = None
        if lora_r:
            lora = {"r": lora_r, "alpha": 2 * lora_r if lora_alpha is None else lora_alpha, "dropout": lora_dropout,
                    "target_modules": list(lora_target_modules or default_lora_targets(encoder_config.model_type))}
        elif load_in_4bit:
            raise ValueError("load_in_4bit freezes the encoder in 4-bit: it needs a LoRA adapter (lora_r > 0)")
        config = JointNerReConfig(
            encoder_config=encoder_config.to_dict(),
            entity_types=entity_types,
            relation_types=relation_types,
            encoder_name_or_path=name,
            do_lower_case=do_lower_case,
            lora=lora,
            **config_kwargs,
        )
        model = cls(config)
        dtype = getattr(torch, config.encoder_dtype)
        if load_in_4bit:
            model.encoder = _load_pretrained_encoder(name, encoder_config, dtype=dtype,
                                                     quantization_config=four_bit_config(dtype), device_map={"": 0})
            model.encoder = prepare_for_four_bit_training(model.encoder)
            model._prepare_encoder()
            return model
        pretrained = _load_pretrained_encoder(name, encoder_config, dtype=dtype)
        load_base_weights(model.encoder, pretrained.state_dict())
        return model

    def quantize_for_cpu(self) -> "SciBertForJointNerRe":
        """A copy for CPU inference whose encoder Linear layers run int8 dynamic quantization (weights int8 with
        one scale per output channel, activations quantized on the fly); the NER and RE heads stay float32.

        Faster on CPUs at a cost in accuracy (both measured in results/benchmarks.md); measure it on your data
        with `evaluate.py --int8`. Activation scales are taken over the whole batch, so a document's scores can
        move slightly with the other documents in its batch (use `batch_size=1` where that matters). The copy is
        for `extract`/`forward` in eval mode only: it cannot be trained, moved to a GPU or saved with
        `save_pretrained`; keep the float model for that.
        """
        import copy

        if any(p.device.type != "cpu" for p in self.parameters()):
            raise ValueError("quantize_for_cpu needs the model on the CPU")
        quantized = copy.deepcopy(self).eval()
        quantized.encoder = quantize_linear_layers_int8(quantized.encoder)
        quantized._int8_for_cpu = True
        return quantized

    def use_backend(self, backend: str = "torch", **options: Any) -> "SciBertForJointNerRe":
        """Run the encoder in `encode` (so in `extract`, `extract_modes` and inference `forward`) on `backend`;
        returns self. "torch" (the default) or "onnx": ONNX Runtime (`pip install onnxruntime`), for inference.

        Only the encoder moves; windows, heads, decoding and linking stay in torch. With "onnx", `options` go to
        `onnx_joint_ner_re.OnnxEncoder.for_model`: `provider` ("cpu", default, or "cuda"), `int8` (ONNX Runtime
        dynamic quantization, CPU), `threads`, `folder`. The encoder is exported once, into
        `<model folder>/onnx/model.onnx` when the folder is writable, else into a cache keyed by its weights.
        """
        if backend == "torch":
            self._encoder_runtime = None
        elif backend == "onnx":
            from .onnx_joint_ner_re import OnnxEncoder

            self._encoder_runtime = OnnxEncoder.for_model(self, **options)
        else:
            raise ValueError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        return self

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """`PreTrainedModel.save_pretrained`, plus the linker (if any) as `linker/` in the folder."""
        if getattr(self, "_int8_for_cpu", False):
            raise ValueError("this is an int8 copy from quantize_for_cpu(); save the float model it came from")
        if self.config.lora is not None and kwargs.get("state_dict") is None:
            # an adapter model saves the adapter and the heads; the frozen base comes from encoder_name_or_path
            kwargs["state_dict"] = {k: v for k, v in self.state_dict().items() if not is_base_weight(k)}
        out = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            if self.linker is not None:
                self.linker.save(os.path.join(save_directory, LINKER_FOLDER))
            if self.gazetteer is not None:
                self.gazetteer.save(os.path.join(save_directory, GAZETTEER_FOLDER))
        return out

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """`PreTrainedModel.from_pretrained`, plus the folder's (or Hub repo's) `linker/` and `gazetteer/` when it
        has them. A local folder is checked first (`files_joint_ner_re.check_model_folder`): a missing or damaged
        file raises `InputError` naming it."""
        name = str(pretrained_model_name_or_path)
        if os.path.isdir(name):
            check_model_folder(os.path.join(name, kwargs["subfolder"]) if kwargs.get("subfolder") else name)
        # config.json's `dtype` is the first weight's (a bf16 encoder's, config.encoder_dtype); transformers would
        # load the float32 heads in it too. The encoder is built in its own dtype whatever this says.
        if kwargs.get("dtype") is None and kwargs.get("torch_dtype") is None:
            kwargs["dtype"] = torch.float32
        try:
            loaded = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except Exception as error:
            # safetensors is transformers' dependency, not imported here: its error is known by its name
            if type(error).__name__ == "SafetensorError":
                raise InputError(f"{name}: the weights cannot be read ({error}): a damaged file") from None
            raise
        model = loaded[0] if isinstance(loaded, tuple) else loaded
        if model.config.lora is not None:
            model._load_base_encoder()
        folder = _artifact_folder(name, kwargs, LINKER_FOLDER, ("linker_config.json", "names.tsv.gz"))
        if folder is not None:
            if not os.path.isdir(name):
                _fetch_dense_encoder(name, kwargs, folder)
            model.linker = ConceptLinker.load(folder)
        folder = _artifact_folder(name, kwargs, GAZETTEER_FOLDER, ("gazetteer_config.json", "names.tsv.gz"))
        if folder is not None:
            model.gazetteer = Gazetteer.load(folder)
        return loaded

    def _load_base_encoder(self) -> None:
        """Put the weights of an adapter model's base checkpoint (`config.encoder_name_or_path`) under its adapter:
        its folder holds only the adapter and the heads."""
        base = self.config.encoder_name_or_path
        encoder_config = self.config.build_encoder_config()
        try:
            pretrained = _load_pretrained_encoder(base, encoder_config, dtype=getattr(torch, self.config.encoder_dtype))
        except OSError as error:
            raise InputError(f"this model is a LoRA adapter on {base!r}, which cannot be loaded: {error}") from None
        device = next(self.encoder.parameters()).device
        load_base_weights(self.encoder, {k: v.to(device) for k, v in pretrained.state_dict().items()})

    def set_gazetteer(self, gazetteer: Gazetteer | None) -> "SciBertForJointNerRe":
        """Attach (or with None, detach) the gazetteer whose matches a model with `gazetteer_features` reads."""
        if gazetteer is not None and gazetteer.entity_types != list(self.config.entity_types):
            raise ValueError(f"the gazetteer's entity types {gazetteer.entity_types} are not the model's "
                             f"{self.config.entity_types} (in this order)")
        self.gazetteer = gazetteer
        return self

    def set_linker(self, linker: ConceptLinker | None) -> "SciBertForJointNerRe":
        """Attach (or with None, detach) the concept linker used by `extract` and `link_mentions`."""
        if linker is not None:
            unknown = sorted(set(self.config.entity_types) - set(linker.entity_types))
            if unknown:
                raise ValueError(f"the linker has no names for entity types {unknown} (it has {linker.entity_types})")
        self.linker = linker
        return self

    def link_mentions(self, text: str, mentions: Sequence[Mapping[str, Any]]) -> list[Mention]:
        """Concept ids for given mentions (no NER): each `{"start", "end", "type"}` (character offsets into
        `text`) comes back as a `Mention` of the result contract (`ids`: CURIEs, empty for NIL; `link_score`)."""
        if self.linker is None:
            raise InputError("this model has no linker (train.py builds one; or call set_linker)")
        if not isinstance(text, str):
            raise InputError(f"link_mentions takes the document text as a str, got {type(text).__name__}")
        if isinstance(mentions, (str, bytes, Mapping)) or not isinstance(mentions, Sequence):
            raise InputError(f"link_mentions takes a list of mentions ({{'start', 'end', 'type'}} dicts), got "
                             f"{type(mentions).__name__}")
        for i, m in enumerate(mentions):
            if not isinstance(m, Mapping) or not all(isinstance(m.get(k), int) and not isinstance(m.get(k), bool)
                                                     for k in ("start", "end")):
                raise InputError(f"mention {i}: expected a dict with int 'start', 'end' and a 'type', got {m!r}")
            if not (0 <= m["start"] < m["end"] <= len(text)):
                raise InputError(f"mention {i}: offsets {m['start']}-{m['end']} are outside the text (length {len(text)})")
            if m.get("type") not in self.linker.entity_types:
                raise InputError(f"mention {i}: type {m.get('type')!r} is not one the linker has names for "
                                 f"({', '.join(self.linker.entity_types)})")
        links = self.linker.link_mentions(text, mentions)
        return [
            {"start": m["start"], "end": m["end"], "text": text[m["start"] : m["end"]], "type": m["type"],
             "ids": list(link.ids), "link_score": None if link.is_nil else link.score}
            for m, link in zip(mentions, links)
        ]

    def check_label_sets(
        self, entity_types: Sequence[str] | None = None, relation_types: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        """ValueError if the given label sets differ from the model's (order is free: labels are looked up by
        name, the model's config fixes the logit order)."""
        if entity_types is not None and sorted(entity_types) != sorted(self.config.entity_types):
            raise ValueError(
                f"entity types {list(entity_types)} do not match the checkpoint's {self.config.entity_types}"
            )
        if relation_types is not None:
            given = {str(k): list(v) for k, v in relation_types.items()}
            if given != self.config.relation_types:
                raise ValueError(
                    f"relation types {given} do not match the checkpoint's {self.config.relation_types}"
                )

    # ---- pieces of the forward pass ----------------------------------------------------------------------
    def embed_inputs(self, input_ids: torch.Tensor, feature_ids: torch.Tensor | None) -> torch.Tensor | None:
        """The encoder's word embeddings plus the sum of each token's feature embeddings, or None for a model
        without token features (the encoder then embeds `input_ids` itself)."""
        if self.token_feature_embeddings is None:
            return None
        if feature_ids is None:
            raise ValueError("this model uses token features: pass the `feature_ids` of collate_features")
        words = self.encoder.get_input_embeddings()(input_ids)
        return words + self.token_feature_embeddings(feature_ids).sum(-2).to(words.dtype)

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_index: torch.Tensor,
        feature_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Encode all windows and gather one state per document token: `[batch, max_tokens, hidden]`.

        Windows go through the encoder `config.windows_per_pass` at a time (each window is encoded on its own, so
        the split changes nothing but float rounding); only the states the tokens keep are gathered from each
        call, so a long document never holds the encoder's working memory for all its windows at once.
        """
        per_pass = self.config.windows_per_pass
        if input_ids.size(0) <= per_pass:
            return self._encode_windows(input_ids, attention_mask, feature_ids)[token_index]
        width = input_ids.size(1)
        sequence: torch.Tensor | None = None
        for start in range(0, input_ids.size(0), per_pass):
            part = slice(start, start + per_pass)
            hidden = self._encode_windows(
                input_ids[part], attention_mask[part], None if feature_ids is None else feature_ids[part]
            )
            if sequence is None:
                sequence = hidden.new_empty(*token_index.shape, hidden.size(-1))
            low = start * width
            inside = (token_index >= low) & (token_index < low + hidden.size(0))
            sequence[inside] = hidden[token_index[inside] - low]
        return sequence

    def _encode_windows(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, feature_ids: torch.Tensor | None
    ) -> torch.Tensor:
        """The encoder's last hidden states of some windows, flattened: `[windows * window_length, hidden]`."""
        runtime = getattr(self, "_encoder_runtime", None)  # set by use_backend("onnx")
        if runtime is not None:
            hidden = runtime(input_ids, attention_mask, feature_ids)
        else:
            embeds = self.embed_inputs(input_ids, feature_ids)  # None: the encoder embeds input_ids itself
            with sdpa_without_cudnn() if input_ids.is_cuda else nullcontext():
                hidden = self.encoder(input_ids=input_ids if embeds is None else None, inputs_embeds=embeds,
                                      attention_mask=attention_mask).last_hidden_state
        heads = self.ner_classifier.weight.dtype
        if hidden.dtype != heads and not torch.is_autocast_enabled(hidden.device.type):
            hidden = hidden.to(heads)  # a bf16 encoder (config.encoder_dtype) under float32 heads
        return hidden.reshape(-1, hidden.size(-1))

    def _allowed_labels(self, entity_types: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
        """`[batch, pairs, R]` bool: labels whose (head type, tail type) matches the pair's entity types."""
        device = entity_types.device
        table = self._signature_cache.get(device)
        if table is None:
            types = self.config.entity_types
            n = len(types)
            table = torch.zeros(n, n, len(self.config.relation_labels), dtype=torch.bool)
            for r, (h, t) in enumerate(self.config.relation_types.values()):
                table[types.index(h), types.index(t), r] = True
            table = table.to(device)
            self._signature_cache[device] = table
        head_type = torch.gather(entity_types, 1, pairs[..., 0]).clamp(min=0)
        tail_type = torch.gather(entity_types, 1, pairs[..., 1]).clamp(min=0)
        return table[head_type, tail_type]

    def entity_states(
        self, sequence: torch.Tensor, mention_index: torch.Tensor, mention_mask: torch.Tensor
    ) -> torch.Tensor:
        """`[batch, entities, hidden]`: each entity the log-sum-exp of the states at its mentions' first tokens;
        zeros for an entity with no mention (padding).

        Summed over the flat list of real mentions rather than over `[entities, max mentions]`: in a full text
        one concept can have thousands of mentions, and padding every entity to that count would cost memory
        in proportion to entities x mentions.
        """
        batch, num_entities = mention_index.shape[:2]
        hidden = sequence.size(-1)
        doc, entity, slot = mention_mask.nonzero(as_tuple=True)
        states = sequence[doc, mention_index[doc, entity, slot]]  # [mentions, H]
        owner = (doc * num_entities + entity).unsqueeze(-1).expand(-1, hidden)
        # the largest state per entity and dimension keeps exp() in range; as a constant it leaves the gradient
        # (the softmax over the entity's mentions) unchanged
        peak = sequence.new_zeros(batch * num_entities, hidden).scatter_reduce(
            0, owner, states.detach(), reduce="amax", include_self=False
        )
        shifted = torch.exp(states - peak.gather(0, owner))
        total = sequence.new_zeros(batch * num_entities, hidden).scatter_add(0, owner, shifted)
        # a real entity's total is >= 1 (its largest mention adds exp(0)); a padding one has 0 and gets 0 + log(1)
        return (peak + torch.log(total.clamp(min=1.0))).view(batch, num_entities, hidden)

    def relation_logits(
        self,
        sequence: torch.Tensor,
        token_mask: torch.Tensor,
        mention_index: torch.Tensor,
        mention_mask: torch.Tensor,
        entity_types: torch.Tensor,
        pairs: torch.Tensor,
        pair_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw logits `[batch, pairs, 1 + R]` (TH first) and the allowed-label mask `[batch, pairs, R]`.

        Pairs are scored in blocks (`relation_blocks_joint_ner_re`): the short documents of a batch share one,
        a long document's pairs fill blocks of at most `config.re_pairs_per_block`, and each block's context
        vectors are formed over blocks of `config.re_tokens_per_block` tokens, so no tensor holds all pairs, or
        pairs times all tokens. Rows where `pair_mask` is False (padding) are not scored and hold zeros; without
        `pair_mask` every row is scored. A batch without any real pair has its first row scored anyway, so that
        every parameter of the head takes part in the graph (DDP needs that).
        """
        batch, num_pairs = pairs.shape[:2]
        entities = self.dropout(self.entity_states(sequence, mention_index, mention_mask))  # [B, E, H]
        if pair_mask is None:
            pair_mask = torch.ones(batch, num_pairs, dtype=torch.bool, device=pairs.device)
        if not pair_mask.any():
            pair_mask = torch.zeros_like(pair_mask)
            pair_mask[0, 0] = True
        doc, row = pair_mask.nonzero(as_tuple=True)  # real pairs, document by document
        local = pairs[doc, row]  # [P, 2] entity indices within each document
        query = None
        if self.context_query is not None:
            query = self.context_query(entities) / math.sqrt(sequence.size(-1))
        # each document's tokens end where its last real one does (collate_features puts them first)
        ends = (token_mask * torch.arange(1, token_mask.size(1) + 1, device=token_mask.device)).amax(-1).tolist()
        scored = []
        for block in plan_pair_blocks(doc, local, ends, self.config.re_pairs_per_block,
                                      self.config.re_tokens_per_block):
            docs = slice(block.first, block.last + 1)
            block_doc, head, tail = doc[block.pairs], local[block.pairs, 0], local[block.pairs, 1]
            context = None
            if query is not None:
                width = max(ends[docs])
                context = pair_context(query[docs], sequence[docs, :width], token_mask[docs, :width],
                                       block_doc - block.first, head, tail, self.config.re_tokens_per_block)
            scored.append((block.pairs, self._score_pairs(entities[block_doc, head], entities[block_doc, tail],
                                                          context)))
        order = torch.cat([index for index, _ in scored])
        values = torch.cat([scores for _, scores in scored])
        logits = values.new_zeros(batch, num_pairs, values.size(-1))
        logits[doc[order], row[order]] = values
        return logits, self._allowed_labels(entity_types, pairs)

    def _score_pairs(self, head: torch.Tensor, tail: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """`[pairs, 1 + R]` logits from the head and tail entity states (and the pairs' context vectors)."""
        if context is not None:
            head = torch.cat([head, context], dim=-1)
            tail = torch.cat([tail, context], dim=-1)
        head = torch.tanh(self.head_extractor(head))
        tail = torch.tanh(self.tail_extractor(tail))
        block = self.config.re_block_size
        groups = head.size(-1) // block
        weight = self.bilinear.weight.view(-1, groups, block, block)  # [1 + R, K, b, b]
        head = head.view(-1, groups, block)
        tail = tail.view(-1, groups, block)
        # sum_k head_k^T W_rk tail_k, contracted so the [pairs, K, b, b] outer product is never built
        projected = torch.einsum("pki,rkij->prkj", head, weight.to(head.dtype))
        return torch.einsum("prkj,pkj->pr", projected, tail) + self.bilinear.bias.to(head.dtype)

    # ---- forward ---------------------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_index: torch.Tensor,
        token_mask: torch.Tensor,
        mention_index: torch.Tensor | None = None,
        mention_mask: torch.Tensor | None = None,
        entity_types: torch.Tensor | None = None,
        pairs: torch.Tensor | None = None,
        pair_mask: torch.Tensor | None = None,
        ner_labels: torch.Tensor | None = None,
        pair_labels: torch.Tensor | None = None,
        feature_ids: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> JointNerReOutput:
        """Logits (and losses when labels are given) for a batch from `collate_features`.

        The RE part runs when the entity tensors are given (training passes gold entities: teacher forcing).
        """
        sequence = self.encode(input_ids, attention_mask, token_index, feature_ids)
        ner_logits = self.ner_classifier(self.dropout(sequence))
        ner_loss = re_loss = re_logits = out_pairs = None
        if ner_labels is not None:
            labels = ner_labels.masked_fill(~token_mask, -100)
            logits = ner_logits.float()
            if torch.are_deterministic_algorithms_enabled():
                # the [batch, labels, tokens] form runs nll_loss2d, which has no deterministic CUDA kernel; the
                # flat form's gradient differs from it in the last bit, so it is kept to this mode
                logits, labels = logits.reshape(-1, logits.size(-1)), labels.reshape(-1)
            else:
                logits = logits.transpose(1, 2)
            losses = nn.functional.cross_entropy(logits, labels, ignore_index=-100, reduction="sum")
            ner_loss = losses / (labels != -100).sum().clamp(min=1)
        if mention_index is not None:
            if pair_mask is None:
                raise ValueError("pairs need a pair_mask")
            raw, allowed = self.relation_logits(sequence, token_mask, mention_index, mention_mask, entity_types, pairs,
                                                pair_mask)
            raw = raw.float()
            re_logits = (raw[..., 1:] - raw[..., :1]).masked_fill(~allowed, MASKED_LOGIT)
            out_pairs = pairs.masked_fill(~pair_mask.unsqueeze(-1), -1)
            if pair_labels is not None:
                num_labels = len(self.config.relation_labels)
                if pair_labels.size(-1) == 0:  # no document in the batch had a candidate pair
                    pair_labels = pair_labels.new_zeros(*pair_labels.shape[:-1], num_labels)
                if pair_labels.size(-1) != num_labels:
                    raise ValueError(
                        f"pair_labels have {pair_labels.size(-1)} relation labels, the model has {num_labels} "
                        f"({self.config.relation_labels})"
                    )
                re_loss = adaptive_threshold_loss(raw, pair_labels, allowed, pair_mask)
        loss = None
        if ner_loss is not None or re_loss is not None:
            loss = sum(
                weight * part
                for weight, part in ((self.config.ner_loss_weight, ner_loss), (self.config.re_loss_weight, re_loss))
                if part is not None
            )
        return JointNerReOutput(
            loss=loss, ner_loss=ner_loss, re_loss=re_loss, ner_logits=ner_logits, re_logits=re_logits, pairs=out_pairs
        )

    # ---- inference for downstream users -------------------------------------------------------------------
    def extract(
        self,
        inputs: str | Mapping[str, Any] | Sequence[str | Mapping[str, Any]],
        tokenizer: PreTrainedTokenizerBase,
        mode: str = "end2end",
        batch_size: int = 8,
        threshold: float | None = None,
        parallel_batches: int = 1,
    ) -> list[DocumentResult]:
        """Mentions, entities and relations for each input text or document: one `DocumentResult` each (the result
        contract of `outputs_joint_ner_re`, the same keys from every path).

        inputs: a string, a document dict (`text`, or `title` and `abstract`, whose text is then
        title + " " + abstract as in the corpora; optionally `pmid`), or a list of them. Anything else raises
        `InputError` saying what is accepted. An empty (or whitespace-only) text gives empty lists.
        mode="end2end": mentions come from the NER head. With a linker (`self.linker`, saved with the model),
        each mention gets `ids` (CURIEs such as "MESH:D002945"; empty when NIL) and `link_score`; mentions that
        link to the same id form one entity with that id (a composite mention is in each of its ids' entities).
        Mentions with no id form `NIL:<type>:<normalised text>` entities. Relations are predicted between those
        entities.
        mode="gold": each document's gold `mentions` and `entities` (the corpora's `documents` rows) are used for
        relation extraction and returned as they are; plain strings are refused.
        threshold: a probability; relations scoring above it are returned (default: the model's calibrated
        threshold, `config.relation_threshold`).

        parallel_batches (CPU only): how many batches run at once, each on its own thread with an equal share of
        torch's threads (`map_on_cpu_threads`). The mentions and relations are those of one batch at a time;
        scores can differ in float rounding, as they do between thread counts.
        """
        if mode not in ("end2end", "gold"):
            raise InputError(f"mode must be 'end2end' or 'gold', got {mode!r}")
        return self.extract_modes(inputs, tokenizer, {mode: threshold}, batch_size, parallel_batches)[mode]

    @torch.inference_mode()
    def extract_modes(
        self,
        inputs: str | Mapping[str, Any] | Sequence[str | Mapping[str, Any]],
        tokenizer: PreTrainedTokenizerBase,
        modes: Mapping[str, float | None],
        batch_size: int = 8,
        parallel_batches: int = 1,
    ) -> dict[str, list[DocumentResult]]:
        """`extract` in several modes from one encoder pass: `{mode: threshold or None (the config's)}` in,
        `{mode: results}` out, each list what `extract(inputs, tokenizer, mode, threshold=...)` returns.

        Evaluation and validation score both modes; this encodes and decodes each document's NER once for
        them. The relation head, the only part that differs, runs once per mode.
        """
        if not isinstance(modes, Mapping):
            raise InputError(f"modes is a dict {{mode: threshold or None}} over 'end2end' and 'gold', got "
                             f"{type(modes).__name__}")
        if not callable(tokenizer) or not hasattr(tokenizer, "pad_token_id"):
            raise InputError(f"extract needs the model's tokenizer (AutoTokenizer.from_pretrained(<model folder>)), "
                             f"got {type(tokenizer).__name__}")
        modes = dict(modes)
        if not modes or any(m not in ("end2end", "gold") for m in modes):
            raise InputError(f"modes must be a non-empty subset of ('end2end', 'gold'), got {list(modes)}")
        if not isinstance(batch_size, int) or not isinstance(parallel_batches, int) or batch_size < 1 \
                or parallel_batches < 1 or isinstance(batch_size, bool) or isinstance(parallel_batches, bool):
            raise InputError(f"batch_size and parallel_batches must be ints >= 1, got {batch_size!r}, {parallel_batches!r}")
        if parallel_batches > 1 and self.device.type != "cpu":
            raise InputError(f"parallel_batches > 1 is for CPU inference; the model is on {self.device}")
        margins = {
            m: probability_to_margin(self.config.relation_threshold if t is None else t) for m, t in modes.items()
        }
        with_gold = "gold" in modes
        documents = input_documents(inputs, with_gold=with_gold)

        results: dict[str, list[DocumentResult | None]] = {m: [None] * len(documents) for m in modes}
        features: dict[int, dict[str, Any]] = {}
        for i, doc in enumerate(documents):
            text = doc["text"]
            if not text.strip():
                for m in modes:
                    results[m][i] = {"pmid": doc["pmid"], "mentions": [], "entities": [], "relations": []}
                continue
            if not with_gold:  # gold annotations, if any, play no part in end2end mode (nor are they validated)
                doc = {"pmid": doc["pmid"], "text": text}
            try:
                features[i] = prepare_features(doc, tokenizer, self.config, with_labels=False,
                                               with_entities=with_gold, gazetteer=self.gazetteer)
            except InputError:
                raise
            except ValueError as error:  # a gold document whose annotations do not fit its text
                raise InputError(f"input {i} ({doc['pmid']!r}): {error}") from None
            except (KeyError, TypeError) as error:  # gold mentions / entities that are not the corpora's dicts
                if not with_gold:
                    raise
                raise InputError(f"input {i} ({doc['pmid']!r}): malformed gold mentions or entities ({type(error).__name__}: "
                                 f"{error}); they are the `documents` rows' lists of dicts") from None
        order = inference_order(features)
        chunks = [order[b : b + batch_size] for b in range(0, len(order), batch_size)]

        def run(chunk: list[int]) -> dict[str, list[DocumentResult]]:
            return self._extract_batch([documents[i] for i in chunk], [features[i] for i in chunk], tokenizer, margins)

        was_training = self.training
        self.eval()
        try:
            if parallel_batches > 1 and len(chunks) > 1:
                batch_results = map_on_cpu_threads(run, chunks, min(parallel_batches, len(chunks)))
            else:
                batch_results = [run(chunk) for chunk in chunks]
        finally:
            self.train(was_training)
        for chunk, by_mode in zip(chunks, batch_results):
            for m, chunk_results in by_mode.items():
                for i, result in zip(chunk, chunk_results):
                    results[m][i] = result
        return results  # type: ignore[return-value]

    def _extract_batch(
        self,
        documents: Sequence[Mapping[str, Any]],
        features: Sequence[dict[str, Any]],
        tokenizer: PreTrainedTokenizerBase,
        margins: Mapping[str, float],
    ) -> dict[str, list[DocumentResult]]:
        device = self.device
        batch = collate_features(features, tokenizer.pad_token_id)
        feature_ids = batch.get("feature_ids")
        sequence = self.encode(
            batch["input_ids"].to(device), batch["attention_mask"].to(device), batch["token_index"].to(device),
            None if feature_ids is None else feature_ids.to(device),
        )
        token_mask = batch["token_mask"].to(device)
        ner_logits = self.ner_classifier(sequence).float().cpu()
        labels, constrained = self.config.ner_labels, self.config.ner_constrained_decoding
        predicted = [
            decode_bio(
                ner_tag_ids(ner_logits[b, : f["length"]], f["offsets"], doc["text"], labels, constrained),
                f["offsets"], doc["text"], labels,
            )
            for b, (doc, f) in enumerate(zip(documents, features))
        ]
        return {
            mode: self._relations_for_mode(mode, margin, documents, features, predicted, sequence, token_mask)
            for mode, margin in margins.items()
        }

    def _relations_for_mode(
        self,
        mode: str,
        margin: float,
        documents: Sequence[Mapping[str, Any]],
        features: Sequence[dict[str, Any]],
        predicted: Sequence[list[dict[str, Any]]],
        sequence: torch.Tensor,
        token_mask: torch.Tensor,
    ) -> list[DocumentResult]:
        """One mode's results for a batch whose encoder states and NER mentions are computed; relations are kept
        when their logit margin is above `margin` (their score, a probability, above the user's threshold)."""
        device = self.device
        links: list[list[LinkResult]] | None = None
        if mode == "end2end":
            if self.linker is not None:
                threshold = self.linker.end2end_threshold
                links = [
                    self.linker.link_mentions(doc["text"], mentions, threshold=threshold)
                    for doc, mentions in zip(documents, predicted)
                ]
                entity_lists = [group_linked_mentions(m, l) for m, l in zip(predicted, links)]
            else:
                entity_lists = [group_mentions(mentions) for mentions in predicted]
            entity_parts = [
                entity_features(
                    [[mentions[m]["token_start"] for m in e["mention_indices"]] for e in entities],
                    [self.config.entity_types.index(e["type"]) for e in entities],
                    self.config,
                )
                for mentions, entities in zip(predicted, entity_lists)
            ]
        else:
            entity_lists = [list(doc["entities"]) for doc in documents]
            entity_parts = list(features)
        entity_batch = {k: v.to(device) for k, v in collate_entities(entity_parts).items()}
        raw, allowed = self.relation_logits(
            sequence,
            token_mask,
            entity_batch["mention_index"],
            entity_batch["mention_mask"],
            entity_batch["entity_types"],
            entity_batch["pairs"],
            entity_batch["pair_mask"],
        )
        raw = raw.float()
        re_logits = (raw[..., 1:] - raw[..., :1]).masked_fill(~allowed, MASKED_LOGIT).cpu()
        results: list[DocumentResult] = []
        for b, doc in enumerate(documents):
            entities = entity_lists[b]
            relations = decode_relations(
                re_logits[b], entity_parts[b]["pairs"], [e["id"] for e in entities], self.config.relation_labels,
                margin, MASKED_LOGIT,
            )
            if mode == "end2end":
                mentions = [public_mention(m) for m in predicted[b]]
                if links is not None:
                    for mention, link in zip(mentions, links[b]):
                        mention["ids"] = list(link.ids)
                        mention["link_score"] = None if link.is_nil else link.score
            else:
                mentions = [
                    {"start": m["start"], "end": m["end"], "text": doc["text"][m["start"] : m["end"]],
                     "type": m["type"], "ids": [i for i in m.get("ids") or [] if i not in UNLINKED_RAW_IDS],
                     "link_score": None}
                    for m in doc["mentions"]
                ]
            results.append({
                "pmid": doc["pmid"],
                "mentions": mentions,
                "entities": [
                    {"id": e["id"], "type": e["type"], "mention_indices": list(e["mention_indices"])} for e in entities
                ],
                "relations": relations,
            })
        return results


# `save_pretrained` writes `auto_map` (and copies this code next to the weights) for classes marked like this
SciBertForJointNerRe.register_for_auto_class("AutoModel")
