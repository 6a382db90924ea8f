"""The encoder alone: ONNX Runtime against torch eager, on the windows `extract` feeds it.

    python bench/onnx_encoder.py [--model DIR] [--limit 500] [--batch-sizes 1 8] [--repeats 3] [--int8]

Builds the batches of the BC5CDR test abstracts exactly as `extract` does (`prepare_features`, `inference_order`,
`collate_features`), then times `model.encoder` in torch and the ONNX Runtime session (`use_backend("onnx")`)
over all of them, alternating the two in one process after a warm-up, and prints documents/s of each, the ratio,
and the largest difference of their hidden states on real tokens. Without `--model`, an untrained
`from_encoder` model over `--encoder` (default MiniLM) is saved to a temporary folder and exported there (the
speed does not depend on the weights).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    import torch

    from bench.common import bench_parser, default_encoder
    from loaders import load_corpus
    from modeling import SciBertForJointNerRe
    from modeling.preprocessing_joint_ner_re import collate_features, inference_order, load_tokenizer, prepare_features

    parser = bench_parser(__doc__, encoder=True)
    parser.add_argument("--model", default=None, help="A joint model folder (default: untrained, from --encoder).")
    parser.add_argument("--limit", type=int, default=500, help="Test documents (default: all 500).")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--int8", action="store_true", help="also time the ONNX Runtime int8 model")
    args = parser.parse_args()

    scratch = tempfile.TemporaryDirectory()
    if args.model:
        model = SciBertForJointNerRe.from_pretrained(args.model)
        tokenizer = load_tokenizer(args.model)
    else:
        encoder = args.encoder or default_encoder()
        model = SciBertForJointNerRe.from_encoder(encoder, relation_types={"CID": ("Chemical", "Disease")})
        model.save_pretrained(scratch.name)
        model = SciBertForJointNerRe.from_pretrained(scratch.name)
        tokenizer = load_tokenizer(encoder)
    model.eval()
    test = load_corpus("bc5cdr", "documents", data_dir=args.data_dir)["test"]
    documents = [{"pmid": test[i]["pmid"], "text": test[i]["text"]} for i in range(min(args.limit, len(test)))]
    features = {i: prepare_features(d, tokenizer, model.config, with_labels=False, with_entities=False)
                for i, d in enumerate(documents)}
    order = inference_order(features)

    backends = {"torch": lambda ids, mask: model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state}
    started = time.perf_counter()
    backends["onnx"] = model.use_backend("onnx")._encoder_runtime
    print(f"ONNX session ready in {time.perf_counter() - started:.1f} s (export included if there was none): "
          f"{model._encoder_runtime.path}", flush=True)
    if args.int8:
        backends["onnx int8"] = model.use_backend("onnx", int8=True)._encoder_runtime
    model.use_backend("torch")
    print(f"{len(documents)} documents, torch threads {torch.get_num_threads()}", flush=True)
    for batch_size in args.batch_sizes:
        batches = [collate_features([features[i] for i in order[b : b + batch_size]], tokenizer.pad_token_id)
                   for b in range(0, len(order), batch_size)]
        seconds: dict[str, list[float]] = {name: [] for name in backends}
        with torch.inference_mode():
            outputs = {name: run(batches[0]["input_ids"], batches[0]["attention_mask"]) for name, run in backends.items()}
            real = batches[0]["attention_mask"].bool()
            differences = {name: (out - outputs["torch"])[real].abs().max().item() for name, out in outputs.items()}
            for _ in range(args.repeats):
                for name, run in backends.items():
                    start = time.perf_counter()
                    for batch in batches:
                        run(batch["input_ids"], batch["attention_mask"])
                    seconds[name].append(time.perf_counter() - start)
        for name, measured in seconds.items():
            rates = sorted(len(documents) / s for s in measured)
            ratio = statistics.median(t / s for t, s in zip(seconds["torch"], measured))
            print(f"batch {batch_size}, {name}: documents/s min / median / max {rates[0]:.1f} / "
                  f"{statistics.median(rates):.1f} / {rates[-1]:.1f}; {ratio:.2f}x torch (median of paired repeats); "
                  f"max |difference| on the first batch {differences[name]:.2g}", flush=True)
    scratch.cleanup()


if __name__ == "__main__":
    main()
