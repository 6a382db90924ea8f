"""Command line: build corpora and save them as Arrow datasets.

    python -m loaders build bc5cdr --data-dir ../shared/data/bc5cdr --out data/bc5cdr
    python -m loaders build chem_dis_gene --data-dir ../shared/data/chem_dis_gene/sample --out data/chem_dis_gene

Every config is built (or only those named with --config, repeatable, or --configs a b) and saved with `save_to_disk` to
`<out>/<config name>/` (BC5CDR: documents, ner, re, bigbio_kb; ChemDisGene: ctd_derived_documents, ...,
curated_bigbio_kb); then a count table is printed. Without --data-dir the corpus is downloaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import datasets
import pyarrow.compute as pc

from modeling.outputs_joint_ner_re import NIL_PREFIX, InputError

from . import CORPORA, prepare_corpus
from .cli_errors import OneLineErrorParser, one_line_errors, unknown_name
from .schema import ENTITY_TYPES
from .splits import overlap_warnings


def _list_sum(column) -> int:
    return int(pc.sum(pc.list_value_length(column)).as_py() or 0)


def document_counts(dataset: datasets.Dataset, corpus: str) -> dict[str, int]:
    """Documents, mentions per type, composite (several ids) and unlinked mentions, entities, relations."""
    table = dataset.data.table
    mentions = pc.list_flatten(table.column("mentions"))
    counts = {"docs": dataset.num_rows}
    types = pc.struct_field(mentions, "type")
    for entity_type in ENTITY_TYPES[corpus]:
        counts[entity_type] = int(pc.sum(pc.equal(types, entity_type)).as_py() or 0)
    n_ids = pc.list_value_length(pc.struct_field(mentions, "ids"))
    counts["composite"] = int(pc.sum(pc.greater(n_ids, 1)).as_py() or 0)
    entity_ids = pc.struct_field(pc.list_flatten(table.column("entities")), "id")
    counts["unlinked_entities"] = int(pc.sum(pc.starts_with(entity_ids, NIL_PREFIX)).as_py() or 0)
    counts["entities"] = len(entity_ids)
    counts["relations"] = _list_sum(table.column("relations"))
    return counts


def build(corpus: str, data_dir: str | None, out: Path, configs: list[str] | None, cache_dir: str | None, strict: bool) -> int:
    builder_class = CORPORA[corpus]
    known = [config.name for config in builder_class.BUILDER_CONFIGS]
    for name in configs or []:
        if name not in known:
            raise unknown_name(f"config of {corpus}", name, known)
    names = list(dict.fromkeys(configs)) if configs else known
    rows: dict[tuple[str, str], dict[str, int]] = {}
    warnings: dict[str, None] = {}  # the same PMIDs are in two splits of every view: said once per family
    for name in names:
        print(f"== {corpus} / {name}", flush=True)
        builder = prepare_corpus(corpus, name, data_dir, cache_dir, warn=False, strict=strict)
        label = corpus if builder.config.family is None else f"{corpus}/{builder.config.family}"
        warnings.update(dict.fromkeys(overlap_warnings(label, builder.split_overlaps)))
        dataset_dict = builder.as_dataset()
        target = out / name
        dataset_dict.save_to_disk(str(target))
        family = builder.config.family or corpus
        for split, dataset in dataset_dict.items():
            row = rows.setdefault((family, split), {})
            if builder.config.view == "documents":
                row.update(document_counts(dataset, corpus))
            elif builder.config.view == "ner":
                table = dataset.data.table
                row["ner_tokens"] = _list_sum(table.column("tokens"))
                row["ner_dropped"] = _list_sum(table.column("dropped_mentions"))
            elif builder.config.view == "bigbio_kb":
                table = dataset.data.table
                row["bigbio_entities"] = _list_sum(table.column("entities"))
                row["bigbio_relations"] = _list_sum(table.column("relations"))
            else:
                row["re_rows"] = dataset.num_rows
            report = builder.reports.get(split)
            if report is not None:  # None when the cache was warm (nothing was parsed)
                row["skipped"] = max(row.get("skipped", 0), report.count)
        print(f"   saved {target}", flush=True)
    _print_table(rows)
    for line in warnings:
        sys.stderr.write(f"warning: {line}\n")
    return 0


def _print_table(rows: dict[tuple[str, str], dict[str, int]]) -> None:
    columns = []
    for row in rows.values():
        columns += [key for key in row if key not in columns]
    header = ["family", "split", *columns]
    lines = [[family, split, *(f"{row[c]:,}" if c in row else "-" for c in columns)] for (family, split), row in rows.items()]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    print()
    for line in [header, *lines]:
        print("  ".join(str(x).rjust(w) if i > 1 else str(x).ljust(w) for i, (x, w) in enumerate(zip(line, widths))))
    print("(composite: mentions with several ids; ner_dropped: mentions the overlap rule left out of BIO; "
          "skipped: problems skipped with --no-strict, '-' when read from a warm cache)")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(prog="python -m loaders", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build a corpus and save every config with save_to_disk")
    build_parser.add_argument("corpus", choices=sorted(CORPORA))
    build_parser.add_argument("--data-dir", help="local copy with the release's file names (default: download)")
    build_parser.add_argument("--out", required=True, type=Path, help="output folder; one sub-folder per config")
    # both spellings: --config a --config b (as push_to_hub.py dataset) and --configs a b
    build_parser.add_argument("--config", "--configs", dest="configs", nargs="+", action="extend", metavar="CONFIG",
                              help="only these configs (repeatable, or several at once; default: all)")
    build_parser.add_argument("--cache-dir", help="datasets cache folder (default: the HF datasets cache)")
    build_parser.add_argument("--no-strict", dest="strict", action="store_false",
                              help="report and skip bad input lines instead of stopping at the first")
    args = parser.parse_args(argv)
    with one_line_errors():
        return build(args.corpus, args.data_dir, args.out, args.configs, args.cache_dir, args.strict)


if __name__ == "__main__":
    sys.exit(main())
