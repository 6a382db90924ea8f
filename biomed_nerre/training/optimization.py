"""Optimizer with separate encoder / head learning rates, the warmup + linear decay schedule, and the loss scale
of gradient accumulation's last window."""

from __future__ import annotations

import torch
from transformers import get_linear_schedule_with_warmup

_NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "LayerNorm.bias")


def build_optimizer(
    model: torch.nn.Module, encoder_lr: float, head_lr: float, weight_decay: float, encoder_prefix: str = "encoder."
) -> torch.optim.AdamW:
    """AdamW with four groups: encoder/heads x decayed/not decayed (biases and LayerNorm weights).

    Each group carries a "name" ("encoder" or "heads") so logs can report the right learning rate. The fused
    AdamW kernel is used where torch has one for the parameters' device (CPU and CUDA), as the `Trainer`
    does by default."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_encoder = name.startswith(encoder_prefix)
        decays = not any(marker in name for marker in _NO_DECAY)
        groups.setdefault((is_encoder, decays), []).append(param)
    if not any(is_encoder for is_encoder, _ in groups):
        raise ValueError(f"no parameter name starts with {encoder_prefix!r}: cannot tell the encoder from the heads")
    param_groups = [
        {
            "params": params,
            "name": "encoder" if is_encoder else "heads",
            "lr": encoder_lr if is_encoder else head_lr,
            "weight_decay": weight_decay if decays else 0.0,
        }
        for (is_encoder, decays), params in sorted(groups.items())
    ]
    devices = {p.device.type for group in param_groups for p in group["params"]}
    fused = devices <= {"cpu", "cuda"}
    return torch.optim.AdamW(param_groups, fused=fused)


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float):
    """Linear warmup over ``warmup_ratio * total_steps`` optimizer steps, then linear decay to zero."""
    return get_linear_schedule_with_warmup(optimizer, int(round(warmup_ratio * total_steps)), total_steps)


def accumulation_scale(batch_index: int, batches_in_epoch: int, accumulation_steps: int) -> float:
    """Factor for the loss of an epoch's batch `batch_index` (from 0) so that each optimizer step gets the mean
    gradient of its own window of batches.

    `Accelerator.backward` divides every loss by `accumulation_steps`, but an epoch whose batch count it does
    not divide ends with a shorter window (Accelerate steps at the end of the loader): those batches are
    scaled up to be divided by their own count."""
    full_windows_end = batches_in_epoch // accumulation_steps * accumulation_steps
    if batch_index < full_windows_end:
        return 1.0
    return accumulation_steps / (batches_in_epoch - full_windows_end)
