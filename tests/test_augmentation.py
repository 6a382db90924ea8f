"""Data augmentation (biomed_nerre/training/augmentation.py) on real BC5CDR documents and vocabulary rows: the
augmented text, offsets, ids and relations agree; composite mentions stay as they are; names never come from
the test split; train.py's options; and a tiny training run with augmented copies."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from biomed_nerre.training.arguments import TrainingArguments, build_parser, parse_args
from biomed_nerre.training.augmentation import (
    AugmentationSettings,
    NamePool,
    augment_document,
    augmented_copies,
    name_pool_for_run,
    replaceable_ids,
    sentence_spans,
)
from loaders import load_corpus

REPO = Path(__file__).resolve().parents[1]
BC5CDR = REPO.parent / "shared" / "data" / "bc5cdr"


@pytest.fixture(scope="module")
def corpus(cache):
    """The real BC5CDR `documents` view, all splits, as plain rows."""
    view = load_corpus("bc5cdr", "documents", data_dir=str(BC5CDR), cache_dir=str(cache))
    return {split: [dict(row) for row in view[split]] for split in view}


@pytest.fixture(scope="module")
def train_docs(corpus):
    return corpus["train"][:40]


@pytest.fixture(scope="module")
def pool(train_docs, vocabulary_sample):
    return name_pool_for_run(train_docs, ["Chemical", "Disease"], str(vocabulary_sample))


def check_consistent(document: dict) -> None:
    """The invariants of a `documents` row that training relies on."""
    text = document["text"]
    assert text == document["title"] + " " + document["abstract"]
    for m in document["mentions"]:
        assert text[m["start"]:m["end"]] == m["text"], (document["pmid"], m)
    assert [(m["start"], m["end"]) for m in document["mentions"]] == sorted((m["start"], m["end"]) for m in document["mentions"])
    ids = defaultdict(set)
    for entity in document["entities"]:
        for i in entity["mention_indices"]:
            mention = document["mentions"][i]
            assert mention["type"] == entity["type"]
            if not entity["id"].startswith("NIL:"):
                assert entity["id"] in mention["ids"], (document["pmid"], entity, mention)
        ids[entity["id"]].add(entity["type"])
    for relation in document["relations"]:
        assert "Chemical" in ids[relation["head"]] and "Disease" in ids[relation["tail"]], relation


def test_replaced_mentions_keep_offsets_ids_and_relations_consistent(train_docs, pool):
    settings = AugmentationSettings(copies=2, mention_replacement=1.0, seed=7)
    replaced_concepts = 0
    for copy in (1, 2):
        for original in train_docs:
            augmented = augment_document(original, pool, settings, copy)
            assert augmented["pmid"] == f"{original['pmid']}#aug{copy}"
            check_consistent(augmented)
            # replacement keeps the order of mentions and entities: pair them up
            assert len(augmented["mentions"]) == len(original["mentions"])
            new_id = {}
            for old, new in zip(original["entities"], augmented["entities"]):
                assert old["type"] == new["type"] and old["mention_indices"] == new["mention_indices"]
                new_id[old["id"]] = new["id"]
            renamed = {old for old, new in new_id.items() if old != new}
            assert renamed <= set(replaceable_ids(original))
            replaced_concepts += len(renamed)
            # every mention of a replaced concept carries the one new name and the new id
            names = defaultdict(set)
            for old_m, new_m in zip(original["mentions"], augmented["mentions"]):
                if len(old_m["ids"]) == 1 and old_m["ids"][0] in renamed:
                    assert new_m["ids"] == [new_id[old_m["ids"][0]]]
                    names[old_m["ids"][0]].add(new_m["text"][:1].lower() + new_m["text"][1:])
                else:
                    assert (new_m["text"], new_m["ids"]) == (old_m["text"], old_m["ids"])
            assert all(len(n) == 1 for n in names.values()), names
            # the replaced concept keeps its relations under its new id, and nothing else changes
            assert augmented["relations"] == [
                {**r, "head": new_id[r["head"]], "tail": new_id[r["tail"]]} for r in original["relations"]]
            # a new id is never one the document already had
            assert not {new_id[i] for i in renamed} & set(new_id)
    assert replaced_concepts > 100  # at probability 1 most concepts of 40 abstracts are replaceable


def test_synonym_swap_renames_a_concept_but_keeps_its_id_and_relations(train_docs, pool):
    settings = AugmentationSettings(copies=1, synonym_swap=1.0, seed=5)
    swapped_concepts = 0
    for original in train_docs:
        augmented = augment_document(original, pool, settings, 1)
        check_consistent(augmented)
        # ids, entities and relations are the original's; only names (and so offsets) change
        assert [m["ids"] for m in augmented["mentions"]] == [m["ids"] for m in original["mentions"]]
        assert augmented["entities"] == original["entities"] and augmented["relations"] == original["relations"]
        new_names = defaultdict(set)
        for old_m, new_m in zip(original["mentions"], augmented["mentions"]):
            if new_m["text"] != old_m["text"]:
                assert len(old_m["ids"]) == 1 and old_m["ids"][0] in replaceable_ids(original)
                new_names[old_m["ids"][0]].add(new_m["text"][:1].lower() + new_m["text"][1:])
        for concept_id, names in new_names.items():
            assert len(names) == 1, names  # every mention of a concept takes the one new name
            entity_type = next(e["type"] for e in original["entities"] if e["id"] == concept_id)
            known = {n.casefold() for table in (pool.corpus, pool.vocabulary)
                     for n in table.get(entity_type, {}).get(concept_id, ())}
            name = names.pop()
            assert name.casefold() in known  # a name of the same concept
            old_names = {m["text"].casefold() for m in original["mentions"] if m["ids"] == [concept_id]}
            assert name.casefold() not in old_names  # and never one the document already uses for it
        swapped_concepts += len(new_names)
    assert swapped_concepts > 50  # most concepts of the first 20 abstracts have a vocabulary synonym


def test_synonym_swap_leaves_a_concept_without_another_name_as_it_is(train_docs):
    def name_count(document: dict, concept_id: str) -> int:
        return len({m["text"].casefold() for m in document["mentions"] if m["ids"] == [concept_id]})

    # a document naming one concept two ways (as "Suxamethonium chloride" and "Sch"): its other name is no new name
    document = next(d for d in train_docs if any(name_count(d, i) > 1 for i in replaceable_ids(d)))
    pool = NamePool.from_sources([document])  # the document's own names only: no concept has another
    augmented = augment_document(document, pool, AugmentationSettings(copies=1, synonym_swap=1.0), 1)
    assert augmented["text"] == document["text"] and augmented["mentions"] == document["mentions"]
    assert augmented["relations"] == document["relations"]


def test_composite_mentions_and_their_concepts_are_left_as_they_are(corpus, pool):
    document = next(d for d in corpus["train"] if d["pmid"] == "2234245")  # "Ocular and auditory toxicity"
    composite_ids = {i for m in document["mentions"] if len(m["ids"]) > 1 for i in m["ids"]}
    assert composite_ids == {"D014786", "D006311"}
    assert not composite_ids & set(replaceable_ids(document))
    augmented = augment_document(document, pool, AugmentationSettings(copies=1, mention_replacement=1.0), 1)
    check_consistent(augmented)
    kept = [(m["text"], m["ids"]) for m in augmented["mentions"] if set(m["ids"]) & composite_ids]
    assert kept == [(m["text"], m["ids"]) for m in document["mentions"] if set(m["ids"]) & composite_ids]
    assert "Ocular and auditory toxicity" in augmented["text"]
    assert augmented["text"] != document["text"]  # desferrioxamine and the other concepts were replaced


def test_sentence_shuffle_moves_mentions_with_their_sentences(train_docs):
    settings = AugmentationSettings(copies=1, sentence_shuffle=True, seed=3)
    moved = 0
    for original in train_docs:
        augmented = augment_document(original, None, settings, 1)
        check_consistent(augmented)
        assert augmented["title"] == original["title"]
        assert sorted(augmented["abstract"].split()) == sorted(original["abstract"].split())
        moved += augmented["abstract"] != original["abstract"]
        # the same mentions, each with the same entity; the relations unchanged
        assert sorted((m["text"], m["type"], tuple(m["ids"])) for m in augmented["mentions"]) == \
            sorted((m["text"], m["type"], tuple(m["ids"])) for m in original["mentions"])

        def by_entity(document):
            return {(e["id"], e["type"]): sorted(document["mentions"][i]["text"] for i in e["mention_indices"])
                    for e in document["entities"]}

        assert by_entity(augmented) == by_entity(original)
        assert augmented["relations"] == original["relations"]
    assert moved >= 30


def test_a_sentence_boundary_is_never_inside_a_mention():
    abstract = "Rats got drug A. B. Then they slept. Doses rose."
    mention = {"start": 10 + abstract.index("A. B"), "end": 10 + abstract.index("A. B") + 4}
    spans = sentence_spans(abstract, [mention], offset=10)
    assert [abstract[s:e] for s, e in spans] == ["Rats got drug A. B.", "Then they slept.", "Doses rose."]
    assert [abstract[s:e] for s, e in sentence_spans(abstract, [], offset=10)][:2] == ["Rats got drug A.", "B."]


def test_the_test_split_is_never_a_source_of_names(corpus, vocabulary_sample, cache):
    """The training run's pool (train.py's own path, `add_augmented_copies`) holds names of its training
    documents and the vocabularies only: no test abstract feeds it, and no name that only the test split has
    reaches an augmented copy."""
    from biomed_nerre.training.loop import add_augmented_copies

    args = TrainingArguments(dataset="bc5cdr", data_dir=str(BC5CDR), cache_dir=str(cache), limit_train_docs=30,
                             augment_copies=3, augment_mention_replacement=0.5, augment_synonym_swap=1.0,
                             linker_vocab_dir=str(vocabulary_sample))
    view = load_corpus("bc5cdr", "documents", data_dir=str(BC5CDR), cache_dir=str(cache))
    train = view["train"].select(range(30))
    augmented = add_augmented_copies(args, train)
    assert len(augmented) == 4 * 30
    copies = [dict(row) for row in augmented.select(range(30, 120))]
    for document in copies:
        check_consistent(document)

    pool = name_pool_for_run([dict(r) for r in train], ["Chemical", "Disease"], str(vocabulary_sample))
    test_pmids = {d["pmid"] for d in corpus["test"]}
    assert pool.source_pmids == {d["pmid"] for d in corpus["train"][:30]} and not pool.source_pmids & test_pmids
    allowed = pool.names()
    originals = {m["text"] for d in corpus["train"][:30] for m in d["mentions"]}
    new_names = {m["text"] for d in copies for m in d["mentions"]} - originals
    assert new_names  # names were replaced
    assert all(n in allowed or n[:1].lower() + n[1:] in allowed or n[:1].upper() + n[1:] in allowed for n in new_names)
    seen_elsewhere = {m["text"].lower() for split in ("train", "validation") for d in corpus[split] for m in d["mentions"]}
    test_only = {m["text"].lower() for d in corpus["test"] for m in d["mentions"]} - seen_elsewhere - {n.lower() for n in allowed}
    assert len(test_only) > 500
    assert not {n.lower() for n in new_names} & test_only
    # and the pool of the whole training split never names a test-only name either
    whole = NamePool.from_sources(corpus["train"] + corpus["validation"])
    assert not {n.lower() for n in whole.names()} & test_only


def test_copies_are_the_same_whatever_the_document_order(train_docs, pool):
    settings = AugmentationSettings(copies=1, mention_replacement=0.5, sentence_shuffle=True, seed=11)
    forward = augmented_copies(train_docs[:10], pool, settings)
    backward = augmented_copies(train_docs[:10][::-1], pool, settings)[::-1]
    assert forward == backward
    assert augmented_copies(train_docs[:10], pool, AugmentationSettings(1, 0.5, True, seed=12)) != forward


def test_augmentation_options_are_off_by_default_and_checked(capsys):
    args = parse_args([])
    assert args.augment_copies == 0 and args.augment_sentence_shuffle is False and args.augment_synonym_swap == 0
    help_text = build_parser().format_help()
    for flag in ("--augment-copies", "--augment-mention-replacement", "--augment-sentence-shuffle",
                 "--augment-synonym-swap"):
        assert flag in help_text
    with pytest.raises(ValueError, match="nothing changes"):
        parse_args(["--augment-copies", "1", "--augment-mention-replacement", "0"])
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_args(["--augment-copies", "1", "--augment-mention-replacement", "1.5"])
    with pytest.raises(ValueError, match="augment_synonym_swap must be between 0 and 1"):
        parse_args(["--augment-copies", "1", "--augment-synonym-swap", "-0.1"])
    args = parse_args(["--augment-copies", "1", "--augment-mention-replacement", "0", "--augment-synonym-swap", "1"])
    assert args.augment_synonym_swap == 1.0
    args = parse_args(["--augment-copies", "1", "--augment-sentence-shuffle", "true"])
    assert args.augment_copies == 1 and args.augment_sentence_shuffle


@pytest.mark.slow
def test_training_with_augmented_copies_takes_a_step_per_copy(encoder, cache, tmp_path):
    from biomed_nerre.training.main import main as train_main

    out = tmp_path / "model"
    metrics = train_main([
        "--dataset", "bc5cdr", "--data-dir", str(BC5CDR), "--cache-dir", str(cache), "--encoder", str(encoder),
        "--max-length", "64", "--stride", "16", "--re-block-size", "8", "--limit-train-docs", "3",
        "--limit-eval-docs", "2", "--per-device-batch-size", "1", "--num-epochs", "1", "--mixed-precision", "no",
        "--early-stopping-patience", "0", "--linker", "false", "--linker-vocabularies", "false",
        "--evaluate-test", "false", "--calibrate-re-threshold", "false", "--output-dir", str(out),
        "--augment-copies", "1", "--augment-mention-replacement", "1.0", "--augment-sentence-shuffle", "true",
    ])
    assert metrics["training"]["global_step"] == 6  # 3 documents and their 3 copies, batch 1
    saved = json.loads((out / "training_args.json").read_text())
    assert saved["augment_copies"] == 1 and saved["augment_sentence_shuffle"] is True
