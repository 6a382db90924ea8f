"""Model outputs -> character-offset mentions -> entities -> relations.

Decoding rules (documented choices):
- Word-level tags: a word (tokens joined without a break inside a run of letters/digits, e.g. WordPiece's
  `nal ##ox ##one`) takes the tag of its first token, so a predicted mention never ends or starts inside a
  word ("ID" out of "IDM"). Gold mentions that cut a letter/digit run are thus out of reach: in BC5CDR none of
  train's, 10 of validation's 9,591 (e.g. "5-HT" in "5-HT6") and 5 of test's 9,809 ("Ca" in "Ca2+"), counted
  by `python bench/gold_reach.py`.
- Constrained decoding (`config.ner_constrained_decoding`, the default): the word tags are the most
  probable valid BIO sequence (`viterbi_bio` over the word-initial tokens' log-softmax), so an `I-X` never
  follows `O` or another type.
- BIO repair (argmax decoding): an `I-X` that does not continue a mention of type X (after `O`, after
  another type, or at the start) opens a new mention, like seqeval's default (non-strict) chunking. Nothing
  predicted is dropped.
- A mention spans from the start of its first token to the end of its last token (character offsets of the
  tokenizer); a mention is never cut inside a token.
- End-to-end entities without a linker: mentions of the same type whose normalised text (casefold, whitespace
  collapsed) is equal form one entity, `NIL:<type>:<normalised text>` (`nil_entity_id`), in order of first
  mention.
- Relations: a label is predicted for a pair when its score, `sigmoid(logit(label) - logit(TH))`, is above the
  threshold (a probability; compared as the equivalent logit margin), so a pair can carry several labels or
  none. Labels that the pair's type signature does not allow are never predicted.

Imports only torch and the standard library (this file ships with the model).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .outputs_joint_ner_re import Mention, nil_entity_id, normalise_mention_text


def continues_word(offsets: Sequence[Sequence[int]], text: str, i: int) -> bool:
    """True when token i is glued to token i-1 inside one run of letters/digits (a subword continuation), or
    starts inside token i-1's span (byte-level BPE cuts a character of several UTF-8 bytes, "α", into tokens
    that each carry the whole character's span)."""
    if i == 0:
        return False
    start = offsets[i][0]
    if start < offsets[i - 1][1]:
        return True
    return (
        start == offsets[i - 1][1]
        and 0 < start < len(text)
        and text[start - 1].isalnum()
        and text[start].isalnum()
    )


def word_level_tags(
    tag_ids: Sequence[int], offsets: Sequence[Sequence[int]], text: str, ner_labels: Sequence[str]
) -> list[str]:
    """Tag names per token where every continuation token follows its word's first token (B-X -> I-X)."""
    tags: list[str] = []
    for i, tag_id in enumerate(tag_ids):
        if tags and continues_word(offsets, text, i):
            first = tags[-1]
            tags.append("O" if first == "O" else "I-" + first.split("-", 1)[1])
        else:
            tags.append(ner_labels[tag_id])
    return tags


def bio_transition_allowed(ner_labels: Sequence[str]) -> list[list[bool]]:
    """`allowed[previous][current]`: `I-X` may only follow `B-X` or `I-X`; every other transition is allowed."""
    entity_type = [label.split("-", 1)[1] if label != "O" else None for label in ner_labels]
    return [
        [not current.startswith("I-") or entity_type[p] == entity_type[c] for c, current in enumerate(ner_labels)]
        for p in range(len(ner_labels))
    ]


def viterbi_bio(log_probs: Sequence[Sequence[float]], ner_labels: Sequence[str]) -> list[int]:
    """The most probable tag sequence (sum of per-position log-probabilities) among valid BIO sequences: no
    `I-X` at the start or after anything but `B-X`/`I-X`. One row of `log_probs` per position."""
    if not log_probs:
        return []
    allowed = bio_transition_allowed(ner_labels)
    labels = range(len(ner_labels))
    inside = [label.startswith("I-") for label in ner_labels]
    # labels that share one set of allowed predecessors share its best predecessor: with BIO that is one
    # search over all labels (for O and B-X) and one over {B-X, I-X} per type, not one per label
    groups: dict[tuple[int, ...], list[int]] = {}
    for c in labels:
        groups.setdefault(tuple(p for p in labels if allowed[p][c]), []).append(c)
    score = [float("-inf") if inside[c] else float(log_probs[0][c]) for c in labels]
    backpointers: list[list[int]] = []
    previous = [0] * len(ner_labels)
    for row in log_probs[1:]:
        for candidates, members in groups.items():
            best = max(candidates, key=score.__getitem__)  # the first of equal scores, as before
            for c in members:
                previous[c] = best
        score = [score[previous[c]] + float(row[c]) for c in labels]
        backpointers.append(previous[:])
    path = [max(labels, key=score.__getitem__)]
    for previous in reversed(backpointers):
        path.append(previous[path[-1]])
    return path[::-1]


