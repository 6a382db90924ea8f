"""``python evaluate.py``: predict a corpus split with a saved model, score it, write the results folder.

``results/<run>/<dataset>[-<config>]-<split>/`` receives ``metrics.json``, ``ner_per_type_f1.png``,
``ner_confusion.png``, ``re_per_label_f1.png`` and the predictions; a summary table is printed.

* BC5CDR: ``predictions_<mode>.PubTator.txt`` with mention lines and ``PMID<TAB>CID<TAB>chem<TAB>dis`` lines,
  the format of the BioCreative V CDR evaluation kit. Gold mode works on gold entities, so its CID lines
  carry MeSH ids: that file is the one for the kit's ``relation`` evaluation. End-to-end entities have
  model-local ids ("E0", ...), so that file is for the kit's ``mention`` evaluation (its CID lines and id
  column cannot score against MeSH ids; ``metrics.json`` holds the end-to-end relation scores).
* ChemDisGene: ``relationships_<mode>.tsv`` (``PMID<TAB>label<TAB>head<TAB>tail``, no header) and
  ``predictions_end2end.PubTator.txt`` with mention lines only (gold-mode mentions are the gold ones).
* With ``--bioc``, each ``predictions_<mode>.PubTator.txt`` also as ``predictions_<mode>.BioC.xml``: the same
  mentions and relations, in the corpus's BioC layout for BC5CDR (what the kit reads in BioC mode), in
  PubTator3's for ChemDisGene (which has no BioC release), there with the relations too.
"""

from __future__ import annotations

import argparse
import logging
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loaders.cli_errors import OneLineErrorParser, UsageError, one_line_errors, unknown_name
from loaders.schema import CORPUS_NAMES

from .re_metrics import MODES
from .linking_metrics import score_linking
from .scoring import score_documents
from .writers import write_bioc, write_metrics_json, write_pubtator, write_relationships_tsv

logger = logging.getLogger(__name__)

DEFAULT_DOCUMENTS_CONFIG = {"bc5cdr": "documents", "chem_dis_gene": "ctd_derived_documents"}
PUBTATOR_RELATIONS = {"bc5cdr"}  # corpora whose relations go into the PubTator file (CID lines)
ID_STYLES = {"bc5cdr": "bc5cdr", "chem_dis_gene": "chem_dis_gene"}  # how each corpus writes concept ids
BIOC_LAYOUTS = {"bc5cdr": "bc5cdr", "chem_dis_gene": "pubtator3"}  # a corpus's own BioC layout where it has one
# --config values (document families) and their splits, per corpus; None: the corpus's default config
SPLITS = {
    "bc5cdr": {None: ("train", "validation", "test")},
    "chem_dis_gene": {None: ("train", "validation", "test"), "ctd_derived": ("train", "validation", "test"),
                      "curated": ("test",)},
}


def check_corpus_split(dataset: str, config: str | None, split: str) -> None:
    """Raise `UsageError` naming what is allowed when the corpus, its config or the split does not exist."""
    if dataset not in CORPUS_NAMES:
        raise unknown_name("dataset", dataset, CORPUS_NAMES)
    families = SPLITS[dataset]
    if config not in families:
        named = [f for f in families if f is not None]
        allowed = f"expected one of: {', '.join(named)}" if named else "it has none (leave --config out)"
        raise UsageError(f"{dataset} has no config {config!r}; {allowed}")
    if split not in families[config]:
        corpus = f"{dataset} {config}" if config else dataset
        raise UsageError(f"{corpus} has no split {split!r}; expected one of: {', '.join(families[config])}")


def run_name_for(model_path: str) -> str:
    """A folder name from a model directory or Hub id ("org/name" -> "org__name")."""
    path = Path(model_path)
    name = path.name if path.exists() else model_path.replace("/", "__")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "model"


def results_folder(output_dir: str | Path, run_name: str, dataset: str, split: str, config: str | None) -> Path:
    """``<output_dir>/<run>/<dataset>-<split>``, or ``<dataset>-<config>-<split>`` when a config is named."""
    return Path(output_dir) / run_name / "-".join(p for p in (dataset, config, split) if p)


