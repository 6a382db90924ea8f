"""ChemDisGene (Zhang et al., LREC 2022) as a `datasets` builder.

Configs `<family>_<view>`: families `ctd_derived` (train / validation / test, relations distantly
supervised from CTD) and `curated` (test only: 523 expert-labelled abstracts, gold relations =
approved_relns_ctd_v1 ∪ approved_relns_new_v1, `is_drugprot` marks the abstracts listed in
drugprot_pmids; always False in ctd_derived); views `documents` (default `ctd_derived_documents`), `ner`, `re`,
`bigbio_kb`.

Relations live in TSV files apart from the abstracts. They are indexed per PMID before the abstracts are
streamed (the relation files are small next to the abstracts: 167k lines for 77k train abstracts), so
memory is bounded by the relation index, not by the abstracts file. A relation whose PMID never
appears among the abstracts is an error (or, strict=False, a reported skip) once the stream ends.
HTML entities such as `&lt;` are kept as written: the offsets count them.
"""

from __future__ import annotations

from typing import Any, Iterator

import datasets

from .base import VIEWS, CorpusBuilder, CorpusConfig
from .documents import build_document
from .ids import id_check
from .pubtator import ErrorPolicy, RawRelation, iter_pubtator, iter_relation_tsv, read_pmid_list
from .schema import ENTITY_TYPES, RELATION_TYPES
from .sources import CHEM_DIS_GENE_FILES, chem_dis_gene_paths

FAMILIES = tuple(CHEM_DIS_GENE_FILES)


class ChemDisGene(CorpusBuilder):
    """ChemDisGene: PubMed abstracts with Chemical, Disease and Gene mentions and 18 relation labels."""

    CORPUS = "chem_dis_gene"
    HAS_DRUGPROT_FLAG = True
    BUILDER_CONFIGS = [
        CorpusConfig(name=f"{family}_{view}", view=view, family=family, description=f"ChemDisGene {family}, {view} view")
        for family in FAMILIES
        for view in VIEWS
    ]
    DEFAULT_CONFIG_NAME = "ctd_derived_documents"

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        layout = chem_dis_gene_paths(dl_manager, self.config.data_dir, self.config.family)
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"split": split, **files}) for split, files in layout.items()
        ]

    def _iter_documents(
        self, policy: ErrorPolicy, abstracts: str, relations: list[str], drugprot: str | None
    ) -> Iterator[dict[str, Any]]:
        labels, check = RELATION_TYPES[self.CORPUS], id_check(self.CORPUS)
        by_pmid: dict[str, list[RawRelation]] = {}
        for path in relations:
            for pmid, relation in iter_relation_tsv(path, labels, policy, check, complete=True):
                by_pmid.setdefault(pmid, []).append(relation)
        drugprot_pmids = read_pmid_list(drugprot) if drugprot else set()
        for raw in iter_pubtator(abstracts, ENTITY_TYPES[self.CORPUS], (), policy, check, complete=True):
            document = build_document(raw, self.CORPUS, by_pmid.pop(raw.pmid, ()), policy)
            document["is_drugprot"] = raw.pmid in drugprot_pmids
            yield document
        for pmid, orphans in by_pmid.items():
            for relation in orphans:
                policy.fail(relation.path, relation.line, f"relation for PMID {pmid}, which is not in {abstracts}")
