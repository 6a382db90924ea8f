"""Seeded, length-grouped batch sampler whose order depends only on (seed, epoch), so resumes replay it.

It knows how many processes share the epoch. Accelerate's `BatchSamplerShard` deals the batches out in
rounds (batch i to process i % P) and, when the sampler gives a fixed ``batch_size``, skips any round whose
last batch is short and pads the final round with repeated documents. With a shuffled batch order the short
batch can land mid-epoch, so every process silently loses that round and yields fewer batches than
``len(loader)`` promises. This sampler therefore reports ``batch_size = None`` (batches of varying size,
which `BatchSamplerShard` deals out round by round as they come) and always yields a whole number of rounds.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch


class LengthGroupedBatchSampler:
    """Batches of indices whose documents have similar token lengths, in a seeded random order.

    Like transformers' length-grouped sampler: shuffle, cut into mega-batches of ``50 * batch_size``,
    sort each by length, cut into batches, then shuffle the batches. The order depends only on
    ``seed + epoch``, so a resumed run sees the same batches as an uninterrupted one.

    With ``num_processes`` P, the number of batches is a multiple of P, so every process gets the same
    number of batches and each document is in exactly one batch per epoch: batches hold ``batch_size``
    documents except a few last ones (before shuffling), which share the remainder evenly (with one process,
    the usual single short batch). Only when the epoch has fewer documents than batches (batch size 1 and a
    document count that P does not divide, or fewer documents than P) do the batches left empty take the
    epoch's first documents again, as Accelerate's own padding does.
    """

    # read by Accelerate's batch-sampler sharding: None means "batch sizes vary", so it deals out every round
    # as it comes instead of skipping rounds that hold a short batch
    batch_size = None
    drop_last = False

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int,
        group_by_length: bool = True,
        mega_batch_mult: int = 50,
        num_processes: int = 1,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if num_processes < 1:
            raise ValueError(f"num_processes must be positive, got {num_processes}")
        self.lengths = list(lengths)
        if not self.lengths:
            raise ValueError("no training documents to sample from")
        self.max_batch_size = batch_size
        self.num_processes = num_processes
        self.seed = seed
        self.group_by_length = group_by_length
        self.mega_batch_mult = mega_batch_mult
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Batches per epoch, over all processes (a multiple of ``num_processes``)."""
        rounds = math.ceil(math.ceil(len(self.lengths) / self.max_batch_size) / self.num_processes)
        return rounds * self.num_processes

    def _batch_sizes(self) -> list[int]:
        """Sizes of the epoch's batches before shuffling: full ones, then a tail sharing the rest evenly.

        The tail is the last round, or longer when the last round alone would get fewer documents than
        batches; a size is 0 only when the whole epoch has fewer documents than batches."""
        count, size, batches = len(self.lengths), self.max_batch_size, len(self)
        tail = self.num_processes
        while tail < batches and count - (batches - tail) * size < tail:
            tail += 1
        share, extra = divmod(count - (batches - tail) * size, tail)
        return [size] * (batches - tail) + [share + (1 if i < extra else 0) for i in range(tail)]

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        if self.group_by_length:
            mega = self.max_batch_size * self.mega_batch_mult
            order = [
                index
                for start in range(0, len(order), mega)
                for index in sorted(order[start : start + mega], key=lambda i: -self.lengths[i])
            ]
        batches, start = [], 0
        for size in self._batch_sizes():
            batches.append(order[start : start + size])
            start += size
        for i, batch in enumerate(batches):  # only with fewer documents than batches (docstring)
            if not batch:
                batches[i] = [order[i % len(order)]]
        if self.group_by_length:
            batch_order = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[i] for i in batch_order]
        yield from batches
