"""The gazetteer feature: matching vocabulary names in text, token tags, its files, the model and train.py with it."""

from __future__ import annotations

import gzip
import json
import textwrap
from pathlib import Path

import pytest
import torch

from modeling import SciBertForJointNerRe, load_tokenizer
from modeling.gazetteer_joint_ner_re import GAZETTEER_FOLDER, NAMES_FILE, Gazetteer, num_tag_ids, tag_id
from modeling.preprocessing_joint_ner_re import collate_features, prepare_features, token_feature_sizes
from biomed_nerre.training.main import main as train_main
from tests.fresh_process import run_without_project_code

REPO = Path(__file__).resolve().parents[1]
BC5CDR = REPO.parent / "shared" / "data" / "bc5cdr"
TYPES = ["Chemical", "Disease"]
NAMES = [("Chemical", "5-Fluorouracil"), ("Chemical", "fluorouracil"), ("Chemical", "Lithium"), ("Chemical", "NO"),
         ("Disease", "Breast Neoplasms"), ("Disease", "breast neoplasms"), ("Disease", "neoplasms"),
         ("Disease", "Lithium toxicity"), ("Gene", "TP53")]
TEXT = "Lithium toxicity and 5-fluorouracil: NO effect on breast neoplasms, lithium-treated."


def test_longest_leftmost_whole_word_matches_per_type():
    gazetteer = Gazetteer.from_names(NAMES, TYPES)
    assert gazetteer.names["Chemical"] == {"5 fluorouracil", "fluorouracil", "lithium"}  # "no": under 3 characters
    assert "Gene" not in gazetteer.names  # types of no entity type of the model are skipped
    spans = lambda t: [TEXT[s:e] for s, e in gazetteer.matches(TEXT, t)]  # noqa: E731
    assert spans("Chemical") == ["Lithium", "5-fluorouracil", "lithium"]  # longest first, case and hyphens folded
    assert spans("Disease") == ["Lithium toxicity", "breast neoplasms"]  # not "neoplasms" alone inside a longer one
    assert gazetteer.matches("Lithiumx and fluorouracils", "Chemical") == []  # whole words only


def test_token_tags_are_b_i_o_per_type_in_one_id():
    gazetteer = Gazetteer.from_names(NAMES, TYPES)
    text = "Lithium toxicity ."
    offsets = [(0, 3), (3, 7), (8, 16), (17, 18)]  # "Lit" "hium" "toxicity" "."
    # Chemical: B I O O; Disease: B I I O
    assert gazetteer.token_tags(text, offsets) == [tag_id([1, 1]), tag_id([2, 2]), tag_id([0, 2]), 0]
    assert tag_id([1, 1]) == 1 + 3 and tag_id([0, 2]) == 6 and num_tag_ids(2) == 9 and num_tag_ids(3) == 27


def test_save_is_byte_identical_and_load_restores(tmp_path):
    gazetteer = Gazetteer.from_names(NAMES, TYPES, metadata={"vocabularies": [{"name": "sample"}]})
    gazetteer.save(tmp_path / "a")
    Gazetteer.load(tmp_path / "a").save(tmp_path / "b")
    for name in (NAMES_FILE, "gazetteer_config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    loaded = Gazetteer.load(tmp_path / "a")
    assert loaded.names == gazetteer.names and loaded.metadata == gazetteer.metadata
    with gzip.open(tmp_path / "a" / NAMES_FILE, "wt", encoding="utf-8") as handle:
        handle.write("Chemical\tlithium\nProtein\tp53\n")
    with pytest.raises(ValueError, match=r"names\.tsv\.gz, line 2: .*'Protein\\tp53'"):
        Gazetteer.load(tmp_path / "a")


def _tiny_model(encoder, **config) -> SciBertForJointNerRe:
    return SciBertForJointNerRe.from_encoder(encoder, entity_types=TYPES, relation_types={"CID": TYPES},
                                             window_length=64, stride=16, re_block_size=8, **config)


def test_model_reads_the_gazetteer_saves_it_and_needs_it(encoder, tmp_path):
    torch.manual_seed(0)
    model = _tiny_model(encoder, token_shape_features=True, gazetteer_features=True).eval()
    assert token_feature_sizes(model.config) == [10, 9] and model.token_feature_embeddings.num_embeddings == 19
    tokenizer = load_tokenizer(str(encoder))
    document = {"pmid": "1", "text": TEXT}
    with pytest.raises(ValueError, match="gazetteer"):
        model.extract(TEXT, tokenizer)
    gazetteer = Gazetteer.from_names(NAMES, TYPES)
    with pytest.raises(ValueError, match="entity types"):
        model.set_gazetteer(Gazetteer.from_names(NAMES, ["Disease", "Chemical"]))
    model.set_gazetteer(gazetteer)
    features = prepare_features(document, tokenizer, model.config, with_labels=False, gazetteer=gazetteer)
    rows = [row for window in features["feature_ids"] for row in window[1:-1]]
    assert all(0 <= shape < 10 <= tag < 19 for shape, tag in rows)  # the tags' rows come after the shapes'
    assert any(tag > 10 for _, tag in rows) and any(tag == 10 for _, tag in rows)  # matched and unmatched tokens
    with torch.no_grad():
        model.token_feature_embeddings.weight.normal_()
    before = model.extract(TEXT, tokenizer)
    model.save_pretrained(tmp_path / "m")
    load_tokenizer(str(encoder)).save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / GAZETTEER_FOLDER / NAMES_FILE).is_file()
    loaded = SciBertForJointNerRe.from_pretrained(tmp_path / "m").eval()
    assert loaded.gazetteer is not None and loaded.gazetteer.names == gazetteer.names
    assert loaded.extract(TEXT, tokenizer) == before
    # the names move the encoder's states: without matches, the tokens get other inputs
    batch = collate_features([features], tokenizer.pad_token_id)
    empty = Gazetteer.from_names([], TYPES)
    unmatched = collate_features([prepare_features(document, tokenizer, model.config, with_labels=False,
                                                   gazetteer=empty)], tokenizer.pad_token_id)
    with torch.no_grad():
        states = [loaded.encode(b["input_ids"], b["attention_mask"], b["token_index"], b["feature_ids"])
                  for b in (batch, unmatched)]
    assert not torch.equal(*states)


