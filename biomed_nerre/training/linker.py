"""Build the model's concept linker after training: names from the allowed splits' gold annotations and the
public vocabularies (`linking/`), resolved by `modeling.linking_joint_ner_re.ConceptLinker`."""

from __future__ import annotations

import logging
import time
from typing import Any

from modeling.linking_joint_ner_re import ConceptLinker

logger = logging.getLogger(__name__)


def build_linker(args: Any) -> ConceptLinker:
    """The linker for a run's entity types, from `args.linker_name_splits` (train, validation) and, unless
    `args.linker_vocabularies` is false, the vocabularies in `args.linker_vocab_dir` (else downloaded)."""
    from biomed_nerre.evaluation.run import load_documents
    from biomed_nerre.linking import linker_rows
    from loaders.schema import ENTITY_TYPES

    start = time.perf_counter()
    splits = [s.strip() for s in args.linker_name_splits.split(",") if s.strip()]
    documents = [
        doc for split in splits
        for doc in load_documents(args.dataset, split, args.dataset_config or None, args.data_dir, args.cache_dir)
    ]
    entity_types = list(ENTITY_TYPES[args.dataset])
    rows, metadata = linker_rows(
        documents, entity_types, vocab_dir=args.linker_vocab_dir or None, use_vocabularies=args.linker_vocabularies
    )
    metadata["corpus_splits"] = splits
    metadata["corpus"] = args.dataset
    linker = ConceptLinker.from_names(
        rows, fuzzy_threshold=args.linker_fuzzy_threshold, metadata=metadata, entity_types=entity_types
    )
    linker.end2end_fuzzy_threshold = args.linker_end2end_fuzzy_threshold
    logger.info("linker: %s names from %d rows (%s + %s) in %.0f s",
                {t: len(linker.exact[t]) for t in linker.entity_types}, len(rows), "+".join(splits),
                ", ".join(v["name"] for v in metadata["vocabularies"]) or "no vocabularies",
                time.perf_counter() - start)
    return linker
