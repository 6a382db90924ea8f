"""Command line of `predict.py`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from loaders.cli_errors import OneLineErrorParser, one_line_errors

from .bioc_layout import BIOC_LAYOUTS
from .corpus_ids import ID_STYLES
from .readers import INPUT_FORMATS, Columns
from .runner import RunSettings, Summary, UsageError, run, skipped_list_path
from .writers import OUTPUT_FORMATS, output_format_for

EPILOG = """\
Under `accelerate launch` (several GPUs or nodes; see cheaha/predict.sbatch) the documents are shared out
over the processes and one output is written. Rerun the same command after a crash to continue; work in
progress is kept in OUTPUT.parts/ until the output is complete. A rerun after anything that decides the
predictions changed (the model's files, retrained or edited in place; the inputs; the threshold, batch or chunk
size, backend) is refused with one line saying what changed; --overwrite starts again.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="predict.py",
        description="Extract mentions, entity ids and relations from a corpus with a trained model.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="model folder (train.py / push_to_hub.py output) or Hub id")
    parser.add_argument("--input", required=True, nargs="+", help="input file(s) or folder, or a Hub dataset name")
    parser.add_argument("--output", required=True, type=Path, help="output file (format from its extension; .gz compresses)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, help="output format (default: from --output's extension)")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, help="input format (default: from the name and first line)")
    parser.add_argument("--text-column", default="text", help="text field of JSONL/Parquet/dataset rows (default: text; "
                        "rows without it may have title and abstract)")
    parser.add_argument("--id-column", help="id field of JSONL/Parquet/dataset rows (default: pmid, then id, then the row number)")
    parser.add_argument("--split", default="train", help="split of a saved dataset folder or Hub dataset (default: train)")
    parser.add_argument("--id-style", choices=ID_STYLES, help="id form in PubTator output (default: chem_dis_gene for "
                        "models with a Gene type, else bc5cdr)")
    parser.add_argument("--bioc-layout", choices=BIOC_LAYOUTS, help="infons of BioC output: bc5cdr (the BC5CDR "
                        "corpus's own: MESH ids, relation/Chemical/Disease; what its official evaluation reads) or "
                        "pubtator3 (CURIE identifier, relations with head/tail roles); default: bc5cdr for models "
                        "with BC5CDR's types (Chemical, Disease), else pubtator3")
    parser.add_argument("--skip-tables", action="store_true", help="BioC input: leave table passages (PMC type "
                        "'table') untagged; reference passages are never tagged")
    parser.add_argument("--batch-size", type=int, default=8, help="documents per encoder batch (default: 8)")
    parser.add_argument("--threshold", type=float, help="relation score threshold, a probability between 0 and 1: "
                        "relations scoring above it are written (default: the model's calibrated threshold)")
    parser.add_argument("--chunk-size", type=int, default=256, help="documents per resumable unit of work (default: 256)")
    parser.add_argument("--skip-errors", action="store_true", help="skip malformed inputs, list them in OUTPUT.skipped.jsonl")
    parser.add_argument("--overwrite", action="store_true", help="start again: delete the output and any work in progress")
    parser.add_argument("--work-dir", type=Path, help="where chunks in progress are kept (default: OUTPUT.parts)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch", help="where the encoder runs: torch, "
                        "or onnx (ONNX Runtime, needs onnxruntime; exported into MODEL/onnx/ the first time)")
    return parser


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    """The run's settings; `RunSettings` checks them (`UsageError`)."""
    try:
        output_format = args.format or output_format_for(args.output)
    except ValueError as err:
        raise UsageError(str(err)) from None
    return RunSettings(
        inputs=list(args.input),
        output=args.output,
        output_format=output_format,
        model=args.model,
        input_format=args.input_format,
        columns=Columns(text=args.text_column, id=args.id_column, split=args.split, skip_tables=args.skip_tables),
        id_style=args.id_style,
        bioc_layout=args.bioc_layout,
        batch_size=args.batch_size,
        threshold=args.threshold,
        chunk_size=args.chunk_size,
        skip_errors=args.skip_errors,
        overwrite=args.overwrite,
        work_dir=args.work_dir,
        progress=not args.no_progress,
        backend=args.backend,
    )


def report(summary: Summary, settings: RunSettings) -> str:
    """The final summary lines."""
    rate = summary.documents / summary.seconds if summary.seconds else 0.0
    lines = [
        f"wrote {summary.documents} documents ({summary.mentions} mentions, {summary.relations} relations) to "
        f"{settings.output} [{settings.output_format}] in {summary.seconds:.1f} s: {rate:.1f} documents/s over "
        f"{summary.processes} process(es)" + (f"; {summary.resumed_chunks} chunk(s) of an earlier run reused by process 0"
                                              if summary.resumed_chunks else "")
    ]
    if summary.left_out:
        lines.append(f"left {len(summary.left_out)} mention(s) out of the BioC output: each crosses the boundary of "
                     "two passages that touch (the other formats keep them):")
        lines += _listed([f"document {pmid}: {start}-{end}" for pmid, start, end in summary.left_out])
    if summary.problems:
        lines.append(f"skipped {len(summary.problems)} input(s), listed in {skipped_list_path(settings.output)}:")
        lines += _listed([str(p) for p in summary.problems])
    return "\n".join(lines)


def _listed(items: list[str], shown: int = 20) -> list[str]:
    """The first `shown` items, indented, and how many more there are."""
    more = [f"  ... and {len(items) - shown} more"] if len(items) > shown else []
    return [f"  {item}" for item in items[:shown]] + more


def main(argv: Sequence[str] | None = None) -> int:
    """predict.py: bad input, a damaged file or a refused resume end with one line `error: ...` and status 2."""
    args = build_parser().parse_args(argv)
    with one_line_errors():
        settings = settings_from_args(args)
        summary = run(settings)
    if summary is not None:
        print(report(summary, settings))
    return 0
