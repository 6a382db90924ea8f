"""Linking benchmark on BC5CDR gold mentions: accuracy@1 per type and document-level id F1, for the linker's
steps switched on one at a time (the dictionary keys alone first), with build time and peak memory.

    python bench/linking.py --data-dir ../shared/data/bc5cdr --vocab-dir ../shared/data/vocab \
        [--dense-encoder untuned=PATH --dense-encoder tuned=models/linker-encoder]

Rows: `exact` is the exact lookup of the issue-27 baseline (the normalised mention text in the corpus names, then
MeSH / MEDIC names; no abbreviations, no other step); `dictionary` adds the loose keys; `context` adds the
document's abbreviations, composite mentions and suffix variants; `all@t` the trigram step at threshold t;
`dense:<label>@t` the dense ranker (`--dense-encoder LABEL=PATH`) in the trigram step's place (after all the other
steps), NIL below cosine t; `@chosen` with the threshold per type chosen on validation for document-level id F1.

Validation is scored with names from train only (where thresholds are chosen, for document-level id F1); test
with names from train + validation (the final model's). Prints a table; `--out` writes JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from biomed_nerre.evaluation.linking_metrics import score_linking  # noqa: E402
from biomed_nerre.linking import linker_rows  # noqa: E402
from loaders import load_corpus  # noqa: E402
from modeling.dense_linking_joint_ner_re import DenseRanker  # noqa: E402
from modeling.linking_joint_ner_re import NIL, ConceptLinker, LinkResult, name_key  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data/bc5cdr"), help="BC5CDR release folder.")
    parser.add_argument("--vocab-dir", default=str(REPO.parent / "shared/data/vocab"), help="Vocabulary folder.")
    parser.add_argument("--fuzzy-thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
                        help="Fuzzy thresholds tried on validation.")
    parser.add_argument("--dense-thresholds", type=float, nargs="+",
                        default=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97], help="Dense thresholds tried on validation.")
    parser.add_argument("--dense-encoder", action="append", default=[], metavar="LABEL=PATH",
                        help="A dense ranker's encoder to score (repeatable).")
    parser.add_argument("--dense-only", action="store_true", help="Only the dense rows (the others: an earlier run).")
    parser.add_argument("--out", help="Write the figures as JSON here.")
    return parser.parse_args(argv)


def linked(linker: ConceptLinker, documents, steps: str) -> list[list]:
    """Per document, the linker's results for its gold mentions, with only some steps on: "dictionary" (the
    exact and loose keys, no document context), "context" (all but the trigram fallback), "all"."""
    out = []
    for doc in documents:
        mentions = doc["mentions"]
        if steps == "exact":
            out.append([exact_lookup(linker, m["text"], m["type"]) for m in mentions])
        elif steps == "dictionary":
            out.append([linker._lookup(m["text"], m["type"]) or NIL for m in mentions])
        else:
            out.append(linker.link_mentions(doc["text"], mentions, fuzzy=steps == "all"))
    return out


def exact_lookup(linker: ConceptLinker, text: str, entity_type: str) -> LinkResult:
    """The issue-27 baseline: the normalised text in the exact table (corpus names first, then MEDIC, MeSH)."""
    entry = linker.exact.get(entity_type, {}).get(name_key(text))
    return LinkResult(entry[0], entry[1], "exact") if entry is not None else NIL


def thresholded(links: list[list[LinkResult]], threshold: float) -> list[list[LinkResult]]:
    """Links computed with no threshold, with the dense answers below `threshold` made NIL."""
    return [[NIL if r.method == "dense" and r.score < threshold else r for r in doc] for doc in links]


def thresholded_per_type(links, documents, thresholds: dict[str, float]) -> list[list[LinkResult]]:
    """`thresholded` with one threshold per entity type (of the gold mention each link is for)."""
    return [[NIL if r.method == "dense" and r.score < thresholds[m["type"]] else r
             for r, m in zip(doc_links, doc["mentions"])] for doc_links, doc in zip(links, documents)]


def main(argv=None) -> dict:
    args = parse_args(argv)
    corpus = load_corpus("bc5cdr", "documents", data_dir=args.data_dir)
    types = ["Chemical", "Disease"]
    figures: dict = {"dense_seconds": {}}
    encoders = dict(item.split("=", 1) for item in args.dense_encoder)
    for split, name_splits in (("validation", ["train"]), ("test", ["train", "validation"])):
        start = time.perf_counter()
        documents = [d for s in name_splits for d in corpus[s]]
        rows, metadata = linker_rows(documents, types, vocab_dir=args.vocab_dir)
        linker = ConceptLinker.from_names(rows, metadata=metadata)
        built = time.perf_counter() - start
        gold = list(corpus[split])
        thresholds = args.fuzzy_thresholds if split == "validation" else [figures["chosen_fuzzy_threshold"]]
        rows_out = {}
        for steps in () if args.dense_only else ("exact", "dictionary", "context"):
            rows_out[steps] = score_linking(gold, linked(linker, gold, steps))
        for threshold in [] if args.dense_only else thresholds:
            linker.fuzzy_threshold = threshold
            rows_out[f"all@{threshold}"] = score_linking(gold, linked(linker, gold, "all"))
        if split == "validation":
            best = thresholds[0] if args.dense_only else max(thresholds, key=lambda t: rows_out[f"all@{t}"]["accuracy"])
            figures["chosen_fuzzy_threshold"] = best
        for label, path in encoders.items():
            linker.set_dense(DenseRanker.from_encoder(path), threshold=-1.0)
            start = time.perf_counter()
            raw = linked(linker, gold, "all")
            figures["dense_seconds"][f"{split}:{label}"] = round(time.perf_counter() - start, 1)
            linker.set_dense(None)
            dense_thresholds = args.dense_thresholds
            if split == "validation":
                for t in dense_thresholds:
                    rows_out[f"dense:{label}@{t}"] = score_linking(gold, thresholded(raw, t))
                # one per type, for its document-level id F1 (the measure that is scored)
                figures[f"chosen_dense_threshold:{label}"] = {
                    entity_type: max(dense_thresholds, key=lambda t: rows_out[f"dense:{label}@{t}"][f"id_f1_{entity_type}"])
                    for entity_type in types}
            chosen = figures[f"chosen_dense_threshold:{label}"]
            rows_out[f"dense:{label}@chosen"] = score_linking(gold, thresholded_per_type(raw, gold, chosen))
        figures[split] = {"names_from": name_splits, "build_seconds": round(built, 1), "results": rows_out}
        print(f"\n{split} (names from {'+'.join(name_splits)}; built in {built:.1f} s)")
        print(f"{'steps':<22} {'acc Chemical':>13} {'acc Disease':>12} {'id F1 Chem':>11} {'id F1 Dis':>10} {'NIL %':>6}")
        for steps, r in rows_out.items():
            print(f"{steps:<22} {r['accuracy_Chemical']:>13.4f} {r['accuracy_Disease']:>12.4f} "
                  f"{r['id_f1_Chemical']:>11.4f} {r['id_f1_Disease']:>10.4f} {100 * r['nil_rate']:>6.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["peak_rss_mb"] = round(peak)
    print(f"\nfuzzy threshold chosen on validation: {figures['chosen_fuzzy_threshold']}; peak RSS {peak:.0f} MB")
    for key, value in figures.items():
        if key.startswith("chosen_dense"):
            print(f"{key} (validation, document-level id F1): {value}")
    print(f"dense linking seconds: {figures['dense_seconds']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
