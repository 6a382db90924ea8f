"""Tiny random checkpoints of each backbone family, each with a tokenizer of its family's kind trained on a few
BC5CDR training abstracts, saved like a Hub checkpoint (config, safetensors weights, tokenizer files).

Kinds of tokenizer: WordPiece with [CLS]/[SEP] (BERT); byte-level BPE (RoBERTa with <s>/</s>, ModernBERT with
[CLS]/[SEP], Llama and Mistral with a BOS only, Qwen2 and Mamba with no special token at all); Unigram over
SentencePiece's "▁" pre-tokenization (DeBERTa-v2 with [CLS]/[SEP], Gemma and Jamba with a BOS). Decoder families
pad on the left, as their tokenizers do for generation. Used by tests/test_backbones.py and bench/bidirectional.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoConfig, AutoModel, PreTrainedTokenizerFast

REPO = Path(__file__).resolve().parents[1]
TRAINING_SET = REPO.parent / "shared" / "data" / "bc5cdr" / "CDR_TrainingSet.PubTator.txt"
HIDDEN = 32


@dataclass(frozen=True)
class Family:
    """One backbone family: its `model_type`, tiny config, tokenizer kind, special tokens and padding side."""

    name: str
    model_type: str
    config: dict[str, Any]
    tokenizer: str  # "wordpiece", "bpe" (byte-level) or "unigram"
    specials: str  # "cls_sep", "bos_eos", "bos" or "none"
    padding_side: str = "right"
    pad: bool = True  # whether the tokenizer has a pad token (Llama's has none)
    decoder: bool = False  # causal attention by default
    extra: dict[str, Any] = field(default_factory=dict)


_ATTENTION = dict(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2, intermediate_size=2 * HIDDEN,
                  max_position_embeddings=256)
_DECODER = dict(_ATTENTION, num_key_value_heads=1, attention_dropout=0.0)

FAMILIES = {
    f.name: f
    for f in [
        Family("bert", "bert", dict(_ATTENTION, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0),
               "wordpiece", "cls_sep"),
        Family("roberta", "roberta", dict(_ATTENTION, max_position_embeddings=258, hidden_dropout_prob=0.0,
                                          attention_probs_dropout_prob=0.0), "bpe", "bos_eos"),
        Family("deberta-v2", "deberta-v2", dict(_ATTENTION, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                                relative_attention=True, pos_att_type=["p2c", "c2p"],
                                                position_buckets=32, max_relative_positions=64), "unigram", "cls_sep"),
        Family("modernbert", "modernbert", dict(_ATTENTION, global_attn_every_n_layers=2, local_attention=16,
                                                embedding_dropout=0.0, attention_dropout=0.0, mlp_dropout=0.0),
               "bpe", "cls_sep"),
        Family("llama", "llama", dict(_DECODER), "bpe", "bos", "left", pad=False, decoder=True),
        Family("qwen2", "qwen2", dict(_DECODER), "bpe", "none", "left", decoder=True),
        Family("mistral", "mistral", dict(_DECODER, sliding_window=None), "bpe", "bos", "left", pad=False,
               decoder=True),
        Family("gemma", "gemma", dict(_DECODER, head_dim=16), "unigram", "bos", "left", decoder=True),
        Family("mamba", "mamba", dict(hidden_size=HIDDEN, num_hidden_layers=2, state_size=8, expand=2,
                                      conv_kernel=4, use_mambapy=False), "bpe", "none"),
        Family("mamba2", "mamba2", dict(hidden_size=HIDDEN, num_hidden_layers=2, state_size=8, expand=2,
                                        num_heads=4, head_dim=16, n_groups=1, conv_kernel=4, chunk_size=16),
               "bpe", "none"),
        Family("jamba", "jamba", dict(_DECODER, num_experts=1, num_experts_per_tok=1, expert_layer_period=1,
                                      expert_layer_offset=0, attn_layer_period=2, attn_layer_offset=1,
                                      mamba_d_state=8, mamba_d_conv=4, mamba_expand=2, mamba_dt_rank=4,
                                      use_mamba_kernels=False), "unigram", "bos", "left", decoder=True),
    ]
}


def training_texts(count: int = 30) -> list[str]:
    """Title + " " + abstract of the first `count` BC5CDR training documents (the tokenizers' training text)."""
    texts, title = [], None
    with open(TRAINING_SET, encoding="utf-8") as handle:
        for line in handle:
            if "|t|" in line[:20]:
                title = line.split("|t|", 1)[1].rstrip("\n")
            elif "|a|" in line[:20]:
                texts.append(title + " " + line.split("|a|", 1)[1].rstrip("\n"))
                if len(texts) == count:
                    break
    return texts


_SPECIAL_TOKENS = {"cls_sep": ("[CLS]", "[SEP]"), "bos_eos": ("<s>", "</s>"), "bos": ("<s>", None),
                   "none": (None, None)}


def train_tokenizer(family: Family, texts: list[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A fast tokenizer of `family`'s kind trained on `texts`."""
    first, last = _SPECIAL_TOKENS[family.specials]
    pad = {"cls_sep": "[PAD]", "bos_eos": "<pad>"}.get(family.specials, "<pad>") if family.pad else None
    unk = "[UNK]" if family.tokenizer == "wordpiece" else "<unk>"
    specials = [t for t in (pad, unk, first, last) if t]
    if family.tokenizer == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=unk))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    elif family.tokenizer == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token=unk)
    tokenizer.train_from_iterator(texts, trainer)
    if first or last:
        single = " ".join(t for t in (first and f"{first}:0", "$A:0", last and f"{last}:0") if t)
        tokenizer.post_processor = processors.TemplateProcessing(
            single=single, special_tokens=[(t, tokenizer.token_to_id(t)) for t in (first, last) if t])
    names = {"cls_sep": {"cls_token": first, "sep_token": last}, "bos_eos": {"bos_token": first, "eos_token": last},
             "bos": {"bos_token": first}}.get(family.specials, {})
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token=unk, pad_token=pad,
                                   padding_side=family.padding_side, **names)


def write_tiny_backbone(family: Family, folder: Path, texts: list[str], seed: int = 0,
                        tokenizer: PreTrainedTokenizerFast | None = None) -> Path:
    """Save `family`'s tiny random model and a tokenizer (`tokenizer`, or one trained on `texts`) to `folder`
    (loadable with `from_encoder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer or train_tokenizer(family, texts)
    tokenizer.save_pretrained(folder)
    # room for the tokens a family's tokenizer class adds when it loads (Qwen2's adds <|endoftext|>)
    options = dict(family.config, vocab_size=len(tokenizer) + 8)
    if tokenizer.pad_token_id is not None:
        options["pad_token_id"] = tokenizer.pad_token_id
    for name, token in (("bos_token_id", tokenizer.bos_token_id), ("eos_token_id", tokenizer.eos_token_id),
                        ("cls_token_id", tokenizer.cls_token_id), ("sep_token_id", tokenizer.sep_token_id)):
        if token is not None:
            options[name] = token
    config = AutoConfig.for_model(family.model_type, **options)
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(folder)
    return folder
