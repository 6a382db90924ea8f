"""`python link.py`: a PubTator file written back with each mention's linked ids (issue 14, item 3).

Real BC5CDR validation documents, a linker built from the BC5CDR training split's own names (never the test
split); the output is read back with the project's strict PubTator reader.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from link import main
from biomed_nerre.linking import corpus_names
from loaders.pubtator import PubTatorFormatError, iter_pubtator
from modeling.linking_joint_ner_re import NAMES_FILE, ConceptLinker
from modeling.outputs_joint_ner_re import curie_to_corpus_id
from tests.test_entry_points import _scripts

ROOT = Path(__file__).resolve().parents[1]
BC5CDR = ROOT.parent / "shared" / "data" / "bc5cdr"
TYPES = ["Chemical", "Disease"]
DOCUMENTS = 8  # validation documents linked


def _documents(path: Path) -> list[dict]:
    return [
        {"pmid": d.pmid, "text": d.text, "mentions": [
            {"start": m.start, "end": m.end, "text": m.text, "type": m.type, "ids": m.ids,
             "composite_parts": m.composite_parts} for m in d.mentions]}
        for d in iter_pubtator(path, TYPES, ["CID"])
    ]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("link_command")
    linker = ConceptLinker.from_names(corpus_names(_documents(BC5CDR / "CDR_TrainingSet.PubTator.txt")),
                                      metadata={"corpus_splits": ["train"]}, entity_types=TYPES)
    model = tmp / "model"  # a model folder as save_pretrained leaves it, as far as the linker goes
    linker.save(model / "linker")
    blocks = (BC5CDR / "CDR_DevelopmentSet.PubTator.txt").read_text(encoding="utf-8").split("\n\n")[:DOCUMENTS]
    source = tmp / "dev.PubTator"
    source.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return {"tmp": tmp, "linker": linker, "model": model, "input": source}


def link(*args: str, capsys=None) -> tuple[int, str, str]:
    """`link.py ARGS` in this process: (exit status, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr() if capsys else ("", "")
    return code, out, err


def read_back(path: Path) -> list:
    return list(iter_pubtator(path, TYPES, ["CID"]))  # strict: any malformed line raises


def test_link_writes_every_mention_with_the_linkers_ids(setup, tmp_path, capsys) -> None:
    out = tmp_path / "linked.PubTator"
    code, stdout, stderr = link("--model", str(setup["model"]), "--input", str(setup["input"]), "--output", str(out),
                                capsys=capsys)
    assert code == 0, stderr
    gold, linked = read_back(setup["input"]), read_back(out)
    assert len(linked) == DOCUMENTS
    linker, counts, methods, agree = setup["linker"], {"linked": 0, "nil": 0}, {}, 0
    for g, d in zip(gold, linked):
        assert (d.pmid, d.title, d.abstract) == (g.pmid, g.title, g.abstract)
        assert [(m.start, m.end, m.text, m.type) for m in d.mentions] == [(m.start, m.end, m.text, m.type) for m in g.mentions]
        assert [(r.label, r.head, r.tail) for r in d.relations] == [(r.label, r.head, r.tail) for r in g.relations]
        expected = linker.link_mentions(d.text, [{"start": m.start, "end": m.end, "type": m.type} for m in g.mentions])
        for m, gm, e in zip(d.mentions, g.mentions, expected):
            assert m.ids == ([curie_to_corpus_id(i) for i in e.ids] or ["-1"])
            assert all(re.fullmatch(r"[CD]\d{6,9}|-1", i) for i in m.ids)
            counts["nil" if e.is_nil else "linked"] += 1
            methods[e.method] = methods.get(e.method, 0) + 1
            agree += not e.is_nil and m.ids == gm.ids
            if m.composite_parts:  # kept only where the ids are the annotated ones
                assert m.ids == gm.ids and m.composite_parts == gm.composite_parts
    total = counts["linked"] + counts["nil"]
    # the training split's names alone: what they link is nearly always the annotated id; names they lack
    # (ketanserin, edrophonium, ... in these documents) are written -1, not guessed
    assert agree / counts["linked"] > 0.9 and counts["linked"] > total / 3
    assert counts["nil"] > 0
    summary = stdout.strip().splitlines()[0]
    assert summary.startswith(f"linked {total} mentions in {DOCUMENTS} documents: {counts['linked']} linked (")
    assert f"{counts['nil']} NIL; wrote {out} (id style bc5cdr)" in summary
    for method, n in methods.items():
        if method != "nil":
            assert f"{method} {n}" in summary


def test_gzip_input_chem_dis_gene_ids_and_a_bare_linker_folder(setup, tmp_path, capsys) -> None:
    gz = tmp_path / "dev.PubTator.gz"
    gz.write_bytes(gzip.compress(setup["input"].read_bytes()))
    out = tmp_path / "linked.PubTator.gz"
    code, _, stderr = link("--linker", str(setup["model"] / "linker"), "--input", str(gz), "--output", str(out),
                           "--id-style", "chem_dis_gene", capsys=capsys)
    assert code == 0, stderr
    plain = tmp_path / "plain.PubTator"
    assert link("--model", str(setup["model"]), "--input", str(setup["input"]), "--output", str(plain), capsys=capsys)[0] == 0
    for a, b in zip(read_back(out), read_back(plain)):
        for m, n in zip(a.mentions, b.mentions):
            assert m.ids == (["-"] if n.ids == ["-1"] else ["MESH:" + i for i in n.ids])


def test_mentions_of_other_types_and_relation_lines_are_kept(setup, tmp_path, capsys) -> None:
    source = tmp_path / "species.PubTator"
    source.write_text("1|t|Cisplatin in mice.\n1|a|Mice given CDDP.\n1\t0\t9\tCisplatin\tChemical\tD000000\n"
                      "1\t13\t17\tmice\tSpecies\t10090\n1\tCID\tD000000\tD999999\n", encoding="utf-8")
    out = tmp_path / "out.PubTator"
    code, stdout, _ = link("--model", str(setup["model"]), "--input", str(source), "--output", str(out), capsys=capsys)
    assert code == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        "1|t|Cisplatin in mice.", "1|a|Mice given CDDP.", "1\t0\t9\tCisplatin\tChemical\tD002945",
        "1\t13\t17\tmice\tSpecies\t10090", "1\tCID\tD000000\tD999999", "",
    ]
    assert "kept as they were (the linker has no names for the type): 1 Species" in stdout


