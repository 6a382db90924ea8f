"""The linker's dense ranker (issue 27) on real vocabulary rows and a tiny random encoder: training ranks a
synonym above other concepts' names, NIL below the threshold, save/load keeps rankings bit for bit, a fresh
`trust_remote_code` process links with it, a user's names file extends it (and trains it through link.py), and a
bad names file fails with the file and line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from biomed_nerre.linking import linker_rows
from biomed_nerre.linking.dense_training import train_dense_ranker, training_pairs
from modeling.dense_linking_joint_ner_re import ENCODER_FOLDER, DenseRanker
from modeling.linking_joint_ner_re import CONFIG_FILE, ConceptLinker, NameRow, name_key
from tests.test_linking import TYPES, spans, write_vocab
from tests.fresh_process import run_without_project_code

ROOT = Path(__file__).resolve().parents[1]
# real descriptors of the small vocabulary (tests/test_linking.py): several names each
CONCEPTS = ("MESH:D002945", "MESH:D003920", "MESH:D006973", "MESH:D009369", "MESH:D007674", "MESH:D012640")


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[NameRow]:
    vocab = write_vocab(tmp_path_factory.mktemp("vocab"))
    found, _ = linker_rows([], TYPES, vocab_dir=vocab)
    return found


def concept_rows(rows: list[NameRow]) -> list[NameRow]:
    """The descriptor and MEDIC rows of `CONCEPTS` (short names: the tiny encoder reads characters)."""
    return [r for r in rows if r.ids[0] in CONCEPTS and r.source in ("mesh-descriptor", "medic") and len(r.name) <= 30]


def ranker_for(encoder: Path) -> DenseRanker:
    return DenseRanker.from_encoder(encoder, max_length=40)


def synonym_accuracy(ranker: DenseRanker, rows: list[NameRow]) -> float:
    """The share of synonyms whose nearest preferred name (weight 2) among all concepts' is their concept's."""
    preferred = {}
    for r in rows:
        if r.weight == 2.0:
            preferred.setdefault(r.ids, name_key(r.name))
    names = list(preferred.values())
    concepts = list(preferred)
    right = total = 0
    for r in rows:
        key = name_key(r.name)
        if r.weight == 2.0 or key in names or r.ids not in preferred:
            continue
        best, _ = ranker.rank(key, names)[0]
        right += concepts[best] == r.ids
        total += 1
    assert total >= 10
    return right / total


def test_training_ranks_a_synonym_above_other_concepts_names(rows, encoder) -> None:
    picked = concept_rows(rows)
    ranker = ranker_for(encoder)
    before = synonym_accuracy(ranker, picked)
    report = train_dense_ranker(ranker, picked, steps=60, batch_size=8, learning_rate=3e-3, temperature=0.1)
    after = synonym_accuracy(ranker, picked)
    assert report.steps == 60 and report.last_loss < report.first_loss
    assert after >= 0.95 and after > before + 0.3, (before, after)


def test_training_pairs_pair_corpus_names_with_vocabulary_names(rows) -> None:
    corpus = [NameRow("Chemical", ("MESH:D002945",), "CDDP-based", "corpus", 1.0)]
    pairs = training_pairs(concept_rows(rows) + corpus, vocabulary_pairs=0)
    [(name, other, concept)] = pairs
    vocabulary = {name_key(r.name) for r in rows if r.ids == ("MESH:D002945",) and r.source != "corpus"}
    assert name == "cddp based" and other in vocabulary and concept == ("Chemical", ("MESH:D002945",))


def dense_linker(rows: list[NameRow], ranker: DenseRanker, threshold: float) -> ConceptLinker:
    linker = ConceptLinker.from_names(rows, entity_types=TYPES)
    return linker.set_dense(ranker, threshold=threshold, end2end_threshold=threshold)


def test_dense_step_links_above_the_threshold_and_is_nil_below(rows, encoder) -> None:
    ranker = ranker_for(encoder)
    text = "Cisplatinum and xqzvw were given; diabetes mellitus followed."
    mentions = spans(text, ("Cisplatinum", "Chemical"), ("xqzvw", "Chemical"), ("diabetes mellitus", "Disease"))
    anything = dense_linker(rows, ranker, threshold=-1.0).link_mentions(text, mentions)
    assert [r.method for r in anything] == ["dense", "dense", "exact"]
    scores = [r.score for r in anything[:2]]
    # a threshold between the two scores: the closer mention links, the other is NIL
    middle = sum(scores) / 2
    linked = dense_linker(rows, ranker, threshold=middle).link_mentions(text, mentions)
    assert [bool(r.ids) for r in linked[:2]] == [s >= middle for s in scores]
    assert all(not r.ids for r in dense_linker(rows, ranker, threshold=1.01).link_mentions(text, mentions)[:2])
    assert linked[2].ids == ("MESH:D003920",)


def test_save_and_load_keep_rankings_bit_for_bit(rows, encoder, tmp_path) -> None:
    ranker = ranker_for(encoder)
    train_dense_ranker(ranker, concept_rows(rows), steps=5, batch_size=8, learning_rate=1e-3)
    linker = dense_linker(rows, ranker, threshold=0.3)
    linker.save(tmp_path / "linker")
    config = json.loads((tmp_path / "linker" / CONFIG_FILE).read_text())
    assert config["dense"]["threshold"] == 0.3 and "model.safetensors" in config["dense"]["files"]
    assert not list((tmp_path / "linker").rglob("*.bin")) and not list((tmp_path / "linker").rglob("*.pkl"))
    loaded = ConceptLinker.load(tmp_path / "linker")
    queries = ["cisplatinum", "diabetic", "renal failure acute", "hypertensive crisis", "xqzvw"]
    names = sorted(linker.exact["Disease"])[:60]
    for query in queries:
        assert torch.equal(ranker.embed([query, *names]), loaded.dense.embed([query, *names]))
        assert ranker.rank(query, names) == loaded.dense.rank(query, names)
    text = "Cisplatinum caused acute renal failures."
    mentions = spans(text, ("Cisplatinum", "Chemical"), ("acute renal failures", "Disease"))
    assert loaded.link_mentions(text, mentions) == linker.link_mentions(text, mentions)


LOAD_SCRIPT = r"""
import json, sys
from transformers import AutoModel
model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True)
text, mentions = sys.argv[2], json.loads(sys.argv[3])
links = model.linker.link_mentions(text, mentions)
print(json.dumps({"module": type(model.linker.dense).__module__, "links": [[list(r.ids), r.score, r.method] for r in links],
                  "api": [m["ids"] for m in model.link_mentions(text, mentions)]}))
