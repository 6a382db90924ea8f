"""Model card (README.md) of a trained joint NER + RE folder: YAML metadata for the Hub plus prose.

The text is the Jinja template `templates/model_card.md` (as SpanMarker's card); this module computes what it
shows. The metadata (library_name, pipeline_tag, tags, datasets, base_model, license, model-index) is built
with huggingface_hub's `ModelCardData`, so the Hub parses it. The model-index holds the measured metrics read
from the folder's ``metrics.json``; every part of that file is optional.
"""

from __future__ import annotations

import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
from huggingface_hub import EvalResult, ModelCardData

METRICS_FILE = "metrics.json"
TRAINING_ARGS_FILE = "training_args.json"
TEMPLATE = "model_card.md"  # in biomed_nerre/hub/templates/ (shipped as package data)
# No Hub pipeline tag covers joint NER + relation extraction: `token-classification` would make the Hub's widget
# and inference call the token-classification pipeline, which cannot run this model, and a card without a tag
# leaves the Hub to infer one from config.json. `other` is the Hub's tag for tasks outside its list; the model's
# own pipeline task (`joint-ner-re`, config.json's custom_pipelines) is shown in the card's text.
PIPELINE_TAG = "other"

# Hub dataset repositories holding the same corpora, used when the caller names none.
DEFAULT_DATASET_REPOS = {"bc5cdr": "bigbio/bc5cdr", "chem_dis_gene": "bigbio/chemdisgene"}
CORPUS_NAMES = {"bc5cdr": "BC5CDR", "chem_dis_gene": "ChemDisGene"}

# metrics.json task blocks -> (model-index task type, task name, metric name prefix)
TASKS = {
    "ner": ("token-classification", "Named entity recognition", "NER micro"),
    "re_gold": ("relation-extraction", "Relation extraction (gold entities)", "RE (gold entities)"),
    "re_end2end": ("relation-extraction", "Relation extraction (end-to-end)", "RE (end-to-end)"),
}
SCORES = ("precision", "recall", "f1")
# the training settings the card lists (those a run recorded, in this order)
CARD_SETTINGS = ("encoder", "dataset", "dataset_config", "max_length", "stride", "num_epochs", "max_steps",
                 "per_device_batch_size", "gradient_accumulation_steps", "encoder_lr", "head_lr", "warmup_ratio",
                 "mixed_precision", "seed", "re_loss_weight", "token_shape_features", "gazetteer_features",
                 "train_on_validation_from")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")

CITATIONS = {
    "bc5cdr": """@article{li2016biocreative,
  title   = {BioCreative V CDR task corpus: a resource for chemical disease relation extraction},
  author  = {Li, Jiao and Sun, Yueping and Johnson, Robin J. and Sciaky, Daniela and Wei, Chih-Hsuan and
             Leaman, Robert and Davis, Allan Peter and Mattingly, Carolyn J. and Wiegers, Thomas C. and Lu, Zhiyong},
  journal = {Database},
  volume  = {2016},
  year    = {2016},
  doi     = {10.1093/database/baw068}
}""",
    "chem_dis_gene": """@inproceedings{zhang-etal-2022-chemdisgene,
  title     = {A Distant Supervision Corpus for Extracting Biomedical Relationships Between Chemicals,
               Diseases and Genes},
  author    = {Zhang, Dongxu and Mohan, Sunil and Torkar, Michaela and McCallum, Andrew},
  booktitle = {Proceedings of the Thirteenth Language Resources and Evaluation Conference (LREC 2022)},
  year      = {2022}
}""",
}


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when the file does not exist."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: line {err.lineno}: invalid JSON ({err.msg})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _prf(block: Any) -> dict[str, float]:
    if not isinstance(block, Mapping):
        return {}
    return {s: _number(block.get(s)) for s in SCORES if _number(block.get(s)) is not None}


