"""How many of BC5CDR's gold concept ids a linker can give at all: per split and type, the share of gold
mentions and of document-level (PMID, id) pairs whose id is in none of the linker's vocabularies (MeSH
descriptors and supplementary concepts, CTD MEDIC), and of those, the ones no name from the name splits
carries either. BC5CDR was annotated with the MeSH of 2015; an id retired since (a supplementary concept
promoted to a descriptor under a new id) is given only by a corpus name, so these are out of any linker's
reach that uses today's vocabularies and has not seen the concept in its corpus names.

    python bench/vocabulary_coverage.py [--data-dir ../shared/data/bc5cdr --vocab-dir ../shared/data/vocab]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from biomed_nerre.linking import linker_rows  # noqa: E402
from loaders import load_corpus  # noqa: E402
from modeling.outputs_joint_ner_re import curie_to_corpus_id  # noqa: E402

TYPES = ("Chemical", "Disease")
NAME_SPLITS = {"validation": ("train",), "test": ("train", "validation")}  # as bench/linking.py


def coverage(documents, vocabulary_ids: set[str], corpus_ids: set[str], entity_type: str) -> dict:
    """Counts of gold mentions and (PMID, id) pairs of `entity_type`, and of those whose id the vocabularies
    lack (`absent`) and that the corpus names lack too (`unreachable`). Unlinkable ids (-1) are left out."""
    mentions = absent_mentions = unreachable_mentions = 0
    pairs: set[tuple[str, str]] = set()
    for doc in documents:
        for mention in doc["mentions"]:
            ids = [i for i in mention["ids"] if i not in ("-1", "")]
            if mention["type"] != entity_type or not ids:
                continue
            mentions += 1
            absent_mentions += any(i not in vocabulary_ids for i in ids)
            unreachable_mentions += any(i not in vocabulary_ids and i not in corpus_ids for i in ids)
            pairs.update((doc["pmid"], i) for i in ids)
    absent = {p for p in pairs if p[1] not in vocabulary_ids}
    unreachable = {p for p in absent if p[1] not in corpus_ids}
    return {"mentions": mentions, "absent_mentions": absent_mentions, "unreachable_mentions": unreachable_mentions,
            "pairs": len(pairs), "absent_pairs": len(absent), "unreachable_pairs": len(unreachable),
            "unreachable_ids": sorted({i for _, i in unreachable})}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data/bc5cdr"), help="BC5CDR release folder")
    parser.add_argument("--vocab-dir", default=str(REPO.parent / "shared/data/vocab"), help="vocabulary folder")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    corpus = load_corpus("bc5cdr", "documents", data_dir=args.data_dir)
    vocabulary_rows, _ = linker_rows([], list(TYPES), vocab_dir=args.vocab_dir)
    vocabulary_ids = {curie_to_corpus_id(i) for r in vocabulary_rows for i in r.ids}
    figures: dict = {}
    print(f"{'split':<11} {'type':<9} {'mentions':>8} {'absent':>7} {'unreach.':>8} {'doc-id pairs':>12} {'absent':>7} "
          f"{'unreach.':>8}")
    for split, name_splits in NAME_SPLITS.items():
        corpus_ids = {i for s in name_splits for d in corpus[s] for m in d["mentions"] for i in m["ids"]}
        for entity_type in TYPES:
            row = coverage(corpus[split], vocabulary_ids, corpus_ids, entity_type)
            figures[f"{split}:{entity_type}"] = row
            print(f"{split:<11} {entity_type:<9} {row['mentions']:>8} {row['absent_mentions']:>7} "
                  f"{row['unreachable_mentions']:>8} {row['pairs']:>12} {row['absent_pairs']:>7} {row['unreachable_pairs']:>8}")
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return figures


if __name__ == "__main__":
    main()
