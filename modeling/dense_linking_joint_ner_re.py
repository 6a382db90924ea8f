"""The concept linker's dense ranker: a text encoder that embeds mentions and vocabulary names so that names of
one concept lie together (SapBERT-style; `biomed_nerre.linking.dense_training` trains it on names).

`ConceptLinker` (linking_joint_ner_re) asks it to choose, for a mention that no exact name or document
abbreviation links, among candidate names of the mention's type (the nearest by character trigrams, and the
loose-key and suffix-variant hits): the candidate whose embedding is closest by cosine wins when that cosine
is at least the linker's `dense_threshold`, else the mention is NIL.

Saved in the linker folder as `encoder/`: a folder that transformers' `AutoModel` / `AutoTokenizer` load
(fp16 safetensors, no pickle). Weights are rounded to fp16 when the ranker is made, so the ranker in memory
and the one read back rank bit for bit alike. Embeddings of names are computed when first needed and kept.

Imports only torch, transformers and the standard library (this file ships with the model).
"""

from __future__ import annotations

import os
from typing import Sequence

import torch

ENCODER_FOLDER = "encoder"
DEFAULT_MAX_LENGTH = 25  # names are short: 25 word pieces hold 99 % of BC5CDR mentions and MeSH names
_CACHE_SIZE = 1 << 18  # embedded texts kept (384 floats each: about 400 MB at most)


class DenseRanker:
    """An encoder (mean pooling over the last layer, L2-normalised) with its tokenizer and an embedding cache."""

    def __init__(self, encoder: torch.nn.Module, tokenizer, max_length: int = DEFAULT_MAX_LENGTH,
                 batch_size: int = 256) -> None:
        self.encoder = encoder.float().eval()
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self._cache: dict[str, torch.Tensor] = {}

    # ---- making and saving ------------------------------------------------------------------------------
    @classmethod
    def from_encoder(cls, name_or_path: str | os.PathLike, max_length: int = DEFAULT_MAX_LENGTH, **kwargs) -> "DenseRanker":
        """A ranker from any encoder transformers' `AutoModel` loads (a local folder or a Hub id; for example
        all-MiniLM-L6-v2 or a SapBERT checkpoint). Its weights are rounded to fp16 (see the module docstring)."""
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), **kwargs)
        encoder = AutoModel.from_pretrained(str(name_or_path), dtype=torch.float32, **kwargs)
        ranker = cls(encoder, tokenizer, max_length)
        ranker.round_to_half()
        return ranker

    def round_to_half(self) -> None:
        """Round every weight to the nearest fp16 value (kept as fp32): what `save` writes is then exactly what
        is used, and a loaded ranker embeds bit for bit like this one. Clears the embedding cache."""
        with torch.no_grad():
            for parameter in self.encoder.parameters():
                parameter.copy_(parameter.half().float())
        self._cache.clear()

    def save(self, folder: str | os.PathLike) -> None:
        """Write the encoder (fp16 safetensors) and its tokenizer into `folder` (`AutoModel` loads it)."""
        self.encoder.half().save_pretrained(folder, safe_serialization=True)
        self.encoder.float()
        self.tokenizer.save_pretrained(folder)

    @classmethod
    def load(cls, folder: str | os.PathLike, max_length: int = DEFAULT_MAX_LENGTH) -> "DenseRanker":
        """Read a folder written by `save` (weights back to fp32 for CPU speed; the values are the fp16 ones)."""
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        encoder = AutoModel.from_pretrained(str(folder), dtype=torch.float32)
        return cls(encoder, tokenizer, max_length)

    # ---- embedding ---------------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """[len(texts), hidden] unit vectors, with gradients when the encoder is in training mode (no cache)."""
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        batch = {k: v.to(next(self.encoder.parameters()).device) for k, v in batch.items()}
        states = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled.float(), dim=-1)

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """`encode` without gradients, each distinct text once (cached), in batches sorted by length (so that
        a text's vector does not depend on what it is batched with beyond padding, which the mask removes)."""
        missing = sorted({t for t in texts if t not in self._cache}, key=lambda t: (len(t), t))
        if missing:
            if len(self._cache) + len(missing) > _CACHE_SIZE:
                self._cache.clear()
            was_training = self.encoder.training
            self.encoder.eval()
            with torch.inference_mode():
                for start in range(0, len(missing), self.batch_size):
                    chunk = missing[start : start + self.batch_size]
                    for text, vector in zip(chunk, self.encode(chunk)):
                        self._cache[text] = vector.clone()
            self.encoder.train(was_training)
        if not texts:
            return torch.zeros(0, self.hidden_size)
        return torch.stack([self._cache[t] for t in texts])

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    def clear_cache(self) -> None:
        self._cache.clear()

    def rank(self, query: str, candidates: Sequence[str]) -> list[tuple[int, float]]:
        """(candidate index, cosine) for every candidate, best first (ties: the earlier candidate)."""
        if not candidates:
            return []
        vectors = self.embed([query, *candidates])
        scores = (vectors[1:] @ vectors[0]).tolist()
        return sorted(enumerate(scores), key=lambda item: (-item[1], item[0]))
