"""PMIDs found in more than one split of a corpus config: a document in two splits leaks between training and
evaluation.

Reported as a warning with a count, not refused: the splits are the release's, and ChemDisGene's format sample
(and small corpora built in its layout) repeat one abstract in every split on purpose. The warning is logged on
every load (the check reads the Arrow `pmid` columns, `document_id` in the BigBio schema), and `python -m loaders build` prints it as a
`warning:` line after the count table.
"""

from __future__ import annotations

import logging
from itertools import combinations
from typing import Mapping

import datasets

logger = logging.getLogger(__name__)


def split_overlaps(splits: Mapping[str, datasets.Dataset]) -> dict[tuple[str, str], list[str]]:
    """(split a, split b) -> the PMIDs found in both, sorted, for each pair of splits that share any."""
    pmids = {name: set(split.data.table.column(_pmid_column(split)).to_pylist()) for name, split in splits.items()}
    found = {}
    for a, b in combinations(pmids, 2):
        shared = pmids[a] & pmids[b]
        if shared:
            found[(a, b)] = sorted(shared, key=lambda p: (len(p), p))
    return found


def _pmid_column(split: datasets.Dataset) -> str:
    """The column holding the PMID: `pmid` in our schemas, `document_id` in BigBio's."""
    for column in ("pmid", "document_id"):
        if column in split.column_names:
            return column
    raise KeyError(f"no pmid or document_id column among {split.column_names}")


def overlap_warnings(name: str, overlaps: Mapping[tuple[str, str], list[str]]) -> list[str]:
    """One warning line per pair of splits that share PMIDs: the count and the first few."""
    lines = []
    for (a, b), shared in overlaps.items():
        first = ", ".join(shared[:5]) + (", ..." if len(shared) > 5 else "")
        lines.append(f"{name}: {len(shared)} PMID(s) in both {a} and {b} ({first}): those documents leak between "
                     "training and evaluation")
    return lines


def log_overlaps(name: str, overlaps: Mapping[tuple[str, str], list[str]]) -> None:
    """Log `overlap_warnings` as warnings."""
    for line in overlap_warnings(name, overlaps):
        logger.warning("%s", line)
