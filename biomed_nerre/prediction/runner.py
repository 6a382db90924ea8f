"""The resumable, sharded prediction run behind `predict.py`.

The input stream is cut into chunks of `chunk_size` items (documents and problems, in input order); chunk k
belongs to process `k % num_processes`. Every process reads the whole stream (reading is cheap next to the
model) and predicts only its chunks, each written atomically (temporary file, then rename) as
`<work dir>/chunk-<k>.jsonl`. Chunk boundaries do not depend on the number of processes, so every document
is predicted in the same batch by 1, 2 or 16 processes, and a rerun after a crash or SIGKILL skips the
chunks already on disk and recomputes only the unfinished ones: nothing is lost or written twice. When all
chunks exist, the main process merges them in order into the output (written to a temporary name, then
renamed), lists the skipped inputs, and removes the work dir. The work dir holds a manifest of what
decides the predictions (`manifest`: the inputs, the model's content, the threshold, batch and chunk size,
backend and device), written once the model is loaded; a rerun with anything different (a model retrained in
place, an edited linker) is refused with one line saying what changed, unless `overwrite`. Chunk files carry
the manifest's key in their names, so chunks of two runs are never merged.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from loaders.cli_errors import UsageError
from modeling.outputs_joint_ner_re import InputError, control_character_problem, to_document_result

from .fingerprint import model_fingerprint
from .manifest import FORMAT, MANIFEST, input_identity, refusal, run_key
from .readers import INPUT_FORMATS, Columns, Item, read_inputs
from .records import Document, Problem
from .writers import OUTPUT_FORMATS, open_writer

POLL_SECONDS = 1.0
BACKENDS = ("torch", "onnx")


@dataclass
class RunSettings:
    inputs: list[str]
    output: Path
    output_format: str
    model: str
    input_format: str | None = None
    columns: Columns = field(default_factory=Columns)
    id_style: str | None = None  # None: from the model's entity types
    bioc_layout: str | None = None  # None: from the model's entity types (bioc_layout.default_bioc_layout)
    batch_size: int = 8
    threshold: float | None = None
    chunk_size: int = 256
    skip_errors: bool = False
    overwrite: bool = False
    work_dir: Path | None = None
    progress: bool = True
    backend: str = "torch"  # where the encoder runs: torch or onnx (ONNX Runtime); the predictions are the same

    def __post_init__(self) -> None:
        """`UsageError` (an `InputError`) for settings no run can use, whether they come from the command line or
        from Python."""
        for name in ("batch_size", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name.replace('_', '-')} must be an integer of at least 1, got {value!r}")
        if self.threshold is not None and (isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float))
                                           or not 0.0 <= self.threshold <= 1.0):
            raise UsageError(f"threshold {self.threshold!r}: a relation score threshold is a probability between 0 and 1")
        for name, value, allowed in (("output format", self.output_format, OUTPUT_FORMATS),
                                     ("input format", self.input_format, (None, *INPUT_FORMATS)),
                                     ("backend", self.backend, BACKENDS)):
            if value not in allowed:
                raise UsageError(f"unknown {name} {value!r}; expected one of: {', '.join(a for a in allowed if a)}")
        if isinstance(self.inputs, str) or not all(isinstance(i, str) for i in self.inputs):
            raise UsageError(f"inputs is a list of paths or Hub dataset names, got {self.inputs!r}")
        self.output = Path(self.output)

    @property
    def work(self) -> Path:
        return self.work_dir or self.output.with_name(self.output.name + ".parts")

    def manifest(self, model_content: dict[str, Any], device: str) -> dict[str, Any]:
        """What decides which documents are read and what is predicted for them (see `manifest`)."""
        model = self.model if not Path(self.model).exists() else str(Path(self.model).resolve())
        inputs = [input_identity(s) for s in self.inputs]
        return {"format": FORMAT, "inputs": inputs, "input_format": self.input_format, "columns": asdict(self.columns),
                "model": model, "model_content": model_content, "backend": self.backend, "device": device,
                "batch_size": self.batch_size, "threshold": self.threshold, "chunk_size": self.chunk_size}


@dataclass
class Summary:
    documents: int = 0
    mentions: int = 0
    relations: int = 0
    problems: list[Problem] = field(default_factory=list)
    predicted_here: int = 0  # documents this process predicted in this run (not resumed)
    left_out: list[tuple[str, int, int]] = field(default_factory=list)  # mentions BioC output had no passage for
    resumed_chunks: int = 0
    seconds: float = 0.0
    processes: int = 1


def _checked(item: Item) -> Item:
    """A document whose text holds a control character (a NUL byte of a damaged file) as a `Problem`: refused,
    or with --skip-errors skipped and listed, like any other bad input unit."""
    if isinstance(item, Document):
        problem = control_character_problem(item.text)
        if problem is not None:
            return Problem(item.source, problem, item.pmid)
    return item


def chunks(items: Iterable[Item], size: int) -> Iterator[tuple[int, list[Item]]]:
    """(index, items) of consecutive groups of `size` items."""
    group: list[Item] = []
    index = 0
    for item in items:
        group.append(item)
        if len(group) == size:
            yield index, group
            index, group = index + 1, []
    if group:
        yield index, group


def chunk_path(work: Path, index: int, key: str) -> Path:
    """Chunk `index` of the run whose manifest has key `key` (`manifest.run_key`)."""
    return work / f"chunk-{index:08d}-{key}.jsonl"


def _write_atomically(path: Path, lines: Iterable[str]) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def check_finished(settings: RunSettings) -> None:
    """Refuse a finished output (before the model is loaded: the cheap check comes first)."""
    if not settings.overwrite and settings.output.exists() and not settings.work.exists():
        raise UsageError(f"{settings.output} exists (a finished run); pass --overwrite to predict again")


def check_and_prepare(settings: RunSettings, state: Any, manifest: dict[str, Any]) -> None:
    """Refuse an existing finished output or an unfinished run that differs from `manifest` (`manifest.refusal`
    says what changed); on the main process, clear them (`overwrite`) and create the work dir with the manifest.
    Every process checks the same files, so all stop alike."""
    work = settings.work
    check_finished(settings)
    if not settings.overwrite and (work / MANIFEST).is_file():
        try:
            stored = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            stored = {}  # written atomically, so damaged by something else: a run it cannot be matched with
        problem = refusal(work, stored if isinstance(stored, dict) else {}, manifest)
        if problem is not None:
            raise UsageError(problem)
    if state.is_main_process:
        if settings.overwrite:
            shutil.rmtree(work, ignore_errors=True)
            settings.output.unlink(missing_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        if not (work / MANIFEST).is_file():
            _write_atomically(work / MANIFEST, [json.dumps(manifest, indent=1)])
    state.wait_for_everyone()


def predict_chunk(model: Any, tokenizer: Any, items: Sequence[Item], settings: RunSettings) -> list[dict[str, Any]]:
    """The records of one chunk: `{"document", "result"}` per document, `{"problem"}` per skipped input."""
    documents = [item for item in items if isinstance(item, Document)]
    for item in items:
        if isinstance(item, Problem) and not settings.skip_errors:
            raise InputError(f"{item} (pass --skip-errors to skip and list such inputs)")
    results: dict[int, dict[str, Any] | Problem] = {}
    try:
        batch = _extract(model, tokenizer, documents, settings)
        results = {id(d): r for d, r in zip(documents, batch)}
    except ValueError:  # a bad document: find it (and, with --skip-errors, predict the others)
        for document in documents:
            try:
                results[id(document)] = _extract(model, tokenizer, [document], settings)[0]
            except ValueError as err:
                problem = Problem(document.source, f"cannot predict: {err}", document.pmid)
                if not settings.skip_errors:
                    raise InputError(f"{problem} (pass --skip-errors to skip and list such inputs)") from None
                results[id(document)] = problem
    records = []
    for item in items:
        outcome = results.get(id(item)) if isinstance(item, Document) else item
        if isinstance(outcome, Problem):
            records.append({"problem": outcome.to_json()})
        else:
            records.append({"document": item.to_json(), "result": outcome})
    return records


def _extract(model: Any, tokenizer: Any, documents: Sequence[Document], settings: RunSettings) -> list[dict[str, Any]]:
    if not documents:
        return []
    inputs = [{"pmid": d.pmid, "text": d.text} for d in documents]
    raw = model.extract(inputs, tokenizer, mode="end2end", batch_size=settings.batch_size, threshold=settings.threshold)
    return [to_document_result(r) for r in raw]


def load_pretrained(model_name_or_path: str) -> tuple[Any, Any]:
    """The model (as saved, on the CPU) and its tokenizer, from a folder or a Hub id. This package's `modeling` is
    imported by this process and registered with `AutoModel`, so its classes load the model, not the code saved in
    the folder (`trust_remote_code` is what a process without this package relies on). A folder with a missing or
    damaged file raises `InputError` naming the file (`files_joint_ner_re.check_model_folder`, then the loaders of
    the weights, linker and gazetteer); predict.py, evaluate.py and link.py load models through here."""
    from transformers import AutoModel, AutoTokenizer

    from modeling import register
    from modeling.files_joint_ner_re import check_model_folder

    register()  # this package's classes load the model, not a copy of the code saved in its folder
    path = Path(model_name_or_path)
    if path.is_dir():
        check_model_folder(path)  # config.json and the tokenizer's JSON files are read by transformers first
    elif path.exists():
        raise InputError(f"{path}: a file, not a model folder (give the folder train.py wrote, or a Hub id)")
    model = AutoModel.from_pretrained(model_name_or_path, trust_remote_code=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, trust_remote_code=True)
    except (InputError, OSError):
        raise
    except Exception as error:  # the tokenizers library's own errors name no file
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise InputError(f"{model_name_or_path}: its tokenizer cannot be loaded ({type(error).__name__}: "
                         f"{first_line}): a damaged tokenizer file") from None
    return model, tokenizer


def load_model(model_name_or_path: str, device: Any) -> tuple[Any, Any]:
    """`load_pretrained`, with the model in eval mode on `device`."""
    model, tokenizer = load_pretrained(model_name_or_path)
    return model.to(device).eval(), tokenizer


def use_backend(model: Any, backend: str, int8: bool = False) -> Any:
    """`model` with its encoder on `backend` ("onnx": ONNX Runtime, the CUDA provider on a GPU, its int8 model with
    `int8`; exported into the model folder, or a cache, the first time); `UsageError` where the model's code or
    onnxruntime lacks it. evaluate.py uses it too."""
    if backend == "torch":
        return model
    if not hasattr(model, "use_backend"):
        raise UsageError("this model's code was saved before the ONNX backend existed (no use_backend): save it "
                         "again with this version's modeling code, or use --backend torch")
    try:
        return model.use_backend(backend, provider="cuda" if model.device.type == "cuda" else "cpu", int8=int8)
    except backend_error_class(model) as err:  # no onnxruntime, no such provider, an export that fails its check
        raise UsageError(str(err)) from err


def backend_error_class(model: Any) -> type[Exception]:
    """The `OnnxBackendError` class of the code `model` runs. A model loaded with `trust_remote_code` runs its
    folder's own copy of `modeling/` (a `transformers_modules...` package), whose class is not the installed
    `modeling.onnx_joint_ner_re.OnnxBackendError`; its sibling module in the model's package holds the right one."""
    import importlib

    package = type(model).__module__.rpartition(".")[0]
    return importlib.import_module(f"{package}.onnx_joint_ner_re").OnnxBackendError