def load_documents(dataset: str, split: str, config: str | None = None, data_dir: str | None = None,
                   cache_dir: str | None = None, limit: int | None = None) -> list[dict]:
    """The ``documents`` view of one split: ``<config>_documents`` when a config such as ``curated`` is
    named, else the corpus's default (BC5CDR ``documents``, ChemDisGene ``ctd_derived_documents``)."""
    from loaders import load_corpus

    check_corpus_split(dataset, config, split)
    config_name = f"{config}_documents" if config else DEFAULT_DOCUMENTS_CONFIG[dataset]
    splits = load_corpus(dataset, config_name, data_dir=data_dir, cache_dir=cache_dir)
    if split not in splits:
        raise ValueError(f"{dataset} ({config_name}) has no split {split!r}; it has {sorted(splits)}")
    data = splits[split]
    if limit is not None:
        data = data.select(range(min(limit, len(data))))
    return [dict(row) for row in data]


DTYPES = ("float32", "bfloat16", "float16")


def _check_precision(int8: bool, dtype: str) -> None:
    if dtype not in DTYPES:
        raise unknown_name("dtype", dtype, DTYPES)
    if int8 and dtype != "float32":
        raise UsageError(f"--int8 quantizes the float32 model: use --int8 or --dtype {dtype}, not both")


BACKENDS = ("torch", "onnx")


def check_backend(backend: str, dtype: str = "float32") -> None:
    """Raise `UsageError` for an unknown backend, or "onnx" with a dtype other than float32 or without onnxruntime."""
    if backend not in BACKENDS:
        raise unknown_name("backend", backend, BACKENDS)
    if backend == "onnx" and dtype != "float32":
        raise UsageError(f"--backend onnx runs the float32 encoder (or int8 with --int8), not --dtype {dtype}")
    if backend == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError as err:
            raise UsageError("--backend onnx needs the onnxruntime package: pip install -r requirements-onnx.txt") from err


def use_backend(model: Any, backend: str, int8: bool = False) -> Any:
    """``model`` with its encoder on ``backend`` (checked by `check_backend`): "torch" leaves it as it is; "onnx"
    is `biomed_nerre.prediction.runner.use_backend` (ONNX Runtime, exported into the model folder the first time)."""
    from biomed_nerre.prediction.runner import use_backend as backend_of

    check_backend(backend)
    return backend_of(model, backend, int8)


def load_model(model_path: str, device: str | None = None, int8: bool = False,
               dtype: str = "float32") -> tuple[Any, Any]:
    """``AutoModel`` (``trust_remote_code=True``) and its tokenizer, in eval mode on ``device``.

    ``int8``: the model's ``quantize_for_cpu()`` copy (CPU only). ``dtype``: the weights' floating-point type
    (``bfloat16`` is fast on GPUs and on CPUs with AMX, slow on CPUs without bf16 instructions)."""
    import torch

    from biomed_nerre.prediction.runner import load_pretrained

    _check_precision(int8, dtype)
    device = device or ("cuda" if torch.cuda.is_available() and not int8 else "cpu")
    check_model_path(model_path)
    try:
        model, tokenizer = load_pretrained(model_path)  # a damaged file: InputError naming it
    except OSError as err:  # neither a model folder nor a Hub model that could be reached
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        where = "" if Path(model_path).exists() else "no such folder, and as a Hub id: "
        raise UsageError(f"--model {model_path}: {where}{first_line}") from err
    if int8:
        if torch.device(device).type != "cpu":
            raise UsageError(f"int8 quantization runs on the CPU only, not on {device}")
        return model.quantize_for_cpu(), tokenizer
    return model.to(device=device, dtype=getattr(torch, dtype)).eval(), tokenizer


