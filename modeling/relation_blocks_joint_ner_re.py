"""The relation head's pair context in blocks: memory bounded by block sizes, not by the document.

Every candidate (head, tail) pair gets a context vector (ATLOP's localized context pooling): each entity attends
over its document's tokens (softmax of `query . token`), a pair weights each token by the product of its two
entities' attention, normalised over the tokens, and its context is the weighted sum of the token states. Done
at once for a whole document, that is a pairs x tokens tensor: for a full-text article, thousands of pairs
times a hundred thousand tokens.

Here the pairs of a batch are cut into blocks (`plan_pair_blocks`): short documents share a block (computed
batched, padded like the rest of the model's batches), a long document's pairs fill blocks of their own. Each
block's context is formed in two passes over blocks of tokens (`pair_context`): the softmax denominators of the
entities the block names, then the weighted sums. Nothing bigger than pairs-per-block x tokens-per-block is
held, and the result equals the whole-document formula up to float rounding.

Imports only torch and the standard library (this file ships with the model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

# Score of a token of another document or of padding: its exp is 0 and, unlike -inf, its gradient stays finite.
EXCLUDED_SCORE = -1e30
# The whole-document formula's guard: a pair whose entities attend to disjoint tokens gets a small context.
PAIR_WEIGHT_EPSILON = 1e-5


@dataclass
class PairBlock:
    """Pairs scored together: `pairs` indexes the batch's flat pair list; all belong to documents `first` to
    `last` (a range of the batch), whose tokens the block's context runs over."""

    first: int
    last: int
    pairs: torch.Tensor


def plan_pair_blocks(
    doc: torch.Tensor, local: torch.Tensor, lengths: Sequence[int], pairs_per_block: int, tokens_per_block: int
) -> list[PairBlock]:
    """Blocks over a batch's pairs (`doc`: each pair's document, in ascending order; `local`: `[P, 2]` entity
    indices within it; `lengths`: each document's tokens).

    Consecutive documents share a block while the block, padded to its widest document in pairs and in
    tokens, holds at most `pairs_per_block` pairs and `tokens_per_block` tokens. A document with more pairs or
    tokens than that gets blocks of its own, of at most `pairs_per_block` pairs in `_tile_order`.
    """
    counts = torch.bincount(doc, minlength=len(lengths)).tolist()
    starts = [0]
    for count in counts:
        starts.append(starts[-1] + count)
    blocks: list[PairBlock] = []
    group: list[int] = []  # documents of the block being filled

    def close_group() -> None:
        if group:
            blocks.append(PairBlock(group[0], group[-1], torch.arange(starts[group[0]], starts[group[-1] + 1],
                                                                      device=doc.device)))
            group.clear()

    for b, count in enumerate(counts):
        if count == 0:
            continue
        if count > pairs_per_block or lengths[b] > tokens_per_block:
            close_group()
            index = torch.arange(starts[b], starts[b + 1], device=doc.device)
            if count > pairs_per_block:
                index = index[_tile_order(local[index], pairs_per_block)]
            blocks.extend(PairBlock(b, b, part) for part in index.split(pairs_per_block))
            continue
        docs = b - group[0] + 1 if group else 1  # the block spans documents group[0] .. b
        widest = max([counts[d] for d in group] + [count])
        longest = max([lengths[d] for d in group] + [lengths[b]])
        if group and (docs * widest > pairs_per_block or docs * longest > tokens_per_block):
            close_group()
        group.append(b)
    close_group()
    return blocks


