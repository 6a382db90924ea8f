"""What both corpus builders share: the config class, features per view, and example generation.

Each view (`documents`, `ner`, `re`, `bigbio_kb`) is produced from the same parse: a subclass yields `documents`
rows from `_iter_documents`, and the views are derived row by row (`loaders.views`, `loaders.bigbio`), so a build
streams the source document by document whatever the view.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

import datasets

from .bigbio import bigbio_kb_features, bigbio_kb_row
from .pubtator import ErrorPolicy, ParseReport
from .schema import RELATION_TYPES, bio_label_names, documents_features, ner_features, re_features
from .views import ner_row, re_rows

logger = logging.getLogger(__name__)

VIEWS = ("documents", "ner", "re", "bigbio_kb")


@dataclass
class CorpusConfig(datasets.BuilderConfig):
    """A corpus config: which view, which ChemDisGene family, and whether bad input raises.

    strict=True (default): the first problem raises `PubTatorFormatError` (file, line, what).
    strict=False: problems are logged, counted in the builder's `reports[split]`, and skipped.
    """

    view: str = "documents"
    family: str | None = None
    strict: bool = True


def source_fingerprint(data_dir: str | None) -> str:
    """Cache key part: the loaders' code and the local source files' names, sizes and mtimes, so a
    changed parser or a changed local copy never reads a stale cache."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    if data_dir is not None:
        for path in sorted(p for p in Path(data_dir).rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(data_dir)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class CorpusBuilder(datasets.GeneratorBasedBuilder):
    """Base builder; subclasses set CORPUS, BUILDER_CONFIGS, `_split_generators`, `_iter_documents`."""

    CORPUS: ClassVar[str]
    HAS_DRUGPROT_FLAG: ClassVar[bool] = False
    BUILDER_CONFIG_CLASS = CorpusConfig
    VERSION = datasets.Version("1.0.0")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("hash", source_fingerprint(kwargs.get("data_dir")))
        super().__init__(*args, **kwargs)
        self.reports: dict[str, ParseReport] = {}

    def _info(self) -> datasets.DatasetInfo:
        view = self.config.view
        if view == "documents":
            features = documents_features(self.HAS_DRUGPROT_FLAG)
        elif view == "ner":
            features = ner_features(self.CORPUS)
        elif view == "re":
            features = re_features(self.HAS_DRUGPROT_FLAG)
        elif view == "bigbio_kb":
            features = bigbio_kb_features()
        else:
            raise ValueError(f"unknown view {view!r}, expected one of {VIEWS}")
        return datasets.DatasetInfo(description=self.__doc__, features=features)

    def _iter_documents(self, policy: ErrorPolicy, **gen_kwargs) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def _generate_examples(self, split: str, **gen_kwargs) -> Iterator[tuple[str, dict[str, Any]]]:
        report = self.reports[split] = ParseReport()
        policy = ErrorPolicy(strict=self.config.strict, report=report)
        view = self.config.view
        relation_types = RELATION_TYPES[self.CORPUS]
        tag_ids = {name: i for i, name in enumerate(bio_label_names(self.CORPUS))}
        for document in self._iter_documents(policy, **gen_kwargs):
            pmid = document["pmid"]
            if view == "documents":
                yield pmid, document
            elif view == "ner":
                yield pmid, ner_row(document, tag_ids)
            elif view == "bigbio_kb":
                yield pmid, bigbio_kb_row(document, self.CORPUS)
            else:
                for k, row in enumerate(re_rows(document, relation_types)):
                    yield f"{pmid}-{k}", row
        if report.count:
            logger.warning(
                "%s/%s split %s: skipped %d problems (strict=False)", self.CORPUS, self.config.name, split, report.count
            )

