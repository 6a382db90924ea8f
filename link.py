"""Concept ids for the mentions of a PubTator file: `python link.py --model M --input IN --output OUT`.

The logic lives in `prediction/link_pubtator.py`; see `python link.py --help`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from loaders.cli_errors import OneLineErrorParser, one_line_errors
from biomed_nerre.prediction.corpus_ids import ID_STYLES

EPILOG = """\
Every mention of a type the linker has names for gets its ids in the corpus's form (bc5cdr: D002945, NIL -1;
chem_dis_gene: MESH:D002945 and gene numbers, NIL -); other mentions, relation lines and the texts are kept
as they are. A names file has one concept a line: TYPE<TAB>ID<TAB>NAME[|SYNONYM...] (ids such as
MESH:D002945, D002945, NCBIGene:154; # starts a comment). Without --replace every id must be one the linker
knows; with --replace the file's names are the only ones used.

example: python link.py --model models/quickstart --input CDR_DevelopmentSet.PubTator.txt --output linked.PubTator
"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="link.py",
        description="Link the mentions of a PubTator file to concept ids (MeSH, NCBI Gene) with a model's linker.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="model folder (with linker/) or Hub id")
    source.add_argument("--linker", help="a linker folder written by ConceptLinker.save (linker_config.json, names.tsv.gz)")
    parser.add_argument("--input", required=True, help="PubTator file (.gz accepted)")
    parser.add_argument("--output", required=True, help="PubTator file to write (.gz compresses)")
    parser.add_argument("--names", help="a names file of your own (TYPE, ID, NAME|SYNONYM...) added to the linker's")
    parser.add_argument("--replace", action="store_true", help="use only the --names file's names, not the linker's")
    parser.add_argument("--dense-train-seconds", type=float, default=0.0, help="also fine-tune the linker's dense "
                        "ranker on the --names file (pairs of names of one concept) for at most this many seconds")
    parser.add_argument("--id-style", choices=ID_STYLES, help="id form written (default: chem_dis_gene when the "
                        "linker has a Gene type, else bc5cdr)")
    parser.add_argument("--no-strict", action="store_true", help="skip malformed lines of the input and of the "
                        "names file (counted in the summary) instead of stopping at the first")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from biomed_nerre.prediction.link_pubtator import run

    with one_line_errors():
        summary = run(args.input, args.output, model=args.model, linker_dir=args.linker, names=args.names,
                      replace=args.replace, id_style=args.id_style, strict=not args.no_strict,
                      dense_train_seconds=args.dense_train_seconds)
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