def _names(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "names.tsv"
    path.write_text(text, encoding="utf-8")
    return path


def test_names_file_extends_or_replaces_the_linker(setup, tmp_path, capsys) -> None:
    base = tmp_path / "base.PubTator"
    link("--model", str(setup["model"]), "--input", str(setup["input"]), "--output", str(base), capsys=capsys)
    nil = next((d, m) for d in read_back(base) for m in d.mentions if m.ids == ["-1"])
    known = next(m.ids[0] for d in read_back(base) for m in d.mentions if m.type == nil[1].type and m.ids != ["-1"])
    names = _names(tmp_path, f"# mine\n{nil[1].type}\t{known}\t{nil[1].text}\n")
    out = tmp_path / "extended.PubTator"
    code, stdout, stderr = link("--model", str(setup["model"]), "--input", str(setup["input"]), "--output", str(out),
                                "--names", str(names), capsys=capsys)
    assert code == 0, stderr
    assert "user names: 1 names" in stdout
    extended = {(d.pmid, m.start): m.ids for d in read_back(out) for m in d.mentions}
    before = {(d.pmid, m.start): m.ids for d in read_back(base) for m in d.mentions}
    assert extended[(nil[0].pmid, nil[1].start)] == [known]
    assert sum(extended[k] != before[k] for k in before) >= 1
    assert all(extended[k] == before[k] for k in before if before[k] != ["-1"])  # nothing else lost
    # replace: only the file's names (a new id is allowed); everything else is NIL
    names = _names(tmp_path, f"{nil[1].type}\tD999999\t{nil[1].text}\n")
    code, _, stderr = link("--model", str(setup["model"]), "--input", str(setup["input"]), "--output", str(out),
                           "--names", str(names), "--replace", capsys=capsys)
    assert code == 0, stderr
    replaced = {(d.pmid, m.start, m.text): m.ids for d in read_back(out) for m in d.mentions}
    assert {i for v in replaced.values() for i in v} == {"D999999", "-1"}  # the linker's own names are gone
    assert all(v == ["D999999"] for k, v in replaced.items() if k[2].casefold() == nil[1].text.casefold())
    # without --replace the new id is an error naming the file and line
    code, _, stderr = link("--model", str(setup["model"]), "--input", str(setup["input"]), "--output", str(out),
                           "--names", str(names), capsys=capsys)
    assert code == 2
    assert stderr == f"error: {names}, line 1: unknown id MESH:D999999: not in the linker's vocabulary (use --replace to link to new ids)\n"


def _bad_cases(setup: dict, tmp: Path) -> list[tuple[list[str], str]]:
    model, source = str(setup["model"]), str(setup["input"])
    broken = tmp / "broken.PubTator"
    lines = setup["input"].read_text(encoding="utf-8").splitlines(keepends=True)
    broken.write_text("".join(lines[:3] + ["123\t0\n"] + lines[3:]), encoding="utf-8")
    bad_names = _names(tmp, "Chemical\tD002945\n")
    no_linker = tmp / "old_model"
    no_linker.mkdir(exist_ok=True)
    damaged = tmp / "damaged"
    setup["linker"].save(damaged)
    with gzip.open(damaged / NAMES_FILE, "wt", encoding="utf-8") as handle:
        handle.write("Chemical\texact\tcisplatin\n")
    out = str(tmp / "out.PubTator")
    return [
        (["--model", model, "--input", str(tmp / "missing.PubTator"), "--output", out], "missing.PubTator: no such input file"),
        (["--model", model, "--input", str(broken), "--output", out], f"{broken}, line 4: truncated or malformed line"),
        (["--model", model, "--input", source, "--output", out, "--names", str(bad_names)],
         f"{bad_names}, line 1: expected 3 tab-separated columns"),
        (["--model", model, "--input", source, "--output", out, "--names", str(tmp / "nope.tsv")], "nope.tsv: no such names file"),
        (["--model", model, "--input", source, "--output", out, "--replace"], "--replace needs --names"),
        (["--model", str(no_linker), "--input", source, "--output", out], "has no linker/ folder"),
        (["--linker", str(damaged), "--input", source, "--output", out], f"{damaged / NAMES_FILE}, line 1: expected type"),
        (["--linker", str(tmp / "nothing"), "--input", source, "--output", out], "nothing: no such linker folder"),
        (["--model", model, "--input", source, "--output", str(tmp / "no" / "dir" / "x.PubTator")], "no such folder for the output"),
        (["--model", model, "--input", source, "--output", source], "the output would overwrite the input"),
        (["--model", model, "--linker", str(damaged), "--input", source, "--output", out], "not allowed with argument"),
        (["--model", model, "--input", source, "--output", out, "--id-style", "pubtator"], "invalid choice: 'pubtator'"),
    ]


def test_bad_input_is_one_error_line_and_exit_2(setup, tmp_path, capsys) -> None:
    for args, message in _bad_cases(setup, tmp_path):
        code, stdout, stderr = link(*args, capsys=capsys)
        assert code == 2, (args, stderr)
        assert stderr.startswith("error: ") and stderr.count("\n") == 1 and message in stderr, (args, stderr)
    assert not (tmp_path / "out.PubTator").exists()  # nothing half-written
    assert not list(tmp_path.glob("*.partial"))


def test_no_strict_skips_malformed_lines_with_a_count(setup, tmp_path, capsys) -> None:
    lines = setup["input"].read_text(encoding="utf-8").splitlines(keepends=True)
    broken = tmp_path / "broken.PubTator"
    broken.write_text("".join(lines[:3] + ["123\t0\n"] + lines[3:]), encoding="utf-8")
    names = _names(tmp_path, "Chemical\tD002945\tPlatinol\nChemical\tD002945\n")
    out = tmp_path / "out.PubTator"
    code, stdout, stderr = link("--model", str(setup["model"]), "--input", str(broken), "--output", str(out),
                                "--names", str(names), "--no-strict", capsys=capsys)
    assert code == 0, stderr
    assert f"skipped 1 malformed input line(s) (--no-strict), first: {broken}, line 4: truncated" in stdout
    assert f"skipped 1 malformed names file line(s) (--no-strict), first: {names}, line 2: expected 3" in stdout
    assert len(read_back(out)) == DOCUMENTS
    with pytest.raises(PubTatorFormatError):
        read_back(broken)


def test_the_command_line_in_a_fresh_process(setup, tmp_path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONPATH", None)
    out = tmp_path / "out.PubTator"
    run = lambda *args: subprocess.run([sys.executable, str(ROOT / "link.py"), *args], cwd=tmp_path, env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    done = run("--model", str(setup["model"]), "--input", str(setup["input"]), "--output", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("linked ") and len(read_back(out)) == DOCUMENTS


def test_entry_point_discovery_covers_link_py() -> None:
    assert "link.py" in _scripts()  # tests/test_entry_points.py checks its --help
