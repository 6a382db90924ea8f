"""MkDocs hook: publish a few files that live outside docs/ as pages of the site, unchanged.

`results/benchmarks.md`, `demo/README.md` (the Space's page, with its screenshot) and `cheaha/README.md` stay
where they are in the repository; this hook adds them to the site so that the docs link to them and
`mkdocs build --strict` checks those links (and the links inside them) like any other.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

# path in the site -> path in the repository. The paths keep each file's neighbours where its own relative
# links expect them (cheaha/README.md links ../results/benchmarks.md; demo/README.md shows demo.png).
REPO_FILES = {
    "results/benchmarks.md": "results/benchmarks.md",
    "demo/space.md": "demo/README.md",
    "demo/demo.png": "demo/demo.png",
    "cheaha/README.md": "cheaha/README.md",
}


def on_files(files: Files, config) -> Files:
    root = Path(config.config_file_path).resolve().parent
    for site_path, repo_path in REPO_FILES.items():
        source = root / repo_path
        if not source.is_file():
            raise FileNotFoundError(f"docs/hooks/repo_files.py: {repo_path} is missing")
        files.append(File.generated(config, site_path, abs_src_path=str(source)))
    return files
