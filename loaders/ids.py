"""The forms of concept ids in each corpus's raw files: what the builders accept in an id field.

A file cut inside an id field leaves an id of no valid form ("D0039" for "D003946"), and an id of no known form
would never match a vocabulary or a prediction, so the builders refuse it with the file and line
(`loaders.pubtator.iter_pubtator(check_id=...)`).

- BC5CDR: MeSH ids, `D` or `C` and 6 digits (9 digits for ids minted since 2014), or `-1` for an unlinked
  mention (all 29,076 mention ids and 6,232 relation ids of the release have these forms).
- ChemDisGene: `MESH:` and a MeSH id, `OMIM:` and a number (CTD's MEDIC merges OMIM diseases), an NCBI Gene
  number, or `-` for a mention PubTator typed but did not link.
"""

from __future__ import annotations

import re
from typing import Callable

_MESH = r"[CD](?:\d{6}|\d{9})"
ID_FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    "bc5cdr": (re.compile(rf"{_MESH}|-1"), "a MeSH id (D or C and 6 or 9 digits) or -1"),
    "chem_dis_gene": (
        re.compile(rf"MESH:{_MESH}|OMIM:\d+|\d+|-"),
        "MESH:<D or C and 6 or 9 digits>, OMIM:<number>, an NCBI Gene number or -",
    ),
}


def id_check(corpus: str) -> Callable[[str], str | None]:
    """For `corpus`, a function from a raw id to what is wrong with its form (None when it has a valid one)."""
    pattern, described = ID_FORMS[corpus]

    def check(raw_id: str) -> str | None:
        return None if pattern.fullmatch(raw_id) else f"id {raw_id!r} is not {described}"

    return check
