"""What the joint model does to its encoder beyond building it: bidirectional attention for decoder LLMs, LoRA
adapters (PEFT), and the weights of an adapter model's base checkpoint.

Imports only torch and the standard library; `peft` is imported inside the functions that add an adapter, so a
model without one never needs it (this file ships with the model).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

# LoRA's default target modules per `model_type`: every projection of attention and of the MLP (or of the SSM
# mixer), the choice the QLoRA paper measured as needed to match full fine-tuning. Names are module-name
# suffixes, as PEFT matches them.
_DECODER_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_TARGET_MODULES: dict[str, list[str]] = {
    "bert": ["query", "key", "value", "dense"],
    "roberta": ["query", "key", "value", "dense"],
    "deberta-v2": ["query_proj", "key_proj", "value_proj", "dense"],
    "modernbert": ["Wqkv", "Wo", "Wi"],
    "llama": _DECODER_PROJECTIONS,
    "mistral": _DECODER_PROJECTIONS,
    "qwen2": _DECODER_PROJECTIONS,
    "qwen3": _DECODER_PROJECTIONS,
    "gemma": _DECODER_PROJECTIONS,
    "gemma2": _DECODER_PROJECTIONS,
    "mamba": ["in_proj", "x_proj", "dt_proj", "out_proj"],
    "mamba2": ["in_proj", "out_proj"],
    "jamba": ["q_proj", "k_proj", "v_proj", "o_proj", "in_proj", "x_proj", "dt_proj", "out_proj"],
}
LORA_MARKER = "lora_"  # in the name of every parameter PEFT's LoRA layers add


def default_lora_targets(model_type: str) -> list[str]:
    """LoRA's target modules for an encoder of `model_type` (`LORA_TARGET_MODULES`); ValueError naming the
    families that have defaults when there is none (then give `target_modules` yourself)."""
    if model_type not in LORA_TARGET_MODULES:
        raise ValueError(f"no default LoRA target modules for model_type {model_type!r} (defaults exist for "
                         f"{', '.join(sorted(LORA_TARGET_MODULES))}); give the target modules yourself")
    return list(LORA_TARGET_MODULES[model_type])


def make_bidirectional(encoder: nn.Module) -> bool:
    """Let every token of a decoder LLM attend to the whole window (no causal mask); True when the encoder had
    causal attention to turn off.

    transformers builds a bidirectional mask instead of a causal one when the model's config says
    `is_causal=False` (`masking_utils.create_causal_mask`), and its attention functions fall back to each attention
    module's `is_causal` when there is no mask to pass (no padding): both are set. Encoders (BERT) have nothing
    causal and are left as they are; state-space layers (Mamba) are causal by construction and stay so.
    """
    causal = [m for m in encoder.modules() if getattr(m, "is_causal", False) is True]
    if not causal:
        return False
    for module in causal:
        module.is_causal = False
    encoder.config.is_causal = False
    return True


def attach_lora(encoder: nn.Module, lora: Mapping[str, Any]) -> nn.Module:
    """`encoder` with LoRA adapters (PEFT) on its `lora["target_modules"]`, of rank `lora["r"]`, scaling
    `lora["alpha"] / r` and dropout `lora["dropout"]`; only the adapters' parameters (float32) stay trainable. The encoder is
    changed in place (its Linear layers become PEFT's LoRA layers holding the original as `base_layer`)."""
    try:  # in a try block: transformers' remote-code check then does not require peft for every model
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise ImportError("this model has a LoRA adapter (config.lora): install peft (pip install peft, or the "
                          "project's `lora` extra)") from None
    config = LoraConfig(r=int(lora["r"]), lora_alpha=float(lora["alpha"]), lora_dropout=float(lora["dropout"]),
                        target_modules=list(lora["target_modules"]), bias="none")
    encoder = inject_adapter_in_model(config, encoder)
    for name, parameter in encoder.named_parameters():
        parameter.requires_grad = LORA_MARKER in name
        if parameter.requires_grad and parameter.dtype != torch.float32:
            # trained weights stay float32 over a bf16 base (PEFT casts their input), built or loaded alike
            parameter.data = parameter.data.float()
    return encoder


def prepare_for_four_bit_training(encoder: nn.Module) -> nn.Module:
    """PEFT's preparation of a 4-bit (bitsandbytes) encoder for adapter training: norms in float32, frozen base."""
    try:  # in a try block: transformers' remote-code check then does not require peft for every model
        from peft import prepare_model_for_kbit_training
    except ImportError:
        raise ImportError("4-bit training needs peft (pip install peft, or the project's `lora` extra)") from None
    return prepare_model_for_kbit_training(encoder, use_gradient_checkpointing=False)


def is_base_weight(name: str, prefix: str = "encoder.") -> bool:
    """Whether a state-dict key of the joint model is one of the (frozen) base encoder's weights, which an adapter
    model does not save: they come from its base checkpoint."""
    return name.startswith(prefix) and LORA_MARKER not in name


def load_base_weights(encoder: nn.Module, weights: Mapping[str, torch.Tensor]) -> None:
    """Copy a plain checkpoint's encoder `weights` into `encoder`, which may hold LoRA layers (a wrapped Linear
    keeps its weight as `<name>.base_layer.weight`). Every base weight of `encoder` must be given and every
    given weight must find its place: RuntimeError naming the first few that do not."""
    own = encoder.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unplaced = []
    for key, value in weights.items():
        if key in own:
            mapped[key] = value
            continue
        module, _, leaf = key.rpartition(".")
        wrapped = f"{module}.base_layer.{leaf}" if module else f"base_layer.{leaf}"
        if wrapped in own:
            mapped[wrapped] = value
        else:
            unplaced.append(key)
    missing = [k for k in own if LORA_MARKER not in k and k not in mapped]
    if unplaced or missing:
        raise RuntimeError(f"the base checkpoint does not fit the encoder: weights without a place "
                           f"{unplaced[:5]}, weights not given {missing[:5]}")
    encoder.load_state_dict(mapped, strict=False)
