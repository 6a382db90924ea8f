"""Fixtures shared by the test modules that train or score models on the real corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_encoder import write_tiny_encoder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    """A tiny cased random BERT saved like a Hub checkpoint (one per test module)."""
    return write_tiny_encoder(tmp_path_factory.mktemp("encoder"), lowercase=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A `datasets` cache folder of the module's own, so builds never touch the user's cache."""
    return tmp_path_factory.mktemp("hf_cache")


VOCAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "vocab"


def write_vocabulary_sample(folder: Path, mesh_ids: set[str], extra_rows: int = 200) -> Path:
    """A vocabulary folder laid out like ../shared/data/vocab, holding the real rows of the given MeSH ids plus
    the first `extra_rows` rows of each file (the whole files take minutes to read; tests need seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, id_of in (
        ("mesh_descriptors_2023.tsv", lambda line: line.split("\t", 1)[0]),
        ("mesh_supplementary_2023.tsv", lambda line: line.split("\t", 1)[0]),
        ("medic_06Jul2012.txt", lambda line: next((i for i in line.split("||", 1)[0].split("|") if not i.isdigit()), "")),
    ):
        with open(VOCAB / name, encoding="utf-8") as source, open(folder / name, "w", encoding="utf-8") as out:
            for number, line in enumerate(source):
                if number < extra_rows or id_of(line) in mesh_ids:
                    out.write(line)
    with open(VOCAB / "hgnc_genes.tsv", encoding="utf-8") as source, open(folder / "hgnc_genes.tsv", "w", encoding="utf-8") as out:
        for number, line in enumerate(source):
            if number <= extra_rows:
                out.write(line)
    return folder


@pytest.fixture(scope="session")
def vocabulary_sample(tmp_path_factory) -> Path:
    """Real vocabulary rows for the MeSH ids of BC5CDR's first 20 training abstracts (see
    `write_vocabulary_sample`)."""
    ids: set[str] = set()
    bc5cdr = VOCAB.parent / "bc5cdr" / "CDR_TrainingSet.PubTator.txt"
    documents = 0
    with open(bc5cdr, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                documents += 1
                if documents == 20:
                    break
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 6:
                ids.update(i for i in fields[5].split("|") if i != "-1")
    return write_vocabulary_sample(tmp_path_factory.mktemp("vocab"), ids)
