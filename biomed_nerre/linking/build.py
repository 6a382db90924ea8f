"""Build a concept linker from the name rows of corpus annotations and the public vocabularies."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from loaders.cli_errors import UsageError
from loaders.sources import sha256_file
from modeling.linking_joint_ner_re import ConceptLinker, NameRow

from .names import corpus_names

from .sources import vocabulary_files
from .vocabularies import (
    VocabularyReport,
    descriptor_types,
    read_ctd_diseases,
    read_hgnc,
    read_medic,
    read_mesh_ascii,
    read_mesh_descriptors_tsv,
    read_mesh_supplementary_tsv,
)

logger = logging.getLogger(__name__)

# the dense ranker's least cosines: given mentions 0.85 (BC5CDR validation, document-level id F1 of both types with
# untuned all-MiniLM-L6-v2, results/benchmarks.md section 16); the NER head's 0.9 like the trigram step's (not measured)
DEFAULT_DENSE_THRESHOLD = 0.85
DEFAULT_END2END_DENSE_THRESHOLD = 0.9

# which vocabularies hold names of which entity type
VOCABULARIES_FOR_TYPE = {
    "Chemical": ("mesh_descriptors", "mesh_supplementary"),
    "Disease": ("mesh_descriptors", "mesh_supplementary", "medic"),
    "Gene": ("hgnc",),
}


def vocabulary_names(
    entity_types: Sequence[str],
    vocab_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    strict: bool = True,
    report: VocabularyReport | None = None,
) -> tuple[list[NameRow], list[dict[str, str]]]:
    """Name rows of the vocabularies that cover `entity_types`, and a description of each file read
    (name, version, form, sha256) for the model card."""
    report = report if report is not None else VocabularyReport()
    needed = sorted({v for t in entity_types for v in VOCABULARIES_FOR_TYPE.get(t, ())})
    files = vocabulary_files(vocab_dir, cache_dir)
    rows: list[NameRow] = []
    types_of: dict[str, list[str]] = {}
    descriptor_ids: dict[str, str] = {}
    described = []
    for name in ("mesh_descriptors", "mesh_supplementary", "medic", "hgnc"):  # descriptors before supplements
        if name not in needed:
            continue
        info = files[name]
        path, official = info["path"], info["form"] == "official"
        if name == "mesh_descriptors":
            reader: Iterable[NameRow] = (
                read_mesh_ascii(path, report, strict, types_of, descriptor_ids) if official
                else read_mesh_descriptors_tsv(path, report, strict)
            )
        elif name == "mesh_supplementary":
            if not official:  # the official reader fills types_of while reading the descriptors
                types_of = {d: descriptor_types(t) for d, t in report.tree_numbers.items()}
            reader = (
                read_mesh_ascii(path, report, strict, types_of, descriptor_ids) if official
                else read_mesh_supplementary_tsv(path, report, strict, types_of)
            )
        elif name == "medic":
            reader = read_ctd_diseases(path, report, strict) if official else read_medic(path, report, strict)
        else:
            reader = read_hgnc(path, report, strict)
        rows.extend(r for r in reader if r.entity_type in entity_types)
        described.append({"name": name, "version": info["version"], "form": info["form"], "sha256": sha256_file(path)})
    return rows, described


def linker_rows(
    documents: Iterable[Mapping[str, Any]],
    entity_types: Sequence[str],
    vocab_dir: str | Path | None = None,
    use_vocabularies: bool = True,
    cache_dir: str | Path | None = None,
) -> tuple[list[NameRow], dict[str, Any]]:
    """All rows for `ConceptLinker.from_names`: the given documents' gold names (train, + validation for a
    final model) and, unless `use_vocabularies=False`, the vocabularies; with metadata for the linker config."""
    rows = list(corpus_names(documents))
    metadata: dict[str, Any] = {"corpus_names": len(rows), "vocabularies": []}
    if use_vocabularies:
        vocabulary_rows, described = vocabulary_names(entity_types, vocab_dir, cache_dir)
        rows.extend(vocabulary_rows)
        metadata["vocabularies"] = described
    return rows, metadata


def build_linker(
    documents: Iterable[Mapping[str, Any]],
    entity_types: Sequence[str],
    *,
    corpus: str,
    splits: Sequence[str],
    vocab_dir: str | Path | None = None,
    use_vocabularies: bool = True,
    fuzzy_threshold: float = 0.4,
    end2end_fuzzy_threshold: float = 0.9,
    dense_encoder: str | Path | None = None,
    dense_train_seconds: float = 0.0,
    dense_threshold: float = DEFAULT_DENSE_THRESHOLD,
    end2end_dense_threshold: float = DEFAULT_END2END_DENSE_THRESHOLD,
) -> ConceptLinker:
    """A linker for `entity_types` from the gold names of `documents` (the `splits` of `corpus`, recorded in its
    metadata) and, with `use_vocabularies`, the vocabularies in `vocab_dir` (downloaded once when None).
    `fuzzy_threshold` applies to given mentions, `end2end_fuzzy_threshold` to the NER head's. With
    `dense_encoder` (a folder or Hub id `AutoModel` loads) the linker gets a dense ranker
    (`modeling.dense_linking_joint_ner_re`), fine-tuned on these names for up to `dense_train_seconds`
    (`dense_training.train_dense_ranker`; 0: used as it is), with its two thresholds."""
    start = time.perf_counter()
    rows, metadata = linker_rows(documents, entity_types, vocab_dir=vocab_dir or None, use_vocabularies=use_vocabularies)
    metadata["corpus_splits"] = list(splits)
    metadata["corpus"] = corpus
    linker = ConceptLinker.from_names(
        rows, fuzzy_threshold=fuzzy_threshold, metadata=metadata, entity_types=list(entity_types)
    )
    linker.end2end_fuzzy_threshold = end2end_fuzzy_threshold
    if dense_encoder:
        from modeling.dense_linking_joint_ner_re import DenseRanker

        ranker = DenseRanker.from_encoder(str(dense_encoder))
        metadata["dense_encoder"] = str(dense_encoder)
        if dense_train_seconds > 0:
            from .dense_training import train_dense_ranker

            report = train_dense_ranker(ranker, rows, max_seconds=dense_train_seconds)
            logger.info(report.line())
            metadata["dense_training"] = {"steps": report.steps, "pairs": report.pairs, "seconds": report.seconds}
        linker.set_dense(ranker, dense_threshold, end2end_dense_threshold)
    logger.info("linker: %s names from %d rows (%s + %s) in %.0f s",
                {t: len(linker.exact[t]) for t in linker.entity_types}, len(rows), "+".join(splits),
                ", ".join(v["name"] for v in metadata["vocabularies"]) or "no vocabularies",
                time.perf_counter() - start)
    return linker


def corpus_documents(
    corpus: str, splits: Sequence[str], family: str = "", data_dir: str | None = None, cache_dir: str | None = None
) -> list[dict[str, Any]]:
    """The gold documents of `splits` of a corpus, in split order: its ``<family>_documents`` view, or its default
    documents view (BC5CDR ``documents``, ChemDisGene ``ctd_derived_documents``) without a family."""
    from loaders import load_corpus

    view = load_corpus(corpus, f"{family}_documents" if family else None, data_dir=data_dir, cache_dir=cache_dir)
    missing = [split for split in splits if split not in view]
    if missing:
        raise UsageError(f"{corpus} {family + ' ' if family else ''}documents have no split {missing[0]!r}; "
                         f"they have {', '.join(sorted(view))}")
    return [dict(row) for split in splits for row in view[split]]