def check_output_layout(settings: RunSettings, config: Any) -> None:
    """`UsageError` before any prediction when the chosen BioC layout cannot hold this model's types."""
    from .bioc_layout import check_bioc_layout

    if settings.bioc_layout and settings.output_format.startswith("bioc"):
        try:
            check_bioc_layout(settings.bioc_layout, list(config.entity_types), getattr(config, "relation_types", None))
        except ValueError as err:
            raise UsageError(f"--bioc-layout {settings.bioc_layout}: {err}") from None


def run(settings: RunSettings, state: Any | None = None, model_and_tokenizer: tuple[Any, Any] | None = None) -> Summary | None:
    """Predict every input document into `settings.output`. Returns the summary on the main process
    (None elsewhere). `state`: accelerate's `PartialState` (made here by default)."""
    if state is None:
        state = process_state()
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if state.num_processes != launched:  # processes that each think they are alone would share chunks
        raise UsageError(f"launched as {launched} processes but accelerate sees {state.num_processes}")
    started = time.perf_counter()
    check_finished(settings)
    model, tokenizer = model_and_tokenizer or load_model(settings.model, state.device)
    check_output_layout(settings, model.config)
    model = use_backend(model, settings.backend)
    manifest = settings.manifest(model_fingerprint(settings.model, model), state.device.type)
    check_and_prepare(settings, state, manifest)
    # what is loaded by now (modules, the model, its linker and gazetteer) lives through the run: kept out of the
    # cyclic collector's full passes, each of which would walk all of it (generation-2 collections over the 500
    # test abstracts: 0.79 s with this, 1.58 s without)
    gc.freeze()
    try:
        return _predict_and_merge(settings, state, model, tokenizer, started, run_key(manifest))
    except InputError:
        if state.is_main_process and not any(settings.work.glob("chunk-*.jsonl")):
            shutil.rmtree(settings.work, ignore_errors=True)  # a manifest alone keeps nothing worth resuming
        raise
    finally:
        gc.unfreeze()


