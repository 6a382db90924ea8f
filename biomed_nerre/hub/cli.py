"""Command line of `push_to_hub.py`: `model`, `dataset` and `space` (the Gradio demo) subcommands.

With `--local-dir DIR` the files are written to DIR exactly as they would be uploaded and nothing
touches the network; without it they go to a temporary folder that is uploaded to `--repo-id`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from loaders.cli_errors import os_error_message
from loaders.schema import CORPUS_NAMES
from modeling.outputs_joint_ner_re import InputError

from .export_dataset import DEFAULT_MAX_SHARD_BYTES, export_dataset
from .export_model import export_model
from .export_space import create_space, export_space
from .upload import MissingTokenError, require_token, upload_folder


class UploadError(RuntimeError):
    """The Hub refused or could not be reached (the message never contains the token)."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo-id", help="owner/name on the Hub (required unless --local-dir is given)")
    parser.add_argument("--local-dir", type=Path, help="write the files here instead of uploading (no network)")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument("--revision", help="branch to commit to (created if missing; default main)")
    parser.add_argument("--commit-message", help="commit message (default: 'Upload ...')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Publish a trained model or a corpus to the Hugging Face Hub.")
    sub = parser.add_subparsers(dest="command", required=True)

    model = sub.add_parser("model", help="a trained model folder (train.py's --output-dir)")
    model.add_argument("model_dir", type=Path)
    _common(model)
    model.add_argument("--allow-pickle", action="store_true", help="export even if *.bin/*.pt/... files are present")
    model.add_argument("--allow-missing-metrics", action="store_true", help="export without metrics.json")
    model.add_argument("--model-name", help="name in the card's title and model-index when there is no --repo-id "
                       "(default: the model folder's name)")
    model.add_argument("--base-model", help="Hub id of the encoder (default: from training_args.json)")
    model.add_argument("--dataset", action="append", dest="datasets", help="Hub dataset id(s) for the card")
    model.add_argument("--license", default="apache-2.0", help="license of the weights (Hub license id)")
    model.add_argument("--keep-card", action="store_true", help="upload the folder's README.md, not a fresh card")
    model.add_argument("--tag", action="append", dest="tags", default=[], help="extra card tag (repeatable)")
    model.add_argument("--onnx", action="store_true",
                       help="include onnx/model.onnx, the encoder for the ONNX Runtime backend (exported into the "
                            "folder first if missing; needs onnxruntime)")

    dataset = sub.add_parser("dataset", help="a corpus, every config and split as Parquet")
    dataset.add_argument("corpus", choices=CORPUS_NAMES)
    dataset.add_argument("--data-dir", help="local copy of the release (default: download it)")
    dataset.add_argument("--cache-dir", help="datasets cache folder (default: the HF cache)")
    dataset.add_argument("--config", action="append", dest="configs", help="only these configs (repeatable)")
    dataset.add_argument(
        "--max-shard-mb", type=float, default=DEFAULT_MAX_SHARD_BYTES / 1024**2, help="Arrow MB per Parquet shard"
    )
    _common(dataset)

    space = sub.add_parser("space", help="the Gradio demo (demo/) as a Space showing a published model")
    space.add_argument("--model", required=True, dest="model_id", help="Hub id of the model the Space runs")
    _common(space)
    return parser


def _export_model(args: argparse.Namespace, out_dir: Path) -> None:
    files, left_out = export_model(
        args.model_dir,
        out_dir,
        repo_id=args.repo_id,
        model_name=args.model_name,
        allow_pickle=args.allow_pickle,
        allow_missing_metrics=args.allow_missing_metrics,
        base_model=args.base_model,
        datasets=args.datasets,
        license=args.license,
        tags=args.tags,
        keep_card=args.keep_card,
        onnx=args.onnx,
    )
    print(f"exported {len(files)} files from {args.model_dir} to {out_dir}")
    if left_out:
        print(f"left out (not part of the model repo): {', '.join(left_out)}")


def _export_dataset(args: argparse.Namespace, out_dir: Path) -> None:
    files = export_dataset(
        args.corpus,
        out_dir,
        data_dir=args.data_dir,
        config_names=args.configs,
        repo_id=args.repo_id,
        max_shard_bytes=int(args.max_shard_mb * 1024**2),
        cache_dir=args.cache_dir,
    )
    print(f"exported {args.corpus}: {len(files)} files to {out_dir}")


def _export_space(args: argparse.Namespace, out_dir: Path) -> None:
    files = export_space(out_dir, args.model_id)
    print(f"exported the demo Space for {args.model_id}: {len(files)} files to {out_dir}")


def run(args: argparse.Namespace) -> int:
    exporters: dict[str, Callable[[argparse.Namespace, Path], None]] = {
        "model": _export_model, "dataset": _export_dataset, "space": _export_space}
    export, repo_type = exporters[args.command], args.command
    if args.local_dir is not None:
        export(args, args.local_dir)
        print(f"not uploaded (--local-dir); to publish: upload {args.local_dir} to a {repo_type} repository")
        return 0
    if not args.repo_id:
        raise SystemExit("error: --repo-id is required when uploading (or pass --local-dir)")
    require_token()  # fail before the (possibly long) export
    with tempfile.TemporaryDirectory(prefix="push_to_hub_") as tmp:
        out_dir = Path(tmp) / "export"
        export(args, out_dir)
        try:
            if repo_type == "space":
                create_space(args.repo_id, private=args.private)
            url = upload_folder(
                out_dir,
                args.repo_id,
                repo_type=repo_type,
                private=args.private,
                revision=args.revision,
                commit_message=args.commit_message,
            )
        except Exception as err:  # network, auth, offline mode: report it as one line
            raise UploadError(f"upload to {args.repo_id} failed: {type(err).__name__}: {err}") from err
    print(f"uploaded to {args.repo_id}: {url}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (InputError, MissingTokenError, UploadError, KeyError) as err:  # ExportError is an InputError
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a missing or unreadable file, an existing output folder: `<file>: <what>`
        print(f"error: {os_error_message(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
