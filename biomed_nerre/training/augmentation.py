"""Data augmentation for training: augmented copies of the training documents, added to the training set.

Three augmentations, all off unless train.py's ``--augment-copies`` is above 0:

- **Mention replacement** (``--augment-mention-replacement P``; Dai and Adel, COLING 2020, "An analysis of simple
  data augmentation for named entity recognition", tested there on i2b2 and MaSciP; for the relations, every
  mention of a concept is replaced together): each replaceable concept of a document is, with probability P,
  replaced by another concept of the same type, and every mention of it gets the same new name. The new concept
  keeps the old one's relations under its new id. Names come from a `NamePool`: with equal chance the names
  the *training documents of the run* annotate (train, plus validation from ``--train-on-validation-from``) or the
  vocabularies' names (MeSH descriptors and supplementary concepts, CTD MEDIC, HGNC, read by
  `biomed_nerre.linking`). The test split is never read.
- **Synonym swap** (``--augment-synonym-swap P``; the synonym replacement of Dai and Adel at the level of a
  concept's name): each replaceable concept left by mention replacement is, with probability P, given another
  name *of the same concept* from the pool (the training documents' names for its id and its vocabulary
  synonyms, never one of its names in the document), every mention the same new name; ids and relations stay.
- **Sentence shuffle** (``--augment-sentence-shuffle``; the document-level counterpart of the sentence-order
  augmentations for relation extraction): the abstract's sentences in a random order, the title first. A
  document-level relation holds whatever the order, so the model cannot learn it from position alone.

What is never replaced, so that a document stays consistent: a concept with no id (`NIL:`), a concept named by
a composite mention (several ids: "ocular and auditory toxicity"), a concept any of whose mentions overlaps
another mention, and an id that names entities of two types in the document. A sentence boundary is never
placed inside a mention.

Each copy is drawn from a generator seeded by (seed, copy, pmid): the same run gives the same copies, whatever
the document order. Copies take the pmid ``<pmid>#aug<k>``.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from modeling.linking_joint_ner_re import NameRow
from modeling.outputs_joint_ner_re import document_text, is_nil_id

# the chance a replacement name comes from the training documents rather than the vocabularies (when both have
# names of the type): the corpus's names are the kind of names abstracts use, the vocabularies' the unseen ones
CORPUS_NAME_SHARE = 0.5
# vocabulary names left out of the pool: MeSH's inverted entry terms ("Hypertension, Malignant") are not how a
# text names a concept, and very long systematic names would crowd the encoder's window
MAX_NAME_LENGTH = 60
INVERTED_NAME = re.compile(r", ")
# a sentence ends at . ! or ? followed by white space and a capital, a digit or an opening bracket
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


@dataclass(frozen=True)
class AugmentationSettings:
    """What augmented copies to add: `copies` per training document, each with mention replacement at
    probability `mention_replacement` (0: none), synonym swap at probability `synonym_swap` (0: none) and/or
    `sentence_shuffle`."""

    copies: int = 0
    mention_replacement: float = 0.0
    sentence_shuffle: bool = False
    seed: int = 42
    synonym_swap: float = 0.0


@dataclass
class NamePool:
    """Replacement names per entity type: `corpus[type]` and `vocabulary[type]` map a concept id (the corpus's
    form: `D009270`, gene `154`) to its names; `source_pmids` are the documents the corpus names came from."""

    corpus: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    vocabulary: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    source_pmids: set[str] = field(default_factory=set)
    _ids: dict[str, dict[int, list[str]]] = field(default_factory=dict, repr=False)  # type -> source -> concept ids

    @classmethod
    def from_sources(cls, documents: Iterable[Mapping[str, Any]], vocabulary_rows: Iterable[NameRow] = ()) -> "NamePool":
        """The pool of the given (training) documents' gold names and the vocabularies' `NameRow`s."""
        pool = cls()
        initial: dict[tuple[str, str], list[str]] = defaultdict(list)  # names seen only at a sentence start
        for document in documents:
            pool.source_pmids.add(str(document["pmid"]))
            for mention in document["mentions"]:
                ids = list(mention["ids"])
                if len(ids) == 1 and not is_nil_id(ids[0]) and ids[0] not in ("-1", "-", ""):
                    if _starts_sentence(document["text"], mention["start"]):
                        initial[mention["type"], ids[0]].append(mention["text"])
                    else:
                        _add(pool.corpus, mention["type"], ids[0], mention["text"])
        for (entity_type, concept_id), names in initial.items():
            # "Naloxone" opening a sentence is "naloxone" elsewhere: keep a sentence-start form only for a concept
            # the documents name nowhere else (`_cased_like` gives each new mention the capital it needs)
            if concept_id not in pool.corpus.get(entity_type, {}):
                for name in names:
                    _add(pool.corpus, entity_type, concept_id, name)
        for row in vocabulary_rows:
            if len(row.ids) == 1 and len(row.name) <= MAX_NAME_LENGTH and not INVERTED_NAME.search(row.name):
                _add(pool.vocabulary, row.entity_type, corpus_id(row.ids[0]), row.name)
        for table in (pool.corpus, pool.vocabulary):  # sorted: the draws do not depend on reading order
            for entity_type, concepts in table.items():
                table[entity_type] = {i: sorted(set(names)) for i, names in sorted(concepts.items())}
        pool._ids = {t: {s: list(c) for s, c in ((0, pool.corpus.get(t, {})), (1, pool.vocabulary.get(t, {})))}
                     for t in set(pool.corpus) | set(pool.vocabulary)}
        return pool

    def names(self) -> set[str]:
        """Every name the pool can give (for the tests of where names come from)."""
        return {n for table in (self.corpus, self.vocabulary) for c in table.values() for ns in c.values() for n in ns}

    def draw(self, entity_type: str, rng: random.Random, exclude: set[str]) -> tuple[str, str] | None:
        """A (concept id, name) of `entity_type` whose id is not in `exclude`, or None when the pool has none."""
        by_source = self._ids.get(entity_type)
        if not by_source:
            return None
        sources = [s for s in (0, 1) if by_source[s]]
        for _ in range(20):  # a few tries: an excluded id is rare among thousands
            source = sources[0] if len(sources) == 1 else (0 if rng.random() < CORPUS_NAME_SHARE else 1)
            concept_id = rng.choice(by_source[source])
            if concept_id in exclude:
                continue
            table = self.corpus if source == 0 else self.vocabulary
            return concept_id, rng.choice(table[entity_type][concept_id])
        return None

    def synonym(self, entity_type: str, concept_id: str, rng: random.Random, avoid: set[str]) -> str | None:
        """Another name of concept `concept_id` (the training documents' and the vocabularies' names for it), none
        of whose case-folded forms is in `avoid`; None when the pool has no other name for it."""
        names = {n.casefold(): n for table in (self.vocabulary, self.corpus)  # a corpus spelling wins a tie
                 for n in table.get(entity_type, {}).get(concept_id, ())}
        candidates = sorted(name for folded, name in names.items() if folded not in avoid)
        return rng.choice(candidates) if candidates else None


def _add(table: dict[str, dict[str, list[str]]], entity_type: str, concept_id: str, name: str) -> None:
    name = name.strip()
    if name and "\t" not in name and "\n" not in name and "|" not in name:
        table.setdefault(entity_type, defaultdict(list))[concept_id].append(name)


def _starts_sentence(text: str, start: int) -> bool:
    """Whether offset `start` of `text` opens the text or a sentence (after ". ", "! " or "? ")."""
    before = text[:start].rstrip()
    return not before or before[-1] in ".!?"


def corpus_id(curie: str) -> str:
    """A CURIE as the corpora write ids: `MESH:D009270` -> `D009270`, `NCBIGene:154` -> `154`."""
    prefix, sep, local = curie.partition(":")
    return local if sep and prefix in ("MESH", "NCBIGene") else curie


# ---- one document --------------------------------------------------------------------------------------------


def replaceable_ids(document: Mapping[str, Any]) -> list[str]:
    """Ids of the concepts mention replacement may change (see the module docstring for what it leaves)."""
    mentions = document["mentions"]
    types_of: dict[str, set[str]] = defaultdict(set)
    for entity in document["entities"]:
        types_of[entity["id"]].add(entity["type"])
    composite_ids = {i for m in mentions if len(m["ids"]) > 1 for i in m["ids"]}
    overlapping = _overlapping(mentions)
    result = []
    for entity in document["entities"]:
        entity_id = entity["id"]
        if is_nil_id(entity_id) or entity_id in composite_ids or len(types_of[entity_id]) > 1:
            continue
        indices = entity["mention_indices"]
        if any(i in overlapping or list(mentions[i]["ids"]) != [entity_id] for i in indices):
            continue
        result.append(entity_id)
    return result


def _overlapping(mentions: Sequence[Mapping[str, Any]]) -> set[int]:
    """Indices of the mentions that overlap another mention."""
    order = sorted(range(len(mentions)), key=lambda i: (mentions[i]["start"], mentions[i]["end"]))
    result: set[int] = set()
    reach, reach_index = -1, -1
    for i in order:
        if mentions[i]["start"] < reach:
            result.update((i, reach_index))
        if mentions[i]["end"] > reach:
            reach, reach_index = mentions[i]["end"], i
    return result


def _cased_like(name: str, original: str) -> str:
    """`name` with a capital first letter when the mention it replaces starts a sentence-style capital ("Naloxone")."""
    if original[:1].isupper() and name[:1].islower() and not original.isupper():
        return name[0].upper() + name[1:]
    return name


def replace_mentions(document: Mapping[str, Any], pool: NamePool, probability: float, rng: random.Random,
                     synonym_swap: float = 0.0) -> dict[str, Any]:
    """A copy of `document` where each replaceable concept is, with `probability`, another concept of its type
    from `pool`, or else, with `synonym_swap`, the same concept under another of its names: all its mentions get
    one new name (cased like each mention's first letter), the text, every offset, the mentions' and entities'
    ids and the relations follow."""
    present = {e["id"] for e in document["entities"]}
    new_ids: dict[str, str] = {}
    new_names: dict[str, str] = {}
    type_of = {e["id"]: e["type"] for e in document["entities"]}
    for entity_id in replaceable_ids(document):
        if rng.random() < probability:
            drawn = pool.draw(type_of[entity_id], rng, exclude=present | set(new_ids.values()))
            if drawn is not None:
                new_ids[entity_id], new_names[entity_id] = drawn
        elif synonym_swap > 0 and rng.random() < synonym_swap:
            avoid = {m["text"].casefold() for m in document["mentions"] if list(m["ids"]) == [entity_id]}
            name = pool.synonym(type_of[entity_id], entity_id, rng, avoid)
            if name is not None:
                new_ids[entity_id], new_names[entity_id] = entity_id, name
    if not new_names:
        return _copy(document)
    return _renamed(document, new_ids, new_names)


def _renamed(document: Mapping[str, Any], new_ids: Mapping[str, str], new_names: Mapping[str, str]
             ) -> dict[str, Any]:
    """A copy of `document` where every mention of each concept in `new_names` (all single-id mentions) reads the
    concept's new name and carries its new id; the text, offsets, entities and relations follow."""
    mentions = document["mentions"]
    edits = sorted(
        (m["start"], m["end"], _cased_like(new_names[m["ids"][0]], m["text"]))
        for m in mentions if len(m["ids"]) == 1 and m["ids"][0] in new_names
    )
    text, shift = _apply_edits(document["text"], edits)
    replaced = {(s, e): new for s, e, new in edits}
    new_mentions = []
    for m in mentions:
        if (m["start"], m["end"]) in replaced and len(m["ids"]) == 1 and m["ids"][0] in new_names:
            start = shift(m["start"])
            name = replaced[m["start"], m["end"]]
            new_mentions.append({**m, "start": start, "end": start + len(name), "text": name,
                                 "ids": [new_ids[m["ids"][0]]]})
        else:
            new_mentions.append({**m, "start": shift(m["start"]), "end": shift(m["end"])})
    title_end = shift(len(document["title"]))
    return {
        **document,
        "title": text[:title_end],
        "abstract": text[title_end + 1:],
        "text": text,
        "mentions": new_mentions,
        "entities": [{**e, "id": new_ids.get(e["id"], e["id"]), "mention_indices": list(e["mention_indices"])}
                     for e in document["entities"]],
        "relations": [{**r, "head": new_ids.get(r["head"], r["head"]), "tail": new_ids.get(r["tail"], r["tail"])}
                      for r in document["relations"]],
    }


def _apply_edits(text: str, edits: Sequence[tuple[int, int, str]]):
    """`text` with each (start, end, new) span replaced (sorted, not overlapping), and the map from an old
    offset outside the edited spans (or at their start) to the new one."""
    pieces, cursor = [], 0
    starts, deltas, total = [], [], 0
    for start, end, new in edits:
        pieces += [text[cursor:start], new]
        cursor = end
        total += len(new) - (end - start)
        starts.append(end)
        deltas.append(total)
    pieces.append(text[cursor:])

    def shift(offset: int) -> int:
        moved = 0
        for edit_end, delta in zip(starts, deltas):  # the edits that end at or before `offset` move it
            if edit_end <= offset:
                moved = delta
            else:
                break
        return offset + moved

    return "".join(pieces), shift


def sentence_spans(abstract: str, mentions: Sequence[Mapping[str, Any]], offset: int) -> list[tuple[int, int]]:
    """[start, end) of each sentence of `abstract` (offsets into it); a boundary inside a mention (`mentions`
    offsets are into the document text, where the abstract starts at `offset`) is not a boundary."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(abstract):
        cut = match.start()
        inside = any(m["start"] < offset + match.end() and m["end"] > offset + cut for m in mentions)
        if not inside:
            spans.append((start, cut))
            start = match.end()
    spans.append((start, len(abstract)))
    return [(s, e) for s, e in spans if e > s]


def shuffle_sentences(document: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of `document` with the abstract's sentences in a random order (joined by one space), each mention
    moved with its sentence; mentions re-sorted by offset and the entities' mention indices renumbered."""
    title, abstract = document["title"], document["abstract"]
    offset = len(title) + 1
    spans = sentence_spans(abstract, document["mentions"], offset)
    if len(spans) < 2:
        return _copy(document)
    order = list(range(len(spans)))
    rng.shuffle(order)
    new_start, pieces, cursor = {}, [], offset
    for k in order:
        s, e = spans[k]
        new_start[k] = cursor
        pieces.append(abstract[s:e])
        cursor += e - s + 1
    new_abstract = " ".join(pieces)
    text = document_text(title, new_abstract)

    def moved(position: int) -> int:
        if position < offset:
            return position
        local = position - offset
        k = next(i for i, (s, e) in enumerate(spans) if s <= local < e)
        return new_start[k] + local - spans[k][0]

    placed = []
    for index, m in enumerate(document["mentions"]):
        start = moved(m["start"])
        placed.append((start, start + m["end"] - m["start"], index, {**m, "start": start, "end": start + m["end"] - m["start"]}))
    placed.sort(key=lambda p: (p[0], p[1], p[2]))
    renumber = {old: new for new, (_, _, old, _) in enumerate(placed)}
    entities = [{**e, "mention_indices": sorted(renumber[i] for i in e["mention_indices"])} for e in document["entities"]]
    entities.sort(key=lambda e: e["mention_indices"][0] if e["mention_indices"] else 0)
    return {**document, "abstract": new_abstract, "text": text, "mentions": [p[3] for p in placed],
            "entities": entities, "relations": [dict(r) for r in document["relations"]]}


def _copy(document: Mapping[str, Any]) -> dict[str, Any]:
    return {**document, "mentions": [dict(m) for m in document["mentions"]],
            "entities": [dict(e) for e in document["entities"]], "relations": [dict(r) for r in document["relations"]]}


def augment_document(document: Mapping[str, Any], pool: NamePool | None, settings: AugmentationSettings, copy: int
                     ) -> dict[str, Any]:
    """Copy number `copy` (from 1) of `document`: mention replacement and synonym swap, then sentence shuffle, as
    `settings` say."""
    rng = random.Random(f"{settings.seed}:{copy}:{document['pmid']}")
    augmented = _copy(document)
    if settings.mention_replacement > 0 or settings.synonym_swap > 0:
        augmented = replace_mentions(augmented, pool, settings.mention_replacement, rng, settings.synonym_swap)
    if settings.sentence_shuffle:
        augmented = shuffle_sentences(augmented, rng)
    augmented["pmid"] = f"{document['pmid']}#aug{copy}"
    return augmented


def augmented_copies(documents: Sequence[Mapping[str, Any]], pool: NamePool | None, settings: AugmentationSettings
                     ) -> list[dict[str, Any]]:
    """`settings.copies` augmented copies of each document, copy by copy."""
    return [augment_document(d, pool, settings, copy) for copy in range(1, settings.copies + 1) for d in documents]


def name_pool_for_run(train_documents: Iterable[Mapping[str, Any]], entity_types: Sequence[str],
                      vocab_dir: str | None, use_vocabularies: bool = True) -> NamePool:
    """The pool of a training run: the gold names of its training documents (the caller passes the documents it
    trains on, never the test split) and, with `use_vocabularies`, the vocabularies in `vocab_dir` (else the
    official releases, downloaded once)."""
    rows: list[NameRow] = []
    if use_vocabularies:
        from biomed_nerre.linking.build import vocabulary_names

        rows, _ = vocabulary_names(entity_types, vocab_dir)
    return NamePool.from_sources(train_documents, rows)
