"""Document -> model features, and features -> batch tensors.

A *document* follows the `documents` schema of docs/architecture.md (`pmid`, `text`, `mentions`, `entities`,
`relations`; only `text` is required for inference). `prepare_features` turns one into plain python lists
(Arrow-friendly, so `datasets.map` can store them); `collate_features` pads several into tensors for
`SciBertForJointNerRe.forward`.

Rules (documented choices):
- The whole text is tokenized once (fast tokenizer, offsets, no special tokens, no truncation). A sequence
  longer than `max_length - S` tokens (S: the special tokens the tokenizer adds to one text, 2 for BERT's
  CLS/SEP, 1 for a Llama BOS, 0 for Qwen2 or Mamba; `window_special_tokens`) is cut into the fewest windows of
  at most `max_length - S` content tokens, all of one length, consecutive ones overlapping by at least `stride`
  tokens; each window gets the tokenizer's own special tokens around it. Each token takes its state from exactly one window: the one where it is farthest from an
  *artificial* window edge (an edge that cuts the document; the document's own start and end do not count),
  ties -> the earlier window.
- Token offsets leave out the whitespace a token carries (byte-level BPE's "Ġword" starts at the space before
  the word), so spans are those of the characters themselves; a token that is only whitespace keeps its span.
- A mention covers every token whose character span overlaps it. A token that crosses a mention boundary is
  therefore labelled as part of the mention, and a mention decoded from it spans the whole token.
- BIO on subwords: the first token of a mention is B-<type>, every later token (continuation subwords
  included) I-<type>. Overlapping/nested mentions cannot all be tagged: the longer one (in characters) wins,
  then the earlier one; the others keep no BIO tags but still count for relation extraction (their entity is
  pooled from all its mentions).
- An entity is represented by the token index of each mention's first token; relation candidates are all
  ordered (head, tail) pairs of distinct entities whose (head type, tail type) is allowed by at least one label.

Imports only torch, transformers and the standard library (this file ships with the model).
"""

from __future__ import annotations

import bisect
import json
import math
import os
from typing import Any, Mapping, Sequence

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from .configuration_joint_ner_re import JointNerReConfig
from .gazetteer_joint_ner_re import Gazetteer, num_tag_ids

IGNORE_INDEX = -100


# ---- tokenizer helpers -------------------------------------------------------------------------------------


def tokenizer_lowercases(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True when the (fast) tokenizer's normalizer lowercases its input."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(f"{type(tokenizer).__name__} is not a fast tokenizer; offsets need a fast tokenizer")
    probe = "NaloxoneABC"
    normalizer = backend.normalizer
    normalized = normalizer.normalize_str(probe) if normalizer is not None else probe
    return normalized == probe.lower()


def infer_do_lower_case(name_or_path: str | os.PathLike) -> bool | None:
    """Whether the checkpoint wants lowercasing: from its name ("cased" but not "uncased" -> False, "uncased"
    -> True), else from a local `tokenizer_config.json` / `config.json` field `do_lower_case`; None if unknown."""
    name = str(name_or_path).lower()
    if "uncased" in name:
        return True
    if "cased" in name:
        return False
    for filename in ("tokenizer_config.json", "config.json"):
        path = os.path.join(str(name_or_path), filename)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                value = json.load(handle).get("do_lower_case")
            if value is not None:
                return bool(value)
    return None


def load_tokenizer(
    name_or_path: str | os.PathLike, do_lower_case: bool | None = None, **kwargs: Any
) -> PreTrainedTokenizerBase:
    """Load a fast tokenizer, forcing `do_lower_case=False` for cased checkpoints, and verify the casing.

    The SciBERT cased checkpoint ships no tokenizer config that says it is cased, so a plain
    `AutoTokenizer.from_pretrained` would lowercase it; this helper passes the flag explicitly and then checks the
    tokenizer really behaves that way (ValueError otherwise).
    """
    if do_lower_case is None:
        do_lower_case = infer_do_lower_case(name_or_path)
    if do_lower_case is not None:
        kwargs["do_lower_case"] = do_lower_case
    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), **kwargs)
    lowercases = tokenizer_lowercases(tokenizer)
    if do_lower_case is not None and lowercases != do_lower_case:
        raise ValueError(
            f"tokenizer of {name_or_path} {'lowercases' if lowercases else 'keeps case'} although "
            f"do_lower_case={do_lower_case} was requested"
        )
    return tokenizer


