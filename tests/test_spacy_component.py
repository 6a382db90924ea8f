"""The spaCy component (factory `biomed_nerre`) on BC5CDR test abstracts with a tiny model that predicts mentions,
concept ids and relations: a blank English pipeline gives what `extract` gives, `nlp.pipe` equals one Doc at a
time, existing entities are respected as spaCy's EntityRuler does, and `nlp.to_disk` / `spacy.load` round trip
(also in a fresh process that finds the factory through the entry point alone)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from biomed_nerre.spacy_component import FACTORY, MODEL_FOLDER
from modeling.outputs_joint_ner_re import InputError
from tests.predict_model import write_linked_tiny_model
from tests.test_pipeline import first_abstracts

ROOT = Path(__file__).resolve().parents[1]
ABSTRACTS = first_abstracts(20)
TEXTS = [a["title"] + " " + a["abstract"] for a in ABSTRACTS]


@pytest.fixture(scope="module")
def model_dir(encoder, tmp_path_factory) -> Path:
    return write_linked_tiny_model(encoder, tmp_path_factory.mktemp("spacy") / "model")


@pytest.fixture(scope="module")
def nlp(model_dir):
    pipeline = spacy.blank("en")
    pipeline.add_pipe(FACTORY, config={"model": str(model_dir)})
    return pipeline


@pytest.fixture(scope="module")
def expected(nlp) -> list[dict]:
    """What `extract` returns for the texts, with the component's own model, in one call as `nlp.pipe` makes it."""
    model, tokenizer = nlp.get_pipe(FACTORY).model_and_tokenizer
    return model.extract(TEXTS, tokenizer, batch_size=8)


def result_of(doc) -> dict:
    """The Doc's annotations back as the result contract's mentions and relations, with each mention's entity ids."""
    spans = [{**s._.mention, "entity_ids": s._.entity_ids} for s in doc.spans[FACTORY]]
    mentions = sorted(spans + list(doc._.unaligned_mentions), key=lambda m: (m["start"], m["end"]))
    return {"mentions": mentions, "relations": doc._.relations}


def with_entity_ids(result: dict) -> list[dict]:
    ids = [[] for _ in result["mentions"]]
    for entity in result["entities"]:
        for i in entity["mention_indices"]:
            ids[i].append(entity["id"])
    return [{**m, "entity_ids": e} for m, e in zip(result["mentions"], ids)]


def test_a_blank_pipeline_gives_what_extract_gives(nlp, expected):
    docs = list(nlp.pipe(TEXTS))
    expanded = unaligned = relations = 0
    for doc, result in zip(docs, expected, strict=True):
        assert result_of(doc) == {"mentions": with_entity_ids(result), "relations": result["relations"]}
        for span in doc.spans[FACTORY]:
            mention = span._.mention
            covering = doc.char_span(mention["start"], mention["end"], alignment_mode="expand")
            assert (span.start, span.end) == (covering.start, covering.end)
            assert span.label_ == mention["type"] and span.kb_id_ == (mention["ids"] or [""])[0]
            assert span._.concept_ids == mention["ids"] and span._.link_score == mention["link_score"]
            expanded += (span.start_char, span.end_char) != (mention["start"], mention["end"])
        unaligned += len(doc._.unaligned_mentions)
        # doc.ents: the mention spans, but none sharing a token with an earlier one
        spans = {(s.start, s.end): s for s in doc.spans[FACTORY]}
        assert doc.ents and all((e.start, e.end) in spans and e._.mention == spans[e.start, e.end]._.mention
                                for e in doc.ents)
        covered = [t for e in doc.ents for t in range(e.start, e.end)]
        assert all(any(t in covered for t in range(s.start, s.end)) for s in doc.spans[FACTORY])
        relations += len(doc._.relations)
    # the sample has what the test is about: mentions inside spaCy tokens ("OR" of "OR=7.18"), and relations
    assert expanded > 0 and relations > 0
    assert unaligned == 1  # "18" inside "OR=7.18", whose span "OR" took already


