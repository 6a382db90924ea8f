"""Seconds the Gradio demo takes to analyse each of its example abstracts and the longest text it accepts (the
examples repeated up to 20,000 characters): demo/app.py's Page.analyse (input checks, one extract with every
pair scored, rendering, both downloads written), median of --repeats runs. Then extract alone on the longest
text, every pair kept (what the demo asks for) against only those above the model's threshold.

    python bench/demo_latency.py [--model MODEL_DIR] [--repeats 5] [--threads 2]

Without --model it builds the quick-start architecture (all-MiniLM-L6-v2 encoder, max_length 512, stride 128,
BC5CDR labels) with untrained heads: the speed of a trained quick-start model, not its predictions.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demo"))

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a model folder (default: the quick-start architecture, untrained heads)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (a free CPU Space has 2)")
    args = parser.parse_args()

    import torch

    import app
    from bench.common import default_encoder

    torch.set_num_threads(args.threads)
    if args.model:
        model, tokenizer = app.load_model(args.model)
        name = args.model
    else:
        from modeling import SciBertForJointNerRe
        from modeling.preprocessing_joint_ner_re import load_tokenizer

        encoder = default_encoder()
        model = SciBertForJointNerRe.from_encoder(encoder, entity_types=["Chemical", "Disease"],
                                                  relation_types={"CID": ["Chemical", "Disease"]},
                                                  max_length=512, stride=128).eval()
        tokenizer, name = load_tokenizer(encoder), "quick-start architecture (all-MiniLM-L6-v2, untrained heads)"
    page = app.Page(app.Analyser(model, tokenizer, name), app.load_examples(), Path(tempfile.mkdtemp()))
    page.analyse(page.examples[0]["text"], 0.5)  # warm-up
    print(f"model: {name}; torch threads: {torch.get_num_threads()}; median of {args.repeats} runs")
    print("| text | characters | tokens | mentions | scored pairs | seconds (median) | min | max |")
    print("|---|---|---|---|---|---|---|---|")
    longest = "\n".join(e["text"] for e in page.examples * 20)[: app.view.MAX_CHARS]
    texts = [(f"PMID {e['pmid']}", e["text"]) for e in page.examples] + [("examples repeated", longest)]
    for label, text in texts:
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            status, *_, state = page.analyse(text, 0.5)
            times.append(time.perf_counter() - started)
            if not status.startswith("Analysed"):
                raise SystemExit(f"error: {label}: {status}")
        tokens = len(tokenizer(app.view.model_text(text))["input_ids"])
        counts = f"{len(state['result']['mentions'])} | {len(state['result']['relations'])}"
        print(f"| {label} | {len(text)} | {tokens} | {counts} | {statistics.median(times):.3f} | "
              f"{min(times):.3f} | {max(times):.3f} |")
    flat = app.view.model_text(longest)
    for label, threshold in (("every pair kept (the demo)", app.ALL_RELATIONS_MARGIN), ("above the threshold", None)):
        times, kept = [], 0
        for _ in range(args.repeats):
            started = time.perf_counter()
            kept = len(model.extract([flat], tokenizer, batch_size=1, threshold=threshold)[0]["relations"])
            times.append(time.perf_counter() - started)
        print(f"extract on the longest text, {label}: {statistics.median(times):.3f} s median "
              f"({min(times):.3f}-{max(times):.3f}), {kept} relation rows")


if __name__ == "__main__":
    main()