def tokenize_text(text: str, tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[list[int]]]:
    """Token ids and character offsets `[start, end)` of the whole text, without special tokens or truncation.

    Offsets are trimmed of the whitespace at their ends (byte-level BPE tokenizers that do not trim offsets
    themselves, such as Llama 3's or Qwen2's, give "Ġinduced" the span of " induced"); a whitespace-only
    token keeps its span."""
    encoding = tokenizer(
        text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
    )
    offsets = []
    for start, end in encoding["offset_mapping"]:
        piece = text[start:end]
        stripped = piece.strip()
        if stripped and stripped != piece:
            start += len(piece) - len(piece.lstrip())
            end = start + len(stripped)
        offsets.append([start, end])
    return list(encoding["input_ids"]), offsets


_PROBE = "a"


def window_special_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one text when it adds its special tokens: `[CLS]` / `[SEP]`
    for BERT, `<s>` / `</s>` for RoBERTa, `<s>` / none for Llama, `<bos>` / none for Gemma, none for Qwen2 or
    Mamba's GPT-NeoX tokenizer. Every window gets these, as the checkpoint saw its inputs in pretraining.

    Read from what the tokenizer does with a probe text (no assumption about which tokens exist); two calls on
    one character, next to tokenizing a whole document. Not cached on the tokenizer: an attribute added to it
    would change its hash, and so the `datasets` cache fingerprint of the features built with it."""
    plain = list(tokenizer(_PROBE, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(_PROBE, add_special_tokens=True)["input_ids"])
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    raise ValueError(f"tokenizer {type(tokenizer).__name__} changes the text's own tokens when it adds special "
                     f"tokens ({plain} -> {full}); windows cannot follow it")


# ---- token shapes ---------------------------------------------------------------------------------------------

# Written shape of a token's characters in the original text; 0 is for CLS/SEP/padding.
TOKEN_SHAPES = ("special", "lower", "Capitalised", "single UPPER", "UPPER", "mIxed", "digits", "alnum", "punct", "other")
NUM_TOKEN_SHAPES = len(TOKEN_SHAPES)


def token_shape(piece: str) -> int:
    """Index in `TOKEN_SHAPES` of one token's characters: "acid" lower, "Naloxone" Capitalised, "A" single UPPER,
    "HIV" UPPER, "mRNA" mIxed, "5" digits, "H2O" / "5FU" alnum, "-" punct; anything else (Greek letters
    mixed with digits, symbols with letters) is other."""
    if not piece:
        return 0
    if piece.isalpha():
        if piece.islower():
            return 1
        if piece.isupper():
            return 3 if len(piece) == 1 else 4
        if piece[0].isupper() and piece[1:].islower():
            return 2
        return 5
    if piece.isdigit():
        return 6
    if piece.isalnum():
        return 7
    if all(not c.isalnum() for c in piece):
        return 8
    return 9


def token_shapes(text: str, offsets: Sequence[Sequence[int]]) -> list[int]:
    """`token_shape` of every token's span `text[start:end]`."""
    return [token_shape(text[start:end]) for start, end in offsets]


def token_feature_sizes(config: JointNerReConfig) -> list[int]:
    """Rows of each token feature the config turns on, in order: token shapes, then gazetteer tags. The model
    keeps them in one embedding table, feature `f`'s ids shifted by the sizes before it."""
    sizes = []
    if config.token_shape_features:
        sizes.append(NUM_TOKEN_SHAPES)
    if config.gazetteer_features:
        sizes.append(num_tag_ids(len(config.entity_types)))
    return sizes


