"""The model's concept linker after training: `biomed_nerre.linking.build_linker` with the run's settings."""

from __future__ import annotations

from modeling.linking_joint_ner_re import ConceptLinker

from biomed_nerre.training.arguments import TrainingArguments


def linker_for_run(args: TrainingArguments) -> ConceptLinker:
    """The linker for a run's entity types, from the gold names of `args.linker_name_splits` (train, validation)
    and, unless `args.linker_vocabularies` is false, the vocabularies in `args.linker_vocab_dir` (else downloaded)."""
    from biomed_nerre.linking import build_linker, corpus_documents
    from loaders.schema import ENTITY_TYPES

    splits = [s.strip() for s in args.linker_name_splits.split(",") if s.strip()]
    documents = corpus_documents(args.dataset, splits, args.dataset_config, args.data_dir, args.cache_dir)
    return build_linker(
        documents, ENTITY_TYPES[args.dataset], corpus=args.dataset, splits=splits, vocab_dir=args.linker_vocab_dir,
        use_vocabularies=args.linker_vocabularies, fuzzy_threshold=args.linker_fuzzy_threshold,
        end2end_fuzzy_threshold=args.linker_end2end_fuzzy_threshold, dense_encoder=args.linker_dense_encoder,
        dense_train_seconds=args.linker_dense_train_seconds, dense_threshold=args.linker_dense_threshold,
        end2end_dense_threshold=args.linker_end2end_dense_threshold,
    )
