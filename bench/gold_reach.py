"""How many gold mentions the word-level decoder cannot reach: a start or end that cuts a letter/digit run.

    python bench/gold_reach.py [--data-dir ../shared/data/bc5cdr] [--dataset bc5cdr]

A predicted mention never starts or ends inside a run of letters/digits (modeling/postprocessing_joint_ner_re:
a word takes its first token's tag), so a gold mention such as "5-HT" inside "5-HT6" is out of reach. Prints
the count per split and a few examples. Reads documents only (no model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cuts_a_word(text: str, start: int, end: int) -> bool:
    """Whether the span [start, end) starts or ends between two letters/digits of `text`."""
    return any(0 < at < len(text) and text[at - 1].isalnum() and text[at].isalnum() for at in (start, end))


def main() -> None:
    from biomed_nerre.training.data import load_documents

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="bc5cdr")
    parser.add_argument("--dataset-config", default="")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data" / "bc5cdr"))
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    corpus = load_documents(args.dataset, args.dataset_config, args.data_dir, args.cache_dir)
    for split, documents in corpus.items():
        total, out_of_reach = 0, []
        for document in documents:
            for mention in document["mentions"]:
                total += 1
                if cuts_a_word(document["text"], mention["start"], mention["end"]):
                    start, end = mention["start"], mention["end"]
                    out_of_reach.append(f"{mention['text']!r} in {document['text'][max(0, start - 6):end + 6]!r}")
        shown = "; ".join(dict.fromkeys(out_of_reach[:8]))
        print(f"{split}: {len(out_of_reach)} of {total} gold mentions out of word-level reach" + (f" ({shown})" if shown else ""))


if __name__ == "__main__":
    main()