"""


def test_a_fresh_trust_remote_code_process_links_with_the_dense_ranker(rows, encoder, tmp_path) -> None:
    from modeling import SciBertForJointNerRe, load_tokenizer

    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(
        str(encoder), entity_types=["Chemical", "Disease"], relation_types={"CID": ["Chemical", "Disease"]},
        max_length=64, stride=16, re_block_size=8,
    ).eval()
    linker = dense_linker(rows, ranker_for(encoder), threshold=-1.0)
    model.set_linker(linker)
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    load_tokenizer(encoder).save_pretrained(folder)
    assert (folder / "linker" / ENCODER_FOLDER / "config.json").is_file()
    assert "dense_linking_joint_ner_re.py" in {p.name for p in folder.iterdir()}  # the code ships with the model
    text = "Cisplatinum (CDDP) and cisplatin caused hypertensive crises."
    mentions = spans(text, ("Cisplatinum", "Chemical"), ("CDDP", "Chemical"), ("cisplatin", "Chemical"),
                     ("hypertensive crises", "Disease"))
    loaded = run_without_project_code(LOAD_SCRIPT, str(folder), text, json.dumps(mentions), cwd=tmp_path)
    assert loaded["module"].startswith("transformers_modules.")
    here = linker.link_mentions(text, mentions)
    assert loaded["links"] == [[list(r.ids), r.score, r.method] for r in here]
    assert [m[2] for m in loaded["links"]] == ["dense", "abbreviation", "exact", "dense"]
    assert loaded["api"] == [list(r.ids) for r in here]


def write_names(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def pubtator(path: Path, text: str, mentions: list[tuple[str, str]]) -> Path:
    lines = [f"1|t|{text}", "1|a|"]
    for name, entity_type in mentions:
        start = text.index(name)
        lines.append(f"1\t{start}\t{start + len(name)}\t{name}\t{entity_type}\t-1")
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    return path


def test_a_users_names_file_extends_and_trains_the_dense_linker(rows, encoder, tmp_path) -> None:
    import link

    linker = dense_linker(rows, ranker_for(encoder), threshold=-1.0)
    linker.save(tmp_path / "linker")
    names = write_names(tmp_path / "names.tsv", ["Chemical\tMESH:D002945\tPlatinol-AQ|Platinol"])
    text = "Platinol-AQ and Platinol-AQs were given."
    source = pubtator(tmp_path / "in.txt", text, [("Platinol-AQs", "Chemical")])
    # the user's name is a candidate of the dense step: a near form of it links to its id
    assert link.main(["--linker", str(tmp_path / "linker"), "--input", str(source), "--output", str(tmp_path / "out.txt"),
                      "--names", str(names), "--dense-train-seconds", "3", "--id-style", "bc5cdr"]) == 0
    written = (tmp_path / "out.txt").read_text().splitlines()
    assert written[2].split("\t")[5] == "D002945", written
    extended = linker.extended([NameRow("Chemical", ("MESH:D002945",), "Platinol-AQ", "user")])
    assert extended.dense is linker.dense and extended.dense_threshold == linker.dense_threshold
    [found] = extended.link_mentions("Platinol-AQs", [{"start": 0, "end": 12, "type": "Chemical"}])
    assert found.ids == ("MESH:D002945",) and found.method == "dense"


@pytest.mark.parametrize("line, message", [
    ("Chemical\tMESH:D002945", "line 2: expected 3 tab-separated columns"),
    ("Chemical\tMESH:D999999999\tnothing", "line 2: unknown id MESH:D999999999"),
    ("Chemical\tMESH:D002945\tcisplatin|", "line 2: empty name for MESH:D002945"),
])
def test_a_bad_names_file_for_dense_training_fails_with_file_and_line(rows, encoder, tmp_path, line, message, capsys) -> None:
    linker = dense_linker(rows, ranker_for(encoder), threshold=0.5)
    linker.save(tmp_path / "linker")
    names = write_names(tmp_path / "names.tsv", ["# my names", line])
    source = pubtator(tmp_path / "in.txt", "cisplatin", [("cisplatin", "Chemical")])
    result = subprocess.run(
        [sys.executable, str(ROOT / "link.py"), "--linker", str(tmp_path / "linker"), "--input", str(source),
         "--output", str(tmp_path / "out.txt"), "--names", str(names), "--dense-train-seconds", "5"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert result.returncode != 0
    error_lines = [x for x in result.stderr.strip().splitlines() if x.strip()]
    assert str(names) in error_lines[-1] and message in error_lines[-1], result.stderr[-2000:]
