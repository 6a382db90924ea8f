"""Export a corpus (every config and split) as Parquet shards plus a dataset card, ready for the Hub.

Layout of the output folder::

    README.md                               card with `configs:` (config -> split -> files) and features
    <config>/<split>-00000-of-00001.parquet  one or more shards per split (`max_shard_bytes`)

Parquet files keep the `datasets` features (ClassLabel names included) in their schema metadata, and the
card repeats them under `dataset_info`, so `load_dataset(folder_or_repo, "<config>")` restores them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from datasets import DatasetDict
from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

from .dataset_card import build_dataset_card, corpus_card_info

DEFAULT_MAX_SHARD_BYTES = 500 * 1024**2  # Arrow bytes per Parquet shard (the Hub viewer likes < 1 GB)


def shard_count(num_bytes: int, num_rows: int, max_shard_bytes: int) -> int:
    """Number of Parquet shards for a split of `num_bytes` Arrow bytes (never more shards than rows)."""
    if max_shard_bytes <= 0:
        raise ValueError(f"max_shard_bytes must be positive, got {max_shard_bytes}")
    return max(1, min(num_rows, math.ceil(num_bytes / max_shard_bytes)))


def ensure_empty_dir(path: Path) -> None:
    """Create `path`, refusing one that already holds files (the export must be exactly what is uploaded)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FileExistsError(f"{path}: exists and is not an empty folder; choose a new --local-dir")
    path.mkdir(parents=True, exist_ok=True)


def write_parquet_configs(
    configs: Mapping[str, DatasetDict], out_dir: str | Path, *, max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES
) -> list[Path]:
    """Write every split of every config as `<config>/<split>-XXXXX-of-YYYYY.parquet`; return the files."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    bars_were_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        for name, dataset_dict in configs.items():
            if not dataset_dict:
                raise ValueError(f"config {name!r} has no splits")
            for split, ds in dataset_dict.items():
                num_shards = shard_count(ds.data.nbytes, ds.num_rows, max_shard_bytes)
                for index in range(num_shards):
                    path = out_dir / name / f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    shard = ds if num_shards == 1 else ds.shard(num_shards, index, contiguous=True)
                    shard.to_parquet(path)
                    written.append(path)
    finally:
        if not bars_were_disabled:
            enable_progress_bars()
    return written


def corpus_config_names(corpus: str) -> list[str]:
    """Config names of `corpus` as the loaders declare them in `loaders.CORPORA`."""
    from loaders import CORPORA  # imported here: hub's card code must not need the loaders

    if corpus not in CORPORA:
        raise KeyError(f"unknown corpus {corpus!r}; known: {sorted(CORPORA)}")
    entry: Any = CORPORA[corpus]
    builder_configs = getattr(entry, "BUILDER_CONFIGS", None)
    if builder_configs is not None:
        return [config.name for config in builder_configs]
    if isinstance(entry, Mapping):
        for key in ("configs", "config_names"):
            if key in entry:
                return list(entry[key])
        return list(entry)
    return list(entry)


def load_configs(
    corpus: str,
    *,
    data_dir: str | None,
    config_names: Sequence[str] | None = None,
    cache_dir: str | None = None,
) -> dict[str, DatasetDict]:
    """Build each config of `corpus` with `loaders.load_corpus` (offline when `data_dir` is a local copy)."""
    from loaders import load_corpus

    names = list(config_names) if config_names else corpus_config_names(corpus)
    return {name: load_corpus(corpus, name, data_dir=data_dir, cache_dir=cache_dir) for name in names}


def export_dataset_dicts(
    configs: Mapping[str, DatasetDict],
    out_dir: str | Path,
    *,
    corpus: str,
    repo_id: str | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    card_overrides: Mapping[str, Any] | None = None,
    source_note: str = "",
) -> list[Path]:
    """Write `configs` as Parquet plus README.md into the new or empty folder `out_dir`; return all files."""
    out_dir = Path(out_dir)
    ensure_empty_dir(out_dir)
    files = write_parquet_configs(configs, out_dir, max_shard_bytes=max_shard_bytes)
    card = build_dataset_card(
        configs, corpus_card_info(corpus, card_overrides), repo_id=repo_id, source_note=source_note
    )
    readme = out_dir / "README.md"
    readme.write_text(card)
    return [readme, *files]


def export_dataset(
    corpus: str,
    out_dir: str | Path,
    *,
    data_dir: str | None = None,
    config_names: Sequence[str] | None = None,
    repo_id: str | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    cache_dir: str | None = None,
) -> list[Path]:
    """Build `corpus` with the project's loaders and export every config and split to `out_dir`.

    `config_names` defaults to every config the builder declares; `cache_dir` is the `datasets` cache.
    """
    configs = load_configs(corpus, data_dir=data_dir, config_names=config_names, cache_dir=cache_dir)
    note = "Built from the original release files with this project's loaders (`loaders/`)."
    return export_dataset_dicts(
        configs, out_dir, corpus=corpus, repo_id=repo_id, max_shard_bytes=max_shard_bytes, source_note=note
    )
