"""`python -m biomed_nerre.linking build`: build a concept linker and save it into a model folder (or any folder).

    python -m biomed_nerre.linking build --dataset bc5cdr --data-dir ../shared/data/bc5cdr --vocab-dir ../shared/data/vocab \
        --out models/my-model/linker [--splits train,validation] [--fuzzy-threshold 0.4] [--no-vocabularies]

What train.py does after training (`biomed_nerre.linking.build_linker`), for a model trained without a linker or to rebuild
one (new vocabulary releases). Without `--vocab-dir` the official releases are downloaded once.
"""

from __future__ import annotations

import sys
import time
from typing import Sequence

from loaders.cli_errors import OneLineErrorParser, exit_with_error, os_error_message
from loaders.schema import CORPUS_NAMES, ENTITY_TYPES


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(prog="python -m biomed_nerre.linking", description="Build a concept linker (names from a "
                                "corpus's gold annotations and the public vocabularies) and save it.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build and save a linker", description=__doc__.split("\n\n")[0])
    build.add_argument("--dataset", default="bc5cdr", choices=CORPUS_NAMES)
    build.add_argument("--dataset-config", default="", help="chem_dis_gene family (ctd_derived)")
    build.add_argument("--data-dir", default=None, help="local copy of the corpus release (default: download)")
    build.add_argument("--cache-dir", default=None, help="datasets cache folder")
    build.add_argument("--splits", default="train,validation", help="splits whose gold names are used (never test)")
    build.add_argument("--vocab-dir", default=None, help="local vocabulary folder (default: download the releases)")
    build.add_argument("--no-vocabularies", action="store_true", help="corpus names only")
    build.add_argument("--fuzzy-threshold", type=float, default=0.4,
                       help="least trigram cosine for given mentions (default 0.4)")
    build.add_argument("--end2end-fuzzy-threshold", type=float, default=0.9,
                       help="least trigram cosine for the NER head's mentions (default 0.9)")
    build.add_argument("--dense-encoder", default=None, help="an encoder folder or Hub id (e.g. all-MiniLM-L6-v2, "
                       "a SapBERT checkpoint): the linker ranks candidate names with it (see docs/linking.md)")
    build.add_argument("--dense-train-seconds", type=float, default=0.0, help="fine-tune the --dense-encoder on "
                       "the names (pairs of names of one concept) for at most this long (default 0: as it is)")
    build.add_argument("--dense-threshold", type=float, default=None, help="least cosine for given mentions")
    build.add_argument("--end2end-dense-threshold", type=float, default=None,
                       help="least cosine for the NER head's mentions")
    build.add_argument("--out", required=True, help="folder to write (a model's linker/ folder)")
    return parser


def dense_thresholds(args) -> dict[str, float]:
    """The dense thresholds given on the command line (the others keep `build_linker`'s defaults)."""
    given = {"dense_threshold": args.dense_threshold, "end2end_dense_threshold": args.end2end_dense_threshold}
    return {k: v for k, v in given.items() if v is not None}


def main(argv: Sequence[str] | None = None) -> int:
    from .build import build_linker, corpus_documents

    args = build_parser().parse_args(argv)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    if not splits or any(s not in ("train", "validation") for s in splits):
        exit_with_error(f"--splits {args.splits!r}: expected train and/or validation (never test)")
    start = time.perf_counter()
    try:
        documents = corpus_documents(args.dataset, splits, args.dataset_config, args.data_dir, args.cache_dir)
        linker = build_linker(
            documents, ENTITY_TYPES[args.dataset], corpus=args.dataset, splits=splits, vocab_dir=args.vocab_dir,
            use_vocabularies=not args.no_vocabularies, fuzzy_threshold=args.fuzzy_threshold,
            end2end_fuzzy_threshold=args.end2end_fuzzy_threshold, dense_encoder=args.dense_encoder,
            dense_train_seconds=args.dense_train_seconds, **dense_thresholds(args),
        )
    except (OSError, ValueError) as err:  # a missing file, a bad vocabulary or corpus line (file and line), no names
        exit_with_error(os_error_message(err) if isinstance(err, OSError) else str(err))
    linker.save(args.out)
    counts = ", ".join(f"{t} {len(linker.exact[t]):,}" for t in linker.entity_types)
    print(f"wrote {args.out}: names {counts} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
