"""BC5CDR and ChemDisGene as Hugging Face `datasets` builders (see docs/architecture.md for the schema).

    from loaders import load_corpus
    cdr = load_corpus("bc5cdr", "documents", data_dir="../shared/data/bc5cdr")      # DatasetDict
    cdg = load_corpus("chem_dis_gene", "curated_re", data_dir="../shared/data/chem_dis_gene/sample")

Without `data_dir` the corpora are downloaded from their public sources (`loaders.sources`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modeling.outputs_joint_ner_re import InputError

from .pubtator import ParseReport, PubTatorFormatError

if TYPE_CHECKING:
    import datasets

    from .base import CorpusBuilder

__all__ = ["CORPORA", "InputError", "PubTatorFormatError", "ParseReport", "load_corpus", "prepare_corpus"]


def _corpora() -> dict[str, type[CorpusBuilder]]:
    # the builders import `datasets` (about a second): imported on first use, so a reader of PubTator files
    # (predict.py) does not pay for it
    from .bc5cdr import Bc5cdr
    from .chem_dis_gene import ChemDisGene

    return {"bc5cdr": Bc5cdr, "chem_dis_gene": ChemDisGene}


def __getattr__(name: str) -> Any:
    if name == "CORPORA":  # `loaders.CORPORA`: corpus name -> builder class
        return _corpora()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def prepare_corpus(
    corpus: str,
    config_name: str | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    warn: bool = True,
    **config_kwargs,
) -> CorpusBuilder:
    """Instantiate a corpus builder and build its Arrow cache (a no-op when the cache is warm).

    `config_kwargs` go to the config, e.g. `strict=False`. After a fresh build, `builder.reports[split]`
    holds what strict=False skipped; `builder.split_overlaps` the PMIDs found in more than one split, by pair of
    splits (`loaders.splits`: checked on every call, logged as warnings unless `warn=False`). Bad input raises `InputError` (an unknown corpus or config, a
    missing release file, or the reader's `PubTatorFormatError` naming file and line), not wrapped; so is the `bigbio_kb` view's `InputError`
    for an id it cannot split into db_name and db_id.
    """
    import datasets

    from .cli_errors import unknown_name
    from .splits import log_overlaps, split_overlaps

    corpora = _corpora()
    if corpus not in corpora:
        raise unknown_name("corpus", corpus, sorted(corpora))
    builder_class = corpora[corpus]
    known = [config.name for config in builder_class.BUILDER_CONFIGS]
    if config_name is not None and config_name not in known:
        raise unknown_name(f"config of {corpus}", config_name, known)
    builder = builder_class(
        config_name=config_name or builder_class.DEFAULT_CONFIG_NAME,
        data_dir=data_dir,
        cache_dir=cache_dir,
        **config_kwargs,
    )
    try:
        builder.download_and_prepare()
    except datasets.exceptions.DatasetGenerationError as error:
        cause = error.__cause__
        if isinstance(cause, InputError):
            raise cause from None
        raise
    builder.split_overlaps = split_overlaps(builder.as_dataset())
    if warn:
        log_overlaps(f"{corpus}/{builder.config.name}", builder.split_overlaps)
    return builder


def load_corpus(
    corpus: str,
    config_name: str | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
    **config_kwargs,
) -> "datasets.DatasetDict":
    """Build (or reuse from cache) one config of a corpus and return its splits.

    corpus: "bc5cdr" | "chem_dis_gene"; config_name: BC5CDR "documents" (default) | "ner" | "re" | "bigbio_kb",
    ChemDisGene "<family>_<view>" with family "ctd_derived" (default "ctd_derived_documents") or "curated" and
    the same four views; data_dir: a local copy with the release's file
    names (else download); cache_dir: the `datasets` cache (default: the HF cache).
    """
    return prepare_corpus(corpus, config_name, data_dir, cache_dir, **config_kwargs).as_dataset()
