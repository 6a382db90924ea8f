"""The `ner` and `re` views, derived from a `documents` row."""

from __future__ import annotations

from typing import Any, Iterator

from .words import bio_tags


def ner_row(document: dict[str, Any], tag_ids: dict[str, int]) -> dict[str, Any]:
    """Word tokens, their offsets, BIO tag ids (`tag_ids`: tag name -> ClassLabel id), and the mentions
    the overlap rule could not encode. Ids rather than names: encoding names costs more than the rest."""
    text, mentions = document["text"], document["mentions"]
    tokens, tags, dropped = bio_tags(text, mentions)
    return {
        "pmid": document["pmid"],
        "text": text,
        "tokens": [text[start:end] for start, end in tokens],
        "token_starts": [start for start, _ in tokens],
        "token_ends": [end for _, end in tokens],
        "ner_tags": [tag_ids[tag] for tag in tags],
        "dropped_mentions": [
            {key: mentions[i][key] for key in ("start", "end", "text", "type")} for i in dropped
        ],
    }


def re_rows(document: dict[str, Any], relation_types: dict[str, tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """One row per gold relation: both entities (typed by the label's argument types, see
    `schema.RELATION_TYPES`) with their distinct mention texts, first occurrence first."""
    mentions = document["mentions"]
    texts = {
        (entity["id"], entity["type"]): list(dict.fromkeys(mentions[i]["text"] for i in entity["mention_indices"]))
        for entity in document["entities"]
    }
    for relation in document["relations"]:
        head_type, tail_type = relation_types[relation["label"]]
        row = {
            "pmid": document["pmid"],
            "entity1_id": relation["head"],
            "entity1_type": head_type,
            "entity1_mentions": texts[relation["head"], head_type],
            "relation": relation["label"],
            "entity2_id": relation["tail"],
            "entity2_type": tail_type,
            "entity2_mentions": texts[relation["tail"], tail_type],
        }
        if "is_drugprot" in document:
            row["is_drugprot"] = document["is_drugprot"]
        yield row