def ner_tag_ids(
    logits: torch.Tensor, offsets: Sequence[Sequence[int]], text: str, ner_labels: Sequence[str], constrained: bool
) -> list[int]:
    """One BIO tag id per token from NER logits `[tokens, labels]`.

    argmax per token; with `constrained`, the tags of the word-initial tokens (the ones decoding reads) are
    the best valid BIO sequence instead (`viterbi_bio` over their log-softmax). When the argmax sequence is
    already valid it is that best sequence, so the search only runs for documents that need it.
    """
    tag_ids = logits.argmax(-1).tolist()
    if not constrained or not tag_ids:
        return tag_ids
    starts = [i for i in range(len(tag_ids)) if not continues_word(offsets, text, i)]
    allowed = bio_transition_allowed(ner_labels)
    word_tags = [tag_ids[i] for i in starts]
    first_ok = not ner_labels[word_tags[0]].startswith("I-")
    if first_ok and all(allowed[p][c] for p, c in zip(word_tags, word_tags[1:])):
        return tag_ids
    best = viterbi_bio(torch.log_softmax(logits[starts].float(), dim=-1).tolist(), ner_labels)
    for i, tag in zip(starts, best):
        tag_ids[i] = tag
    return tag_ids


def decode_bio(
    tag_ids: Sequence[int], offsets: Sequence[Sequence[int]], text: str, ner_labels: Sequence[str]
) -> list[dict[str, Any]]:
    """Mentions `{"start", "end", "text", "type", "token_start", "token_end"}` (token_end inclusive) from
    one BIO tag id per token, in text order (decoded at word level, see the module docstring)."""
    mentions: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for i, tag in enumerate(word_level_tags(tag_ids, offsets, text, ner_labels)):
        if tag == "O":
            current = None
            continue
        prefix, entity_type = tag.split("-", 1)
        if prefix == "I" and current is not None and current["type"] == entity_type:
            current["token_end"] = i
            current["end"] = offsets[i][1]
            continue
        current = {"start": offsets[i][0], "end": offsets[i][1], "type": entity_type, "token_start": i, "token_end": i}
        mentions.append(current)
    for mention in mentions:
        mention["text"] = text[mention["start"] : mention["end"]]
    return mentions


def group_mentions(mentions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entities `{"id", "type", "mention_indices"}` grouping unlinked mentions by (type, normalised text), each
    with its `NIL:<type>:<normalised text>` id, in order of first mention."""
    entities: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for index, mention in enumerate(mentions):
        key = (mention["type"], normalise_mention_text(mention["text"]))
        entity = by_key.get(key)
        if entity is None:
            entity = {"id": nil_entity_id(mention["type"], mention["text"]), "type": mention["type"],
                      "mention_indices": []}
            by_key[key] = entity
            entities.append(entity)
        entity["mention_indices"].append(index)
    return entities


def decode_relations(
    re_logits: torch.Tensor,
    pairs: Sequence[Sequence[int]],
    entity_ids: Sequence[str],
    relation_labels: Sequence[str],
    margin: float = 0.0,
    masked_logit: float = -1e4,
) -> list[dict[str, Any]]:
    """Relations `{"label", "head", "tail", "score"}` of one document: the labels whose logit margin is above
    `margin` (their score, a probability, above `sigmoid(margin)`).

    `re_logits` is `[num_pairs, num_labels]` (label logit minus threshold logit; labels the pair's types do not
    allow hold `masked_logit` and are never returned, whatever the margin), row i scoring `pairs[i]`; padded
    rows beyond `len(pairs)` are ignored.
    """
    if not pairs:
        return []
    logits = re_logits[: len(pairs)].float()
    hits = ((logits > margin) & (logits > masked_logit)).nonzero().tolist()
    scores = torch.sigmoid(logits)
    relations = []
    for row, label_index in hits:
        head, tail = pairs[row]
        relations.append(
            {
                "label": relation_labels[label_index],
                "head": entity_ids[head],
                "tail": entity_ids[tail],
                "score": float(scores[row, label_index]),
            }
        )
    return relations


def public_mention(mention: dict[str, Any]) -> Mention:
    """A decoded mention as the result contract's `Mention`, not linked (`ids` empty, `link_score` None)."""
    return {"start": mention["start"], "end": mention["end"], "text": mention["text"], "type": mention["type"],
            "ids": [], "link_score": None}