def _predict_and_merge(settings: RunSettings, state: Any, model: Any, tokenizer: Any, started: float,
                       key: str) -> Summary | None:
    rank, world = state.process_index, state.num_processes
    summary = Summary(processes=world)
    bar = _progress(settings.progress and state.is_main_process, world)
    total_chunks = 0
    for index, items in chunks(read_inputs(settings.inputs, settings.input_format, settings.columns), settings.chunk_size):
        total_chunks = index + 1
        items = [_checked(item) for item in items]
        if not settings.skip_errors:  # every process stops at the same problem, owned or not
            for item in items:
                if isinstance(item, Problem):
                    raise InputError(f"{item} (pass --skip-errors to skip and list such inputs)")
        if index % world != rank:
            continue
        path = chunk_path(settings.work, index, key)
        if path.is_file():
            summary.resumed_chunks += 1
            continue
        records = predict_chunk(model, tokenizer, items, settings)
        _write_atomically(path, (json.dumps(r, ensure_ascii=False) for r in records))
        done = sum(1 for r in records if "result" in r)
        summary.predicted_here += done
        if bar is not None:
            bar.update(done)
    if bar is not None:
        bar.close()
    if not state.is_main_process:
        return None
    _wait_for_chunks(settings.work, total_chunks, key)
    _merge(settings, model, total_chunks, summary, key)
    shutil.rmtree(settings.work, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    return summary


def process_state() -> Any:
    """Accelerate's view of this process. On CPUs (no CUDA, or ACCELERATE_USE_CPU set by the launcher) the
    state must be asked for with cpu=True, else each launched process sees itself alone (gloo is not set up)."""
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())