def check_model_path(model_path: str) -> None:
    """Raise `UsageError` when ``model_path`` names a local folder that does not exist (rather than letting it be
    tried as a Hub id): it starts with ``.``, ``/`` or ``~``, has more than one ``/``, or its first part is a
    folder here (``models/...``)."""
    path = Path(model_path).expanduser()
    if path.is_dir():
        return
    if path.exists():
        raise UsageError(f"--model {model_path}: not a folder (give the folder train.py wrote, or a Hub id)")
    looks_local = model_path.startswith((".", "/", "~")) or model_path.count("/") > 1 or "\\" in model_path
    if looks_local or (len(path.parts) > 1 and Path(path.parts[0]).is_dir()):
        raise UsageError(f"--model {model_path}: no such folder (give the folder train.py wrote, or a Hub id)")


def predict(model: Any, tokenizer: Any, documents: Sequence[Mapping], modes: Sequence[str],
            batch_size: int = 8, parallel_batches: int = 1) -> dict[str, list[dict]]:
    """Predictions per mode: ``model.extract_modes`` (one encoder pass for all modes), or ``model.extract``
    once per mode for models saved before it existed (``extract`` is the modeling contract in
    docs/architecture.md).

    ``parallel_batches`` > 1 runs that many CPU batches at once (``extract``'s argument; it is passed only then,
    so models saved before it existed still run one batch at a time)."""
    import torch

    options = {"parallel_batches": parallel_batches} if parallel_batches != 1 else {}
    documents = list(documents)
    with torch.inference_mode():
        if hasattr(model, "extract_modes"):  # one encoder pass for all modes
            out = model.extract_modes(documents, tokenizer, {mode: None for mode in modes}, batch_size=batch_size,
                                      **options)
        else:  # a model saved before extract_modes existed
            out = {mode: model.extract(documents, tokenizer, mode=mode, batch_size=batch_size, **options)
                   for mode in modes}
    for mode in modes:
        out[mode] = list(out[mode])
        if len(out[mode]) != len(documents):
            raise RuntimeError(f"model.extract(mode={mode!r}) returned {len(out[mode])} predictions "
                               f"for {len(documents)} documents")
    return out


def link_gold_mentions(model: Any, documents: Sequence[Mapping]) -> list[list] | None:
    """The model's linker on each document's gold mentions (None when the model has no linker)."""
    linker = getattr(model, "linker", None)
    if linker is None:
        return None
    return [linker.link_mentions(doc["text"], doc["mentions"]) for doc in documents]


def linked_gold_predictions(documents: Sequence[Mapping], links: Sequence[Sequence[Any]]) -> list[dict]:
    """Gold mentions with the linker's ids, as results (no entities or relations) for the PubTator writer."""
    return [
        {"pmid": doc["pmid"], "entities": [], "relations": [],
         "mentions": [{"start": m["start"], "end": m["end"], "text": m["text"], "type": m["type"],
                       "ids": list(link.ids), "link_score": None if link.is_nil else link.score}
                      for m, link in zip(doc["mentions"], doc_links)]}
        for doc, doc_links in zip(documents, links)
    ]


def write_results(folder: Path, dataset: str, documents: Sequence[Mapping],
                  predictions_by_mode: Mapping[str, Sequence[Mapping]], metrics: dict,
                  bioc: bool = False) -> dict[str, str]:
    """Prediction files and plots into ``folder``; returns {kind: file name} (metrics.json is written by the caller).
    ``bioc``: each PubTator prediction file also as BioC XML (``write_bioc``)."""
    from .plots import plot_confusion, plot_f1_bars

    files: dict[str, str] = {}
    for mode, predictions in predictions_by_mode.items():
        if bioc and (dataset in PUBTATOR_RELATIONS or mode == "end2end"):
            files[f"bioc_{mode}"] = write_bioc(folder / f"predictions_{mode}.BioC.xml", documents, predictions,
                                               BIOC_LAYOUTS[dataset]).name
        if dataset in PUBTATOR_RELATIONS:
            files[f"pubtator_{mode}"] = write_pubtator(folder / f"predictions_{mode}.PubTator.txt", documents,
                                                       predictions, with_relations=True,
                                                       id_style=ID_STYLES[dataset]).name
        else:
            if mode == "end2end":  # gold-mode mentions are the gold ones: nothing to write
                files[f"pubtator_{mode}"] = write_pubtator(folder / f"predictions_{mode}.PubTator.txt",
                                                           documents, predictions, with_relations=False,
                                                           id_style=ID_STYLES[dataset]).name
            files[f"relationships_{mode}"] = write_relationships_tsv(folder / f"relationships_{mode}.tsv",
                                                                     documents, predictions).name
    ner = metrics.get("ner")
    if ner:
        series = {"seqeval strict IOB2": {t: s["f1"] for t, s in ner["seqeval"]["per_type"].items()},
                  "mention exact span": {t: s["f1"] for t, s in ner["mentions"]["per_type"].items()}}
        files["ner_per_type_f1"] = plot_f1_bars(folder / "ner_per_type_f1.png", series,
                                                f"{dataset}: NER F1 per type").name
        files["ner_confusion"] = plot_confusion(folder / "ner_confusion.png", ner["confusion"]["labels"],
                                                ner["confusion"]["matrix"],
                                                f"{dataset}: NER span confusion").name
    re_series = {f"RE {mode}": {label: s["f1"] for label, s in metrics[f"re_{mode}"]["per_label"].items()}
                 for mode in MODES if f"re_{mode}" in metrics}
    if re_series:
        files["re_per_label_f1"] = plot_f1_bars(folder / "re_per_label_f1.png", re_series,
                                                f"{dataset}: relation F1 per label").name
    return files