def task_scores(split_metrics: Mapping[str, Any], task: str) -> dict[str, float]:
    """Precision/recall/F1 of `task` in one split's metrics; missing scores are left out.

    Accepts the shapes the project writes: a block with the scores at its top level, under "micro", or
    under "seqeval" -> "micro" (NER from `evaluation`), or flat keys ``<task>_f1`` (validation summary).
    """
    block = split_metrics.get(task)
    if isinstance(block, Mapping):
        for candidate in (block, block.get("micro"), (block.get("seqeval") or {}).get("micro")):
            scores = _prf(candidate)
            if scores:
                return scores
    return _prf({s: split_metrics.get(f"{task}_{s}") for s in SCORES})


def group_scores(split_metrics: Mapping[str, Any], task: str) -> dict[str, dict[str, float]]:
    """Per entity type (NER) or per relation label (RE) scores of `task`, when recorded."""
    block = split_metrics.get(task)
    if not isinstance(block, Mapping):
        return {}
    for groups in (block.get("per_type"), (block.get("seqeval") or {}).get("per_type"), block.get("per_label")):
        if isinstance(groups, Mapping):
            return {str(name): _prf(scores) for name, scores in groups.items() if _prf(scores)}
    return {}


def reported_splits(metrics: Mapping[str, Any], threshold: float | None = None) -> list[tuple[str, str, Mapping]]:
    """(split, label, scores) for the card: the test split, and validation as train.py scored it after choosing
    the relation threshold (``validation_full``: the calibration documents, the whole split by default, at the saved
    threshold). The model-selection pass (``validation``: the first ``--limit-eval-docs`` documents at margin 0)
    is reported only when a folder has nothing else for validation, and labelled so."""
    def documents(block: Mapping) -> str:
        count = block.get("n_documents")
        return f"{count} documents" if isinstance(count, int) else "documents"

    at = f", relation threshold {threshold:g}" if threshold is not None else ""
    splits = []
    for key, block in metrics.items():
        if not isinstance(block, Mapping) or not any(task_scores(block, task) for task in TASKS):
            continue
        if key == "validation_full":
            splits.append(("validation", f"validation ({documents(block)}{at})", block))
        elif key == "validation":
            if "validation_full" not in metrics:
                splits.append(("validation", "validation (model-selection pass)", block))
        else:
            splits.append((key, key, block))
    return splits


def eval_results(
    metrics: Mapping[str, Any], *, dataset_type: str, dataset_name: str, dataset_config: str | None = None,
    threshold: float | None = None,
) -> list[EvalResult]:
    """model-index entries for every reported split x task x score in `metrics` (see `reported_splits`)."""
    results = []
    for split, label, tasks in reported_splits(metrics, threshold):
        for task, (task_type, task_name, metric_prefix) in TASKS.items():
            for score, value in task_scores(tasks, task).items():
                results.append(
                    EvalResult(
                        task_type=task_type,
                        task_name=task_name,
                        dataset_type=dataset_type,
                        dataset_name=dataset_name,
                        dataset_config=dataset_config,
                        dataset_split=split,
                        metric_type=score,
                        metric_name=f"{metric_prefix} {score} ({label})",
                        metric_value=round(value, 4),
                    )
                )
    return results


