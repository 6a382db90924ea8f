"""Where the corpora come from: public URLs (mirrors, checksums) or a local copy (`data_dir`).

BC5CDR: `CDR_Data.zip`, tried from three mirrors in order; the three PubTator files inside
(`CDR_Data/CDR.Corpus.v010516/`) must match the SHA256 sums below, otherwise the next mirror is tried.
ChemDisGene: the files of https://github.com/chanzuckerberg/ChemDisGene (`data/`, stored with Git LFS;
the raw URLs serve the content). The project publishes no checksums, so none are checked: the reader's
validation is the only guard against a damaged download.

A local copy (`data_dir`) uses the release's file names: for BC5CDR the folder holding
`CDR_*Set.PubTator.txt`; for ChemDisGene a folder holding `ctd_derived/` and `curated/`. Local BC5CDR
files are checksummed too, but a mismatch is only logged (a corrected copy is a legitimate input).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Sequence

from modeling.outputs_joint_ner_re import InputError

logger = logging.getLogger(__name__)

BC5CDR_URLS: tuple[str, ...] = (
    "https://ftp.ncbi.nlm.nih.gov/pub/lu/BC5CDR/CDR_Data.zip",
    "http://www.biocreative.org/media/store/files/2016/CDR_Data.zip",
    "https://github.com/JHnlp/BioCreative-V-CDR-Corpus/raw/master/CDR_Data.zip",
)
BC5CDR_FILES: dict[str, str] = {
    "train": "CDR_TrainingSet.PubTator.txt",
    "validation": "CDR_DevelopmentSet.PubTator.txt",
    "test": "CDR_TestSet.PubTator.txt",
}
BC5CDR_SHA256: dict[str, str] = {
    "CDR_DevelopmentSet.PubTator.txt": "9e18d8e700168887a7919e62f67ac2ce2357e3f409a48ee992906abdd80fe3e5",
    "CDR_TestSet.PubTator.txt": "a3c48d5f35bdfce20c2371778abedc9fd24d1da092207072e5181ad53c8d0e2f",
    "CDR_TrainingSet.PubTator.txt": "7afcec134e3d4871e74b0398d92850d3c9ac94c0bdc780003f2d60184c012bd8",
}

CHEM_DIS_GENE_URL = "https://github.com/chanzuckerberg/ChemDisGene/raw/master/data/"
# family -> split -> role -> path(s) relative to the release's data/ folder
CHEM_DIS_GENE_FILES: dict[str, dict[str, dict[str, Any]]] = {
    "ctd_derived": {
        split: {
            "abstracts": f"ctd_derived/{stem}_abstracts.txt.gz",
            "relations": [f"ctd_derived/{stem}_relationships.tsv.gz"],
            "drugprot": None,
        }
        for split, stem in (("train", "train"), ("validation", "dev"), ("test", "test"))
    },
    "curated": {
        "test": {
            "abstracts": "curated/abstracts.txt.gz",
            "relations": ["curated/approved_relns_ctd_v1.tsv.gz", "curated/approved_relns_new_v1.tsv.gz"],
            "drugprot": "curated/drugprot_pmids.txt.gz",
        }
    },
}


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bc5cdr_paths(dl_manager, data_dir: str | None, urls: Sequence[str] = BC5CDR_URLS) -> dict[str, str]:
    """Split name -> local path of the BC5CDR PubTator file, from `data_dir` or downloaded."""
    if data_dir is not None:
        paths = _local_files(Path(data_dir), BC5CDR_FILES)
        for name, path in paths.items():
            if sha256_file(path) != BC5CDR_SHA256[BC5CDR_FILES[name]]:
                logger.warning("%s differs from the released file (SHA256 mismatch); using it as given", path)
        return paths
    failures = []
    for url in urls:
        try:
            root = Path(dl_manager.download_and_extract(url))
            paths = {split: str(_find(root, name)) for split, name in BC5CDR_FILES.items()}
            for split, path in paths.items():
                expected, actual = BC5CDR_SHA256[BC5CDR_FILES[split]], sha256_file(path)
                if actual != expected:
                    raise ValueError(f"{BC5CDR_FILES[split]}: SHA256 {actual} != released {expected}")
            return paths
        except Exception as error:  # any failure of one mirror means: try the next one
            logger.warning("BC5CDR mirror %s failed: %s", url, error)
            failures.append(f"{url}: {type(error).__name__}: {error}")
    raise ConnectionError("could not get BC5CDR from any mirror:\n  " + "\n  ".join(failures))


def chem_dis_gene_paths(dl_manager, data_dir: str | None, family: str) -> dict[str, dict[str, Any]]:
    """Split name -> {"abstracts": path, "relations": [paths], "drugprot": path | None} for a config family."""
    layout = CHEM_DIS_GENE_FILES[family]
    relative = sorted({p for files in layout.values() for p in _file_list(files)})
    if data_dir is not None:
        root = Path(data_dir)
        found = _local_files(root, {p: p for p in relative})
    else:
        found = dl_manager.download({p: CHEM_DIS_GENE_URL + p for p in relative})
    return {
        split: {
            "abstracts": str(found[files["abstracts"]]),
            "relations": [str(found[p]) for p in files["relations"]],
            "drugprot": str(found[files["drugprot"]]) if files["drugprot"] else None,
        }
        for split, files in layout.items()
    }


def _file_list(files: dict[str, Any]) -> list[str]:
    return [files["abstracts"], *files["relations"], *([files["drugprot"]] if files["drugprot"] else [])]


def _local_files(root: Path, names: dict[str, str]) -> dict[str, str]:
    if not root.is_dir():
        raise InputError(f"{root}: no such folder (the data dir holds the release's files)")
    missing = [name for name in names.values() if not (root / name).is_file()]
    if missing:
        raise InputError(f"{root} lacks the release files {missing}")
    return {key: str(root / name) for key, name in names.items()}


def _find(root: Path, name: str) -> Path:
    matches = sorted(root.rglob(name))
    if not matches:
        raise FileNotFoundError(f"{name} not found in the extracted archive {root}")
    return matches[0]
