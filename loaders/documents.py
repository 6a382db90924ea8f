"""Parsed PubTator documents -> rows of the `documents` schema (docs/architecture.md).

Entities are keyed by (id, type), as in ChemDisGene's own reader: relation arguments are looked up with
the types their label implies, so an id that PubTator typed twice cannot join the wrong mentions.
Unlinked mentions (`-1`, `-`) become one entity per (type, normalised text), with the result contract's
`NIL:<type>:<normalised text>` id; for an unlinked part of a composite mention the part's own text is used. Relations are a set: an exact repeat of
(label, head, tail) collapses into the first (this is what makes the curated gold a union); a pair with
two labels stays two relations.
"""

from __future__ import annotations

from typing import Any, Iterable

from .pubtator import ErrorPolicy, RawDocument, RawRelation
from modeling.outputs_joint_ner_re import UNLINKED_RAW_IDS, nil_entity_id

from .schema import RELATION_TYPES


def entity_ids_of(mention_ids: list[str], mention_type: str, mention_text: str, parts: list[str]) -> list[str]:
    """Entity ids a mention belongs to: its linked ids, or `NIL:<type>:<normalised text>` for unlinked ones."""
    entity_ids = []
    for k, raw_id in enumerate(mention_ids):
        if raw_id in UNLINKED_RAW_IDS:
            entity_ids.append(nil_entity_id(mention_type, parts[k] if parts else mention_text))
        else:
            entity_ids.append(raw_id)
    return entity_ids


def build_document(
    raw: RawDocument,
    corpus: str,
    extra_relations: Iterable[RawRelation] = (),
    policy: ErrorPolicy | None = None,
) -> dict[str, Any]:
    """Assemble one `documents` row; relations whose arguments have no mention of the right type fail
    (or, with a non-strict policy, are reported and skipped)."""
    policy = policy or ErrorPolicy()
    mentions = []
    entities: dict[tuple[str, str], dict[str, Any]] = {}  # insertion order == order of first mention
    for index, m in enumerate(raw.mentions):
        mentions.append(
            {"start": m.start, "end": m.end, "text": m.text, "type": m.type, "ids": m.ids, "composite_parts": m.composite_parts}
        )
        for entity_id in entity_ids_of(m.ids, m.type, m.text, m.composite_parts):
            entity = entities.setdefault((entity_id, m.type), {"id": entity_id, "type": m.type, "mention_indices": []})
            if not entity["mention_indices"] or entity["mention_indices"][-1] != index:
                entity["mention_indices"].append(index)

    relation_types = RELATION_TYPES[corpus]
    relations = []
    seen = set()
    for r in [*raw.relations, *extra_relations]:
        head_type, tail_type = relation_types[r.label]
        missing = [f"{t} {i!r}" for i, t in ((r.head, head_type), (r.tail, tail_type)) if (i, t) not in entities]
        if missing:
            policy.fail(r.path, r.line, f"relation {r.label} names {' and '.join(missing)}, absent from the mentions of PMID {raw.pmid}")
            continue
        key = (r.label, r.head, r.tail)
        if key not in seen:
            seen.add(key)
            relations.append({"label": r.label, "head": r.head, "tail": r.tail})

    return {
        "pmid": raw.pmid,
        "title": raw.title,
        "abstract": raw.abstract,
        "text": raw.text,
        "mentions": mentions,
        "entities": list(entities.values()),
        "relations": relations,
    }
