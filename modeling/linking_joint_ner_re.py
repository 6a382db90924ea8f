"""Concept linking at prediction time: a mention (text, type, document) -> concept ids (CURIEs) or NIL.

The linker is a resolved name table (one best id set per normalised name and entity type) built by
`training/` from the training split's own annotations and public vocabularies (`linking/` parses them), saved
in the model folder as `linker/` (gzipped TSV + JSON, no pickle) and restored by `from_pretrained` (into
`NameTable`s, which keep the file's bytes and search them: `name_table_joint_ner_re`).

Linking a mention, in order (the first that answers wins; `LinkResult.method` says which):
1. `exact`: its normalised name (`name_key`: NFKC, casefold, Greek letters spelled out, runs of letters and
   digits joined by one space) is in the table;
2. `abbreviation`: it is a short form defined in the same document ("5-fluorouracil (5-FU)", Schwartz and
   Hearst's algorithm): it links like its long form (steps 1, 3, 4, 5 on the long form);
3. `loose`: its loose key (`loose_key`: letters split from digits, a few stop words and plural `s` dropped,
   words sorted, so "Neoplasms, Breast" meets "breast neoplasm") is in the table;
4. `composite`: a coordination ("breast and ovarian cancer") whose parts, with the shared head word, each
   link: the mention carries every part's id, as the corpus annotates it;
5. `fuzzy`: the most similar name of its type by character-trigram TF-IDF cosine, when that similarity is at
   least `fuzzy_threshold` for given mentions (`link_mentions`), `end2end_fuzzy_threshold` for the NER head's
   mentions in `extract` (names from the sources in `fuzzy_sources`); with a dense ranker
   (`dense_linking_joint_ner_re`, saved as `linker/encoder/`), `dense` instead: among the names nearest by
   trigrams, the closest by the ranker's cosine, when at least `dense_threshold` / `end2end_dense_threshold`;
6. otherwise NIL: no id (never an arbitrary one).

Imports only torch and the standard library (this file ships with the model).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import torch

from .dense_linking_joint_ner_re import ENCODER_FOLDER, DenseRanker
from .files_joint_ner_re import config_value, read_json
from .name_table_joint_ner_re import NameTable, read_name_tables
from .outputs_joint_ner_re import InputError, nil_entity_id

LINKER_FOLDER = "linker"
CONFIG_FILE = "linker_config.json"
NAMES_FILE = "names.tsv.gz"
FORMAT_VERSION = 1
NORMALISATION_VERSION = 1

# precedence of name sources when two give a name different ids (higher wins)
SOURCE_PRECEDENCE = {"user": 50, "corpus": 40, "medic": 30, "mesh-descriptor": 20, "hgnc": 20, "mesh-supplementary": 10}
DEFAULT_FUZZY_SOURCES = ("user", "corpus", "medic", "mesh-descriptor", "hgnc")

_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ζ": "zeta", "η": "eta",
    "θ": "theta", "ι": "iota", "κ": "kappa", "λ": "lambda", "μ": "mu", "ν": "nu", "ξ": "xi", "ο": "omicron",
    "π": "pi", "ρ": "rho", "σ": "sigma", "ς": "sigma", "τ": "tau", "υ": "upsilon", "φ": "phi", "χ": "chi",
    "ψ": "psi", "ω": "omega",
}
_WORD = re.compile(r"[^\W_]+")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_STOP_WORDS = frozenset({"of", "the", "a", "an", "in", "on", "with", "by", "for", "to", "nos"})
_COORDINATION = re.compile(r"\s*(?:,\s*(?:and/or|and|or)?|\band/or\b|\band\b|\bor\b|/)\s*", re.IGNORECASE)
# ---- normalisation ----------------------------------------------------------------------------------------
def name_key(text: str) -> str:
    """The exact-match key of a name: NFKC, casefolded, Greek letters spelled out, letter/digit runs joined by
    one space ("5-Fluorouracil" -> "5 fluorouracil", "TNF-α" -> "tnf alpha")."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if any(ch in _GREEK for ch in folded):
        folded = "".join(" " + _GREEK[ch] + " " if ch in _GREEK else ch for ch in folded)
    return " ".join(_WORD.findall(folded))


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def loose_key(key: str) -> str:
    """A looser key over `name_key`'s: letters split from digits, British "ae"/"oe" spelt "e" ("anaemia",
    "oedema"), stop words and plural `s` dropped, words sorted ("Neoplasms, Breast" and "breast neoplasm"
    share one)."""
    words = [
        _singular(w.replace("ae", "e").replace("oe", "e"))
        for w in _LETTER_DIGIT.sub(" ", key).split() if w not in _STOP_WORDS
    ]
    return " ".join(sorted(words))