def token_feature_ids(
    text: str, offsets: Sequence[Sequence[int]], config: JointNerReConfig, gazetteer: Gazetteer | None = None
) -> tuple[list[list[int]], list[int]] | None:
    """Per token, the row of each token feature in the shared table (`token_feature_sizes`), and the rows of
    CLS/SEP/padding (each feature's id 0); None when the config turns none on. ValueError when the config
    wants gazetteer tags and no gazetteer is given."""
    sizes = token_feature_sizes(config)
    if not sizes:
        return None
    columns = []
    if config.token_shape_features:
        columns.append(token_shapes(text, offsets))
    if config.gazetteer_features:
        if gazetteer is None:
            raise ValueError("this model uses gazetteer features and has no gazetteer (train.py saves one as "
                             "gazetteer/ in the model folder; or call set_gazetteer)")
        columns.append(gazetteer.token_tags(text, offsets))
    bases = [sum(sizes[:f]) for f in range(len(sizes))]
    rows = [[column[i] + base for column, base in zip(columns, bases)] for i in range(len(offsets))]
    return rows, bases


# ---- windows ------------------------------------------------------------------------------------------------


def window_spans(num_tokens: int, content_length: int, stride: int) -> list[tuple[int, int]]:
    """`[start, end)` token span of each window: the fewest windows of at most `content_length` tokens that
    cover the document with consecutive windows overlapping by at least `stride` tokens, all of one length.

    Equal lengths (rather than full windows and a short last one) keep batches free of padding: a
    520-token document gives two windows of 324 tokens, not 510 + 138 padded to 510.
    """
    if content_length <= stride:
        raise ValueError(f"window content length {content_length} must exceed stride {stride}")
    if num_tokens <= content_length:
        return [(0, num_tokens)]
    count = math.ceil((num_tokens - stride) / (content_length - stride))
    length = math.ceil((num_tokens + (count - 1) * stride) / count)  # <= content_length by the choice of count
    starts = [k * (length - stride) for k in range(count - 1)] + [num_tokens - length]
    return [(start, start + length) for start in starts]


def assign_tokens_to_windows(
    num_tokens: int, spans: Sequence[tuple[int, int]], prefix: int = 1
) -> tuple[list[int], list[int]]:
    """For each token, the window whose state it keeps and its position in that window (the window's `prefix`
    special tokens come first: with BERT's CLS the first content token is at position 1).

    The chosen window is the one where the token is farthest from an artificial edge (ties -> earlier window).
    """
    best_score = [-1.0] * num_tokens
    token_window = [0] * num_tokens
    token_position = [0] * num_tokens
    for w, (start, end) in enumerate(spans):
        for i in range(start, end):
            left = i - start if start > 0 else float("inf")
            right = end - 1 - i if end < num_tokens else float("inf")
            score = min(left, right)
            if score > best_score[i]:
                best_score[i] = score
                token_window[i] = w
                token_position[i] = i - start + prefix
    return token_window, token_position


# ---- document checks ----------------------------------------------------------------------------------------


def _doc_name(document: Mapping[str, Any]) -> str:
    return f"document {document.get('pmid', '<no pmid>')!r}"


def _mention_token_span(
    document: Mapping[str, Any], index: int, mention: Mapping[str, Any], token_starts: list[int], token_ends: list[int]
) -> tuple[int, int]:
    """[first, last] token indices overlapping the mention."""
    first = bisect.bisect_right(token_ends, mention["start"])
    last = bisect.bisect_left(token_starts, mention["end"]) - 1
    if first > last:
        raise ValueError(f"{_doc_name(document)}: mention {index} {mention} covers no token")
    return first, last


