"""Speed and memory benchmark: joint `extract` vs the stock token-classification pipeline; train.py vs Trainer.

Every measurement runs in its own subprocess (so peak RSS is that system's alone) and is repeated;
min / median / max are reported.

    python bench/speed.py --data-dir ../shared/data/bc5cdr [--joint-model DIR] [--baseline-model DIR] \
        [--repeats 3] [--train-steps 40] [--systems ROW ...] [--out results/bench-speed]

Inference: the 500 BC5CDR test documents. The joint model runs NER + RE (`extract`, end-to-end mode);
the pipeline runs NER only (`pipeline("token-classification", aggregation_strategy="simple", stride=128)`,
so long documents are covered, not cut), once with its default batch size 1 and once batched like
`extract`. Both also run with int8 dynamic quantization of the encoder (`quantize_for_cpu` for the joint model,
the same `quantize_dynamic` call for the pipeline's model) and in bfloat16 (weights and activations; fast on
CPUs with AMX, slow on CPUs without bf16 instructions: the table's first line names the CPU's). The rows
"2 batches at once" run `extract(..., parallel_batches=2)`: two batches side by side, each on its own thread
with half of torch's threads (the pipeline has no such mode). The "onnx" rows run the joint model's encoder on
ONNX Runtime (`use_backend("onnx")`; the export, done once, is not timed; "onnx int8": ONNX Runtime's dynamic int8
quantization of it); heads and decoding stay in torch. Training: tokens/s (non-padding tokens, optimizer
steps only) of train.py and of the `Trainer` baseline, same encoder, batch size and documents.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import bench_parser, default_encoder, machine, token_classification_pipeline  # noqa: E402


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_memory(device: str) -> dict:
    """Peak RSS of this process, and on a GPU the peak memory torch allocated there."""
    import torch

    peaks = {"peak_rss_mib": _peak_rss_mib()}
    if device.startswith("cuda"):
        peaks["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return peaks


def _timed(device: str, run):
    """Seconds of ``run()`` and its result. On a GPU, one untimed call on a few documents first: the first call
    pays for the CUDA context, cuBLAS and kernel loading (seconds, against a few seconds for the whole split)."""
    import torch

    if device.startswith("cuda"):
        run(warmup=True)
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = run(warmup=False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def _documents(data_dir: str, limit: int) -> list[dict]:
    from loaders import load_corpus

    test = load_corpus("bc5cdr", "documents", data_dir=data_dir)["test"]
    return [test[i] for i in range(min(limit, len(test)))] if limit else list(test)


def measure_joint(args: argparse.Namespace) -> dict:
    import torch

    from modeling import SciBertForJointNerRe
    from modeling.preprocessing_joint_ner_re import load_tokenizer

    documents = _documents(args.data_dir, args.limit)
    if args.joint_model:
        from transformers import AutoTokenizer

        # this checkout's modeling code, not the copy saved with the model: the figures are of the code as it is
        model = SciBertForJointNerRe.from_pretrained(args.joint_model)
        tokenizer = AutoTokenizer.from_pretrained(args.joint_model, trust_remote_code=True)
    else:
        model = SciBertForJointNerRe.from_encoder(
            args.encoder, entity_types=["Chemical", "Disease"], relation_types={"CID": ("Chemical", "Disease")}
        )
        tokenizer = load_tokenizer(args.encoder)
    model.eval()
    if args.backend == "onnx":  # the encoder on ONNX Runtime (its int8 model with --int8), exported before timing
        model.use_backend("onnx", int8=args.int8, provider="cuda" if args.device.startswith("cuda") else "cpu")
    elif args.int8:
        model = model.quantize_for_cpu()
    elif args.dtype != "float32":
        model = model.to(getattr(torch, args.dtype))
    model = model.to(args.device)
    tokens = sum(len(tokenizer(d["text"], add_special_tokens=False)["input_ids"]) for d in documents)

    def run(warmup: bool) -> list[dict]:
        with torch.inference_mode():
            warmup_documents = documents[: args.batch_size * args.parallel_batches]
            return model.extract(warmup_documents if warmup else documents, tokenizer, mode="end2end",
                                 batch_size=args.batch_size, parallel_batches=args.parallel_batches)

    seconds, predictions = _timed(args.device, run)
    return {
        "seconds": seconds, "documents": len(documents), "tokens": tokens, **_peak_memory(args.device),
        "mentions": sum(len(p["mentions"]) for p in predictions), "relations": sum(len(p["relations"]) for p in predictions),
    }


def measure_pipeline(args: argparse.Namespace) -> dict:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    documents = _documents(args.data_dir, args.limit)
    source = args.baseline_model or args.encoder
    tokenizer = AutoTokenizer.from_pretrained(source)
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    model = AutoModelForTokenClassification.from_pretrained(
        source, num_labels=5, id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)}
    )
    model.eval()
    if args.int8:  # the same quantization as quantize_for_cpu: the encoder's Linear layers only
        from modeling.modeling_joint_ner_re import quantize_linear_layers_int8

        setattr(model, model.base_model_prefix, quantize_linear_layers_int8(model.base_model))
    elif args.dtype != "float32":
        model = model.to(getattr(torch, args.dtype))
    tagger = token_classification_pipeline(model, tokenizer, args.device)
    texts = [d["text"] for d in documents]
    tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)

    def run(warmup: bool) -> list:
        with torch.inference_mode():
            return tagger(texts[: max(args.pipeline_batch_size, 4)] if warmup else texts,
                          batch_size=args.pipeline_batch_size)

    seconds, outputs = _timed(args.device, run)
    return {"seconds": seconds, "documents": len(texts), "tokens": tokens, **_peak_memory(args.device),
            "mentions": sum(len(o) for o in outputs)}


def measure_train_joint(args: argparse.Namespace) -> dict:
    from biomed_nerre.training.main import main as train_main

    with tempfile.TemporaryDirectory() as out:
        train_main([
            "--dataset", "bc5cdr", "--data-dir", args.data_dir, "--encoder", args.encoder,
            "--max-steps", str(args.train_steps), "--per-device-batch-size", str(args.batch_size_train),
            "--limit-eval-docs", "1", "--evaluate-test", "false", "--calibrate-re-threshold", "false",
            "--save-steps", "0", "--mixed-precision", args.mixed_precision,
            "--logging-steps", "1", "--output-dir", out, "--seed", "42", "--attention-dropout", "0.0",
        ])
        records = [json.loads(line) for line in open(Path(out) / "trainer_log.jsonl") if '"tokens"' in line]
    skip = records[: args.warmup_steps]  # first steps include one-off allocation costs, as for the Trainer below
    kept = records[len(skip):]
    tokens = sum(r["tokens"] for r in kept)
    seconds = sum(r["train_seconds"] for r in kept)
    return {"tokens": tokens, "seconds": seconds, **_peak_memory(args.device)}


def measure_train_trainer(args: argparse.Namespace) -> dict:
    from transformers import TrainerCallback

    from bench.trainer_baseline import build_trainer
    from loaders import load_corpus
    from loaders.schema import bio_label_names

    class StepClock(TrainerCallback):
        """Seconds and tokens per optimizer step, timed like train.py's loop: from the end of one step to the end
        of the next, so fetching and collating the batch counts (the Trainer fetches a step's batches before
        `on_step_begin`, so a begin-to-end clock would leave that out, while train.py's clock includes it)."""

        def __init__(self) -> None:
            self.durations: list[float] = []
            self.tokens: list[int] = []
            self._last: float | None = None
            self._seen = 0

        def on_train_begin(self, args_, state, control, **kwargs):
            self._last = time.perf_counter()

        def on_step_end(self, args_, state, control, **kwargs):
            now = time.perf_counter()
            self.durations.append(now - self._last)
            self._last = now
            self.tokens.append(state.num_input_tokens_seen - self._seen)
            self._seen = state.num_input_tokens_seen

    ner = load_corpus("bc5cdr", "ner", data_dir=args.data_dir)
    with tempfile.TemporaryDirectory() as out:
        trainer, _ = build_trainer(args.encoder, bio_label_names("bc5cdr"), ner["train"], None, out, epochs=1,
                                   learning_rate=1e-4, batch_size=args.batch_size_train, seed=42,
                                   max_steps=args.train_steps, attention_dropout=0.0,
                                   bf16=args.mixed_precision == "bf16")
        clock = StepClock()
        trainer.add_callback(clock)
        trainer.train()
    kept = slice(args.warmup_steps, None)  # the first steps include one-off allocation costs
    return {"tokens": sum(clock.tokens[kept]), "seconds": sum(clock.durations[kept]), **_peak_memory(args.device)}


MEASURES = {
    "extract": measure_joint,
    "pipeline": measure_pipeline,
    "train_joint": measure_train_joint,
    "train_trainer": measure_train_trainer,
}


def _run_child(args: argparse.Namespace, measure: str, extra: list[str]) -> dict:
    command = [sys.executable, __file__, "--child", measure, "--data-dir", args.data_dir, "--encoder", args.encoder,
               "--limit", str(args.limit), "--batch-size", str(args.batch_size), "--train-steps", str(args.train_steps),
               "--batch-size-train", str(args.batch_size_train), "--warmup-steps", str(args.warmup_steps),
               "--pipeline-batch-size", str(args.pipeline_batch_size), "--device", args.device, *extra]
    if args.no_cudnn_sdpa:
        command.append("--no-cudnn-sdpa")
    if args.joint_model:
        command += ["--joint-model", args.joint_model]
    if args.baseline_model:
        command += ["--baseline-model", args.baseline_model]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{measure} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _stats(values: list[float]) -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def main() -> None:
    parser = bench_parser(__doc__, encoder=True)
    parser.add_argument("--joint-model", default=None, help="A trained joint model folder (default: fresh heads).")
    parser.add_argument("--baseline-model", default=None, help="A trained token-classification folder.")
    parser.add_argument("--limit", type=int, default=0, help="Test documents (0: all 500).")
    parser.add_argument("--batch-size", type=int, default=4,
                        help="Inference batch size of extract and of the batched pipeline (4: fastest here).")
    parser.add_argument("--pipeline-batch-size", type=int, default=1)
    parser.add_argument("--parallel-batches", type=int, default=1,
                        help="child: extract's batches at once on the CPU, each on its own thread")
    parser.add_argument("--batch-size-train", type=int, default=4)
    parser.add_argument("--train-steps", type=int, default=40)
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--int8", action="store_true", help="child: int8 dynamic quantization of the encoder")
    parser.add_argument("--dtype", default="float32", help="child: floating-point type of the weights")
    parser.add_argument("--backend", default="torch", help="child: where extract's encoder runs (torch, onnx)")
    parser.add_argument("--mixed-precision", default="no", help="child: training autocast (no or bf16)")
    parser.add_argument("--device", default="cpu",
                        help="Inference device (cpu, cuda). Training rows use the GPU whenever there is one: "
                             "train.py through Accelerate, the Trainer by itself.")
    parser.add_argument("--no-cudnn-sdpa", action="store_true",
                        help="Turn cuDNN attention off for the whole process (a GPU setting; the joint model's "
                             "encoder leaves it out by itself, the pipeline's and the Trainer's do not).")
    parser.add_argument("--systems", nargs="+", default=None, help="Rows to run (default: all); see the table.")
    parser.add_argument("--out", default="results/bench-speed")
    parser.add_argument("--child", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.encoder is None:
        args.encoder = default_encoder()
    if args.child:
        if args.no_cudnn_sdpa:
            import torch

            torch.backends.cuda.enable_cudnn_sdp(False)
        print(json.dumps(MEASURES[args.child](args)))
        return

    bf16 = ["--dtype", "bfloat16"]
    two = ["--parallel-batches", "2"]
    onnx = ["--backend", "onnx"]
    # row name: (measure, child flags, precision); ratios compare rows of one precision
    runs = {
        "extract (NER+RE), batch %d" % args.batch_size: ("extract", [], "float32"),
        "extract (NER+RE), batch %d, 2 batches at once" % args.batch_size: ("extract", two, "float32"),
        "pipeline (NER), batch 1 (default)": ("pipeline", ["--pipeline-batch-size", "1"], "float32"),
        "pipeline (NER), batch %d" % args.batch_size: ("pipeline", ["--pipeline-batch-size", str(args.batch_size)],
                                                       "float32"),
        "extract int8 (NER+RE), batch %d" % args.batch_size: ("extract", ["--int8"], "int8"),
        "extract int8 (NER+RE), batch %d, 2 batches at once" % args.batch_size: ("extract", ["--int8", *two], "int8"),
        "pipeline int8 (NER), batch 1": ("pipeline", ["--pipeline-batch-size", "1", "--int8"], "int8"),
        "extract bf16 (NER+RE), batch 16": ("extract", [*bf16, "--batch-size", "16"], "bfloat16"),
        "extract bf16 (NER+RE), batch 16, 2 batches at once": ("extract", [*bf16, "--batch-size", "16", *two],
                                                                "bfloat16"),
        "pipeline bf16 (NER), batch 1": ("pipeline", [*bf16, "--pipeline-batch-size", "1"], "bfloat16"),
        "pipeline bf16 (NER), batch 16": ("pipeline", [*bf16, "--pipeline-batch-size", "16"], "bfloat16"),
        "extract onnx (NER+RE), batch 1": ("extract", [*onnx, "--batch-size", "1"], "float32"),
        "extract onnx (NER+RE), batch %d" % args.batch_size: ("extract", onnx, "float32"),
        "extract onnx (NER+RE), batch %d, 2 batches at once" % args.batch_size: ("extract", [*onnx, *two], "float32"),
        "extract onnx int8 (NER+RE), batch %d" % args.batch_size: ("extract", [*onnx, "--int8"], "int8"),
        "train.py": ("train_joint", [], "float32"),
        "Trainer baseline": ("train_trainer", [], "float32"),
        "train.py, bf16 autocast": ("train_joint", ["--mixed-precision", "bf16"], "bfloat16"),
        "Trainer baseline, bf16 autocast": ("train_trainer", ["--mixed-precision", "bf16"], "bfloat16"),
    }
    if args.systems:
        unknown = [name for name in args.systems if name not in runs]
        if unknown:
            parser.error(f"unknown --systems {unknown}; choose from {list(runs)}")
        runs = {name: runs[name] for name in args.systems}
    results: dict[str, list[dict]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name, (measure, extra, _) in runs.items():
            results[name].append(_run_child(args, measure, extra))
            print(f"[{repeat + 1}/{args.repeats}] {name}: {results[name][-1]}", flush=True)

    host = machine()
    on_gpu = any("peak_gpu_mib" in m for measured in results.values() for m in measured)
    lines = [f"machine: {host['cpu']}, {', '.join(host['extensions']) or 'no AVX2'}, {host['torch_threads']} torch threads"
             + (f"; GPU: {host['gpu']}" if host["gpu"] else "") + f"; inference on {args.device}",
             "", "| system | documents/s (min / median / max) | tokens/s (min / median / max) | peak RSS MiB (max) |"
             + (" peak GPU MiB (max) |" if on_gpu else ""), "|---|---|---|---|" + ("---|" if on_gpu else "")]
    for name, measured in results.items():
        docs = [m["documents"] / m["seconds"] for m in measured if "documents" in m]
        toks = [m["tokens"] / m["seconds"] for m in measured]
        rss = max(m["peak_rss_mib"] for m in measured)
        gpu = max((m.get("peak_gpu_mib", 0.0) for m in measured), default=0.0)
        lines.append(f"| {name} | {_stats(docs) if docs else '-'} | {_stats(toks)} | {rss:.0f} |"
                     + (f" {gpu:.0f} |" if on_gpu else ""))
    docs_median = {n: statistics.median(m["documents"] / m["seconds"] for m in results[n])
                   for n in runs if "documents" in results[n][0]}
    lines.append("")
    default_pipeline = "pipeline (NER), batch 1 (default)"
    for fast in (n for n in docs_median if runs[n][0] == "extract"):
        for slow in (n for n in docs_median if runs[n][0] == "pipeline"):
            if runs[fast][2] != runs[slow][2] and slow != default_pipeline:
                continue  # other precisions are compared with the pipeline as a user runs it, and within their own
            lines.append(f"- {fast} vs {slow}: {docs_median[fast] / docs_median[slow]:.2f}x documents/s "
                         "(target >= 1.5x)")
    for ours, theirs in (("train.py", "Trainer baseline"),
                         ("train.py, bf16 autocast", "Trainer baseline, bf16 autocast")):
        if ours in results and theirs in results:
            medians = [statistics.median(m["tokens"] / m["seconds"] for m in results[n]) for n in (ours, theirs)]
            lines.append(f"- {ours} vs {theirs}: {medians[0] / medians[1]:.2f}x tokens/s (target >= 1.0x)")
    table = "\n".join(lines)
    print(table)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "speed.md").write_text(table + "\n")
    (Path(args.out) / "speed.json").write_text(json.dumps({"settings": vars(args), "machine": host, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
