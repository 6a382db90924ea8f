"""Entity ids in a corpus's own form for PubTator output (`D009270`, `MESH:D009270`, `154`, `-1`)."""

from __future__ import annotations

from modeling.linking_joint_ner_re import curie_to_corpus_id

ID_STYLES = ("bc5cdr", "chem_dis_gene")


def is_concept_id(entity_id: str) -> bool:
    """Whether an entity id is a concept CURIE (not `NIL:<type>:<text>` nor a model-local `E<n>`)."""
    return ":" in entity_id and not entity_id.startswith("NIL:")


def mention_ids_field(ids: list[str], style: str) -> str:
    """The id column of a PubTator mention line: the ids joined with "|", or the unlinked marker."""
    return "|".join(curie_to_corpus_id(i, style) for i in ids) if ids else curie_to_corpus_id(None, style)


def relation_argument(entity_id: str, style: str) -> str:
    """A relation argument in PubTator: a concept id in the corpus form; an unlinked entity keeps its own id
    (`NIL:Chemical:aspirin`, `E3`), since the unlinked marker would not say which entity it is."""
    return curie_to_corpus_id(entity_id, style) if is_concept_id(entity_id) else entity_id


def default_id_style(entity_types: list[str]) -> str:
    """ChemDisGene's form for models with a Gene type, BC5CDR's otherwise."""
    return "chem_dis_gene" if "Gene" in entity_types else "bc5cdr"
