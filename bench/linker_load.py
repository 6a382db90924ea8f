"""Load time and memory of a saved concept linker (what `from_pretrained` adds to a model), the cost of
the first fuzzy lookup (the trigram index is built on first use), and with `--speed-docs N` the links per
second on the gold mentions of the first N BC5CDR validation abstracts (cold: a dense ranker embeds every name
for the first time; then warm: again, from its cache).

    python bench/linker_load.py LINKER_DIR [--speed-docs 100 --data-dir ../shared/data/bc5cdr]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modeling.linking_joint_ner_re import NAMES_FILE, ConceptLinker  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("linker", help="a folder written by ConceptLinker.save (a model's linker/)")
    parser.add_argument("--speed-docs", type=int, default=0, help="time linking this many validation abstracts")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data/bc5cdr"), help="BC5CDR release folder")
    args = parser.parse_args(argv)
    before = rss_mb()
    start = time.perf_counter()
    linker = ConceptLinker.load(args.linker)
    load_s = time.perf_counter() - start
    loaded = rss_mb()
    folder_bytes = sum(p.stat().st_size for p in Path(args.linker).rglob("*") if p.is_file())
    figures = {"file_mb": (Path(args.linker) / NAMES_FILE).stat().st_size / 2**20, "folder_mb": folder_bytes / 2**20,
               "dense_encoder": linker.dense is not None, "load_s": load_s,
               "rss_added_mb": loaded - before, "names": {t: len(linker.exact[t]) for t in linker.entity_types}}
    for entity_type in linker.entity_types:
        start = time.perf_counter()
        linker.link("zzqx unheard of name", entity_type)  # no exact hit: builds this type's trigram index
        figures[f"first_fuzzy_{entity_type}_s"] = time.perf_counter() - start
    figures["rss_with_trigram_indexes_mb"] = rss_mb() - before
    if args.speed_docs:
        from loaders import load_corpus

        documents = list(load_corpus("bc5cdr", "documents", data_dir=args.data_dir)["validation"])[: args.speed_docs]
        mentions = sum(len(d["mentions"]) for d in documents)
        for run in ("cold", "warm"):
            start = time.perf_counter()
            links = [linker.link_mentions(d["text"], d["mentions"]) for d in documents]
            seconds = time.perf_counter() - start
            figures[f"links_per_s_{run}"] = mentions / seconds
        figures["mentions"] = mentions
        figures["dense_links"] = sum(r.method == "dense" for doc in links for r in doc)
    figures["rss_after_mb"] = rss_mb() - before
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for key, value in figures.items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    return figures


if __name__ == "__main__":
    main()
