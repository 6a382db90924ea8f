"""Tests of the Gradio demo (demo/): input checks, rendering, downloads, the Space export, and the page in a real
headless Chromium (Debian's `chromium` + `chromium-driver`). Without Chromium the browser test is skipped with the
command that installs it; .ci/run installs it and sets REQUIRE_BROWSER_TESTS=1, which makes a missing browser a
failure instead.

The model is a tiny random BERT overfitted for a few seconds on the demo's first example, a BC5CDR development
abstract, with its gold mentions, so that the page opened on that example shows real predicted mentions.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from loaders.documents import build_document
from loaders.pubtator import iter_pubtator
from modeling import SciBertForJointNerRe
from modeling.linking_joint_ner_re import ConceptLinker, NameRow
from modeling.outputs_joint_ner_re import to_curie
from modeling.preprocessing_joint_ner_re import collate_features, load_tokenizer, prepare_features

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo"
sys.path.insert(0, str(DEMO))
import app as demo_app  # noqa: E402
import result_view as view  # noqa: E402

BC5CDR = REPO.parent / "shared" / "data" / "bc5cdr"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
INSTALL_BROWSER = "sudo apt-get install chromium chromium-driver"
RESULTS = REPO / "results" / "demo"
NEW_TEXT = "Lithium and tremor.\nTremor was seen in two patients given lithium carbonate for mania."


def example_document(pmid: str) -> dict:
    """The gold BC5CDR document of a demo example (train or development split: never test)."""
    for split in ("CDR_DevelopmentSet", "CDR_TrainingSet"):
        for raw in iter_pubtator(BC5CDR / f"{split}.PubTator.txt", ["Chemical", "Disease"], ["CID"]):
            if raw.pmid == pmid:
                return build_document(raw, "bc5cdr")
    raise LookupError(pmid)


@pytest.fixture(scope="module")
def model_dir(encoder, tmp_path_factory) -> Path:
    """A saved model that predicts the first example's gold mentions (overfitted: 30 steps, ~10 s)."""
    example = demo_app.load_examples()[0]
    document = example_document(example["pmid"])
    assert document["text"] == view.model_text(example["text"])
    tokenizer = load_tokenizer(encoder)
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(
        encoder, entity_types=["Chemical", "Disease"], relation_types={"CID": ["Chemical", "Disease"]},
        max_length=512, stride=64, re_block_size=8, classifier_dropout=0.0,
        encoder_overrides={"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0},
    )
    batch = collate_features([prepare_features(document, tokenizer, model.config)], tokenizer.pad_token_id,
                             len(model.config.relation_labels))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(30):
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    # a linker from the example's own gold names, so the page shows concept ids (MeSH links)
    rows = [NameRow(m["type"], tuple(to_curie(i, m["type"]) for i in m["ids"]), m["text"], "corpus")
            for m in document["mentions"] if m["ids"] != ["-1"]]
    model.set_linker(ConceptLinker.from_names(rows))
    folder = tmp_path_factory.mktemp("tiny-test-model", numbered=False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def page(model_dir, tmp_path_factory) -> demo_app.Page:
    model, tokenizer = demo_app.load_model(str(model_dir))
    analyser = demo_app.Analyser(model, tokenizer, str(model_dir))
    return demo_app.Page(analyser, demo_app.load_examples(), tmp_path_factory.mktemp("files"))


# ---- input checks and rendering (no model) ---------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("", "the text is empty"),
    ("  \n\t ", "the text is empty"),
    (None, "the text is empty"),
    (42, "expected text, got int"),
    ("Aspirin\x00 and ulcer", "control character U+0000 at character 8 (line 1)"),
    ("Title\nAspirin\x1b[0m and ulcer", "control character U+001B at character 14 (line 2)"),
    ("a" * 20_001, "the text has 20,001 characters; this demo analyses up to 20,000"),
])
def test_bad_input_gets_a_clear_message(text, message):
    with pytest.raises(view.InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        view.check_text(text)


def test_text_checks_keep_offsets_and_note_html():
    text, notes = view.check_text("Title line\r\nAbstract <b>one</b>\ttwo")
    assert text == "Title line\nAbstract <b>one</b>\ttwo" and len(notes) == 1 and "HTML" in notes[0]
    assert view.check_text("x" * 20_000)[1] == [] and view.check_text("a < b and c > d")[1] == []
    flat = view.model_text(text)
    assert len(flat) == len(text) and "\n" not in flat and "\t" not in flat
    title, abstract = view.split_title(text)
    assert (title, f"{title} {abstract}") == ("Title line", flat)
    assert view.split_title("no line break") == ("no line break", "")


@pytest.mark.parametrize("curie, url", [
    ("MESH:D002945", "https://meshb.nlm.nih.gov/record/ui?ui=D002945"),
    ("MESH:C012345", "https://meshb.nlm.nih.gov/record/ui?ui=C012345"),
    ("D009270", "https://meshb.nlm.nih.gov/record/ui?ui=D009270"),
    ("NCBIGene:154", "https://www.ncbi.nlm.nih.gov/gene/154"),
    ("OMIM:601462", "https://omim.org/entry/601462"),
    ("154", None), ("E0", None), ("NIL:Chemical:foo", None), ("UNLINKED:Disease:bar", None),
])
def test_id_urls(curie, url):
    assert view.id_url(curie) == url


LINKED = {  # extract's contract with a linker: mentions carry ids, entities CURIEs or NIL ids
    "pmid": "input-0",
    "mentions": [
        {"start": 0, "end": 9, "text": "Cisplatin", "type": "Chemical", "ids": ["MESH:D002945"], "link_score": 1.0},
        {"start": 21, "end": 25, "text": "ADRB", "type": "Gene", "ids": ["NCBIGene:154"], "link_score": 0.9},
        {"start": 30, "end": 35, "text": "<wtf>", "type": "Disease", "ids": [], "link_score": 0.0},
    ],
    "entities": [
        {"id": "MESH:D002945", "type": "Chemical", "mention_indices": [0]},
        {"id": "NCBIGene:154", "type": "Gene", "mention_indices": [1]},
        {"id": "NIL:Disease:<wtf>", "type": "Disease", "mention_indices": [2]},
    ],
    "relations": [
        {"label": "chem_gene:increases^expression", "head": "MESH:D002945", "tail": "NCBIGene:154", "score": 0.8},
        {"label": "chem_disease:marker/mechanism", "head": "MESH:D002945", "tail": "NIL:Disease:<wtf>", "score": 0.3},
    ],
}
LINKED_TEXT = "Cisplatin\nraises the ADRB and <wtf> levels"


def test_rendering_links_ids_and_escapes_html():
    html = view.highlighted_html(LINKED_TEXT, LINKED, ["Chemical", "Disease", "Gene"])
    assert 'href="https://meshb.nlm.nih.gov/record/ui?ui=D002945"' in html
    assert 'href="https://www.ncbi.nlm.nih.gov/gene/154"' in html
    assert "&lt;wtf&gt;" in html and "<wtf>" not in html and "Cisplatin</a>" in html and "<br>" in html
    assert 'data-type="Gene"' in html and "link score 0.90" in html and "no concept id (NIL)" in html
    assert [rows[2:] for rows in view.relation_rows(LINKED, 0.5)] == [["chem_gene:increases^expression", 0.8]]
    assert view.relation_rows(LINKED, 0.5)[0][0] == "**Cisplatin** · Chemical · [MESH:D002945](https://meshb.nlm.nih.gov/record/ui?ui=D002945)"
    assert len(view.relation_rows(LINKED, 0.1)) == 2 and view.relation_rows(LINKED, 0.9) == []


def test_pubtator_and_json_downloads():
    lines = view.pubtator(LINKED_TEXT, LINKED, 0.5, pmid="7").splitlines()
    assert lines == [
        "7|t|Cisplatin", "7|a|raises the ADRB and <wtf> levels",
        "7\t0\t9\tCisplatin\tChemical\tD002945", "7\t21\t25\tADRB\tGene\tNCBIGene:154", "7\t30\t35\t<wtf>\tDisease\t-1",
        "7\tchem_gene:increases^expression\tD002945\tNCBIGene:154", "",
    ]
    payload = json.loads(view.result_json(LINKED_TEXT, LINKED, 0.2, "some/model"))
    assert payload["title"] + " " + payload["abstract"] == payload["text"] == view.model_text(LINKED_TEXT)
    assert sorted(r["score"] for r in payload["result"]["relations"]) == [0.3, 0.8]
    assert payload["relation_min_score"] == 0.2 and payload["model"] == "some/model"
    assert payload["result"]["mentions"][0]["ids"] == ["MESH:D002945"]
    assert set(payload["result"]) == {"pmid", "mentions", "entities", "relations"}  # the result contract


def test_old_results_without_mention_ids_render():
    old = {"pmid": "x", "mentions": [{"start": 0, "end": 7, "text": "Aspirin", "type": "Chemical"}],
           "entities": [{"id": "E0", "type": "Chemical", "mention_indices": [0]}], "relations": []}
    assert 'data-id="E0"' in view.highlighted_html("Aspirin", old, ["Chemical"])
    assert view.pubtator("Aspirin", old, 0.5).splitlines()[2] == "0\t0\t7\tAspirin\tChemical\t-1"


# ---- the page's callbacks on the real model ----------------------------------------------------------------------
def test_example_is_analysed_with_the_models_mentions(page):
    example = page.examples[0]
    status, html, rows, json_path, pubtator_path, state = page.analyse(example["text"], page.analyser.default_min_score)
    gold = example_document(example["pmid"])
    predicted = {(m["start"], m["end"], m["type"]) for m in state["result"]["mentions"]}
    assert predicted == {(m["start"], m["end"], m["type"]) for m in gold["mentions"]}
    assert status.startswith("Analysed 685 characters") and f"{len(gold['mentions'])} mentions" in status
    assert html.count('<mark class="mention"') == len(gold["mentions"]) and 'data-type="Chemical"' in html
    # the linker gives the gold concept ids, shown as links to their MeSH pages
    assert {e["id"] for e in state["result"]["entities"]} == {to_curie(e["id"], e["type"]) for e in gold["entities"]}
    assert 'href="https://meshb.nlm.nih.gov/record/ui?ui=D014635"' in html  # valproic acid
    assert "no concept linker" not in status
    assert Path(json_path).name == f"joint-ner-re-{example['pmid']}.json"
    assert json.loads(Path(json_path).read_text())["result"]["mentions"] == state["result"]["mentions"]
    assert Path(pubtator_path).read_text().startswith(f"{example['pmid']}|t|{example['title']}\n")
    # every type-compatible pair is scored once, so the slider can show any of them
    n_chemicals = sum(e["type"] == "Chemical" for e in state["result"]["entities"])
    assert len(state["result"]["relations"]) == n_chemicals * (len(state["result"]["entities"]) - n_chemicals)


def test_slider_filters_without_running_the_model(page):
    state = page.analyse(page.examples[0]["text"], 0.5)[-1]
    calls = page.analyser.calls
    scores = sorted(r["score"] for r in state["result"]["relations"])
    middle = (scores[0] + scores[-1]) / 2
    for threshold in (0.0, middle, 1.0):
        rows, json_path, pubtator_path = page.refilter(state, threshold)
        expected = sum(s > threshold for s in scores)
        assert len(rows) == expected == len(json.loads(Path(json_path).read_text())["result"]["relations"])
        assert sum("\tCID\t" in line for line in Path(pubtator_path).read_text().splitlines()) == expected
    assert page.analyser.calls == calls
    assert page.refilter(None, 0.5) == ([], None, None)


def test_old_download_folders_are_removed(page, monkeypatch):
    monkeypatch.setattr(demo_app, "KEPT_DOWNLOADS", 2)
    state = page.analyse(page.examples[0]["text"], 0.5)[-1]
    paths = [page.refilter(state, 0.5)[1] for _ in range(4)]
    assert [Path(p).exists() for p in paths] == [False, False, True, True]


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("Aspirin\x07", "U+0007"), ("word " * 4001, "20,005 characters"), (b"bytes", "got bytes"),
])
def test_bad_input_on_the_page_is_a_message_and_empty_outputs(page, text, message):
    calls = page.analyser.calls
    status, html, rows, json_path, pubtator_path, state = page.analyse(text, 0.5)
    assert status.startswith("**Cannot analyse this text:**") and message in status
    assert (html, rows, json_path, pubtator_path, state) == ("", [], None, None, None)
    assert page.analyser.calls == calls


