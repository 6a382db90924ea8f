"""A training batch that does not fit in memory: one clear error naming its documents and what to change.

The relation head's memory is bounded by its block sizes (`re_pairs_per_block`, `re_tokens_per_block`), but
the encoder keeps every window's activations for the backward pass, so a long enough document (a full text
is hundreds of windows) outgrows any GPU. Where it does, the out-of-memory error of the device (CUDA) or of the
CPU allocator becomes `BatchDoesNotFitError`, which `train.py` prints as one `error:` line.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import torch

REMEDIES = (
    "train with --gradient-checkpointing true (the encoder recomputes activations instead of keeping them), "
    "--mixed-precision bf16, a smaller --per-device-batch-size (with more --gradient-accumulation-steps to keep "
    "the effective batch), or split such documents (e.g. by section) in the training data"
)


class BatchDoesNotFitError(RuntimeError):
    """A training batch needs more memory than its device has; the message names the batch's documents."""


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA's out-of-memory error and the CPU allocator's (a RuntimeError saying it cannot allocate)."""
    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def describe_batch(batch: Mapping[str, torch.Tensor], pmids: Sequence[str] | None) -> str:
    """`PMID 123 (48,210 tokens, 96 entities, 2,304 pairs), ...` for the documents of a collated batch, the
    largest (in tokens) first."""
    lengths = batch["token_mask"].sum(-1).tolist()
    entities = (batch["entity_types"] >= 0).sum(-1).tolist() if "entity_types" in batch else [0] * len(lengths)
    pairs = batch["pair_mask"].sum(-1).tolist() if "pair_mask" in batch else [0] * len(lengths)
    names = list(pmids) if pmids is not None else [f"#{b}" for b in range(len(lengths))]
    order = sorted(range(len(lengths)), key=lambda b: -lengths[b])
    return ", ".join(f"PMID {names[b]} ({lengths[b]:,} tokens, {entities[b]:,} entities, {pairs[b]:,} pairs)"
                     for b in order)


def _cause(error: BaseException) -> str:
    """The first two sentences of an out-of-memory message, without the CPU allocator's `[enforce fail at ...]`
    prefix: "CUDA out of memory. Tried to allocate 2.00 GiB", "DefaultCPUAllocator: can't allocate memory: you
    tried to allocate 4194304 bytes. Error code 12 (Cannot allocate memory)"."""
    text = re.sub(r"^\[enforce fail at [^\]]*\][^.]*\.\s*", "", " ".join(str(error).split()))
    return ". ".join(text.split(". ")[:2]).rstrip(".") or type(error).__name__


@contextmanager
def explain_out_of_memory(batch: Mapping[str, torch.Tensor], pmids: Sequence[str] | None, device: object) -> Iterator[None]:
    """Turn an out-of-memory error raised inside into `BatchDoesNotFitError` naming the batch's documents.

    The batch is described before the step: once memory has run out, the failed step's activations are still held
    by the error's traceback, and even the few small tensors the description needs may not be allocated (the
    loop already reads the batch's token count each step, so this adds no device synchronisation of note)."""
    described = describe_batch(batch, pmids)
    windows = int(batch["input_ids"].size(0))
    try:
        yield
    except (RuntimeError, MemoryError) as error:
        if not is_out_of_memory(error):
            raise
        cause = _cause(error)
        raise BatchDoesNotFitError(
            f"a training batch of {windows:,} encoder windows does not fit in the memory of {device} ({cause}): "
            f"{described}; {REMEDIES}"
        ) from error
