"""Entity ids in a corpus's own form for PubTator output (`D009270`, `MESH:D009270`, `154`, `-1`)."""

from __future__ import annotations

ID_STYLES = ("bc5cdr", "chem_dis_gene")

try:
    from modeling.linking_joint_ner_re import curie_to_corpus_id
except ImportError:  # TODO: drop once modeling/linking_joint_ner_re.py (the concept linker) is committed

    def curie_to_corpus_id(curie: str | None, style: str = "bc5cdr") -> str:
        """A CURIE in a corpus's own form: "bc5cdr" -> `D002945` (NIL -> `-1`); "chem_dis_gene" ->
        `MESH:D002945`, genes as the bare NCBI Gene number (NIL -> `-`)."""
        if style not in ID_STYLES:
            raise ValueError(f"unknown id style {style!r}; expected 'bc5cdr' or 'chem_dis_gene'")
        if not curie or curie.startswith("NIL:") or ":" not in curie:
            return "-1" if style == "bc5cdr" else "-"
        prefix, _, local = curie.partition(":")
        if style == "bc5cdr":
            return local if prefix == "MESH" else curie
        return local if prefix == "NCBIGene" else curie


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