def test_html_input_is_analysed_as_text(page):
    text = "<script>alert(1)</script> Valproic acid (VPA) was given to 24 epileptic patients."
    status, html, *_, state = page.analyse(text, 0.5)
    assert "analysed and shown as plain text" in status and "<script>" not in html and "&lt;script&gt;" in html
    assert state["text"] == text


def test_long_input_is_windowed_to_its_end(page):
    """Ten abstracts in a row (~6,900 characters, many encoder windows): mentions come from the last one too."""
    example = page.examples[0]["text"]
    text = "\n".join([example] * 10)
    *_, state = page.analyse(text, 0.5)
    assert len(text) > 6_000 and state["result"]["mentions"]
    assert max(m["end"] for m in state["result"]["mentions"]) > len(text) - len(example)
    for m in state["result"]["mentions"]:
        assert view.model_text(text)[m["start"]:m["end"]] == m["text"]


def test_model_errors_are_a_short_message(page, monkeypatch, caplog):
    def broken(text, pmid):
        raise RuntimeError("boom")

    monkeypatch.setattr(page.analyser, "analyse", broken)
    status, *_ = page.analyse("Aspirin", 0.5)
    assert status.startswith("**Something went wrong") and "boom" not in status and "Traceback" not in status
    assert "boom" in caplog.text


