"""How much of what train.py encodes is padding: one epoch of its training loader, no model.

    python bench/train_padding.py [--batch-size 4]

Prints windows, encoded positions, real tokens, the padding share, documents longer than one window, and
how long building the batches took.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from transformers import AutoConfig

    from bench.common import bench_parser, default_encoder
    from modeling import JointNerReConfig
    from modeling.preprocessing_joint_ner_re import load_tokenizer
    from biomed_nerre.training.data import featurize, load_documents, make_train_dataloader

    parser = bench_parser(__doc__, encoder=True)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    encoder = args.encoder or default_encoder()

    tokenizer = load_tokenizer(encoder)
    config = JointNerReConfig(encoder_config=AutoConfig.from_pretrained(encoder).to_dict())
    features = featurize(load_documents("bc5cdr", "", args.data_dir)["train"], tokenizer, config)
    loader, _ = make_train_dataloader(features.with_format(None), args.batch_size, args.seed, tokenizer.pad_token_id, True)
    start = time.perf_counter()
    windows = positions = real = 0
    for batch in loader:
        windows += batch["input_ids"].shape[0]
        positions += batch["input_ids"].numel()
        real += int(batch["attention_mask"].sum())
    seconds = time.perf_counter() - start
    long_documents = sum(length > config.max_length - 2 for length in features["length"])
    print(f"{len(features)} documents, {long_documents} longer than one window; {windows} windows; "
          f"{positions} positions, {real} real tokens, padding {1 - real / positions:.1%}; batches built in {seconds:.1f} s")


if __name__ == "__main__":
    main()