def format_summary(metrics: Mapping) -> str:
    """A plain-text table of P/R/F1: micro, then each type / label that occurs in gold or predictions."""

    def occurs(scores: Mapping) -> bool:
        return bool(scores.get("support") or scores.get("n_gold") or scores.get("n_pred") or scores.get("f1"))

    rows: list[tuple[str, Mapping]] = []
    ner = metrics.get("ner")
    if ner:
        for key, title in (("seqeval", "NER seqeval strict IOB2"), ("mentions", "NER mention exact span")):
            rows.append((f"{title} (micro)", ner[key]["micro"]))
            rows += [(f"  {t}", s) for t, s in ner[key]["per_type"].items() if occurs(s)]
    for mode in MODES:
        if f"re_{mode}" in metrics:
            title = "RE end2end, span-matched" if mode == "end2end" else f"RE {mode}"
            rows.append((f"{title} (micro)", metrics[f"re_{mode}"]["micro"]))
            rows += [(f"  {label}", s) for label, s in metrics[f"re_{mode}"]["per_label"].items() if occurs(s)]
    if "re_end2end_ids" in metrics:
        rows.append(("RE end2end on concept ids (micro)", metrics["re_end2end_ids"]["micro"]))
        rows += [(f"  {label}", s) for label, s in metrics["re_end2end_ids"]["per_label"].items()]
    if "concept_ids" in metrics:
        rows.append(("Concept ids from raw text (micro)", metrics["concept_ids"]["micro"]))
        rows += [(f"  {t}", s) for t, s in metrics["concept_ids"]["per_type"].items()]
    width = max([len(name) for name, _ in rows] + [10])
    lines = [f"{'':{width}}  {'P':>7} {'R':>7} {'F1':>7} {'gold':>7} {'pred':>7}"]
    for name, s in rows:
        gold = s.get("n_gold", s.get("support", 0))
        pred = str(s["n_pred"]) if "n_pred" in s else "-"  # seqeval reports no prediction count
        lines.append(f"{name:{width}}  {s['precision']:7.4f} {s['recall']:7.4f} {s['f1']:7.4f} {gold:7d} {pred:>7}")
    linking = metrics.get("linking")
    if linking:
        lines.append("Linking on gold mentions: accuracy@1 " + ", ".join(
            f"{t} {linking[f'accuracy_{t}']:.4f}" for t in sorted(linking["mentions"]))
            + f"; NIL {100 * linking['nil_rate']:.1f} % of mentions")
        lines.append("Linking on gold mentions: document-level id F1 " + ", ".join(
            f"{t} {linking[f'id_f1_{t}']:.4f}" for t in sorted(linking["mentions"])))
    if ner:
        bio = ner["bio_view"]
        lines.append(f"BIO view left out {bio['gold_dropped']} gold and {bio['predicted_dropped']} predicted "
                     "overlapping mentions (mention scores include them)")
    return "\n".join(lines)


