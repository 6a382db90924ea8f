"""Training the linker's dense ranker on names (SapBERT-style self-alignment, BioSyn-style use of corpus names).

    from biomed_nerre.linking.dense_training import train_dense_ranker
    ranker = DenseRanker.from_encoder("sentence-transformers/all-MiniLM-L6-v2")   # or a local folder
    report = train_dense_ranker(ranker, rows, max_seconds=1800)                 # rows: NameRows (linker_rows)
    linker.set_dense(ranker, threshold=0.8)

Pairs are two names of one concept (the same type and id set): every corpus or user name paired with another
name of its concept (its vocabulary names first: what a mention must be led to), then synonym pairs of the
vocabularies drawn at random. A batch holds at most one pair per concept; the loss is the in-batch InfoNCE
(each name's partner against the other pairs' names, both directions, temperature 0.05). Training stops
after `steps` steps or `max_seconds`, whichever comes first. Rows must not come from a test split.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import torch

from modeling.dense_linking_joint_ner_re import DenseRanker
from modeling.linking_joint_ner_re import NameRow, name_key

MENTION_SOURCES = ("corpus", "user")  # names as written in text: each is paired with a vocabulary name


@dataclass
class DenseTrainingReport:
    """What a training run did: steps, pairs seen, seconds, the mean loss of the first and last tenth of steps."""

    steps: int
    pairs: int
    seconds: float
    first_loss: float
    last_loss: float
    available_pairs: int

    def line(self) -> str:
        return (f"dense ranker: {self.steps} steps, {self.pairs:,} pairs (of {self.available_pairs:,}) in "
                f"{self.seconds:.0f} s; loss {self.first_loss:.3f} -> {self.last_loss:.3f}")


def training_pairs(rows: Iterable[NameRow], seed: int = 0, vocabulary_pairs: int = 200_000) -> list[tuple[str, str, tuple]]:
    """(name, other name of the concept, concept) triples, names as `name_key`s: every mention-source name with
    one of its concept's vocabulary names (else another mention name), then each vocabulary synonym with its
    concept's preferred name (weight 2; at most `vocabulary_pairs` of them, drawn at random); shuffled with
    `seed`."""
    rng = random.Random(seed)
    mention_names: dict[tuple, set[str]] = {}
    vocabulary: dict[tuple, set[str]] = {}
    preferred: dict[tuple, str] = {}
    for row in rows:
        key = name_key(row.name)
        if not key or not row.ids:
            continue
        concept = (row.entity_type, tuple(sorted(set(row.ids))))
        (mention_names if row.source in MENTION_SOURCES else vocabulary).setdefault(concept, set()).add(key)
        if row.source not in MENTION_SOURCES and row.weight >= 2.0:
            preferred.setdefault(concept, key)
    pairs: list[tuple[str, str, tuple]] = []
    for concept, names in sorted(mention_names.items()):
        others = sorted(vocabulary.get(concept, set()))
        for name in sorted(names):
            choices = [o for o in others if o != name] or sorted(names - {name})
            if choices:
                pairs.append((name, rng.choice(choices), concept))
    synonyms = [(name, preferred[concept], concept) for concept, names in sorted(vocabulary.items())
                if concept in preferred for name in sorted(names) if name != preferred[concept]]
    pairs.extend(rng.sample(synonyms, min(vocabulary_pairs, len(synonyms))))
    rng.shuffle(pairs)
    return pairs


def _batches(pairs: Sequence[tuple[str, str, tuple]], batch_size: int, rng: random.Random):
    """Endless batches of pairs, at most one pair per concept in a batch (the others are its negatives)."""
    order = list(range(len(pairs)))
    while True:
        rng.shuffle(order)
        batch, concepts = [], set()
        for i in order:
            if pairs[i][2] in concepts:
                continue
            batch.append(pairs[i])
            concepts.add(pairs[i][2])
            if len(batch) == batch_size:
                yield batch
                batch, concepts = [], set()


def train_dense_ranker(
    ranker: DenseRanker,
    rows: Iterable[NameRow],
    *,
    steps: int = 10_000,
    max_seconds: float | None = None,
    batch_size: int = 128,
    learning_rate: float = 2e-5,
    temperature: float = 0.05,
    seed: int = 0,
    vocabulary_pairs: int = 200_000,
) -> DenseTrainingReport:
    """Fine-tune `ranker`'s encoder in place on pairs of names of one concept (module docstring); its weights
    are rounded to fp16 at the end (`DenseRanker.round_to_half`), so it saves and reloads exactly."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    pairs = training_pairs(rows, seed, vocabulary_pairs)
    if len(pairs) < 2:
        raise ValueError(f"{len(pairs)} training pair(s): a concept needs two names (a synonym or a corpus name)")
    batch_size = min(batch_size, len({p[2] for p in pairs}))
    encoder = ranker.encoder
    encoder.train()
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=learning_rate, weight_decay=0.01)
    losses: list[float] = []
    start = time.perf_counter()
    seen = 0
    for step, batch in enumerate(_batches(pairs, batch_size, rng)):
        if step >= steps or (max_seconds is not None and time.perf_counter() - start >= max_seconds):
            break
        left = ranker.encode([a for a, _, _ in batch])
        right = ranker.encode([b for _, b, _ in batch])
        logits = left @ right.T / temperature
        target = torch.arange(len(batch))
        loss = (torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)) / 2
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        seen += len(batch)
    encoder.eval()
    ranker.round_to_half()
    tenth = max(len(losses) // 10, 1)
    return DenseTrainingReport(
        steps=len(losses), pairs=seen, seconds=round(time.perf_counter() - start, 1),
        first_loss=sum(losses[:tenth]) / max(len(losses[:tenth]), 1), last_loss=sum(losses[-tenth:]) / max(len(losses[-tenth:]), 1),
        available_pairs=len(pairs),
    )