# adjective -> noun endings of the last word ("dyskinetic" -> "dyskinesia", "hypertensive" -> "hypertension")
_SUFFIX_VARIANTS = (
    ("etic", "esia"), ("tic", "sis"), ("tic", "sy"), ("ic", "ia"), ("ic", "icity"), ("ic", "y"), ("ive", "ion"),
    ("e", "ity"), ("al", ""), ("ed", ""), ("ies", "y"), ("ity", "ic"),
)


def name_variants(name: str) -> list[str]:
    """Other forms of a name to look up: its last word with an adjective ending swapped for a noun ending."""
    words = name.split()
    if not words:
        return []
    last = words[-1]
    variants = []
    for old, new in _SUFFIX_VARIANTS:
        if last.lower().endswith(old) and len(last) > len(old) + 3:
            variants.append(" ".join(words[:-1] + [last[: len(last) - len(old)] + new]))
    return variants


# ---- abbreviations (Schwartz & Hearst, PSB 2003) -----------------------------------------------------------
def _best_long_form(short: str, candidate: str) -> str | None:
    s, c = len(short) - 1, len(candidate) - 1
    while s >= 0:
        char = short[s].lower()
        if not char.isalnum():
            s -= 1
            continue
        while c >= 0 and (candidate[c].lower() != char or (s == 0 and c > 0 and candidate[c - 1].isalnum())):
            c -= 1
        if c < 0:
            return None
        c -= 1
        s -= 1
    start = candidate.rfind(" ", 0, c + 1) + 1
    return candidate[start:]


def find_abbreviations(text: str) -> dict[str, tuple[int, int]]:
    """Short forms defined in `text` as "long form (SF)" -> the long form's character span (first definition
    wins). Short forms have 2-10 characters, a letter, and start with a letter or digit."""
    found: dict[str, tuple[int, int]] = {}
    for match in re.finditer(r"\(([^()]{1,40})\)", text):
        inner = re.split(r"[;,]\s", match.group(1))[0].strip()
        if not (2 <= len(inner) <= 10) or len(inner.split()) > 2 or not inner[0].isalnum():
            continue
        if not any(ch.isalpha() for ch in inner) or inner in found:
            continue
        before = text[: match.start()].rstrip()
        max_words = min(len(inner) + 5, len(inner) * 2)
        words = before.split()
        window = " ".join(words[-max_words:]) if words else ""
        # the window may reach back into a previous sentence or parenthesis: cut at the last such mark
        window = re.split(r"[.;:()\[\]]\s", window)[-1]
        long_form = _best_long_form(inner, window)
        if not long_form or len(long_form) <= len(inner) or inner.lower() in long_form.lower().split():
            continue
        end = len(before)
        found[inner] = (end - len(long_form), end)
    return found


# ---- results ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkResult:
    """ids: CURIEs (several for a composite mention, none for NIL); score in [0, 1]; method: the step that
    answered (`exact`, `abbreviation`, `loose`, `composite`, `variant`, `fuzzy`, `dense`, `nil`)."""

    ids: tuple[str, ...]
    score: float
    method: str

    @property
    def is_nil(self) -> bool:
        return not self.ids


NIL = LinkResult((), 0.0, "nil")


# one resolved name: (ids, score, source); plain tuples keep a million-name table small and quick to load
_Entry = tuple[tuple[str, ...], float, str]