@pytest.mark.slow
def test_train_py_builds_the_gazetteer_from_the_vocabularies_and_a_fresh_process_loads_it(
        encoder, cache, vocabulary_sample, tmp_path):
    out = tmp_path / "model"
    train_main([
        "--dataset", "bc5cdr", "--data-dir", str(BC5CDR), "--cache-dir", str(cache), "--encoder", str(encoder),
        "--max-length", "64", "--stride", "16", "--re-block-size", "8", "--limit-train-docs", "4",
        "--limit-eval-docs", "2", "--per-device-batch-size", "2", "--mixed-precision", "no", "--num-epochs", "1",
        "--early-stopping-patience", "0", "--evaluate-test", "false", "--calibrate-re-threshold", "false",
        "--linker", "false", "--output-dir", str(out), "--token-shape-features", "true",
        "--gazetteer-features", "true", "--linker-vocab-dir", str(vocabulary_sample),
    ])
    config = json.loads((out / "config.json").read_text())
    assert config["gazetteer_features"] and config["token_shape_features"]
    saved = json.loads((out / GAZETTEER_FOLDER / "gazetteer_config.json").read_text())
    assert [v["name"] for v in saved["vocabularies"]] == ["mesh_descriptors", "mesh_supplementary", "medic"]
    assert saved["names"]["Chemical"] > 100 and saved["names"]["Disease"] > 100
    script = textwrap.dedent(f"""
        import json
        from transformers import AutoModel, AutoTokenizer
        model = AutoModel.from_pretrained({str(out)!r}, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        assert model.gazetteer is not None
        tokenizer = AutoTokenizer.from_pretrained({str(out)!r}, trust_remote_code=True)
        print(json.dumps(model.extract({TEXT!r}, tokenizer)))
    """)
    remote = run_without_project_code(script, cwd=tmp_path)
    local = SciBertForJointNerRe.from_pretrained(out).eval().extract(TEXT, load_tokenizer(str(out)))
    assert remote[0]["mentions"] == local[0]["mentions"]
    # the Hub export ships gazetteer/, the card names its vocabularies, and a copy without it is refused
    import shutil

    from biomed_nerre.hub.export_model import ExportError, plan_model_export
    from biomed_nerre.hub.model_card import build_model_card

    plan, _ = plan_model_export(out, allow_missing_metrics=True)
    assert {f"{GAZETTEER_FOLDER}/{NAMES_FILE}", f"{GAZETTEER_FOLDER}/gazetteer_config.json"} <= set(plan)
    assert "gazetteer (`gazetteer/`, a token feature)" in build_model_card(out) and "mesh_supplementary" in build_model_card(out)
    shutil.rmtree(out / GAZETTEER_FOLDER)
    with pytest.raises(ExportError, match="gazetteer"):
        plan_model_export(out, allow_missing_metrics=True)
