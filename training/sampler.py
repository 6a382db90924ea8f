"""Seeded, length-grouped batch sampler whose order depends only on (seed, epoch), so resumes replay it."""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch


class LengthGroupedBatchSampler:
    """Batches of indices whose documents have similar token lengths, in a seeded random order.

    Like transformers' length-grouped sampler: shuffle, cut into mega-batches of ``50 * batch_size``,
    sort each by length, cut into batches, then shuffle the batches. The order depends only on
    ``seed + epoch``, so a resumed run sees the same batches as an uninterrupted one.
    """

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int, group_by_length: bool = True, mega_batch_mult: int = 50
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.drop_last = False  # read by Accelerate's batch-sampler sharding
        self.seed = seed
        self.group_by_length = group_by_length
        self.mega_batch_mult = mega_batch_mult
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        if self.group_by_length:
            mega = self.batch_size * self.mega_batch_mult
            order = [
                index
                for start in range(0, len(order), mega)
                for index in sorted(order[start : start + mega], key=lambda i: -self.lengths[i])
            ]
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.group_by_length:
            batch_order = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[i] for i in batch_order]
        yield from batches
