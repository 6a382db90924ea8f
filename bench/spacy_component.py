"""The spaCy component against `extract` on BC5CDR test abstracts: the same mentions, ids and relations, how
many mentions spaCy's English tokens make the component widen ("expand") or list as unaligned ("strict"), and
the time `nlp.pipe` adds to `extract`: end to end, and the part that is the component's own (spaCy's tokenizer
and the mapping of each result onto its Doc), timed apart from the model.

    python bench/spacy_component.py --model models/quickstart-bc5cdr-minilm [--documents 500] [--repeats 3]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_parser  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = bench_parser(__doc__, model=True)
    parser.add_argument("--documents", type=int, default=500, help="how many test abstracts, from the first")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each path (the median is printed)")
    parser.add_argument("--batch-size", type=int, default=8, help="texts per forward pass, in both paths")
    args = parser.parse_args(argv)

    import spacy

    from loaders.pubtator import iter_pubtator
    from modeling.outputs_joint_ner_re import to_document_result

    raws = iter_pubtator(Path(args.data_dir) / "CDR_TestSet.PubTator.txt", None, None)
    texts = [raw.text for raw, _ in zip(raws, range(args.documents))]
    nlps = {}
    for mode in ("expand", "strict"):
        nlps[mode] = spacy.blank("en")
        nlps[mode].add_pipe("biomed_nerre", config={"model": args.model, "alignment_mode": mode,
                                                    "batch_size": args.batch_size, "device": "cpu"})
    model, tokenizer = nlps["expand"].get_pipe("biomed_nerre").model_and_tokenizer

    component = nlps["expand"].get_pipe("biomed_nerre")
    timings: dict[str, list[float]] = {"extract": [], "nlp.pipe": [], "tokenize_and_map": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        results = model.extract(texts, tokenizer, batch_size=args.batch_size)
        timings["extract"].append(time.perf_counter() - start)
        start = time.perf_counter()
        docs = list(nlps["expand"].pipe(texts, batch_size=len(texts)))
        timings["nlp.pipe"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for text, result in zip(texts, results):
            component.set_annotations(nlps["expand"].make_doc(text), to_document_result(result))
        timings["tokenize_and_map"].append(time.perf_counter() - start)

    mentions = sum(len(r["mentions"]) for r in results)
    same = sum(
        sorted([s._.mention for s in doc.spans["biomed_nerre"]]
               + [{k: v for k, v in m.items() if k != "entity_ids"} for m in doc._.unaligned_mentions],
               key=lambda m: (m["start"], m["end"])) == r["mentions"] and doc._.relations == r["relations"]
        for doc, r in zip(docs, results)
    )
    widened = sum((s.start_char, s.end_char) != (s._.mention["start"], s._.mention["end"])
                  for doc in docs for s in doc.spans["biomed_nerre"])
    figures = {
        "documents": len(texts),
        "documents_equal_to_extract": same,
        "mentions": mentions,
        "relations": sum(len(r["relations"]) for r in results),
        "expand_widened": widened,
        "expand_unaligned": sum(len(doc._.unaligned_mentions) for doc in docs),
        "expand_not_in_ents": sum(len(doc.spans["biomed_nerre"]) - len(doc.ents) for doc in docs),
        "strict_unaligned": sum(len(doc._.unaligned_mentions) for doc in nlps["strict"].pipe(texts, batch_size=len(texts))),
        "extract_s": statistics.median(timings["extract"]),
        "nlp_pipe_s": statistics.median(timings["nlp.pipe"]),
        "tokenize_and_map_s": statistics.median(timings["tokenize_and_map"]),
    }
    figures["pipe_over_extract"] = figures["nlp_pipe_s"] / figures["extract_s"]
    for key, value in figures.items():
        print(f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}")
    return figures


if __name__ == "__main__":
    main()
