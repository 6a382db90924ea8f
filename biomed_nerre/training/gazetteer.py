"""Build the gazetteer of a run with `--gazetteer-features` before training: vocabulary names only (MeSH,
CTD MEDIC, HGNC, through `linking/`), never the corpus's, resolved by `modeling.gazetteer_joint_ner_re`."""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

from modeling.gazetteer_joint_ner_re import Gazetteer

logger = logging.getLogger(__name__)


def build_gazetteer(args: Any, entity_types: Sequence[str]) -> Gazetteer:
    """The gazetteer of `entity_types` (in the model's order) from the vocabularies in `args.linker_vocab_dir`
    (else the official releases, downloaded once)."""
    from biomed_nerre.linking.build import vocabulary_names

    start = time.perf_counter()
    rows, described = vocabulary_names(entity_types, args.linker_vocab_dir or None)
    gazetteer = Gazetteer.from_names(((r.entity_type, r.name) for r in rows), entity_types,
                                     metadata={"vocabularies": described})
    logger.info("gazetteer: %s name keys from %s in %.0f s", {t: len(gazetteer.names[t]) for t in entity_types},
                ", ".join(v["name"] for v in described), time.perf_counter() - start)
    return gazetteer