def _base_model(training_args: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """The encoder's Hub id when the run named one (a local folder is not a valid `base_model`)."""
    for candidate in (training_args.get("encoder"), config.get("encoder_name_or_path")):
        if isinstance(candidate, str) and _HUB_ID.match(candidate) and not Path(candidate).exists():
            return candidate
    return None


def _labels(config: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    entity_types = list(config.get("entity_types") or [])
    relation_types = config.get("relation_types") or {}
    if isinstance(relation_types, list):
        relation_types = {label: None for label in relation_types}
    return entity_types, dict(relation_types)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _score_cells(first: str, second: str, scores: Mapping[str, float]) -> list[str]:
    return [first, second, *(_fmt(scores.get(s)) for s in SCORES)]


def results_tables(metrics: Mapping[str, Any] | None, threshold: float | None = None) -> dict[str, Any] | None:
    """The card's score tables: `rows` (split, task, P, R, F1 in percent) and `groups` (per entity type / relation
    label, each with a `title`, a `kind` and its `rows`); None when there is no `metrics.json` at all."""
    if not metrics:
        return None
    rows, groups = [], []
    for _, split, tasks in reported_splits(metrics, threshold):
        for task, (_, task_name, _) in TASKS.items():
            scores = task_scores(tasks, task)
            if scores:
                rows.append(_score_cells(split, task_name, scores))
            by_group = group_scores(tasks, task)
            if by_group:
                kind = "type" if task == "ner" else "label"
                groups.append({"title": f"{task_name}, {split}, per {kind}", "kind": kind,
                               "rows": [_score_cells(split, f"`{name}`", g) for name, g in by_group.items()]})
    return {"rows": rows, "groups": groups}


def calibration_summary(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """How train.py chose the relation threshold on validation (F1 in percent), when it did."""
    calibration = metrics.get("re_threshold_calibration")
    if not isinstance(calibration, Mapping) or _number(calibration.get("f1")) is None:
        return None
    default = _number(calibration.get("default_f1"))
    return {"documents": calibration.get("documents"), "f1": f"{100 * calibration['f1']:.1f}",
            "default_f1": None if default is None else f"{100 * default:.1f}",
            "default_threshold": f"{calibration.get('default_threshold', 0.0):g}"}


def linker_summary(model_dir: Path, metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """The vocabularies and versions in `linker/linker_config.json`, and the linking and concept-id scores on test
    (in percent) when `metrics.json` has them; None for a model without a linker."""
    config = read_json(model_dir / "linker" / "linker_config.json")
    if config is None:
        return None
    test = (metrics or {}).get("test") or {}
    rows = []
    linking = test.get("linking") or {}
    for entity_type in sorted(linking.get("mentions") or {}):
        rows.append((f"linking accuracy@1 on gold mentions, {entity_type}", f"{100 * linking[f'accuracy_{entity_type}']:.1f}"))
    for entity_type, scores in sorted(((test.get("concept_ids") or {}).get("per_type") or {}).items()):
        rows.append((f"concept-id F1 from raw text, {entity_type}", f"{100 * scores['f1']:.1f}"))
    for label, scores in sorted(((test.get("re_end2end_ids") or {}).get("per_label") or {}).items()):
        rows.append((f"end-to-end `{label}` F1 on concept ids", f"{100 * scores['f1']:.1f}"))
    return {
        "names": ", ".join(f"{t}: {n:,}" for t, n in sorted((config.get("names") or {}).items())),
        "corpus": corpus_names(config),
        "vocabularies": [{"name": v.get("name"), "version": v.get("version"), "sha256": str(v.get("sha256", ""))[:12]}
                         for v in config.get("vocabularies") or []],
        "fuzzy_threshold": config.get("fuzzy_threshold"),
        "test_rows": rows,
    }


def gazetteer_summary(model_dir: Path) -> dict[str, str] | None:
    """Name counts and sources of the model's `gazetteer/`, when it has one."""
    gazetteer = read_json(model_dir / "gazetteer" / "gazetteer_config.json")
    if not gazetteer:
        return None
    sources = "; ".join(f"{v.get('name')}: {v.get('version')}" for v in gazetteer.get("vocabularies", []))
    return {"names": ", ".join(f"{t} {n:,}" for t, n in gazetteer.get("names", {}).items()),
            "sources": sources or "none listed"}


def corpus_names(config: Mapping[str, Any]) -> str:
    splits = config.get("corpus_splits") or []
    corpus = CORPUS_NAMES.get(str(config.get("corpus") or ""), str(config.get("corpus") or "the corpus"))
    return f"{corpus} ({' + '.join(splits)})" if splits else corpus


def build_model_card(
    model_dir: str | Path,
    *,
    repo_id: str | None = None,
    model_name: str | None = None,
    base_model: str | None = None,
    datasets: Sequence[str] | None = None,
    license: str = "apache-2.0",
    tags: Sequence[str] = (),
    metrics: Mapping[str, Any] | None = None,
    training_args: Mapping[str, Any] | None = None,
) -> str:
    """The README.md text (YAML front matter + prose) for the trained folder `model_dir`.

    Reads ``config.json``, ``training_args.json`` and ``metrics.json`` from the folder when present;
    `metrics` and `training_args` (a `TrainingArguments.to_dict()`) override the files. The card is named after
    `repo_id` (its name part; also the loading example), else `model_name`, else the folder's name.
    """
    model_dir = Path(model_dir)
    config = read_json(model_dir / "config.json") or {}
    if training_args is None:
        training_args = read_json(model_dir / TRAINING_ARGS_FILE) or {}
    if metrics is None:
        metrics = read_json(model_dir / METRICS_FILE)
    corpus = str(training_args.get("dataset") or "")
    corpus_name = CORPUS_NAMES.get(corpus, corpus or "unknown corpus")
    if datasets is None:
        datasets = [DEFAULT_DATASET_REPOS[corpus]] if corpus in DEFAULT_DATASET_REPOS else []
    base_model = base_model or _base_model(training_args, config)
    model_name = (repo_id or model_name or model_dir.resolve().name).split("/")[-1]
    threshold = _number(config.get("re_threshold"))
    entity_types, relation_types = _labels(config)

    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag=PIPELINE_TAG,
        license=license,
        language=["en"],
        tags=list(
            dict.fromkeys(["biomedical", "ner", "relation-extraction", "joint-ner-re", *[corpus] * bool(corpus), *tags])
        ),
        datasets=list(datasets) or None,
        base_model=base_model,
        model_name=model_name,
        eval_results=eval_results(
            metrics or {},
            dataset_type=datasets[0] if datasets else corpus or "unknown",
            dataset_name=corpus_name,
            dataset_config=training_args.get("dataset_config") or None,
            threshold=threshold,
        )
        or None,
    )
    settings = [(key, training_args[key]) for key in CARD_SETTINGS
                if key in training_args and training_args[key] not in (None, "")]
    return render_template(
        TEMPLATE,
        card_data=card_data.to_yaml(),
        model_name=model_name,
        corpus_name=corpus_name,
        load_id=repo_id or str(model_dir),
        entity_types=entity_types,
        relations=[{"label": label, **_signature(args)} for label, args in relation_types.items()],
        threshold=f"{threshold if threshold is not None else 0.0:g}",
        calibration=calibration_summary(metrics or {}),
        linker=linker_summary(model_dir, metrics or {}),
        results=results_tables(metrics, threshold),
        settings=settings,
        gazetteer=gazetteer_summary(model_dir),
        citation=CITATIONS.get(corpus),
    )


def _signature(args: Any) -> dict[str, str | None]:
    """A relation label's (head type, tail type), when config.json gives them."""
    if isinstance(args, (list, tuple)) and len(args) == 2:
        return {"head": args[0], "tail": args[1]}
    return {"head": None, "tail": None}


def render_template(name: str, **values: Any) -> str:
    """Render the card template `name` (in `templates/`) with `values`; a name the template uses but `values`
    lacks is an error, not an empty string."""
    source = resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    return environment.from_string(source).render(**values)


def write_model_card(
    model_dir: str | Path,
    *,
    repo_id: str | None = None,
    model_name: str | None = None,
    base_model: str | None = None,
    datasets: Sequence[str] | None = None,
    license: str = "apache-2.0",
    tags: Sequence[str] = (),
    metrics: Mapping[str, Any] | None = None,
    training_args: Mapping[str, Any] | None = None,
    output_path: str | Path | None = None,
) -> Path:
    """Write `build_model_card(model_dir, ...)` to ``model_dir/README.md`` (or `output_path`); return the path."""
    path = Path(output_path) if output_path is not None else Path(model_dir) / "README.md"
    path.write_text(
        build_model_card(
            model_dir,
            repo_id=repo_id,
            model_name=model_name,
            base_model=base_model,
            datasets=datasets,
            license=license,
            tags=tags,
            metrics=metrics,
            training_args=training_args,
        )
    )
    return path