def _tile_order(pairs: torch.Tensor, pairs_per_block: int) -> torch.Tensor:
    """An order of `pairs` (`[P, 2]` head, tail entity indices) by square tiles of (head rank, tail rank), the
    ranks counted among the entities that occur as heads and as tails: a block of `pairs_per_block` pairs then
    names about 2 * sqrt(pairs_per_block) entities (each one's attention is recomputed per block), not up to
    twice as many entities as pairs. Within a tile the input order is kept."""
    side = max(1, math.isqrt(pairs_per_block))
    head_rank = torch.unique(pairs[:, 0], return_inverse=True)[1]
    tail_rank = torch.unique(pairs[:, 1], return_inverse=True)[1]
    tiles = int(tail_rank.max()) // side + 1
    return torch.sort((head_rank // side) * tiles + tail_rank // side, stable=True).indices


def run_block(function: Callable[..., Any], *args: torch.Tensor) -> Any:
    """`function(*args)`; while gradients are recorded, under activation checkpointing, so that the backward
    pass keeps only the block's inputs and outputs and recomputes what lies between (pairs x tokens)."""
    if torch.is_grad_enabled() and any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
        from torch.utils.checkpoint import checkpoint

        return checkpoint(function, *args, use_reentrant=False, preserve_rng_state=False)
    return function(*args)


def _scores(query: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
    """`[docs, entities, tokens]` attention scores `query . token` in float32, padding (if any) excluded."""
    scores = torch.bmm(query, tokens.transpose(1, 2)).float()
    return scores if token_mask is None else scores.masked_fill(~token_mask.unsqueeze(1), EXCLUDED_SCORE)


def _log_partition(query: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor | None) -> torch.Tensor:
    """`[docs, entities]`: the log-sum-exp of each entity's attention scores over a block of tokens."""
    return torch.logsumexp(_scores(query, tokens, token_mask), dim=-1)


def _weighted_tokens(
    query: torch.Tensor,
    normaliser: torch.Tensor,
    tokens: torch.Tensor,
    token_mask: torch.Tensor | None,
    head: torch.Tensor,
    tail: torch.Tensor,
    pair_doc: torch.Tensor,
    pair_slot: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A block of tokens' share of the pairs' context: (the pair-weighted sum of the token states `[pairs,
    hidden]`, float32; the sum of the weights `[pairs]`). `head`, `tail`: flat indices into the `[docs *
    entities]` rows of `query`; `pair_doc`, `pair_slot`: each pair's document and its row among that document's
    pairs (the padded layout of the batched product)."""
    attention = torch.exp(_scores(query, tokens, token_mask) - normaliser.unsqueeze(-1)).flatten(0, 1)
    weights = attention[head] * attention[tail]  # [pairs, tokens]
    docs = tokens.size(0)
    if docs == 1:
        summed = weights.to(tokens.dtype) @ tokens[0]
    else:  # one batched product: each document's pairs against its own tokens
        padded = weights.new_zeros(docs, int(pair_slot.max()) + 1, weights.size(-1))
        padded[pair_doc, pair_slot] = weights
        summed = torch.bmm(padded.to(tokens.dtype), tokens)[pair_doc, pair_slot]
    return summed.float(), weights.sum(-1)


def _rank_within(groups: torch.Tensor, count: int) -> torch.Tensor:
    """For sorted group ids, each item's position within its group."""
    sizes = torch.bincount(groups, minlength=count)
    return torch.arange(groups.numel(), device=groups.device) - (torch.cumsum(sizes, 0) - sizes)[groups]


def pair_context(
    query: torch.Tensor,
    tokens: torch.Tensor,
    token_mask: torch.Tensor,
    pair_doc: torch.Tensor,
    head: torch.Tensor,
    tail: torch.Tensor,
    tokens_per_block: int,
) -> torch.Tensor:
    """`[pairs, hidden]` context vectors of a block of pairs.

    query: `[docs, entities, hidden]` each entity's attention query (scaled); tokens: `[docs, tokens, hidden]`
    the documents' token states, token_mask `[docs, tokens]`; pair_doc, head, tail: `[pairs]` each pair's
    document (ascending) and entity indices within it. Only the entities the pairs name are attended with.
    """
    docs, num_entities = query.shape[:2]
    named, inverse = torch.unique(torch.cat([pair_doc * num_entities + head, pair_doc * num_entities + tail]),
                                  return_inverse=True)
    named_doc = named // num_entities
    rows = _rank_within(named_doc, docs)  # each named entity's row in its document's padded query
    width = int(rows.max()) + 1
    padded_query = query.new_zeros(docs, width, query.size(-1))
    padded_query[named_doc, rows] = query[named_doc, named % num_entities]
    flat = named_doc * width + rows
    head_rows, tail_rows = flat[inverse[: head.numel()]], flat[inverse[head.numel() :]]
    pair_slot = _rank_within(pair_doc, docs)
    masks = None if bool(token_mask.all()) else token_mask  # one long document: no padding to exclude
    spans = [slice(start, start + tokens_per_block) for start in range(0, tokens.size(1), tokens_per_block)]
    normaliser = None
    for span in spans:
        part = run_block(_log_partition, padded_query, tokens[:, span], None if masks is None else masks[:, span])
        normaliser = part if normaliser is None else torch.logaddexp(normaliser, part)
    weighted = total = None
    for span in spans:
        block_sum, block_total = run_block(_weighted_tokens, padded_query, normaliser, tokens[:, span],
                                           None if masks is None else masks[:, span], head_rows, tail_rows,
                                           pair_doc, pair_slot)
        weighted = block_sum if weighted is None else weighted + block_sum
        total = block_total if total is None else total + block_total
    return (weighted / (total + PAIR_WEIGHT_EPSILON).unsqueeze(-1)).to(tokens.dtype)