def _progress(enabled: bool, world: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    desc = "predict" if world == 1 else f"predict (process 0 of {world}; each does 1/{world})"
    return tqdm(desc=desc, unit=" docs", file=sys.stderr, dynamic_ncols=True, mininterval=1.0)


def _wait_for_chunks(work: Path, total: int, key: str) -> None:
    """Poll until the other processes have written every chunk (no collective call, so no timeout on a long
    corpus; the launcher stops everyone if a process dies)."""
    missing = [k for k in range(total) if not chunk_path(work, k, key).is_file()]
    while missing:
        time.sleep(POLL_SECONDS)
        missing = [k for k in missing if not chunk_path(work, k, key).is_file()]


def _merge(settings: RunSettings, model: Any, total_chunks: int, summary: Summary, key: str) -> None:
    from .bioc_layout import default_bioc_layout
    from .corpus_ids import default_id_style

    entity_types = list(model.config.entity_types)
    id_style = settings.id_style or default_id_style(entity_types)
    layout = settings.bioc_layout or default_bioc_layout(entity_types, getattr(model.config, "relation_types", None))
    output = settings.output
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    gz = output.name.lower().endswith(".gz")
    writer = open_writer(tmp, settings.output_format, gz=gz, id_style=id_style, source=str(settings.model),
                         bioc_layout=layout)
    try:
        for index in range(total_chunks):
            with open(chunk_path(settings.work, index, key), encoding="utf-8") as handle:
                for line in handle:
                    record = json.loads(line)
                    if "problem" in record:
                        summary.problems.append(Problem(**record["problem"]))
                        continue
                    result = record["result"]
                    writer.write(record["document"], result)
                    summary.documents += 1
                    summary.mentions += len(result["mentions"])
                    summary.relations += len(result["relations"])
    finally:
        writer.close()
    summary.left_out = list(getattr(writer, "left_out", []))
    os.replace(tmp, output)
    skipped = skipped_list_path(output)
    if summary.problems:
        _write_atomically(skipped, (json.dumps(p.to_json(), ensure_ascii=False) for p in summary.problems))
    else:
        skipped.unlink(missing_ok=True)


def skipped_list_path(output: Path) -> Path:
    """Where a run with --skip-errors lists what it skipped (one JSON object per line)."""
    return output.with_name(output.name + ".skipped.jsonl")
