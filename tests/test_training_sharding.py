"""The training sampler sharded over processes exactly as `Accelerator.prepare` shards it.

`accelerate.data_loader.prepare_data_loader` is what `Accelerator.prepare` calls for a DataLoader: with a
batch sampler it wraps it in `BatchSamplerShard`. Each simulated process gets its own sharded loader.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from accelerate.data_loader import prepare_data_loader
from torch.utils.data import DataLoader

from biomed_nerre.training.sampler import LengthGroupedBatchSampler

EPOCHS = 8


def _sharded_epochs(n_documents: int, batch_size: int, processes: int, group_by_length: bool = True):
    """Yield (epoch, loader length per process, batches per process) over `EPOCHS` epochs."""
    rng = random.Random(n_documents)
    lengths = [rng.randint(20, 900) for _ in range(n_documents)]
    shards = []
    for rank in range(processes):
        sampler = LengthGroupedBatchSampler(lengths, batch_size, seed=42, group_by_length=group_by_length,
                                            mega_batch_mult=5, num_processes=processes)
        loader = DataLoader(list(range(n_documents)), batch_sampler=sampler, collate_fn=list)
        shards.append((prepare_data_loader(loader, num_processes=processes, process_index=rank, put_on_device=False),
                       sampler))
    for epoch in range(EPOCHS):
        per_process = []
        for loader, sampler in shards:  # as the training loop does: both epoch counters
            loader.set_epoch(epoch)
            sampler.set_epoch(epoch)
            per_process.append(list(loader))
        yield epoch, [len(loader) for loader, _ in shards], per_process


@pytest.mark.parametrize("processes", [2, 4])
@pytest.mark.parametrize("n_documents,batch_size", [(501, 4), (77, 8), (13, 2), (9, 2), (30, 4)])
def test_every_document_once_per_epoch_and_len_loader_batches_per_process(n_documents, batch_size, processes):
    assert n_documents % (batch_size * processes)  # each size leaves a short batch
    for epoch, lengths, per_process in _sharded_epochs(n_documents, batch_size, processes):
        for rank, batches in enumerate(per_process):
            assert len(batches) == lengths[rank], (epoch, rank)
            assert all(0 < len(batch) <= batch_size for batch in batches)
        seen = [index for batches in per_process for batch in batches for index in batch]
        assert sorted(seen) == list(range(n_documents)), f"epoch {epoch}"
        assert len(set(lengths)) == 1  # every process runs the same number of steps


def test_short_batches_are_not_only_at_the_end_and_the_order_is_shuffled():
    # the fix does not come from giving up the shuffled batch order: the short ones land anywhere
    positions = set()
    for _, _, per_process in _sharded_epochs(501, 4, 2):
        merged = [batch for round_ in zip(*per_process) for batch in round_]
        positions |= {i for i, batch in enumerate(merged) if len(batch) < 4}
    assert min(positions) < 100 < max(positions)


def test_too_few_documents_for_every_batch_repeat_the_first_ones_as_accelerate_does():
    # batch 1 on 2 processes with 5 documents: 3 rounds, so one batch repeats a document
    for epoch, lengths, per_process in _sharded_epochs(5, 1, 2, group_by_length=False):
        assert lengths == [3, 3] and [len(b) for b in per_process] == [3, 3]
        counts = Counter(index for batches in per_process for batch in batches for index in batch)
        assert set(counts) == set(range(5)) and sorted(counts.values()) == [1, 1, 1, 1, 2], epoch


def test_one_process_keeps_full_batches_and_one_short_one():
    sampler = LengthGroupedBatchSampler(list(range(10)), batch_size=4, seed=0)
    assert sorted(len(batch) for batch in sampler) == [2, 4, 4] and len(sampler) == 3
    with pytest.raises(ValueError, match="num_processes"):
        LengthGroupedBatchSampler([1, 2], 1, seed=0, num_processes=0)
