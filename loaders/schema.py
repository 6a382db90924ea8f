"""Label sets and `datasets` features shared by both corpora.

The `documents` schema is the contract in docs/architecture.md; the `ner` and `re` views are derived
from it (see `loaders/views.py`). The overlap rule that decides which mentions the `ner` view can encode
lives with the BIO encoder in `loaders/words.py` (`select_non_overlapping`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Features

# `datasets` (about a second to import) is imported by the feature functions only: the corpus names and label
# sets below are read by commands that never build a dataset (evaluate.py, train.py --help, ...)

CORPUS_NAMES = ("bc5cdr", "chem_dis_gene")

ENTITY_TYPES: dict[str, list[str]] = {
    "bc5cdr": ["Chemical", "Disease"],
    "chem_dis_gene": ["Chemical", "Disease", "Gene"],
}

# The 18 ChemDisGene labels; argument types come from the prefix before ":".
CHEM_DIS_GENE_LABELS: tuple[str, ...] = (
    "chem_disease:marker/mechanism",
    "chem_disease:therapeutic",
    "chem_gene:affects^activity",
    "chem_gene:affects^binding",
    "chem_gene:affects^expression",
    "chem_gene:affects^localization",
    "chem_gene:affects^metabolic_processing",
    "chem_gene:affects^transport",
    "chem_gene:decreases^activity",
    "chem_gene:decreases^expression",
    "chem_gene:decreases^metabolic_processing",
    "chem_gene:decreases^transport",
    "chem_gene:increases^activity",
    "chem_gene:increases^expression",
    "chem_gene:increases^metabolic_processing",
    "chem_gene:increases^transport",
    "gene_disease:marker/mechanism",
    "gene_disease:therapeutic",
)

_PREFIX_TYPES = {
    "chem_gene": ("Chemical", "Gene"),
    "chem_disease": ("Chemical", "Disease"),
    "gene_disease": ("Gene", "Disease"),
}

RELATION_TYPES: dict[str, dict[str, tuple[str, str]]] = {
    "bc5cdr": {"CID": ("Chemical", "Disease")},
    "chem_dis_gene": {label: _PREFIX_TYPES[label.split(":", 1)[0]] for label in CHEM_DIS_GENE_LABELS},
}



def bio_label_names(corpus: str) -> list[str]:
    """BIO tag names of the `ner` view: O, then B-/I- for each entity type in `ENTITY_TYPES` order."""
    names = ["O"]
    for entity_type in ENTITY_TYPES[corpus]:
        names += [f"B-{entity_type}", f"I-{entity_type}"]
    return names


def _mention_feature() -> dict:
    from datasets import List, Value

    return {
        "start": Value("int32"),
        "end": Value("int32"),
        "text": Value("string"),
        "type": Value("string"),
        "ids": List(Value("string")),
        "composite_parts": List(Value("string")),
    }


def documents_features(with_drugprot: bool) -> Features:
    """Features of the `documents` view (ChemDisGene adds `is_drugprot`)."""
    from datasets import Features, List, Value

    features = {
        "pmid": Value("string"),
        "title": Value("string"),
        "abstract": Value("string"),
        "text": Value("string"),
        "mentions": List(_mention_feature()),
        "entities": List({"id": Value("string"), "type": Value("string"), "mention_indices": List(Value("int32"))}),
        "relations": List({"label": Value("string"), "head": Value("string"), "tail": Value("string")}),
    }
    if with_drugprot:
        features["is_drugprot"] = Value("bool")
    return Features(features)


def ner_features(corpus: str) -> Features:
    """Features of the `ner` view: word tokens with character offsets into `text`, BIO tags, and the
    mentions the overlap rule left out (so nothing disappears without a trace)."""
    from datasets import ClassLabel, Features, List, Value

    return Features(
        {
            "pmid": Value("string"),
            "text": Value("string"),
            "tokens": List(Value("string")),
            "token_starts": List(Value("int32")),
            "token_ends": List(Value("int32")),
            "ner_tags": List(ClassLabel(names=bio_label_names(corpus))),
            "dropped_mentions": List(
                {"start": Value("int32"), "end": Value("int32"), "text": Value("string"), "type": Value("string")}
            ),
        }
    )


def re_features(with_drugprot: bool) -> Features:
    """Features of the `re` view: one row per gold (entity1, relation, entity2) tuple."""
    from datasets import Features, List, Value

    features = {
        "pmid": Value("string"),
        "entity1_id": Value("string"),
        "entity1_type": Value("string"),
        "entity1_mentions": List(Value("string")),  # distinct mention texts, first occurrence first
        "relation": Value("string"),
        "entity2_id": Value("string"),
        "entity2_type": Value("string"),
        "entity2_mentions": List(Value("string")),
    }
    if with_drugprot:
        features["is_drugprot"] = Value("bool")
    return Features(features)