def check_mentions(document: Mapping[str, Any], config: JointNerReConfig) -> None:
    """ValueError naming the document and the mention for bad offsets, text mismatch or unknown type."""
    text = document["text"]
    for index, mention in enumerate(document.get("mentions") or []):
        start, end = mention["start"], mention["end"]
        if not (0 <= start < end <= len(text)):
            raise ValueError(
                f"{_doc_name(document)}: mention {index} offsets [{start}, {end}) are outside the text "
                f"(length {len(text)}) or empty"
            )
        if "text" in mention and mention["text"] != text[start:end]:
            raise ValueError(
                f"{_doc_name(document)}: mention {index} text {mention['text']!r} != text[{start}:{end}] "
                f"{text[start:end]!r}"
            )
        if mention["type"] not in config.entity_types:
            raise ValueError(
                f"{_doc_name(document)}: mention {index} has unknown entity type {mention['type']!r}; "
                f"the model knows {config.entity_types}"
            )


def check_entities(document: Mapping[str, Any], config: JointNerReConfig) -> dict[tuple[str, str], int]:
    """Validate entities and relations; return the index of each entity by (id, type).

    Entities are keyed by (id, type) like the loaders do (an id may name a Chemical and a Disease entity); a
    relation's head/tail are looked up with the types of its label's signature. ValueError (naming the document
    and the item) for unknown types or labels, bad mention indices, duplicate (id, type), and relations that
    name absent entities or link types the label does not allow.
    """
    name = _doc_name(document)
    mentions = document.get("mentions") or []
    index_of: dict[tuple[str, str], int] = {}
    for index, entity in enumerate(document.get("entities") or []):
        if entity["type"] not in config.entity_types:
            raise ValueError(
                f"{name}: entity {index} ({entity['id']!r}) has unknown type {entity['type']!r}; "
                f"the model knows {config.entity_types}"
            )
        key = (entity["id"], entity["type"])
        if key in index_of:
            raise ValueError(f"{name}: entity {entity['id']!r} of type {entity['type']} appears twice")
        if not entity["mention_indices"]:
            raise ValueError(f"{name}: entity {entity['id']!r} has no mentions")
        bad = [m for m in entity["mention_indices"] if not 0 <= m < len(mentions)]
        if bad:
            raise ValueError(f"{name}: entity {entity['id']!r} names mention indices {bad} absent from mentions")
        index_of[key] = index
    types_of: dict[str, list[str]] = {}
    for entity_id, entity_type in index_of:
        types_of.setdefault(entity_id, []).append(entity_type)
    for index, relation in enumerate(document.get("relations") or []):
        label, head, tail = relation["label"], relation["head"], relation["tail"]
        if label not in config.relation_types:
            raise ValueError(
                f"{name}: relation {index} has unknown label {label!r}; the model knows {config.relation_labels}"
            )
        signature = config.relation_types[label]
        for role, entity_id, needed in (("head", head, signature[0]), ("tail", tail, signature[1])):
            if entity_id not in types_of:
                raise ValueError(f"{name}: relation {index} {role} {entity_id!r} is absent from entities")
            if (entity_id, needed) not in index_of:
                raise ValueError(
                    f"{name}: relation {index} {label} needs a {needed} {role} but {entity_id!r} is "
                    f"{'/'.join(types_of[entity_id])}; the label links {tuple(signature)}"
                )
        if head == tail and signature[0] == signature[1]:
            raise ValueError(f"{name}: relation {index} links entity {head!r} to itself")
    return index_of


# ---- labels, entities, pairs ---------------------------------------------------------------------------------


def bio_tags(spans: Sequence[tuple[int, int, int]], num_tokens: int) -> list[int]:
    """BIO tag ids per token from `(first_token, last_token, type_index)` spans given in priority order: a
    span that shares a token with an earlier (kept) span is not tagged."""
    tags = [0] * num_tokens
    taken = [False] * num_tokens
    for first, last, type_index in spans:
        if any(taken[first : last + 1]):
            continue
        tags[first] = 1 + 2 * type_index
        for i in range(first + 1, last + 1):
            tags[i] = 2 + 2 * type_index
        for i in range(first, last + 1):
            taken[i] = True
    return tags