def test_relations_name_the_entity_ids_of_spans(nlp):
    doc = nlp(TEXTS[0])
    assert doc._.relations
    for relation in doc._.relations:
        heads = [s for s in doc.spans[FACTORY] if relation["head"] in s._.entity_ids]
        tails = [s for s in doc.spans[FACTORY] if relation["tail"] in s._.entity_ids]
        assert heads and tails and 0.0 <= relation["score"] <= 1.0


def test_strict_alignment_lists_the_mentions_off_token_edges(model_dir, expected):
    nlp = spacy.blank("en")
    nlp.add_pipe(FACTORY, config={"model": str(model_dir), "alignment_mode": "strict"})
    off_edges = 0
    for doc, result in zip(nlp.pipe(TEXTS), expected, strict=True):
        assert result_of(doc)["mentions"] == with_entity_ids(result)
        for span in doc.spans[FACTORY]:
            assert (span.start_char, span.end_char) == (span._.mention["start"], span._.mention["end"])
        missing = [m for m in result["mentions"] if doc.char_span(m["start"], m["end"]) is None]
        assert [{k: v for k, v in m.items() if k != "entity_ids"} for m in doc._.unaligned_mentions] == missing
        off_edges += len(missing)
    assert off_edges > 0


def test_nlp_pipe_in_batches_equals_one_doc_at_a_time(nlp):
    batched = list(nlp.pipe(TEXTS, batch_size=7))
    for doc, text in zip(batched, TEXTS, strict=True):
        alone = nlp(text)
        assert result_of(alone)["mentions"] == result_of(doc)["mentions"]
        assert [(e.start, e.end, e.label_, e.kb_id_) for e in alone.ents] == [(e.start, e.end, e.label_, e.kb_id_)
                                                                               for e in doc.ents]
        # other batch companions change float rounding only, as with extract
        assert [(r["label"], r["head"], r["tail"]) for r in alone._.relations] == \
               [(r["label"], r["head"], r["tail"]) for r in doc._.relations]
        assert [r["score"] for r in alone._.relations] == pytest.approx([r["score"] for r in doc._.relations], abs=1e-5)


def test_existing_entities_stay_unless_overwrite_ents(model_dir, nlp):
    doc = nlp(TEXTS[0])
    first = doc.ents[0]
    patterns = [{"label": "ORG", "pattern": [{"ORTH": t.text} for t in first]}]
    for overwrite in (False, True):
        pipeline = spacy.blank("en")
        pipeline.add_pipe("sentencizer")
        pipeline.add_pipe("entity_ruler").add_patterns(patterns)
        pipeline.add_pipe(FACTORY, config={"model": str(model_dir), "overwrite_ents": overwrite})
        ruled = pipeline(TEXTS[0])
        ent = next(e for e in ruled.ents if e.start == first.start)
        assert (ent.label_, ent.end) == ((first.label_, first.end) if overwrite else ("ORG", first.end))
        assert ent._.concept_ids == (first._.concept_ids if overwrite else [])  # an ORG span is no mention
        assert result_of(ruled) == result_of(doc)  # every mention is in doc.spans either way
        assert len(ruled.ents) == len(doc.ents)


def test_to_disk_copies_the_model_and_spacy_load_reads_the_copy(model_dir, tmp_path):
    moved = tmp_path / "model"
    shutil.copytree(model_dir, moved)
    nlp = spacy.blank("en")
    nlp.add_pipe(FACTORY, config={"model": str(moved), "threshold": 0.5})
    before = [result_of(doc) for doc in nlp.pipe(TEXTS[:5])]
    nlp.to_disk(tmp_path / "pipeline")
    assert (tmp_path / "pipeline" / FACTORY / MODEL_FOLDER / "linker").is_dir()
    shutil.rmtree(moved)  # the saved pipeline no longer needs the folder it was built from
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == [FACTORY] and loaded.get_pipe(FACTORY).threshold == 0.5
    assert [result_of(doc) for doc in loaded.pipe(TEXTS[:5])] == before
    loaded.to_disk(tmp_path / "pipeline")  # saved over the folder it was loaded from: still whole
    assert [result_of(doc) for doc in spacy.load(tmp_path / "pipeline").pipe(TEXTS[:5])] == before


