"""Where the memory of a prediction process goes, torch backend against ONNX Runtime: resident memory (VmRSS)
after the imports, after loading the model (weights, linker, gazetteer), after setting up the backend, and
the peak (VmHWM) after `extract` over the first N BC5CDR test abstracts. Each backend runs in its own process.

    python bench/onnx_memory.py --model DIR [--limit 500] [--batch-size 8] [--backends torch onnx]

`--model` is a saved joint model folder (loaded as predict.py loads it: AutoModel with trust_remote_code);
its ONNX export is made first, untimed, if the folder has none. Prints one JSON line per backend (MiB).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import bench_parser  # noqa: E402


def _memory() -> tuple[int, int]:
    """(VmRSS, VmHWM) of this process in MiB."""
    with open("/proc/self/status") as handle:
        fields = dict(line.split(":", 1) for line in handle if ":" in line)
    return tuple(int(fields[name].split()[0]) // 1024 for name in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def measure(model_path: str, data_dir: str, backend: str, limit: int, batch_size: int) -> dict:
    """The stages of one process (this one): imports, model, backend, extract."""
    import torch

    from loaders import load_corpus
    from biomed_nerre.prediction.runner import load_model, use_backend

    stages = {"imports": _memory()[0]}
    model, tokenizer = load_model(model_path, "cpu")
    stages["model loaded"] = _memory()[0]
    model = use_backend(model, backend)
    stages["backend ready"] = _memory()[0]
    documents = [dict(d) for d in load_corpus("bc5cdr", "documents", data_dir=data_dir)["test"]][:limit]
    stages["documents read"] = _memory()[0]
    started = time.perf_counter()
    with torch.inference_mode():
        results = model.extract(documents, tokenizer, batch_size=batch_size)
    seconds = time.perf_counter() - started
    rss, peak = _memory()
    stages["after extract"] = rss
    return {"backend": backend, "documents": len(results), "extract_s": round(seconds, 1),
            "documents_per_s": round(len(results) / seconds, 2), "rss_mib": stages, "peak_rss_mib": peak}


def main() -> None:
    parser = bench_parser(__doc__, model=True)
    parser.add_argument("--limit", type=int, default=500, help="test abstracts to extract (default 500)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx"], choices=["torch", "onnx"])
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # the measured process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.model, args.data_dir, args.child, args.limit, args.batch_size)), flush=True)
        return
    if "onnx" in args.backends:  # the export once, before any measured process
        from biomed_nerre.prediction.runner import load_model, use_backend

        use_backend(load_model(args.model, "cpu")[0], "onnx")
    for backend in args.backends:
        done = subprocess.run([sys.executable, __file__, "--model", args.model, "--data-dir", args.data_dir,
                               "--limit", str(args.limit), "--batch-size", str(args.batch_size), "--child", backend],
                              capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{done.stderr[-3000:]}")
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
