"""Scale record of `predict.py`: the synthetic corpus of the loader benchmark (the 1,500 real BC5CDR documents
repeated under new PMIDs up to N documents) through `predict.py` on 1 and on 2 CPU processes.

    python bench/predict_scale.py --model models/quickstart-bc5cdr-minilm --num-docs 80000 [--backend onnx]

Each run is its own command (the 2-process one under `accelerate launch --multi_gpu --num_processes 2` with
ACCELERATE_USE_CPU=true), timed from start to exit. The peak RSS of every process of the run is its kernel
high-water mark (`VmHWM` in /proc/<pid>/status), sampled every half second until it exits. Prints documents/s
and the peak RSS of each worker process, and checks that both runs wrote the same lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import bench_parser  # noqa: E402
from bench.loader_build import FILES, write_synthetic  # noqa: E402


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc/<pid>/task/*/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    queue.extend(int(child) for child in handle.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def _peak_and_name(pid: int) -> tuple[int, str] | None:
    """(VmHWM in KiB, command line) of a live process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return None
    peak = fields.get("VmHWM")
    return (int(peak.split()[0]), command) if peak else None


def run_watched(command: list[str], env: dict[str, str], log: Path) -> tuple[float, dict[int, tuple[float, str]]]:
    """Run `command` to its end; wall seconds and {pid: (peak RSS MiB, command line)} of its processes."""
    peaks: dict[int, tuple[float, str]] = {}
    started = time.perf_counter()
    with open(log, "w") as handle:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
        while process.poll() is None:
            for pid in _descendants(process.pid):
                seen = _peak_and_name(pid)
                if seen is not None:
                    peaks[pid] = (max(seen[0] / 1024, peaks.get(pid, (0.0, ""))[0]), seen[1])
            time.sleep(0.5)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}); see {log}:\n{log.read_text()[-3000:]}")
    return seconds, peaks


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> None:
    parser = bench_parser(__doc__, model=True)
    parser.add_argument("--num-docs", type=int, default=80_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--work-dir", default=None, help="where the corpus and outputs go (default: a temporary folder)")
    args = parser.parse_args()

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="predict-scale-"))
    corpus_dir = work / "corpus"
    write_synthetic(Path(args.data_dir), args.num_docs, corpus_dir)
    corpus = corpus_dir / FILES["train"]
    print(f"corpus: {args.num_docs} documents, {corpus.stat().st_size / 2**20:.1f} MiB ({corpus})", flush=True)
    if args.backend == "onnx":  # export once, untimed, so both runs time the same thing
        from modeling import SciBertForJointNerRe

        SciBertForJointNerRe.from_pretrained(args.model).use_backend("onnx")

    digests = {}
    for processes in args.processes:
        output = work / f"predictions-{processes}.jsonl"
        predict = ["predict.py", "--model", args.model, "--input", str(corpus), "--output", str(output),
                   "--batch-size", str(args.batch_size), "--backend", args.backend, "--no-progress", "--overwrite"]
        env = dict(os.environ)
        if processes == 1:
            command = [sys.executable, *predict]
        else:
            env["ACCELERATE_USE_CPU"] = "true"
            command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                       str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                       *predict]
        seconds, peaks = run_watched(command, env, work / f"predict-{processes}.log")
        workers = sorted((peak, pid) for pid, (peak, name) in peaks.items() if "predict.py" in name
                         and "accelerate" not in name)
        if len(workers) != processes:
            raise SystemExit(f"saw {len(workers)} predict.py worker process(es), expected {processes}: {peaks}")
        digests[processes] = _digest(output)
        record = {
            "processes": processes, "backend": args.backend, "documents": args.num_docs, "seconds": round(seconds, 1),
            "documents_per_s": round(args.num_docs / seconds, 2),
            "peak_rss_mib_per_process": [round(peak) for peak, _ in workers],
            "output_mib": round(output.stat().st_size / 2**20, 1),
            "summary": (work / f"predict-{processes}.log").read_text().strip().splitlines()[-1],
        }
        print(json.dumps(record), flush=True)
    if len(set(digests.values())) > 1:
        raise SystemExit(f"the runs wrote different outputs: {digests}")
    print(f"same output from {', '.join(map(str, digests))} process(es): sha256 {next(iter(digests.values()))[:16]}")


if __name__ == "__main__":
    main()
