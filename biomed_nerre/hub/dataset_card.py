"""Dataset card (README.md) of an exported corpus: YAML `configs:` + `dataset_info`, then prose.

`configs:` maps each config name to its Parquet files per split, so `load_dataset(dir_or_repo, "ner")`
works by name; `dataset_info` records the features (ClassLabel names included), split sizes and bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import yaml
from datasets import DatasetDict, DatasetInfo, SplitDict, SplitInfo

from .model_card import CITATIONS


@dataclass(frozen=True)
class CorpusCardInfo:
    """What the card says about a corpus besides its data."""

    pretty_name: str
    description: str
    homepage: str
    license: str  # a Hub license id, or "other" with license_name / license_link
    citation: str
    license_name: str | None = None
    license_link: str | None = None
    # who states `license` (checked against it, not inferred): the card names it and points to the corpus's own terms
    license_source: str | None = None
    task_categories: tuple[str, ...] = ("token-classification", "text-classification")
    task_ids: tuple[str, ...] = ("named-entity-recognition",)
    tags: tuple[str, ...] = ("biomedical", "relation-extraction", "pubmed")
    notes: tuple[str, ...] = field(default_factory=tuple)


CORPUS_CARDS: dict[str, CorpusCardInfo] = {
    "bc5cdr": CorpusCardInfo(
        pretty_name="BC5CDR (BioCreative V Chemical Disease Relation)",
        description=(
            "1,500 PubMed titles and abstracts (500 train, 500 development, 500 test) annotated by experts "
            "with Chemical and Disease mentions linked to MeSH, and document-level chemical-induced disease "
            "(CID) relations between MeSH ids."
        ),
        homepage="https://biocreative.bioinformatics.udel.edu/tasks/biocreative-v/track-3-cdr/",
        license="other",
        license_name="public-domain-mark-1.0",
        license_link="https://creativecommons.org/publicdomain/mark/1.0/",
        license_source="BigBio's loader of the corpus (`bigbio/bc5cdr`: PUBLIC_DOMAIN_MARK_1p0)",
        citation=CITATIONS["bc5cdr"],
        notes=(
            "Composite mentions (one span naming several concepts) keep all their ids in `ids` and their "
            "parts in `composite_parts`; the `ner` view encodes non-overlapping mentions only and lists the "
            "others in `dropped_mentions`.",
        ),
    ),
    "chem_dis_gene": CorpusCardInfo(
        pretty_name="ChemDisGene",
        description=(
            "PubMed abstracts with Chemical, Disease and Gene mentions from PubTator Central and "
            "document-level relations of 18 types derived from the Comparative Toxicogenomics Database: a "
            "distantly supervised CTD-derived corpus (train/dev/test by publication year) and a curated test "
            "corpus of 523 expert-reviewed abstracts."
        ),
        homepage="https://github.com/chanzuckerberg/ChemDisGene",
        license="cc0-1.0",
        license_source="BigBio's loader of the corpus (`bigbio/chemdisgene`: CC0_1p0)",
        citation=CITATIONS["chem_dis_gene"],
        notes=(
            "The CTD-derived relation labels are distant supervision: expect missing and spurious relations. "
            "`is_drugprot` marks the curated abstracts taken from DrugProt.",
        ),
    ),
}

SHARD_PATTERN = "{split}-*.parquet"

BIGBIO_NOTE = """
The `bigbio_kb` configs hold the same documents in the [BigBio](https://github.com/bigscience-workshop/biomedical)
knowledge-base schema (version 1.0.0), so that BigBio tooling reads them: `passages` (title, abstract), one
entity per mention with its concept ids as `normalized` (`db_name` MESH or NCBIGene, `db_id`), and one relation
per document-level relation, whose arguments are the first mention of each concept (BigBio's own loaders
relate every pair of mentions instead).
"""


def size_category(num_rows: int) -> str:
    """The Hub's size_categories bucket for `num_rows`."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if num_rows < limit:
            return name
    return "1M<n<10M"


def config_info(dataset_dict: DatasetDict) -> DatasetInfo:
    """`DatasetInfo` (features, split sizes in rows and Arrow bytes) of one config."""
    first = next(iter(dataset_dict.values()))
    info = DatasetInfo(features=first.features)
    info.splits = SplitDict(
        {
            name: SplitInfo(name=name, num_bytes=ds.data.nbytes, num_examples=ds.num_rows)
            for name, ds in dataset_dict.items()
        }
    )
    info.dataset_size = sum(ds.data.nbytes for ds in dataset_dict.values())
    return info


def card_metadata(
    configs: Mapping[str, DatasetDict], info: CorpusCardInfo, *, default_config: str | None = None
) -> dict[str, Any]:
    """The YAML front matter as a dict: license, tasks, `configs:` with data_files, `dataset_info`."""
    total_rows = max((ds.num_rows for dd in configs.values() for ds in dd.values()), default=0)
    default_config = default_config or next(iter(configs), None)
    meta: dict[str, Any] = {
        "pretty_name": info.pretty_name,
        "language": ["en"],
        "license": info.license,
    }
    if info.license_name:
        meta["license_name"] = info.license_name
    if info.license_link:
        meta["license_link"] = info.license_link
    meta |= {
        "size_categories": [size_category(total_rows)],
        "task_categories": list(info.task_categories),
        "task_ids": list(info.task_ids),
        "tags": list(info.tags),
        "configs": [
            {
                "config_name": name,
                "data_files": [
                    {"split": split, "path": f"{name}/" + SHARD_PATTERN.format(split=split)} for split in dd
                ],
                **({"default": True} if name == default_config else {}),
            }
            for name, dd in configs.items()
        ],
        "dataset_info": [{"config_name": name, **config_info(dd)._to_yaml_dict()} for name, dd in configs.items()],
    }
    return meta


def _annotation_counts(dd: DatasetDict) -> tuple[list[str], list[str]]:
    """The list columns of a config counted per split (`documents`: mentions, entities, relations; `bigbio_kb`:
    entities (one per mention) and relations), and one table row per split; ([], []) for the other views."""
    columns = next(iter(dd.values())).column_names
    counted = [c for c in ("mentions", "entities", "relations") if c in columns]
    if "relations" not in counted or "entities" not in counted:
        return [], []
    rows = [
        f"| {split} | {ds.num_rows:,} | " + " | ".join(f"{sum(len(v) for v in ds[c]):,}" for c in counted) + " |"
        for split, ds in dd.items()
    ]
    return counted, rows


def _feature_lines(dd: DatasetDict) -> str:
    features = next(iter(dd.values())).features
    return "\n".join(f"  - `{name}`: `{feature!r}`" for name, feature in features.items())


def build_dataset_card(
    configs: Mapping[str, DatasetDict],
    info: CorpusCardInfo,
    *,
    repo_id: str | None = None,
    default_config: str | None = None,
    source_note: str = "",
) -> str:
    """README.md text for an exported corpus whose configs are `configs` (config name -> DatasetDict)."""
    if not configs:
        raise ValueError("no configs to describe")
    meta = card_metadata(configs, info, default_config=default_config)
    load_id = repo_id or "path/to/exported/folder"
    first = next(iter(configs))
    count_rows = [
        f"| `{name}` | {split} | {ds.num_rows:,} |" for name, dd in configs.items() for split, ds in dd.items()
    ]
    doc_sections = []
    for name, dd in configs.items():
        counted, rows = _annotation_counts(dd)
        if rows:
            doc_sections.append(
                f"Annotations in `{name}`:\n\n| split | documents | {' | '.join(counted)} |\n"
                f"|---|---|{'---|' * len(counted)}\n" + "\n".join(rows) + "\n"
            )
    feature_sections = "\n".join(f"- `{name}`:\n{_feature_lines(dd)}" for name, dd in configs.items())
    notes = "\n".join(f"- {note}" for note in info.notes)
    license_text = info.license_name or info.license
    return f"""---
{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip()}
---

# {info.pretty_name}

{info.description}

Source: <{info.homepage}>. {source_note}

## Loading

```python
from datasets import load_dataset

dataset = load_dataset("{load_id}", "{first}")
```

Configs: {", ".join(f"`{name}`" for name in configs)}. Except `bigbio_kb`, they share the `documents` schema of the
project: one row per abstract, `text` = title + " " + abstract, character offsets index `text` (end
exclusive); `ner` is a word-level BIO view of the same documents and `re` has one row per gold relation.
{BIGBIO_NOTE if any(name.endswith("bigbio_kb") for name in configs) else ""}
## Counts

| config | split | rows |
|---|---|---|
{chr(10).join(count_rows)}

{chr(10).join(doc_sections)}
## Features

{feature_sections}

## Notes

{notes or "- none"}

## License

{license_text}{f" (<{info.license_link}>)" if info.license_link else ""}{f", as recorded by {info.license_source}" if info.license_source else ""}.
The corpus's own terms are those of its release: see <{info.homepage}>. The abstracts come from PubMed; see
the NLM terms for the text itself.

## Citation

```bibtex
{info.citation}
```
"""


def corpus_card_info(corpus: str, overrides: Mapping[str, Any] | None = None) -> CorpusCardInfo:
    """The built-in `CorpusCardInfo` of `corpus`, with fields replaced by `overrides`."""
    if corpus not in CORPUS_CARDS:
        raise KeyError(f"no dataset card info for corpus {corpus!r}; known: {sorted(CORPUS_CARDS)}")
    base = CORPUS_CARDS[corpus]
    if not overrides:
        return base
    return CorpusCardInfo(**{**base.__dict__, **dict(overrides)})


__all__: Sequence[str] = (
    "CORPUS_CARDS",
    "CorpusCardInfo",
    "build_dataset_card",
    "card_metadata",
    "config_info",
    "corpus_card_info",
    "size_category",
)
