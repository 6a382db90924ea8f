"""Load time and memory of a saved concept linker (what `from_pretrained` adds to a model), and the cost of
the first fuzzy lookup (the trigram index is built on first use).

    python bench/linker_load.py LINKER_DIR      # e.g. models/<run>/linker
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
    args = parser.parse_args(argv)
    before = rss_mb()
    start = time.perf_counter()
    linker = ConceptLinker.load(args.linker)
    load_s = time.perf_counter() - start
    loaded = rss_mb()
    figures = {"file_mb": (Path(args.linker) / NAMES_FILE).stat().st_size / 2**20, "load_s": load_s,
               "rss_added_mb": loaded - before, "names": {t: len(linker.exact[t]) for t in linker.entity_types}}
    for entity_type in linker.entity_types:
        start = time.perf_counter()
        linker.link("zzqx unheard of name", entity_type)  # no exact hit: builds this type's trigram index
        figures[f"first_fuzzy_{entity_type}_s"] = time.perf_counter() - start
    figures["rss_with_trigram_indexes_mb"] = rss_mb() - before
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for key, value in figures.items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    return figures


if __name__ == "__main__":
    main()