class _TrigramIndex:
    """Character-trigram TF-IDF vectors of one type's names, for cosine nearest-name search.

    Built with whole-tensor operations (a name table's trigrams at once) and kept as an inverted index: for each
    trigram, the names that hold it and their weights. A query then touches only the names that share one of
    its trigrams, not every name."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        n = len(self.keys)
        codes, rows = _trigram_codes(self.keys)
        # one column per distinct trigram (sorted codes), then one entry per (name, trigram) with its count
        gram_codes, columns = torch.unique(codes, sorted=True, return_inverse=True)
        width = max(len(gram_codes), 1)
        pairs, counts = torch.unique(rows * width + columns, sorted=True, return_counts=True)
        rows, columns = pairs // width, pairs % width
        document_frequency = torch.bincount(columns, minlength=width).double()
        idf = torch.log((1 + max(n, 1)) / (1 + document_frequency)) + 1.0
        weights = (1.0 + torch.log(counts.double())) * idf[columns]
        norms = torch.zeros(n, dtype=torch.float64).index_add_(0, rows, weights * weights).sqrt()
        values = (weights / norms[rows]).float()
        by_column = torch.argsort(columns, stable=True)  # names in order within a trigram's list
        # the names holding trigram c, and their weights: entries _posting_start[c] to _posting_start[c + 1] - 1
        self.posting_rows = rows[by_column].to(torch.int32)
        self.posting_values = values[by_column]
        self._posting_start = [0] + torch.cumsum(torch.bincount(columns, minlength=width), 0).tolist()
        self._idf = idf.tolist()
        self._column_of = {code: column for column, code in enumerate(gram_codes.tolist())}

    def _query_weights(self, key: str) -> dict[int, float]:
        """The query's unit TF-IDF vector over the known trigrams: column -> weight, in column order."""
        counts: dict[int, int] = {}
        for gram in _trigrams(key):
            column = self._column_of.get(_gram_code(gram))
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        weights = {c: (1.0 + math.log(k)) * self._idf[c] for c, k in sorted(counts.items())}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {c: w / norm for c, w in weights.items()}

    def _similarity(self, key: str) -> torch.Tensor | None:
        """The cosine of the query with every name (None when no trigram of the query is known): the sum, over
        the query's trigram lists, of each name's weight times the query's."""
        weights = self._query_weights(key) if self.keys else {}
        if not weights:
            return None
        similarity = torch.zeros(len(self.keys))
        for column, weight in weights.items():
            start, end = self._posting_start[column], self._posting_start[column + 1]
            similarity.index_add_(0, self.posting_rows[start:end], self.posting_values[start:end], alpha=weight)
        return similarity

    def nearest(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        """For each query key: (index of the most similar name, cosine similarity); (-1, 0.0) when no trigram
        of the query is known."""
        found = []
        for key in keys:
            similarity = self._similarity(key)
            if similarity is None:
                found.append((-1, 0.0))
                continue
            best = int(similarity.argmax())
            score = float(similarity[best])
            found.append((best, score) if score > 0 else (-1, 0.0))
        return found

    def top(self, key: str, k: int) -> list[int]:
        """The indices of the (at most) k names most similar to the query that share a trigram with it, best
        first (ties: the earlier name)."""
        similarity = self._similarity(key)
        if similarity is None:
            return []
        k = min(k, int((similarity > 0).sum()))
        if k <= 0:
            return []
        # a stable order among equal scores: sort by (-score, index)
        values, indices = torch.topk(similarity, k)
        return [int(i) for _, i in sorted(zip((-values).tolist(), indices.tolist()))]


def _trigrams(key: str) -> list[str]:
    padded = f"  {key} "
    return [padded[i : i + 3] for i in range(len(padded) - 2)]


_CODE_BITS = 21  # a Unicode code point fits in 21 bits: three make one int64 code per trigram


def _gram_code(gram: str) -> int:
    a, b, c = (ord(ch) for ch in gram)
    return (a << (2 * _CODE_BITS)) | (b << _CODE_BITS) | c


def _trigram_codes(keys: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The code (`_gram_code`) of every trigram of every key (padded as in `_trigrams`) and the key's index."""
    if not keys:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    padded = "".join(f"  {key} " for key in keys)
    points = torch.frombuffer(bytearray(padded.encode("utf-32-le", "surrogatepass")), dtype=torch.int32).long()
    grams_per_key = torch.tensor([len(key) + 1 for key in keys], dtype=torch.int64)
    rows = torch.repeat_interleave(torch.arange(len(keys)), grams_per_key)
    # key k starts at sum of earlier padded lengths (each its grams + 2); gram j of it at that start + j
    key_start = torch.cumsum(grams_per_key + 2, 0) - (grams_per_key + 2)
    gram_start = torch.cumsum(grams_per_key, 0) - grams_per_key
    positions = torch.arange(len(rows)) - gram_start[rows] + key_start[rows]
    codes = (points[positions] << (2 * _CODE_BITS)) | (points[positions + 1] << _CODE_BITS) | points[positions + 2]
    return codes, rows


@dataclass
class NameRow:
    """One name of a concept, as `linking/` reads it from a vocabulary or a corpus.

    ids: CURIEs (several for a composite name from a corpus); weight: how strongly this source ties the name
    to these ids (corpus: times annotated; vocabularies: 2 for a preferred name, 1 for a synonym)."""

    entity_type: str
    ids: tuple[str, ...]
    name: str
    source: str
    weight: float = 1.0


@dataclass
class ConceptLinker:
    """Resolved name tables per entity type: `exact[type][name_key] = _Entry`, `loose[type][loose_key]`.

    Build with `ConceptLinker.from_names(rows)`; `link(text, type, abbreviations)` for one mention,
    `link_mentions(text, mentions)` for a document; `save(folder)` / `ConceptLinker.load(folder)`.
    """

    exact: dict[str, Mapping[str, _Entry]]  # dicts when built, `NameTable`s when loaded
    loose: dict[str, Mapping[str, _Entry]]
    fuzzy_threshold: float = 0.8
    fuzzy_sources: tuple[str, ...] = DEFAULT_FUZZY_SOURCES
    metadata: dict[str, Any] = field(default_factory=dict)
    use_variants: bool = True
    # predicted mentions (extract end to end) need a closer name to link than given ones: a poor match is more
    # often a false mention than a variant name (both thresholds chosen on BC5CDR validation)
    end2end_fuzzy_threshold: float = 0.9
    # the dense ranker (`dense_linking_joint_ner_re`): when set, it takes the fuzzy step's place: among the
    # `dense_candidates` names nearest by trigrams, the one closest by the ranker's cosine links when that cosine
    # is at least `dense_threshold` (given mentions; a number, or one per type) or `end2end_dense_threshold` (the
    # NER head's mentions), all chosen on validation for document-level id F1
    dense: DenseRanker | None = None
    dense_threshold: float | dict[str, float] = 0.85
    end2end_dense_threshold: float | dict[str, float] = 0.9
    dense_candidates: int = 20
    _fuzzy: dict[str, _TrigramIndex] = field(default_factory=dict, repr=False)

    # ---- building --------------------------------------------------------------------------------------
    @classmethod
    def from_names(
        cls,
        rows: Iterable[NameRow],
        fuzzy_threshold: float = 0.8,
        fuzzy_sources: Sequence[str] = DEFAULT_FUZZY_SOURCES,
        metadata: Mapping[str, Any] | None = None,
        entity_types: Sequence[str] = (),
    ) -> "ConceptLinker":
        """Resolve names to one id set per (type, key): the source of highest precedence (`SOURCE_PRECEDENCE`:
        user > corpus > MEDIC > MeSH descriptors / HGNC > MeSH supplementary) that has the key decides; within
        it the id set with the largest total weight (ties: the smallest ids). The score is that id set's share
        of the deciding source's weight for the key. `entity_types`: types to hold a (maybe empty) table for."""
        votes: dict[tuple[str, str, str], dict[str, dict[tuple[str, ...], float]]] = {"exact": {}, "loose": {}}  # type: ignore[assignment]
        for row in rows:
            if row.source not in SOURCE_PRECEDENCE:
                raise ValueError(f"unknown name source {row.source!r}; expected one of {sorted(SOURCE_PRECEDENCE)}")
            key = name_key(row.name)
            if not key or not row.ids:
                continue
            ids = tuple(sorted(set(row.ids)))
            for kind, k in (("exact", key), ("loose", loose_key(key))):
                if not k:
                    continue
                by_source = votes[kind].setdefault((row.entity_type, k), {})  # type: ignore[index]
                tally = by_source.setdefault(row.source, {})
                tally[ids] = tally.get(ids, 0.0) + row.weight
        tables: dict[str, dict[str, dict[str, _Entry]]] = {
            "exact": {t: {} for t in entity_types}, "loose": {t: {} for t in entity_types}
        }
        for kind in ("exact", "loose"):
            for (entity_type, key), by_source in votes[kind].items():  # type: ignore[union-attr]
                source = max(by_source, key=lambda s: SOURCE_PRECEDENCE[s])
                tally = by_source[source]
                ids = min(tally, key=lambda i: (-tally[i], i))
                entry = (ids, round(tally[ids] / sum(tally.values()), 4), source)
                tables[kind].setdefault(entity_type, {})[key] = entry
        return cls(tables["exact"], tables["loose"], float(fuzzy_threshold), tuple(fuzzy_sources), dict(metadata or {}))

    def extended(self, rows: Iterable[NameRow], replace: bool = False) -> "ConceptLinker":
        """A new linker with a user's names: on top of this one's (user names win), or instead of them
        (`replace=True`). The rows' source is taken as "user"."""
        user_rows = [NameRow(r.entity_type, r.ids, r.name, "user", r.weight) for r in rows]
        if not user_rows:
            raise ValueError("no names given")
        added = ConceptLinker.from_names(user_rows, self.fuzzy_threshold, self.fuzzy_sources, entity_types=self.entity_types)
        if replace:
            added.metadata = {**self.metadata, "user_names": "replaced the vocabulary"}
            self._copy_decision_settings(added)
            return added
        exact = {t: dict(table.items()) for t, table in self.exact.items()}
        loose = {t: dict(table.items()) for t, table in self.loose.items()}
        for mine, theirs in ((exact, added.exact), (loose, added.loose)):
            for entity_type, table in theirs.items():
                mine.setdefault(entity_type, {}).update(table)
        metadata = {**self.metadata, "user_names": f"{len(user_rows)} names added"}
        linker = ConceptLinker(exact, loose, self.fuzzy_threshold, self.fuzzy_sources, metadata)
        self._copy_decision_settings(linker)
        return linker

    def _copy_decision_settings(self, other: "ConceptLinker") -> None:
        """Give `other` this linker's thresholds and dense ranker (the ranker is shared, not copied)."""
        other.end2end_fuzzy_threshold = self.end2end_fuzzy_threshold
        other.dense, other.dense_candidates = self.dense, self.dense_candidates
        other.dense_threshold, other.end2end_dense_threshold = self.dense_threshold, self.end2end_dense_threshold

    def set_dense(self, ranker: DenseRanker | None, threshold: float | Mapping[str, float] | None = None,
                  end2end_threshold: float | Mapping[str, float] | None = None) -> "ConceptLinker":
        """Attach (or with None, detach) a dense ranker, optionally with its thresholds (a number, or one per
        entity type); returns self."""
        self.dense = ranker
        if threshold is not None:
            self.dense_threshold = _threshold_value(threshold)
        if end2end_threshold is not None:
            self.end2end_dense_threshold = _threshold_value(end2end_threshold)
        return self

    @property
    def entity_types(self) -> list[str]:
        return sorted(self.exact)

    def known_ids(self, entity_type: str | None = None) -> set[str]:
        """Every id the linker can return (for one type, or all)."""
        tables = [self.exact[entity_type]] if entity_type else list(self.exact.values())
        return {i for table in tables for entry in table.values() for i in entry[0]}

    # ---- linking ---------------------------------------------------------------------------------------
    def _lookup(self, name: str, entity_type: str) -> LinkResult | None:
        key = name_key(name)
        if not key:
            return None
        exact = self.exact.get(entity_type, {})
        entry = exact.get(key)
        if entry is not None:
            return LinkResult(entry[0], entry[1], "exact")
        loose = loose_key(key)
        entry = self.loose.get(entity_type, {}).get(loose)
        if entry is None and loose_key(loose) == loose:
            entry = exact.get(loose)  # `save` leaves out loose rows equal to the exact row of the same key
        if entry is not None:
            return LinkResult(entry[0], entry[1], "loose")
        return None

    def _variant(self, name: str, entity_type: str) -> LinkResult | None:
        """The first suffix variant (`name_variants`) of the name that looks up."""
        for variant in name_variants(name):
            found = self._lookup(variant, entity_type)
            if found is not None:
                return LinkResult(found.ids, found.score, "variant")
        return None

    def _composite(self, name: str, entity_type: str) -> LinkResult | None:
        parts = [p for p in _COORDINATION.split(name) if p and p.strip()]
        if len(parts) < 2:
            return None
        last_words = parts[-1].split()
        head = " ".join(last_words[1:])
        ids: list[str] = []
        scores: list[float] = []
        for i, part in enumerate(parts):
            found = None
            if i < len(parts) - 1 and head and len(part.split()) == 1:
                found = self._lookup(f"{part} {head}", entity_type)
            found = found or self._lookup(part, entity_type)
            if found is None:
                return None
            ids.extend(i for i in found.ids if i not in ids)
            scores.append(found.score)
        return LinkResult(tuple(ids), min(scores), "composite")

    def _fuzzy_index(self, entity_type: str) -> _TrigramIndex:
        index = self._fuzzy.get(entity_type)
        if index is None:
            table = self.exact.get(entity_type, {})
            if isinstance(table, NameTable):
                keys = table.keys_with_source(self.fuzzy_sources)
            else:
                keys = sorted(k for k, e in table.items() if e[2] in self.fuzzy_sources)
            index = _TrigramIndex(keys)
            self._fuzzy[entity_type] = index
        return index

    def link(
        self, name: str, entity_type: str, abbreviations: Mapping[str, str] | None = None, fuzzy: bool = True
    ) -> LinkResult:
        """The ids of one mention. abbreviations: short form -> long form text of the mention's document
        (`document_abbreviations`); fuzzy=False stops before the trigram search."""
        return self.link_many([name], entity_type, abbreviations, fuzzy)[0]

    def link_many(
        self,
        names: Sequence[str],
        entity_type: str,
        abbreviations: Mapping[str, str] | None = None,
        fuzzy: bool = True,
        threshold: float | Mapping[str, float] | None = None,
    ) -> list[LinkResult]:
        """`link` for several mentions of one type (the trigram search runs once for all that need it).
        threshold: the last step's least cosine for this call (default `dense_threshold` with a dense ranker,
        else `fuzzy_threshold`)."""
        if entity_type not in self.exact:
            return [NIL] * len(names)
        if self.dense is not None:
            threshold = self.threshold_for(entity_type, self.dense_threshold if threshold is None else threshold)
        else:
            threshold = self.fuzzy_threshold if threshold is None else threshold
        results: list[LinkResult | None] = []
        pending: list[tuple[int, str]] = []
        for i, name in enumerate(names):
            found = self._lookup(name, entity_type)
            long_form = (abbreviations or {}).get(name.strip())
            if found is None and long_form:
                found = self._lookup(long_form, entity_type) or self._composite(long_form, entity_type)
                if found is not None:
                    found = LinkResult(found.ids, found.score, "abbreviation")
                else:
                    pending.append((i, long_form))
            if found is None and not long_form:
                found = self._composite(name, entity_type)
                if found is None and self.use_variants:
                    found = self._variant(name, entity_type)
                if found is None:
                    pending.append((i, name))
            results.append(found)
        if fuzzy and pending and self.dense is not None:
            self._dense_step(pending, entity_type, threshold, results)
        elif fuzzy and pending:
            index = self._fuzzy_index(entity_type)
            table = self.exact[entity_type]
            for (i, name), (row, similarity) in zip(pending, index.nearest([name_key(n) for _, n in pending])):
                if row >= 0 and similarity >= threshold:
                    entry = table[index.keys[row]]
                    results[i] = LinkResult(entry[0], round(similarity * entry[1], 4), "fuzzy")
        return [r if r is not None else NIL for r in results]

    def _candidates(self, name: str, entity_type: str) -> list[str]:
        """Candidate keys for the dense ranker: the `dense_candidates` names of the type nearest by character
        trigrams (from the fuzzy step's index)."""
        index = self._fuzzy_index(entity_type)
        return [index.keys[row] for row in index.top(name_key(name), self.dense_candidates)]

    def _dense_step(self, pending: Sequence[tuple[int, str]], entity_type: str, threshold: float,
                    results: list[LinkResult | None]) -> None:
        """Fill `results[i]` for each pending (i, name) whose best candidate by the dense ranker's cosine is at
        least `threshold`."""
        assert self.dense is not None
        table = self.exact[entity_type]
        candidates = [self._candidates(name, entity_type) for _, name in pending]
        # one embedding pass for every query and candidate of the call (each distinct text once)
        self.dense.embed([t for (_, name), keys in zip(pending, candidates) for t in (name_key(name), *keys)])
        for (i, name), keys in zip(pending, candidates):
            ranked = self.dense.rank(name_key(name), keys)
            if ranked and ranked[0][1] >= threshold:
                entry = table[keys[ranked[0][0]]]
                results[i] = LinkResult(entry[0], round(max(ranked[0][1], 0.0), 4), "dense")

    @property
    def end2end_threshold(self) -> float:
        """The threshold `extract` passes for the NER head's mentions: the dense ranker's when there is one,
        else the fuzzy step's."""
        return self.end2end_dense_threshold if self.dense is not None else self.end2end_fuzzy_threshold

    @staticmethod
    def threshold_for(entity_type: str, threshold: float | Mapping[str, float]) -> float:
        """A threshold given for all types (a number) or per type (a mapping; a type not in it: never links)."""
        if isinstance(threshold, Mapping):
            return float(threshold.get(entity_type, math.inf))
        return float(threshold)

    def link_mentions(
        self, text: str, mentions: Sequence[Mapping[str, Any]], fuzzy: bool = True, threshold: float | None = None
    ) -> list[LinkResult]:
        """Link a document's mentions (dicts with start, end, type) in context: abbreviations defined in
        `text` link like their long forms. One result per mention, in order. threshold: the fuzzy step's for
        this call (default `fuzzy_threshold`, for given mentions; `extract` passes `end2end_fuzzy_threshold`)."""
        abbreviations = document_abbreviations(text)
        results: list[LinkResult | None] = [None] * len(mentions)
        by_type: dict[str, list[int]] = {}
        for i, m in enumerate(mentions):
            by_type.setdefault(m["type"], []).append(i)
        for entity_type, indices in by_type.items():
            names = [text[mentions[i]["start"] : mentions[i]["end"]] for i in indices]
            for i, result in zip(indices, self.link_many(names, entity_type, abbreviations, fuzzy, threshold)):
                results[i] = result
        # "cisplatin (CDDP)": a short form right after a mention of the same type links like that mention
        # throughout the document, even where the letters do not match or a dictionary knows the short form
        # otherwise (the document's own definition wins)
        defined = defined_short_forms(text, mentions)
        for i, m in enumerate(mentions):
            name = text[m["start"] : m["end"]].strip()
            j = defined.get(name, defined.get(name[:-1]) if name.endswith("s") else None)
            if j is None or j == i or mentions[j]["type"] != m["type"]:
                continue
            source = results[j]
            if source is not None and not source.is_nil:
                results[i] = LinkResult(source.ids, source.score, "abbreviation")
        return results  # type: ignore[return-value]

    # ---- saving ----------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike) -> None:
        """Write `linker_config.json` and `names.tsv.gz` (sorted rows, gzip without a timestamp: the same
        linker always gives the same bytes)."""
        os.makedirs(folder, exist_ok=True)
        config = {
            "format_version": FORMAT_VERSION,
            "normalisation_version": NORMALISATION_VERSION,
            "fuzzy_threshold": self.fuzzy_threshold,
            "end2end_fuzzy_threshold": self.end2end_fuzzy_threshold,
            "fuzzy_sources": list(self.fuzzy_sources),
            "entity_types": self.entity_types,
            **({"dense": {"encoder": ENCODER_FOLDER, "threshold": self.dense_threshold,
                          "end2end_threshold": self.end2end_dense_threshold, "candidates": self.dense_candidates,
                          "max_length": self.dense.max_length}} if self.dense is not None else {}),
            "names": {t: len(self.exact.get(t, {})) for t in self.entity_types},
            "ids": {t: len(self.known_ids(t)) for t in self.entity_types},
            **{k: v for k, v in self.metadata.items() if k not in ("names", "ids", "dense")},
        }
        if self.dense is not None:
            self.dense.save(os.path.join(folder, ENCODER_FOLDER))
            # the encoder's files, for a Hub download of the folder (`from_pretrained` fetches them by name)
            config["dense"]["files"] = sorted(os.listdir(os.path.join(folder, ENCODER_FOLDER)))
        with open(os.path.join(folder, CONFIG_FILE), "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2, sort_keys=True, ensure_ascii=False)
            handle.write("\n")
        lines = []
        for kind, tables in (("exact", self.exact), ("loose", self.loose)):
            for entity_type in sorted(tables):
                exact = self.exact.get(entity_type, {})
                for key, (ids, score, source) in sorted(tables[entity_type].items()):
                    if kind == "loose" and exact.get(key) == (ids, score, source):
                        continue  # found through the exact table (`_lookup`)
                    lines.append(f"{entity_type}\t{kind}\t{key}\t{'|'.join(ids)}\t{score!r}\t{source}\n")
        with open(os.path.join(folder, NAMES_FILE), "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
                handle.write("".join(lines).encode("utf-8"))

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "ConceptLinker":
        """Read a folder written by `save`. `InputError` naming the file (and line) for a damaged or malformed one."""
        config_path = os.path.join(folder, CONFIG_FILE)
        config = read_json(config_path)
        if config.get("format_version") != FORMAT_VERSION or config.get("normalisation_version") != NORMALISATION_VERSION:
            raise InputError(
                f"{config_path}: linker format {config.get('format_version')} / normalisation "
                f"{config.get('normalisation_version')}; this code reads {FORMAT_VERSION} / {NORMALISATION_VERSION}"
            )
        types = list(config_value(config, "entity_types", list, config_path))
        tables: dict[str, dict[str, Mapping[str, _Entry]]] = {"exact": {t: {} for t in types}, "loose": {t: {} for t in types}}
        names_path = os.path.join(folder, NAMES_FILE)
        for (entity_type, kind), table in read_name_tables(names_path).items():
            tables[kind][entity_type] = table
        _check_name_counts(config, config_path, names_path, {t: len(table) for t, table in tables["exact"].items()})
        metadata = {
            k: v for k, v in config.items()
            if k not in ("format_version", "normalisation_version", "fuzzy_threshold", "fuzzy_sources", "entity_types",
                         "end2end_fuzzy_threshold", "dense")
        }
        linker = cls(
            tables["exact"], tables["loose"], float(config_value(config, "fuzzy_threshold", (int, float), config_path)),
            tuple(config_value(config, "fuzzy_sources", list, config_path)), metadata,
        )
        linker.end2end_fuzzy_threshold = float(config.get("end2end_fuzzy_threshold", linker.fuzzy_threshold))
        dense = config.get("dense")
        if dense is not None:
            if not isinstance(dense, Mapping):
                raise InputError(f"{config_path}: 'dense' should be an object (encoder, threshold, ...)")
            encoder = os.path.join(folder, str(config_value(dense, "encoder", str, config_path)))
            if not os.path.isdir(encoder):
                raise InputError(f"{encoder}: not found: {config_path} names a dense encoder folder")
            linker.dense = DenseRanker.load(encoder, int(config_value(dense, "max_length", int, config_path)))
            linker.dense_threshold = _threshold_value(dense.get("threshold"), config_path)
            linker.end2end_dense_threshold = _threshold_value(dense.get("end2end_threshold"), config_path)
            linker.dense_candidates = int(config_value(dense, "candidates", int, config_path))
        return linker


def _threshold_value(value: Any, path: str = "") -> float | dict[str, float]:
    """A dense threshold as stored: a float, or a dict of entity type -> float (`InputError` for anything else)."""
    if isinstance(value, Mapping) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()):
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise InputError(f"{path}: a dense threshold is a number or an object of numbers per entity type, not {value!r}")


def _check_name_counts(config: Mapping[str, Any], config_path: str, names_path: str, found: Mapping[str, int]) -> None:
    """`InputError` when the names file holds fewer (or more) names of a type than the config counted when both
    were saved: a names file cut at a line break, or one from another linker."""
    counted = config.get("names")
    if not isinstance(counted, Mapping):
        return  # a hand-written config: nothing to compare with
    for entity_type, count in counted.items():
        if found.get(entity_type, 0) != count:
            raise InputError(f"{names_path}: {found.get(entity_type, 0):,} {entity_type} names where {config_path} "
                             f"counts {count:,}: the file is incomplete or from another linker")


def defined_short_forms(text: str, mentions: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Short form -> index of the mention it abbreviates, for "<mention> (<short form>)" in `text` (the short
    form: 1-10 characters before any ";" or ","; first definition wins)."""
    defined: dict[str, int] = {}
    for j, m in sorted(enumerate(mentions), key=lambda item: item[1]["start"]):
        position = m["end"]
        while position < len(text) and text[position] == " ":
            position += 1
        if position >= len(text) or text[position] != "(":
            continue
        close = text.find(")", position, position + 40)
        if close < 0:
            continue
        short = re.split(r"[;,]\s", text[position + 1 : close])[0].strip()
        if 1 <= len(short) <= 10 and any(ch.isalpha() for ch in short) and short != text[m["start"] : m["end"]]:
            defined.setdefault(short, j)
    return defined


def document_abbreviations(text: str) -> dict[str, str]:
    """Short form -> long form text, for the abbreviations defined in `text`."""
    return {short: text[start:end] for short, (start, end) in find_abbreviations(text).items()}


def group_linked_mentions(mentions: Sequence[Mapping[str, Any]], links: Sequence[LinkResult]) -> list[dict[str, Any]]:
    """End-to-end entities from linked mentions: one entity per (type, id), a composite mention in each of its
    ids' entities; NIL mentions of one type with the same normalised text form one `nil_entity_id` entity.
    Entities in order of first mention."""
    entities: dict[tuple[str, str], dict[str, Any]] = {}
    for index, (mention, link) in enumerate(zip(mentions, links)):
        ids = link.ids or (nil_entity_id(mention["type"], mention["text"]),)
        for concept in ids:
            entity = entities.setdefault((mention["type"], concept), {"id": concept, "type": mention["type"], "mention_indices": []})
            entity["mention_indices"].append(index)
    return sorted(entities.values(), key=lambda e: (e["mention_indices"][0], e["id"]))