def evaluate_model(model_path: str | None = None, *, dataset: str, split: str = "test", config: str | None = None,
                   data_dir: str | None = None, cache_dir: str | None = None, output_dir: str | Path = "results",
                   run_name: str | None = None, modes: Sequence[str] = MODES, batch_size: int = 8,
                   limit: int | None = None, model: Any = None, tokenizer: Any = None,
                   documents: Sequence[Mapping] | None = None, device: str | None = None,
                   int8: bool = False, dtype: str = "float32", parallel_batches: int = 1,
                   print_summary: bool = True, backend: str = "torch", bioc: bool = False) -> dict:
    """Predict, score and write ``results/<run>/<dataset>[-<config>]-<split>/``; returns the metrics dict.

    Give ``model_path`` (a saved model folder or Hub id), or an already loaded ``model`` and ``tokenizer``.
    ``documents`` (``documents`` schema rows) replace loading the split from ``loaders``. ``int8`` scores
    the CPU int8 copy of the loaded model (``quantize_for_cpu``); ``dtype`` the model in that floating-point
    type (see ``load_model``). ``parallel_batches``: CPU batches at once (see ``predict``). ``backend``: "torch"
    or "onnx" (the encoder on ONNX Runtime, see ``use_backend``; with ``int8``, its int8 model). ``bioc``: the
    prediction files also as BioC XML (see ``write_results``).
    """
    from loaders.schema import ENTITY_TYPES, RELATION_TYPES

    modes = list(dict.fromkeys(modes))
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise ValueError(f"modes must be a non-empty subset of {MODES}, got {modes}")
    if dataset not in CORPUS_NAMES:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {CORPUS_NAMES}")
    _check_precision(int8, dtype)
    check_backend(backend, dtype)
    torch_int8 = int8 and backend == "torch"  # the ONNX backend quantizes its own model
    if model is None:
        if model_path is None:
            raise ValueError("give model_path or model + tokenizer")
        model, tokenizer = load_model(model_path, device, torch_int8, dtype)
    elif tokenizer is None:
        raise ValueError("a model given without its tokenizer")
    elif torch_int8:
        model = model.quantize_for_cpu()
    elif dtype != "float32":
        import torch

        model = model.to(getattr(torch, dtype))
    model = use_backend(model, backend, int8)
    if documents is None:
        documents = load_documents(dataset, split, config, data_dir, cache_dir, limit)
    elif limit is not None:
        documents = list(documents)[:limit]
    documents = list(documents)
    run_name = run_name or run_name_for(str(model_path or getattr(model, "name_or_path", "") or "model"))
    folder = results_folder(output_dir, run_name, dataset, split, config)

    started = time.perf_counter()
    # NER is scored on the NER head's mentions, which only end2end results hold: it shares the encoder pass
    predicted = predict(model, tokenizer, documents, list(dict.fromkeys([*modes, "end2end"])), batch_size,
                        parallel_batches)
    predict_s = time.perf_counter() - started
    predictions = {mode: predicted[mode] for mode in modes}
    scores = score_documents(documents, predictions, ENTITY_TYPES[dataset], list(RELATION_TYPES[dataset]),
                             ner_predictions=predicted["end2end"], linked=getattr(model, "linker", None) is not None)
    gold_links = link_gold_mentions(model, documents)
    if gold_links is not None:
        scores["linking"] = score_linking(documents, gold_links)
    metrics: dict[str, Any] = {
        "model": str(model_path or getattr(model, "name_or_path", "")), "dataset": dataset, "config": config,
        "split": split, "n_documents": len(documents), "modes": modes, **scores,
        "int8": int8, "dtype": dtype, "backend": backend, "batch_size": batch_size,
        "parallel_batches": parallel_batches,
        "timing": {"predict_s": round(predict_s, 3),
                   "documents_per_s": round(len(documents) / predict_s, 3) if predict_s > 0 else None},
    }
    metrics["files"] = write_results(folder, dataset, documents, predictions, metrics, bioc)
    if gold_links is not None:
        metrics["files"]["pubtator_linking"] = write_pubtator(
            folder / "predictions_linking.PubTator.txt", documents, linked_gold_predictions(documents, gold_links),
            with_relations=False, id_style=ID_STYLES[dataset]).name
    metrics["files"]["metrics"] = "metrics.json"
    write_metrics_json(folder / "metrics.json", metrics)
    metrics["output_dir"] = str(folder)
    if print_summary:
        print(f"{dataset} {config or ''} {split}: {len(documents)} documents -> {folder}".replace("  ", " "))
        print(format_summary(metrics))
    return metrics


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="evaluate.py", description="Evaluate a joint NER + RE model on a corpus split: NER (seqeval strict "
        "IOB2 and exact mention spans) and document-level relations (gold and end-to-end entities).")
    parser.add_argument("--model", required=True, help="saved model folder or Hub id (trust_remote_code)")
    parser.add_argument("--dataset", required=True, choices=CORPUS_NAMES)
    parser.add_argument("--split", default="test", help="train, validation or test (ChemDisGene curated: test "
                        "only; default: test)")
    parser.add_argument("--config", default=None, help="ChemDisGene family: ctd_derived or curated "
                        "(loads <config>_documents; default: the corpus's documents config)")
    parser.add_argument("--data-dir", default=None, help="local copy of the raw corpus (default: download)")
    parser.add_argument("--cache-dir", default=None, help="datasets cache folder")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES,
                        help="relation modes; NER is scored on the end2end predictions (default: both)")
    parser.add_argument("--run-name", default=None, help="results subfolder (default: the model folder name)")
    parser.add_argument("--output-dir", default="results", help="results root (default: results)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--parallel-batches", type=int, default=1,
                        help="CPU only: batches run at once, each on its own thread with a share of torch's threads "
                             "(2 gave 6 to 17 %% more documents/s on a 2-core CPU; default 1)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N documents")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--int8", action="store_true",
                        help="CPU only: run the encoder with int8 dynamic quantization (model.quantize_for_cpu())")
    parser.add_argument("--dtype", default="float32", choices=DTYPES,
                        help="weights' floating-point type (bfloat16: GPUs and CPUs with AMX; default float32)")
    parser.add_argument("--backend", default="torch", choices=BACKENDS,
                        help="where the encoder runs: torch, or onnx (ONNX Runtime, needs onnxruntime; exported "
                             "into <model>/onnx/ the first time; with --int8, ONNX Runtime's int8; default torch)")
    parser.add_argument("--bioc", action="store_true",
                        help="also write each PubTator prediction file as BioC XML, predictions_<mode>.BioC.xml "
                             "(BC5CDR: the corpus's BioC layout, which the official evaluation reads in BioC mode)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check and run; user errors raise `UsageError` (`cli` turns them into one line)."""
    args = build_parser().parse_args(argv)
    if args.batch_size < 1 or args.parallel_batches < 1 or (args.limit is not None and args.limit < 1):
        build_parser().error("--batch-size, --parallel-batches and --limit must be positive")
    # everything that can be checked before loading the model and the corpus
    check_corpus_split(args.dataset, args.config, args.split)
    _check_precision(args.int8, args.dtype)
    check_backend(args.backend, args.dtype)
    check_model_path(args.model)
    if args.data_dir and not Path(args.data_dir).is_dir():
        raise UsageError(f"--data-dir {args.data_dir}: no such folder (leave it out to download the release)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    evaluate_model(args.model, dataset=args.dataset, split=args.split, config=args.config, data_dir=args.data_dir,
                   cache_dir=args.cache_dir, output_dir=args.output_dir, run_name=args.run_name, modes=args.modes,
                   batch_size=args.batch_size, limit=args.limit, device=args.device, int8=args.int8,
                   dtype=args.dtype, parallel_batches=args.parallel_batches, backend=args.backend, bioc=args.bioc)
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`evaluate.py` / `nerre-evaluate`: `main` with user errors as one ``error:`` line and exit status 2."""
    with one_line_errors():
        return main(argv)
