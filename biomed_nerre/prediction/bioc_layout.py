"""How ids and relations sit in BioC infons, in the two layouts BioC readers of this field expect.

- `bc5cdr`: the BioCreative V CDR corpus's own layout, which its official evaluation reads in BioC mode. An
  annotation has infons `type` (Chemical / Disease) and `MESH`: bare MeSH ids (`D015738`), several joined by `|`
  (a composite mention, which also gets `CompositeRole` = `CompositeMention`), `-1` when unlinked. A relation has
  infons `relation` (`CID`), `Chemical` and `Disease`, the bare ids of its two ends (`D008750`, `D007022`);
  relations with an unlinked (NIL) end are not written, as in the corpus. It holds models of BC5CDR's types only
  (`check_bioc_layout`).
- `pubtator3`: close to PubTator3's export, for every other model. An annotation has infons `type` and
  `identifier` (CURIEs joined by `;`, absent when unlinked) and `entity` (its entity ids); a relation has infons
  `type` (the label), `head` and `tail` (entity ids, NIL ones included) and nodes pointing at the mentions of both
  entities (roles `head`, `tail`).

Both layouts add `link_score` to linked annotations and `score` to relations (readers of the corpus layout,
the official evaluation included, ignore infons they do not know). Reading (`annotation_concepts`,
`relation_concepts`) takes either layout and gives ids in BC5CDR's form, the form the evaluation compares.
"""

from __future__ import annotations

from typing import Any, Mapping

from modeling.outputs_joint_ner_re import UNLINKED_RAW_IDS

from .corpus_ids import corpus_id, mention_ids_field

BIOC_LAYOUTS = ("bc5cdr", "pubtator3")
BC5CDR_TYPES = frozenset({"Chemical", "Disease"})
CID_ARGUMENTS = ("Chemical", "Disease")  # a BC5CDR relation's (head, tail) types, which key its ids


def default_bioc_layout(entity_types: list[str], relation_types: Mapping[str, Any] | None = None) -> str:
    """`bc5cdr` for a model of BC5CDR's types (Chemical, Disease; relations Chemical -> Disease), else `pubtator3`."""
    try:
        check_bioc_layout("bc5cdr", entity_types, relation_types)
    except ValueError:
        return "pubtator3"
    return "bc5cdr"


def check_bioc_layout(layout: str, entity_types: list[str],
                      relation_types: Mapping[str, Any] | None = None) -> None:
    """ValueError when `layout` is unknown, or is `bc5cdr` for a model with types the corpus has no infon for:
    entity types other than Chemical and Disease, relations other than chemical -> disease."""
    if layout not in BIOC_LAYOUTS:
        raise ValueError(f"unknown BioC layout {layout!r}; expected one of: {', '.join(BIOC_LAYOUTS)}")
    if layout != "bc5cdr":
        return
    if not set(entity_types) <= BC5CDR_TYPES:
        other = sorted(set(entity_types) - BC5CDR_TYPES)
        raise ValueError(f"the bc5cdr BioC layout holds Chemical and Disease mentions only, and this model also "
                         f"predicts {', '.join(other)}; use the pubtator3 layout")
    other = sorted(label for label, types in (relation_types or {}).items() if tuple(types) != CID_ARGUMENTS)
    if other:
        raise ValueError(f"the bc5cdr BioC layout holds Chemical -> Disease relations only, not {', '.join(other)}; "
                         "use the pubtator3 layout")


def annotation_infons(mention: Mapping[str, Any], entity_ids: list[str], layout: str) -> dict[str, str]:
    """The infons of one predicted mention's annotation."""
    infons = {"type": str(mention["type"])}
    if layout == "bc5cdr":
        ids = mention_ids_field([str(i) for i in mention["ids"]], "bc5cdr")
        if len(ids) > 1:
            infons["CompositeRole"] = "CompositeMention"
        infons["MESH"] = "|".join(ids)
    else:
        if mention["ids"]:
            infons["identifier"] = ";".join(mention["ids"])
        infons["entity"] = ";".join(entity_ids)
    if mention.get("link_score") is not None:
        infons["link_score"] = repr(float(mention["link_score"]))
    return infons


def relation_infons(relation: Mapping[str, Any], layout: str) -> dict[str, str] | None:
    """The infons of one relation; None when the layout has no place for it (bc5cdr: an end without a concept id).
    In the bc5cdr layout every relation is the corpus's chemical -> disease kind (`check_bioc_layout`)."""
    score = repr(float(relation["score"]))
    if layout == "pubtator3":
        return {"type": str(relation["label"]), "head": str(relation["head"]), "tail": str(relation["tail"]),
                "score": score}
    head, tail = corpus_id(str(relation["head"]), "bc5cdr"), corpus_id(str(relation["tail"]), "bc5cdr")
    if head is None or tail is None:
        return None
    return {"relation": str(relation["label"]), CID_ARGUMENTS[0]: head, CID_ARGUMENTS[1]: tail, "score": score}


# ---- reading either layout ---------------------------------------------------------------------------------
def annotation_concepts(infons: Mapping[str, str]) -> tuple[str, list[str]]:
    """(type, concept ids in BC5CDR's form) of an annotation in either layout; no ids when it is unlinked."""
    entity_type = str(infons.get("type", ""))
    if "MESH" in infons:
        raw = str(infons["MESH"]).split("|")
    else:
        raw = [i for i in str(infons.get("identifier", "")).split(";") if i]
    ids = [corpus_id(i.strip(), "bc5cdr") for i in raw if i.strip() not in UNLINKED_RAW_IDS]
    return entity_type, [i for i in ids if i]


def is_individual_mention(infons: Mapping[str, str]) -> bool:
    """Whether an annotation is one part of a composite mention (BC5CDR's `CompositeRole` IndividualMention): its
    id is one of the composite's, and the corpus's PubTator file has no line for it."""
    return infons.get("CompositeRole") == "IndividualMention"


def relation_concepts(infons: Mapping[str, str], types: tuple[str, str]) -> tuple[str, str, str] | None:
    """(label, id of the `types[0]` argument, id of the `types[1]` argument) in BC5CDR's form, from either layout's
    relation infons; None when an end has no concept id (a NIL entity) or the relation is of other types."""
    if "relation" in infons:
        label, first, second = infons["relation"], infons.get(types[0]), infons.get(types[1])
    else:
        label, first, second = infons.get("type", ""), infons.get("head"), infons.get("tail")
    first = corpus_id(str(first), "bc5cdr") if first else None
    second = corpus_id(str(second), "bc5cdr") if second else None
    if not first or not second or first in UNLINKED_RAW_IDS or second in UNLINKED_RAW_IDS:
        return None
    return str(label), first, second