def candidate_pairs(entity_type_ids: Sequence[int], config: JointNerReConfig) -> list[list[int]]:
    """Ordered (head, tail) entity index pairs whose type pair is allowed by at least one relation label."""
    allowed = {
        (config.entity_types.index(h), config.entity_types.index(t)) for h, t in config.relation_types.values()
    }
    return [
        [h, t]
        for h, head_type in enumerate(entity_type_ids)
        for t, tail_type in enumerate(entity_type_ids)
        if h != t and (head_type, tail_type) in allowed
    ]


def prepare_features(
    document: Mapping[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    config: JointNerReConfig,
    with_labels: bool = True,
    with_entities: bool = True,
    gazetteer: Gazetteer | None = None,
) -> dict[str, Any]:
    """Features of one document, as plain python lists and ints.

    Always: `pmid`, `input_ids` (one list per window, the tokenizer's special tokens included), `token_window`, `token_position`
    (where each document token takes its state), `offsets` (character span of each token), `length`
    (number of document tokens), `window_length` (tokens in each window, special tokens included: the padded width
    the document needs in a batch). With token features on (`token_feature_sizes`): `feature_ids`, laid out as
    `input_ids` with one list of feature rows per token (`gazetteer` gives the gazetteer tags).
    With `with_entities` and an `entities` field: `entity_mentions` (first-token index of each mention, per
    entity), `entity_types` (type index per entity), `pairs` (candidate `[head, tail]` entity indices).
    With `with_labels`: `ner_labels` (BIO tag id per token) when the document has `mentions`, and `pair_labels`
    (multi-hot over `config.relation_labels`, one row per pair) when it also has `entities` and `relations`.

    Raises ValueError (naming the document and the item) for empty text, bad mention offsets, unknown entity
    types or relation labels, and relations between absent entities.
    """
    text = document.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{_doc_name(document)}: text is empty")
    check_mentions(document, config)
    input_ids, offsets = tokenize_text(text, tokenizer)
    if not input_ids:
        raise ValueError(f"{_doc_name(document)}: text yields no tokens")
    num_tokens = len(input_ids)
    prefix, suffix = window_special_tokens(tokenizer)
    content_length = config.max_length - len(prefix) - len(suffix)
    if content_length <= config.stride:
        raise ValueError(f"max_length {config.max_length} leaves {content_length} tokens beside the tokenizer's "
                         f"{len(prefix) + len(suffix)} special tokens, not more than stride {config.stride}")
    spans = window_spans(num_tokens, content_length, config.stride)
    token_window, token_position = assign_tokens_to_windows(num_tokens, spans, len(prefix))
    windows = [prefix + input_ids[start:end] + suffix for start, end in spans]
    features: dict[str, Any] = {
        "pmid": str(document.get("pmid", "")),
        "input_ids": windows,
        "token_window": token_window,
        "token_position": token_position,
        "offsets": offsets,
        "length": num_tokens,
        "window_length": len(windows[0]),
    }
    token_features = token_feature_ids(text, offsets, config, gazetteer)
    if token_features is not None:
        rows, special = token_features
        features["feature_ids"] = [[special] * len(prefix) + rows[start:end] + [special] * len(suffix)
                                   for start, end in spans]

    mentions = document.get("mentions")
    spans: list[tuple[int, int]] = []
    if mentions is not None:
        token_starts = [s for s, _ in offsets]
        token_ends = [e for _, e in offsets]
        spans = [_mention_token_span(document, i, m, token_starts, token_ends) for i, m in enumerate(mentions)]
    if with_labels and mentions is not None:
        # overlapping mentions: longer (in characters) first, then earlier
        order = sorted(
            range(len(mentions)),
            key=lambda i: (mentions[i]["start"] - mentions[i]["end"], mentions[i]["start"], i),
        )
        typed = [(*spans[i], config.entity_types.index(mentions[i]["type"])) for i in order]
        features["ner_labels"] = bio_tags(typed, num_tokens)

    entities = document.get("entities")
    if with_entities and entities is not None:
        if mentions is None:
            raise ValueError(f"{_doc_name(document)}: has entities but no mentions")
        index_of = check_entities(document, config)
        type_ids = [config.entity_types.index(e["type"]) for e in entities]
        features["entity_mentions"] = [[spans[m][0] for m in e["mention_indices"]] for e in entities]
        features["entity_types"] = type_ids
        pairs = candidate_pairs(type_ids, config)
        features["pairs"] = pairs
        relations = document.get("relations")
        if with_labels and relations is not None:
            pair_row = {(h, t): row for row, (h, t) in enumerate(pairs)}
            labels = config.relation_labels
            pair_labels = [[0] * len(labels) for _ in pairs]
            for relation in relations:
                head_type, tail_type = config.relation_types[relation["label"]]
                head = index_of[(relation["head"], head_type)]
                tail = index_of[(relation["tail"], tail_type)]
                pair_labels[pair_row[(head, tail)]][labels.index(relation["label"])] = 1
            features["pair_labels"] = pair_labels
    return features


def entity_features(
    entity_mentions: Sequence[Sequence[int]], entity_type_ids: Sequence[int], config: JointNerReConfig
) -> dict[str, Any]:
    """Entity part of the features for entities given as token indices (used for predicted entities)."""
    return {
        "entity_mentions": [list(m) for m in entity_mentions],
        "entity_types": list(entity_type_ids),
        "pairs": candidate_pairs(entity_type_ids, config),
    }


# ---- collation ---------------------------------------------------------------------------------------------


def _all_or_none(features: Sequence[Mapping[str, Any]], key: str) -> bool:
    present = [key in f for f in features]
    if any(present) and not all(present):
        raise ValueError(f"collate_features: '{key}' is present in some features but not in others")
    return all(present)


def collate_entities(features: Sequence[Mapping[str, Any]], num_labels: int | None = None) -> dict[str, torch.Tensor]:
    """Pad the entity/pair part of several features. Sizes are at least 1 so the RE head always runs
    (padding is masked), which keeps every parameter in the graph (DDP-friendly)."""
    batch = len(features)
    num_entities = max([len(f["entity_types"]) for f in features] + [1])
    num_mentions = max([len(m) for f in features for m in f["entity_mentions"]] + [1])
    num_pairs = max([len(f["pairs"]) for f in features] + [1])
    mention_index = torch.zeros(batch, num_entities, num_mentions, dtype=torch.long)
    mention_mask = torch.zeros(batch, num_entities, num_mentions, dtype=torch.bool)
    entity_types = torch.full((batch, num_entities), -1, dtype=torch.long)
    pairs = torch.zeros(batch, num_pairs, 2, dtype=torch.long)
    pair_mask = torch.zeros(batch, num_pairs, dtype=torch.bool)
    for b, f in enumerate(features):
        for e, token_ids in enumerate(f["entity_mentions"]):
            mention_index[b, e, : len(token_ids)] = torch.tensor(token_ids, dtype=torch.long)
            mention_mask[b, e, : len(token_ids)] = True
        if f["entity_types"]:
            entity_types[b, : len(f["entity_types"])] = torch.tensor(f["entity_types"], dtype=torch.long)
        if f["pairs"]:
            pairs[b, : len(f["pairs"])] = torch.tensor(f["pairs"], dtype=torch.long)
            pair_mask[b, : len(f["pairs"])] = True
    out = {
        "mention_index": mention_index,
        "mention_mask": mention_mask,
        "entity_types": entity_types,
        "pairs": pairs,
        "pair_mask": pair_mask,
    }
    if _all_or_none(features, "pair_labels"):
        width = num_labels if num_labels is not None else max(
            [len(r) for f in features for r in f["pair_labels"]] + [0]
        )
        pair_labels = torch.zeros(batch, num_pairs, width, dtype=torch.float)
        for b, f in enumerate(features):
            if f["pair_labels"]:
                pair_labels[b, : len(f["pair_labels"])] = torch.tensor(f["pair_labels"], dtype=torch.float)
        out["pair_labels"] = pair_labels
    return out


def inference_order(features: Mapping[int, Mapping[str, Any]]) -> list[int]:
    """Keys of `features` by window length, then document length: batches of neighbours in this order pad
    least, since every window of a batch is padded to the batch's widest."""
    return sorted(features, key=lambda i: (features[i]["window_length"], features[i]["length"]))


def collate_features(
    features: Sequence[Mapping[str, Any]], pad_token_id: int | None, num_relation_labels: int | None = None
) -> dict[str, torch.Tensor]:
    """Batch tensors for `model(**batch)` from features of several documents.

    Windows are padded on the right whatever the tokenizer's `padding_side` (decoder LLM tokenizers pad on the
    left for generation): every window's content then starts at position 0, as in pretraining, and a causal
    window's real tokens never attend to padding. `pad_token_id` None (a tokenizer without one) pads with 0.

    `input_ids`/`attention_mask` stack the windows of all documents (`[num_windows, window_len]`; `feature_ids`,
    when the features have them, `[num_windows, window_len, num_features]`, padding on row 0);
    `token_index` (`[batch, max_tokens]`) is the flat index `window * window_len + position` of each document
    token's state in the encoder output, `token_mask` marks real tokens. `ner_labels` (pad -100) and the entity
    tensors (see `collate_entities`) are included when every feature has them. Pass `num_relation_labels` so
    `pair_labels` has the right width even when no document in the batch has a candidate pair.
    """
    if not features:
        raise ValueError("collate_features: no features")
    windows = [w for f in features for w in f["input_ids"]]
    window_len = max(len(w) for w in windows)
    # a tokenizer without a pad token (most decoder LLMs'): id 0, which the attention mask hides anyway
    input_ids = torch.full((len(windows), window_len), 0 if pad_token_id is None else pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros(len(windows), window_len, dtype=torch.long)
    for i, w in enumerate(windows):
        input_ids[i, : len(w)] = torch.tensor(w, dtype=torch.long)
        attention_mask[i, : len(w)] = 1
    feature_ids = None
    if _all_or_none(features, "feature_ids"):
        num_features = len(features[0]["feature_ids"][0][0])
        feature_ids = torch.zeros(len(windows), window_len, num_features, dtype=torch.long)
        for i, w in enumerate(w for f in features for w in f["feature_ids"]):
            feature_ids[i, : len(w)] = torch.tensor(w, dtype=torch.long).view(len(w), num_features)
    max_tokens = max(f["length"] for f in features)
    token_index = torch.zeros(len(features), max_tokens, dtype=torch.long)
    token_mask = torch.zeros(len(features), max_tokens, dtype=torch.bool)
    first_window = 0
    for b, f in enumerate(features):
        n = f["length"]
        win = torch.tensor(f["token_window"], dtype=torch.long) + first_window
        token_index[b, :n] = win * window_len + torch.tensor(f["token_position"], dtype=torch.long)
        token_mask[b, :n] = True
        first_window += len(f["input_ids"])
    batch: dict[str, torch.Tensor] = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "token_index": token_index,
        "token_mask": token_mask,
    }
    if feature_ids is not None:
        batch["feature_ids"] = feature_ids
    if _all_or_none(features, "ner_labels"):
        ner_labels = torch.full((len(features), max_tokens), IGNORE_INDEX, dtype=torch.long)
        for b, f in enumerate(features):
            ner_labels[b, : f["length"]] = torch.tensor(f["ner_labels"], dtype=torch.long)
        batch["ner_labels"] = ner_labels
    if _all_or_none(features, "entity_types"):
        batch.update(collate_entities(features, num_relation_labels))
    return batch
