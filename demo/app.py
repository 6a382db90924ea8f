"""Gradio demo of the joint biomedical NER + relation extraction model (a Hugging Face Space as it is).

    python demo/app.py --model DIR_OR_REPO [--port 7860] [--host 127.0.0.1]

Paste a title and abstract (or pick an example): the page shows the mentions highlighted by type, each
entity's concept id linked to its MeSH / NCBI Gene page, and the relations with a score slider. The model runs
once per text with a very low relation threshold; the slider only filters those scores (no second pass).
On a Space the model is the first entry of README.md's `models:` (or the MODEL_ID variable).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Sequence

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the Space runs app.py from its folder; tests and `python demo/app.py` may not
    sys.path.insert(0, str(HERE))

import result_view as view  # noqa: E402
from modeling.outputs_joint_ner_re import DocumentResult, to_document_result  # noqa: E402

LOG = logging.getLogger("demo")
# extract's threshold is a probability on the relations' score scale; at 0 every type-compatible pair is returned,
# so the slider can show any of them without re-running the model.
ALL_RELATIONS = 0.0
MODEL_ENV = "MODEL_ID"
EXAMPLES_FILE = HERE / "examples.json"
KEPT_DOWNLOADS = 64  # download folders kept on disk (Gradio has copied each into its cache when it is served)
CSS = """
.highlighted { line-height: 2.1; font-size: 1.02em; }
.mention { padding: 1px 3px; border-radius: 4px; }
.mention a { color: inherit; text-decoration: underline dotted; padding: 0; margin: 0; }
.mention-type { font-size: 0.62em; font-weight: 600; margin-left: 3px; opacity: 0.7; text-transform: uppercase; }
.legend { margin-bottom: 0.6em; }
.legend-item { padding: 1px 6px; border-radius: 4px; margin-right: 6px; color: #222; }
table.entities { margin-top: 1em; border-collapse: collapse; font-size: 0.92em; }
table.entities td, table.entities th { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: left; }
.nil-id { color: #777; font-family: monospace; }
.id-link { font-family: monospace; }
"""


# ---- the model ---------------------------------------------------------------------------------------------
def readme_model(readme: Path = HERE / "README.md") -> str | None:
    """The first `models:` entry of the Space's YAML header, or None."""
    if not readme.is_file():
        return None
    header = readme.read_text(encoding="utf-8").split("---")
    if len(header) < 3:
        return None
    match = re.search(r"^models:\s*\n\s*-\s*(\S+)", header[1], flags=re.MULTILINE)
    return match.group(1) if match else None


def load_model(name_or_path: str) -> tuple[Any, Any]:
    """Model and tokenizer from a local folder or a Hub repository (its own code: trust_remote_code)."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(name_or_path, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=True)
    return model.eval(), tokenizer


class Analyser:
    """One model behind the page: `analyse(text)` runs it once and keeps every scored relation."""

    def __init__(self, model: Any, tokenizer: Any, model_name: str, max_chars: int = view.MAX_CHARS) -> None:
        self.model, self.tokenizer, self.model_name, self.max_chars = model, tokenizer, model_name, max_chars
        self.entity_types: list[str] = list(model.config.entity_types)
        self.default_min_score = round(float(model.config.relation_threshold), 3)
        self.has_linker = getattr(model, "linker", None) is not None
        self.calls = 0  # encoder runs, so tests can check that the slider never causes one

    def analyse(self, text: str, pmid: str = "0") -> DocumentResult:
        """The end2end result of `text` (already checked) with every type-compatible relation scored."""
        self.calls += 1
        result = self.model.extract([{"pmid": pmid, "text": view.model_text(text)}], self.tokenizer, mode="end2end",
                                    batch_size=1, threshold=ALL_RELATIONS)[0]
        return to_document_result(result)


def load_examples(path: Path = EXAMPLES_FILE) -> list[dict[str, str]]:
    """Example abstracts: [{"pmid", "source", "title", "abstract", "text"}] (text = title, line break, abstract)."""
    examples = json.loads(path.read_text(encoding="utf-8"))
    return [{**e, "text": f"{e['title']}\n{e['abstract']}"} for e in examples]


def _count(items: Sequence[Any], one: str, many: str | None = None) -> str:
    return f"{len(items)} {one if len(items) == 1 else many or one + 's'}"


# ---- the page's callbacks ------------------------------------------------------------------------------------
class Page:
    """The callbacks of the page, over one Analyser (plain methods so tests can call them directly)."""

    def __init__(self, analyser: Analyser, examples: Sequence[dict[str, str]], files_dir: Path | None = None) -> None:
        self.analyser, self.examples = analyser, list(examples)
        self.files_dir = Path(files_dir or tempfile.mkdtemp(prefix="joint-ner-re-demo-"))
        self._download_folders: deque[Path] = deque()

    def _pmid(self, text: str) -> str:
        return next((e["pmid"] for e in self.examples if e["text"] == text), "0")

    def analyse(self, text: Any, min_score: float) -> tuple[str, str, list[list[Any]], str | None, str | None, Any]:
        """(status, highlighted HTML, relation rows, JSON path, PubTator path, state) for a submitted text.

        Bad input and model errors come back as a status message with empty outputs, never as a traceback."""
        try:
            text, notes = view.check_text(text, self.analyser.max_chars)
            started = time.perf_counter()
            pmid = self._pmid(text)
            try:
                result = self.analyser.analyse(text, pmid)
            except ValueError as err:  # the model's own input checks
                return f"**Cannot analyse this text:** {err}", "", [], None, None, None
            seconds = time.perf_counter() - started
            state = {"text": text, "result": result, "pmid": pmid}
            html = view.highlighted_html(text, result, self.analyser.entity_types)
            rows, json_path, pubtator_path = self.refilter(state, min_score)
        except view.InputError as err:
            return f"**Cannot analyse this text:** {err}.", "", [], None, None, None
        except Exception:  # a bug: logged on the server, a short message on the page
            LOG.exception("analysing a text failed")
            return "**Something went wrong while analysing this text.** The error is in the server log.", "", [], \
                None, None, None
        status = (f"Analysed {len(text):,} characters in {seconds:.2f} s: {_count(result['mentions'], 'mention')}, "
                  f"{_count(result['entities'], 'entity', 'entities')}, "
                  f"{_count(result['relations'], 'scored entity pair')}.")
        if not self.analyser.has_linker:
            status += " This model has no concept linker: entities carry NIL ids (NIL:<type>:<text>)."
        status = " ".join([status, *notes])
        return status, html, rows, json_path, pubtator_path, state

    def refilter(self, state: Any, min_score: float) -> tuple[list[list[Any]], str | None, str | None]:
        """Relation rows and downloads for another score threshold, from the kept result (no model call)."""
        if not state:
            return [], None, None
        min_score = float(min_score)
        text, result, pmid = state["text"], state["result"], state["pmid"]
        folder = self.files_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True)
        self._download_folders.append(folder)
        while len(self._download_folders) > KEPT_DOWNLOADS:
            shutil.rmtree(self._download_folders.popleft(), ignore_errors=True)
        json_path = folder / f"joint-ner-re-{pmid}.json"
        json_path.write_text(view.result_json(text, result, min_score, self.analyser.model_name), encoding="utf-8")
        pubtator_path = folder / f"joint-ner-re-{pmid}.pubtator.txt"
        pubtator_path.write_text(view.pubtator(text, result, min_score, pmid), encoding="utf-8")
        return view.relation_rows(result, min_score), str(json_path), str(pubtator_path)


# ---- layout ----------------------------------------------------------------------------------------------------
def build_app(page: Page) -> Any:
    """The Gradio Blocks of the page; the first example is analysed before the page is served."""
    import gradio as gr

    analyser = page.analyser
    first = page.examples[0]["text"] if page.examples else ""
    initial = page.analyse(first, analyser.default_min_score) if first else ("", "", [], None, None, None)
    if Path(analyser.model_name).exists():
        model_line = f"local folder `{Path(analyser.model_name).name}`"
    else:
        model_line = f"[{analyser.model_name}](https://huggingface.co/{analyser.model_name})"
    with gr.Blocks(title="Biomedical NER + relation extraction", delete_cache=(3600, 3600)) as app:
        gr.Markdown(
            "# Chemicals, diseases, genes and their relations\n"
            f"Model: {model_line}. Paste a title and abstract (first line: the title) or pick an example. "
            "Mentions are highlighted by type; ids link to MeSH or NCBI Gene; relations are between entities "
            "(concepts) of the whole text."
        )
        with gr.Row():
            with gr.Column(scale=1):
                text_box = gr.Textbox(value=first, lines=12, max_lines=30, label="Title and abstract",
                                      elem_id="input-text")
                submit = gr.Button("Analyse", variant="primary", elem_id="analyse")
                examples_box = gr.Dataset(
                    components=["textbox"], samples=[[e["text"]] for e in page.examples],
                    sample_labels=[f"{e['title'][:70]} (PMID {e['pmid']}, {e['source']})" for e in page.examples],
                    label="Examples", elem_id="examples",
                ) if page.examples else None
            with gr.Column(scale=2):
                status = gr.Markdown(initial[0], elem_id="status")
                highlighted = gr.HTML(initial[1], elem_id="highlighted")
        threshold = gr.Slider(0.0, 1.0, value=analyser.default_min_score, step=0.001, elem_id="threshold",
                              label="Relation score threshold",
                              info=f"Shows relations scoring above it (the model's calibrated threshold: "
                                   f"{analyser.default_min_score}). Moving it does not re-run the model.")
        relations = gr.Dataframe(value=initial[2], headers=view.RELATION_COLUMNS, elem_id="relations",
                                 datatype=["markdown", "markdown", "str", "number"], interactive=False,
                                 label="Relations (head, tail, label, score)", wrap=True)
        with gr.Row():
            json_button = gr.DownloadButton("Download JSON", value=initial[3], elem_id="download-json")
            pubtator_button = gr.DownloadButton("Download PubTator", value=initial[4], elem_id="download-pubtator")
        state = gr.State(initial[5])

        outputs = [status, highlighted, relations, json_button, pubtator_button, state]
        submit.click(page.analyse, [text_box, threshold], outputs, api_name="analyse")
        # filtering is cheap: no queueing behind analyses, only the latest slider position matters
        threshold.change(page.refilter, [state, threshold], [relations, json_button, pubtator_button],
                         api_visibility="private", show_progress="hidden", trigger_mode="always_last",
                         concurrency_limit=None)
        if examples_box is not None:
            examples_box.click(lambda sample: sample[0], [examples_box], [text_box], api_visibility="private").then(
                page.analyse, [text_box, threshold], outputs, api_visibility="private")
    return app


# ---- command line ----------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Run the Gradio demo of a joint NER + relation extraction model.")
    parser.add_argument("--model", default=None,
                        help=f"model folder or Hub id (default: ${MODEL_ENV}, else the first models: entry of "
                             "demo/README.md)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--host", default=None,
                        help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--max-chars", type=int, default=view.MAX_CHARS, help="longest text accepted")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    name = args.model or os.environ.get(MODEL_ENV) or readme_model()
    if not name:
        print(f"error: no model: pass --model DIR_OR_REPO or set {MODEL_ENV}", file=sys.stderr)
        return 2
    try:
        model, tokenizer = load_model(name)
    except (OSError, ValueError) as err:
        print(f"error: cannot load the model {name!r}: {err}".splitlines()[0], file=sys.stderr)
        return 2
    page = Page(Analyser(model, tokenizer, name, args.max_chars), load_examples())
    app = build_app(page)
    app.queue(default_concurrency_limit=1)  # one analysis at a time: the CPU is the bottleneck
    app.launch(server_name=args.host, server_port=args.port, css=CSS, ssr_mode=False, show_error=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
