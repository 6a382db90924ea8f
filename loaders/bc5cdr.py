"""BioCreative V CDR (chemical-induced disease) as a `datasets` builder.

Configs: `documents` (default), `ner`, `re`, `bigbio_kb` (the BigBio kb schema, `loaders/bigbio.py`); splits train / validation / test
(`CDR_TrainingSet`, `CDR_DevelopmentSet`, `CDR_TestSet`). Entity types Chemical and Disease;
one relation label, CID (Chemical -> Disease), given in the PubTator file itself.
"""

from __future__ import annotations

from typing import Any, Iterator

import datasets

from .base import VIEWS, CorpusBuilder, CorpusConfig
from .documents import build_document
from .ids import id_check
from .pubtator import ErrorPolicy, iter_pubtator
from .schema import ENTITY_TYPES, RELATION_TYPES
from .sources import bc5cdr_paths

CITATION = """@article{li2016biocreative,
  title={BioCreative V CDR task corpus: a resource for chemical disease relation extraction},
  author={Li, Jiao and Sun, Yueping and Johnson, Robin J and Sciaky, Daniela and Wei, Chih-Hsuan and Leaman, Robert
          and Davis, Allan Peter and Mattingly, Carolyn J and Wiegers, Thomas C and Lu, Zhiyong},
  journal={Database}, volume={2016}, year={2016}}"""


class Bc5cdr(CorpusBuilder):
    """BC5CDR: 1,500 PubMed abstracts with Chemical and Disease mentions (MeSH ids) and CID relations."""

    CORPUS = "bc5cdr"
    BUILDER_CONFIGS = [CorpusConfig(name=view, view=view, description=f"BC5CDR, {view} view") for view in VIEWS]
    DEFAULT_CONFIG_NAME = "documents"

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        paths = bc5cdr_paths(dl_manager, self.config.data_dir)
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"split": split, "path": path})
            for split, path in paths.items()
        ]

    def _iter_documents(self, policy: ErrorPolicy, path: str) -> Iterator[dict[str, Any]]:
        labels = RELATION_TYPES[self.CORPUS]
        for raw in iter_pubtator(path, ENTITY_TYPES[self.CORPUS], labels, policy, id_check(self.CORPUS), complete=True):
            yield build_document(raw, self.CORPUS, policy=policy)
