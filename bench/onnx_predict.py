"""Whole processes over the 500 BC5CDR test abstracts: `predict.py --backend onnx` and `--backend torch` against
the stock token-classification pipeline at batch 1, each timed from process start to exit (imports, model loading,
reading the input and writing the output included), with the peak RSS of that process.

    python bench/onnx_predict.py --model DIR [--repeats 3] [--batch-size 8] [--out results/bench-onnx-predict]

`--model` is a joint model folder saved with this checkout's modeling code, a trained one (the quick start's):
an untrained model's NER head finds many more mentions, and relation scoring then dominates the time. Its
ONNX export is made once before timing (`use_backend("onnx")` writes `<model>/onnx/`). The pipeline row is
`bench/speed.py`'s pipeline measure run as its own process, over the same encoder (`--encoder`, default MiniLM).
Repeats alternate the systems; min / median / max of documents/s are printed, and the ratio of medians.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import bench_parser, default_encoder  # noqa: E402


def run_process(command: list[str]) -> tuple[float, float]:
    """Wall seconds from start to exit and the peak RSS (MiB) of one process; RuntimeError if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    out, err = process.stdout.read(), process.stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{err[-3000:]}{out[-1000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = bench_parser(__doc__, model=True, encoder=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="predict.py's batch size (default 8)")
    parser.add_argument("--systems", nargs="+", default=["onnx", "torch", "pipeline"],
                        choices=["onnx", "torch", "pipeline"])
    parser.add_argument("--out", default="results/bench-onnx-predict")
    args = parser.parse_args()
    encoder = args.encoder or default_encoder()
    test_file = str(Path(args.data_dir) / "CDR_TestSet.PubTator.txt")
    documents = sum(1 for line in open(test_file) if "|t|" in line)

    from modeling import SciBertForJointNerRe

    model = SciBertForJointNerRe.from_pretrained(args.model)
    exported = model.use_backend("onnx")._encoder_runtime.path  # once, untimed
    del model
    scratch = tempfile.mkdtemp(prefix="onnx_predict_")

    def predict_command(backend: str) -> list[str]:
        return [sys.executable, "predict.py", "--model", args.model, "--input", test_file, "--input-format", "pubtator",
                "--output", f"{scratch}/{backend}.jsonl", "--batch-size", str(args.batch_size), "--overwrite",
                "--no-progress", "--backend", backend]

    commands = {
        "onnx": predict_command("onnx"),
        "torch": predict_command("torch"),
        "pipeline": [sys.executable, "bench/speed.py", "--child", "pipeline", "--data-dir", args.data_dir,
                     "--encoder", encoder, "--pipeline-batch-size", "1"],
    }
    names = {"onnx": f"predict.py --backend onnx, batch {args.batch_size} (NER+RE)",
             "torch": f"predict.py --backend torch, batch {args.batch_size} (NER+RE)",
             "pipeline": "stock pipeline (NER), batch 1 (default)"}
    measured: dict[str, list[tuple[float, float]]] = {s: [] for s in args.systems}
    print(f"{documents} documents; ONNX file {exported}", flush=True)
    for repeat in range(args.repeats):
        for system in args.systems:
            measured[system].append(run_process(commands[system]))
            seconds, rss = measured[system][-1]
            print(f"[{repeat + 1}/{args.repeats}] {names[system]}: {seconds:.1f} s, {documents / seconds:.1f} "
                  f"documents/s, peak RSS {rss:.0f} MiB", flush=True)

    lines = ["| whole process, 500 test abstracts | documents/s (min / median / max) | peak RSS MiB (max) |",
             "|---|---|---|"]
    medians = {}
    for system, runs in measured.items():
        rates = sorted(documents / s for s, _ in runs)
        medians[system] = statistics.median(rates)
        lines.append(f"| {names[system]} | {rates[0]:.1f} / {medians[system]:.1f} / {rates[-1]:.1f} | "
                     f"{max(r for _, r in runs):.0f} |")
    if "pipeline" in medians:
        lines.append("")
        lines += [f"- {names[s]} vs {names['pipeline']}: {medians[s] / medians['pipeline']:.2f}x documents/s "
                  "(target >= 1.7x)" for s in medians if s != "pipeline"]
    table = "\n".join(lines)
    print(table)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "onnx_predict.md").write_text(table + "\n")
    (Path(args.out) / "onnx_predict.json").write_text(json.dumps(
        {"settings": vars(args), "documents": documents, "seconds_and_peak_rss_mib": measured}, indent=2) + "\n")


if __name__ == "__main__":
    main()
