"""Training data: corpus documents -> model features -> length-grouped, dynamically padded batches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import datasets
import torch
from torch.utils.data import DataLoader

from loaders import load_corpus
from loaders.schema import ENTITY_TYPES, RELATION_TYPES
from modeling import gazetteer_joint_ner_re as gazetteer_code
from modeling import linking_joint_ner_re as linking_code
from modeling import preprocessing_joint_ner_re as preprocessing
from modeling.preprocessing_joint_ner_re import collate_features, prepare_features
from biomed_nerre.training.sampler import LengthGroupedBatchSampler


# the modules whose source decides the features: their files are part of the feature cache key (the gazetteer
# matches names by the linker's `name_key`)
FEATURE_CODE = (preprocessing, gazetteer_code, linking_code)


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


def featurize(documents: datasets.Dataset, tokenizer, model_config, desc: str = "features",
              gazetteer: gazetteer_code.Gazetteer | None = None) -> datasets.Dataset:
    """Map documents to model features, cached under a fingerprint of the data, tokenizer and config.

    The fingerprint is explicit because hashing the tokenizer and config through `datasets` is slow
    and unstable across processes. It includes the source of the modules that make features (`FEATURE_CODE`),
    so a change to how features are made never reads features cached by older code. A `gazetteer` (for
    `gazetteer_features`) enters the key by its vocabularies' checksums and name counts.
    """
    key = json.dumps(
        {
            "data": documents._fingerprint,
            "code": [hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest() for module in FEATURE_CODE],
            "tokenizer": tokenizer.name_or_path,
            "vocab": len(tokenizer),
            "lower": getattr(tokenizer, "do_lower_case", None),
            "config": model_config.to_dict(),
            "gazetteer": None if gazetteer is None else [gazetteer.metadata, {t: len(n) for t, n in gazetteer.names.items()}],
        },
        sort_keys=True,
        default=str,
    )
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:32]
    return documents.map(
        lambda document: prepare_features(document, tokenizer, model_config, gazetteer=gazetteer),
        remove_columns=documents.column_names,
        new_fingerprint=fingerprint,
        desc=desc,
    )


class FeatureCollator:
    """Turns a list of feature rows into the model's padded batch, plus `pmid`: the documents' ids (for the
    loop's messages; it pops them before the model call)."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {**collate_features(rows, self.pad_token_id), "pmid": [row["pmid"] for row in rows]}


def make_train_dataloader(
    features: datasets.Dataset, batch_size: int, seed: int, pad_token_id: int, group_by_length: bool,
    num_processes: int = 1,
) -> tuple[DataLoader, LengthGroupedBatchSampler]:
    """A dataloader over training features with the seeded length-grouped batch sampler.

    `num_processes` is the number of processes `Accelerator.prepare` will shard the loader over: the sampler
    yields whole rounds of batches, so each process gets ``len(loader)`` batches and every document once."""
    # grouped by window length (the padded width of a batch), not document length: a document just over one
    # window is cut into two short windows and belongs with short documents
    sampler = LengthGroupedBatchSampler(
        features["window_length"], batch_size, seed, group_by_length, num_processes=num_processes
    )
    # A private generator: creating a loader iterator would otherwise draw from the global RNG, so a run
    # resumed mid-epoch would shift every later dropout mask against an uninterrupted one.
    loader = DataLoader(
        features,
        batch_sampler=sampler,
        collate_fn=FeatureCollator(pad_token_id),
        generator=torch.Generator().manual_seed(seed),
    )
    return loader, sampler