def test_rendering_errors_are_a_short_message(page, monkeypatch):
    def broken(*args):
        raise ValueError("a rendering bug")

    monkeypatch.setattr(view, "highlighted_html", broken)
    status, html, *_ = page.analyse("Aspirin", 0.5)
    assert status.startswith("**Something went wrong") and html == ""


# ---- command lines and the Space export ------------------------------------------------------------------------
def test_app_help_and_missing_model():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("MODEL_ID", None)
    shown = subprocess.run([sys.executable, str(DEMO / "app.py"), "--help"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0 and "--model" in shown.stdout and "--port" in shown.stdout
    missing = subprocess.run([sys.executable, str(DEMO / "app.py"), "--model", str(REPO / "no-such-model")],
                             capture_output=True, text=True, env=env, timeout=120)
    assert missing.returncode == 2 and missing.stderr.startswith("error: cannot load the model")
    assert len(missing.stderr.strip().splitlines()) == 1


def test_space_readme_header():
    readme = (DEMO / "README.md").read_text()
    header = readme.split("---")[1]
    for line in ("sdk: gradio", "app_file: app.py", "models:"):
        assert line in header
    assert demo_app.readme_model() == "you/bc5cdr-joint-ner-re"
    assert "![" in readme and (DEMO / "demo.png").is_file()


def test_push_to_hub_space_local_dir(tmp_path):
    out = tmp_path / "space"
    done = subprocess.run(
        [sys.executable, "push_to_hub.py", "space", "--model", "someone/bc5cdr-model", "--local-dir", str(out)],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["README.md", "app.py", "result_view.py", "examples.json", "requirements.txt", "demo.png",
         "modeling", "loaders", "biomed_nerre"])  # the few standard-library modules the page imports, vendored
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.py") if p.parent != out) == [
        "biomed_nerre/__init__.py", "biomed_nerre/prediction/__init__.py", "biomed_nerre/prediction/corpus_ids.py",
        "loaders/__init__.py", "loaders/pubtator.py", "modeling/__init__.py", "modeling/outputs_joint_ner_re.py"]
    assert demo_app.readme_model(out / "README.md") == "someone/bc5cdr-model"
    assert (out / "README.md").read_text().split("---", 2)[2] == (DEMO / "README.md").read_text().split("---", 2)[2]
    shown = subprocess.run([sys.executable, "app.py", "--help"], cwd=out, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr  # the exported folder runs by itself
    again = subprocess.run([sys.executable, "push_to_hub.py", "space", "--model", "someone/x", "--local-dir", str(out)],
                           cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.startswith("error:") and "not an empty folder" in again.stderr
    local = subprocess.run([sys.executable, "push_to_hub.py", "space", "--model", "./models/x", "--local-dir",
                            str(tmp_path / "other")], cwd=REPO, capture_output=True, text=True)
    assert local.returncode == 2 and "expected a Hub model id" in local.stderr
    shown = subprocess.run([sys.executable, "push_to_hub.py", "space", "--help"], cwd=REPO, capture_output=True, text=True)
    assert shown.returncode == 0 and "--model" in shown.stdout


# ---- the page in a real browser -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.slow
def test_exported_space_runs_as_a_space_does(model_dir, tmp_path):
    """The exported folder alone, started as a Space starts it: `python app.py`, no arguments, the address and
    the port in GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, the model in MODEL_ID (a Space variable)."""
    out = tmp_path / "space"
    subprocess.run([sys.executable, "push_to_hub.py", "space", "--model", "someone/x", "--local-dir", str(out)],
                   cwd=REPO, check=True, capture_output=True)
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "MODEL_ID": str(model_dir),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    log = tmp_path / "space.log"
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=out, stdout=handle, stderr=subprocess.STDOUT, env=env)
    try:
        def config() -> str | None:
            if process.poll() is not None:
                raise AssertionError(f"the Space app exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2).read().decode()
            except OSError:
                return None

        served_config = _wait_for(config, 120, "the Space app's config")
        assert "Analysed 685 characters" in served_config and "tiny-test-model" in served_config
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def served(model_dir, tmp_path_factory):
    """`python demo/app.py --model DIR --port N` running on 127.0.0.1; yields the page URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false"}
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, str(DEMO / "app.py"), "--model", str(model_dir), "--port", str(port),
                                    "--host", "127.0.0.1"], stdout=handle, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the app exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            return urllib.request.urlopen(url, timeout=2).status == 200
        except OSError:
            return False

    try:
        _wait_for(up, 120, "the app to serve its page")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


def missing_browser(chromium: Path = CHROMIUM, chromedriver: Path = CHROMEDRIVER) -> str | None:
    """Why the browser test cannot run here (naming the command that installs what is missing), or None."""
    missing = [str(path) for path in (chromium, chromedriver) if not path.is_file()]
    if not missing:
        return None
    return f"the browser test needs Debian's Chromium ({' and '.join(missing)} missing): {INSTALL_BROWSER}"


def require_browser(chromium: Path = CHROMIUM, chromedriver: Path = CHROMEDRIVER) -> None:
    """Skip when Chromium is missing; fail instead where REQUIRE_BROWSER_TESTS=1 (CI: .ci/run installs it)."""
    reason = missing_browser(chromium, chromedriver)
    if reason is None:
        return
    if os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
        pytest.fail(f"REQUIRE_BROWSER_TESTS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def test_without_chromium_the_browser_test_skips_with_the_install_command(tmp_path, monkeypatch):
    absent = tmp_path / "chromium", tmp_path / "chromedriver"
    monkeypatch.delenv("REQUIRE_BROWSER_TESTS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="sudo apt-get install chromium chromium-driver"):
        require_browser(*absent)
    monkeypatch.setenv("REQUIRE_BROWSER_TESTS", "1")  # CI: a missing browser is a failure, never a skip
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_BROWSER_TESTS=1 but .*apt-get install chromium"):
        require_browser(*absent)
    present = tmp_path / "bin"
    present.mkdir()
    for name in ("chromium", "chromedriver"):
        (present / name).write_text("")
    assert missing_browser(present / "chromium", present / "chromedriver") is None
    require_browser(present / "chromium", present / "chromedriver")  # neither skips nor fails


@pytest.fixture(scope="module")
def browser(downloads):
    require_browser()  # first, before the app is started for nothing
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1300"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_page_in_headless_chromium(browser, served, page, downloads):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def css(selector):
        return browser.find_elements(By.CSS_SELECTOR, selector)

    def relation_rows():
        return css("#relations [role=row][data-index]")

    def replace_text(element, text):
        element.send_keys(Keys.CONTROL, "a")  # the modifier is held until the end of one send_keys call
        element.send_keys(text or Keys.BACKSPACE)  # typing over the selection (emptying the slider's box first
        # leaves it without a change event)

    browser.get(served)
    first = page.examples[0]
    # the example is analysed before the page is served: its result is there without typing
    _wait_for(lambda: css("#highlighted mark.mention"), 60, "the example's highlighted mentions")
    status = browser.find_element(By.ID, "status").text
    assert status.startswith("Analysed 685 characters"), status
    chemicals = [m.text for m in css('#highlighted mark.mention[data-type="Chemical"]')]
    assert any(name.startswith("valproic acid") for name in chemicals), chemicals
    valproate = css('#highlighted mark.mention[data-id="MESH:D014635"] a')
    assert valproate and valproate[0].get_attribute("href") == "https://meshb.nlm.nih.gov/record/ui?ui=D014635"
    assert css('#highlighted table.entities a.id-link[href="https://meshb.nlm.nih.gov/record/ui?ui=D014635"]')
    assert css("#highlighted .legend .legend-item") and css("#highlighted table.entities td")
    assert css("#download-json") and css("#download-pubtator")
    expected_rows = len(page.refilter(page.analyse(first["text"], 0.5)[-1], page.analyser.default_min_score)[0])
    _wait_for(lambda: len(relation_rows()) == expected_rows, 20, f"{expected_rows} relation rows")
    assert expected_rows and css('#relations [role=row][data-index] a[href^="https://meshb.nlm.nih.gov/record/ui?ui=D"]')
    RESULTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(RESULTS / "demo-example.png"))

    # the downloads are the example's result
    css("#download-json")[0].click()
    saved = _wait_for(lambda: list(downloads.glob("*.json")), 30, "the downloaded JSON")[0]
    payload = json.loads(saved.read_text())
    assert saved.name == f"joint-ner-re-{first['pmid']}.json" and payload["title"] == first["title"]
    assert any(m["text"] == "valproic acid" and m["type"] == "Chemical" for m in payload["result"]["mentions"])
    assert len(payload["result"]["relations"]) == expected_rows
    css("#download-pubtator")[0].click()
    saved = _wait_for(lambda: list(downloads.glob("*.pubtator.txt")), 30, "the downloaded PubTator file")[0]
    assert saved.read_text().startswith(f"{first['pmid']}|t|{first['title']}\n{first['pmid']}|a|")

    # the slider filters the table (the page's callback keeps no model call: see the slider test above)
    number = css("#threshold input[type=number]")[0]
    replace_text(number, "1" + Keys.ENTER)
    _wait_for(lambda: len(relation_rows()) == 0, 20, "no relation rows above a threshold of 1")

    # a new text: type, submit, and the result changes
    box = css("#input-text textarea")[0]
    replace_text(box, NEW_TEXT)
    css("#analyse")[0].click()
    _wait_for(lambda: browser.find_element(By.ID, "status").text.startswith(f"Analysed {len(NEW_TEXT)} characters"),
              60, "the new text's result")
    shown = browser.find_element(By.ID, "highlighted").text
    assert "lithium carbonate" in shown and "valproic acid" not in shown
    browser.save_screenshot(str(RESULTS / "demo-new-text.png"))

    # an example: one click fills the text box and analyses it
    second = page.examples[1]
    css("#examples button")[1].click()
    _wait_for(lambda: browser.find_element(By.ID, "status").text.startswith(f"Analysed {len(second['text']):,} "),
              60, "the second example's result")
    assert second["title"] in browser.find_element(By.ID, "highlighted").text

    # HTML and control characters: a message on the page, never a traceback
    replace_text(box, "<img src=x onerror=alert(1)> valproic acid")
    css("#analyse")[0].click()
    _wait_for(lambda: "plain text" in browser.find_element(By.ID, "status").text, 60, "the HTML note")
    assert not css("#highlighted img") and "<img src=x" in browser.find_element(By.ID, "highlighted").text
    replace_text(box, "")
    css("#analyse")[0].click()
    _wait_for(lambda: "the text is empty" in browser.find_element(By.ID, "status").text, 60, "the empty-text message")
    assert not css("#highlighted mark.mention") and "Traceback" not in browser.page_source
