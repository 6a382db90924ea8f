"""Training data: corpus documents -> model features -> length-grouped, dynamically padded batches."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Iterator, Sequence

import datasets
import torch
from torch.utils.data import DataLoader

from loaders import load_corpus
from loaders.schema import ENTITY_TYPES, RELATION_TYPES
from modeling.preprocessing_joint_ner_re import collate_features, prepare_features


def documents_config_name(dataset_config: str) -> str:
    """The `documents` config of a corpus (``documents`` or ``<family>_documents``)."""
    return f"{dataset_config}_documents" if dataset_config else "documents"


def load_documents(
    dataset: str, dataset_config: str = "", data_dir: str | None = None, cache_dir: str | None = None
) -> datasets.DatasetDict:
    """Load the `documents` view of a corpus (all its splits)."""
    return load_corpus(dataset, documents_config_name(dataset_config), data_dir=data_dir, cache_dir=cache_dir)


def corpus_labels(dataset: str) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Entity types and relation types ({label: (head type, tail type)}) of a corpus."""
    return list(ENTITY_TYPES[dataset]), {label: tuple(sig) for label, sig in RELATION_TYPES[dataset].items()}


def featurize(documents: datasets.Dataset, tokenizer, model_config, desc: str = "features") -> datasets.Dataset:
    """Map documents to model features, cached under a fingerprint of the data, tokenizer and config.

    The fingerprint is explicit because hashing the tokenizer and config through `datasets` is slow
    and unstable across processes.
    """
    key = json.dumps(
        {
            "data": documents._fingerprint,
            "tokenizer": tokenizer.name_or_path,
            "vocab": len(tokenizer),
            "lower": getattr(tokenizer, "do_lower_case", None),
            "config": model_config.to_dict(),
        },
        sort_keys=True,
        default=str,
    )
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:32]
    return documents.map(
        lambda document: prepare_features(document, tokenizer, model_config),
        remove_columns=documents.column_names,
        new_fingerprint=fingerprint,
        desc=desc,
    )


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


class FeatureCollator:
    """Turns a list of feature rows into the model's padded batch."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_features(rows, self.pad_token_id)


def make_train_dataloader(
    features: datasets.Dataset, batch_size: int, seed: int, pad_token_id: int, group_by_length: bool
) -> tuple[DataLoader, LengthGroupedBatchSampler]:
    """A dataloader over training features with the seeded length-grouped batch sampler."""
    sampler = LengthGroupedBatchSampler(features["length"], batch_size, seed, group_by_length)
    loader = DataLoader(features, batch_sampler=sampler, collate_fn=FeatureCollator(pad_token_id))
    return loader, sampler