def test_excluding_the_component_saves_a_reference(model_dir, nlp, tmp_path):
    nlp.to_disk(tmp_path / "pipeline", exclude=[FACTORY])
    assert not (tmp_path / "pipeline" / FACTORY).exists()
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe(FACTORY).model_name == str(model_dir)
    assert result_of(loaded(TEXTS[1])) == result_of(nlp(TEXTS[1]))


def test_processed_docs_serialise_with_docbin(nlp):
    docs = list(nlp.pipe(TEXTS[:3]))
    restored = list(DocBin(docs=docs, store_user_data=True).get_docs(nlp.vocab))
    for doc, back in zip(docs, restored, strict=True):
        # DocBin reads lists back as tuples; JSON compares the values
        assert json.dumps(result_of(back)) == json.dumps(result_of(doc))
        assert [(e.start, e.end, e.label_, e.kb_id_) for e in back.ents] == [(e.start, e.end, e.label_, e.kb_id_)
                                                                             for e in doc.ents]


FRESH = r"""
import json, sys
import spacy
assert "biomed_nerre.spacy_component" not in sys.modules
nlp = spacy.blank("en")
nlp.add_pipe("biomed_nerre", config={"model": sys.argv[1]})
doc = nlp(sys.argv[3])
nlp.to_disk(sys.argv[2])
again = spacy.load(sys.argv[2])(sys.argv[3])
print(json.dumps({"ents": [[e.text, e.label_, e.kb_id_] for e in doc.ents], "relations": doc._.relations,
                  "same": [[e.text, e.kb_id_] for e in again.ents] == [[e.text, e.kb_id_] for e in doc.ents]}))
"""


def test_the_entry_point_finds_the_factory_in_a_fresh_process(model_dir, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONPATH", None)  # the installed package (its entry point), not the test's sys.path
    done = subprocess.run([sys.executable, "-c", FRESH, str(model_dir), str(tmp_path / "pipeline"), TEXTS[0]],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["ents"] and out["relations"] and out["same"]
    assert any(kb_id.startswith("MESH:") for _, _, kb_id in out["ents"])


def test_the_package_imports_without_spacy(tmp_path):
    code = ("import sys; sys.modules['spacy'] = None\n"  # an import of spacy would now fail
            "import biomed_nerre, biomed_nerre.prediction.runner, biomed_nerre.hub.cli, loaders, modeling\n"
            "from modeling import SciBertForJointNerRe\nprint('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.parametrize("config, message", [
    ({"model": ""}, r"config 'model' must be a model folder or a Hub id"),
    ({"model": "x", "threshold": 1.5}, r"a relation threshold is a probability between 0 and 1, got 1.5"),
    ({"model": "x", "alignment_mode": "nearest"}, r"config 'alignment_mode' must be one of"),
    ({"model": "x", "batch_size": 0}, r"config 'batch_size' must be an int >= 1, got 0"),
])
def test_bad_settings_are_input_errors(config, message):
    with pytest.raises(InputError, match=message):
        spacy.blank("en").add_pipe(FACTORY, config=config)


def test_a_model_that_cannot_load_is_an_input_error_on_first_use(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe(FACTORY, config={"model": str(tmp_path / "missing")})
    with pytest.raises(InputError, match=rf"^{FACTORY}: cannot load model '{tmp_path / 'missing'}'"):
        nlp("Naloxone reverses hypertension.")
