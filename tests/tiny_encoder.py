"""A tiny randomly initialised BERT checkpoint (config, safetensors weights, WordPiece vocab) in a folder.

Used where a test needs an encoder that loads through `from_pretrained` like a real one, without a download.
The vocabulary holds single characters (and their ``##`` continuations) plus a few words, so any English
or biomedical text tokenizes without [UNK] floods.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "of", "and", "in", "induced", "with", "patients", "rats", "was", "were", "to", "a"]


def write_tiny_encoder(folder: str | Path, lowercase: bool = True, hidden_size: int = 32, seed: int = 0) -> Path:
    """Save a 2-layer BERT with a character-level vocabulary to ``folder`` and return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chars = string.ascii_lowercase + string.digits + string.punctuation
    if not lowercase:
        chars += string.ascii_uppercase
    vocab = list(dict.fromkeys(SPECIAL + list(chars) + ["##" + c for c in chars if c.isalnum()] + WORDS))
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # transformers 5 ignores `vocab_file=`; `vocab=` takes the path
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=lowercase)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder
