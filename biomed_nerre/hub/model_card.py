"""Model card (README.md) of a trained joint NER + RE folder: YAML metadata for the Hub plus prose.

The metadata (library_name, pipeline_tag, tags, datasets, base_model, license, model-index) is built
with huggingface_hub's `ModelCardData`, so the Hub parses it. The model-index holds the measured
metrics read from the folder's ``metrics.json``; every part of that file is optional.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from huggingface_hub import EvalResult, ModelCardData

METRICS_FILE = "metrics.json"
TRAINING_ARGS_FILE = "training_args.json"

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


def _score_row(first: str, second: str, scores: Mapping[str, float]) -> str:
    return f"| {first} | {second} | " + " | ".join(_fmt(scores.get(s)) for s in SCORES) + " |"


def results_markdown(metrics: Mapping[str, Any] | None, threshold: float | None = None) -> str:
    """Markdown tables: scores per split and task, then per entity type / relation label."""
    if not metrics:
        return "No evaluation was recorded for this model (the folder had no `metrics.json`).\n"
    header = "| {} | {} | precision | recall | F1 |\n|---|---|---|---|---|\n"
    rows, group_tables = [], []
    for _, split, tasks in reported_splits(metrics, threshold):
        for task, (_, task_name, _) in TASKS.items():
            scores = task_scores(tasks, task)
            if scores:
                rows.append(_score_row(split, task_name, scores))
            groups = group_scores(tasks, task)
            if groups:
                kind = "type" if task == "ner" else "label"
                group_tables.append(
                    f"{task_name}, {split}, per {kind}:\n\n"
                    + header.format("split", kind)
                    + "\n".join(_score_row(split, f"`{name}`", g) for name, g in groups.items())
                    + "\n"
                )
    if not rows:
        return "`metrics.json` holds no precision/recall/F1 scores.\n"
    return header.format("split", "task") + "\n".join(rows) + "\n\n" + "\n".join(group_tables)


def _threshold_markdown(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    """How relations are thresholded, with the validation calibration when train.py made one."""
    threshold = _number(config.get("re_threshold"))
    text = ("A relation label is predicted when its logit exceeds the adaptive threshold class's by more than "
            f"`config.re_threshold` = `{threshold if threshold is not None else 0.0:g}`")
    calibration = metrics.get("re_threshold_calibration")
    if isinstance(calibration, Mapping) and _number(calibration.get("f1")) is not None:
        default = _number(calibration.get("default_f1"))
        text += (f", the margin with the best relation F1 (gold entities) on {calibration.get('documents')} "
                 f"validation documents: {100 * calibration['f1']:.1f}"
                 + (f" against {100 * default:.1f} at margin {calibration.get('default_threshold', 0.0):g}" if default is not None else ""))
    return text + ". Pass `threshold=` to `extract` to trade precision for recall."


def linker_markdown(model_dir: Path, metrics: Mapping[str, Any]) -> str:
    """The card's section on concept linking: the vocabularies and versions in `linker/linker_config.json`, and
    the linking and concept-id scores on test when `metrics.json` has them."""
    config = read_json(model_dir / "linker" / "linker_config.json")
    if config is None:
        return ("This model has no concept linker: end-to-end entities are mentions grouped by their text, with "
                "ids `E0`, `E1`, ...")
    names = ", ".join(f"{t}: {n:,}" for t, n in sorted((config.get("names") or {}).items()))
    vocabularies = "\n".join(
        f"  - {v.get('name')}: {v.get('version')} (sha256 `{str(v.get('sha256', ''))[:12]}`)"
        for v in config.get("vocabularies") or []
    ) or "  - none (names from the corpus annotations only)"
    text = (
        "Every end-to-end mention is linked to a concept id of its type (`MESH:D...`, `NCBIGene:...`) or left NIL; "
        "mentions linked to the same id form one entity, and relations hold between those ids. The linker "
        "ships in `linker/` (gzipped TSV + JSON, no pickle) and is restored by `from_pretrained`.\n\n"
        f"- Names ({names}) from the gold annotations of {corpus_names(config)} and:\n{vocabularies}\n"
        f"- Steps: exact name, abbreviation defined in the document, loose key, composite mention, suffix "
        f"variant, character-trigram similarity (at least {config.get('fuzzy_threshold')}), else NIL.\n"
    )
    test = (metrics or {}).get("test") or {}
    rows = []
    linking = test.get("linking") or {}
    for entity_type in sorted(linking.get("mentions") or {}):
        rows.append(f"| linking accuracy@1 on gold mentions, {entity_type} | {100 * linking[f'accuracy_{entity_type}']:.1f} |")
    for entity_type, scores in sorted(((test.get("concept_ids") or {}).get("per_type") or {}).items()):
        rows.append(f"| concept-id F1 from raw text, {entity_type} | {100 * scores['f1']:.1f} |")
    for label, scores in sorted(((test.get("re_end2end_ids") or {}).get("per_label") or {}).items()):
        rows.append(f"| end-to-end `{label}` F1 on concept ids | {100 * scores['f1']:.1f} |")
    if rows:
        text += "\nOn the test split (BioCreative V CDR measures: unique ids per document):\n\n| measure | score |\n|---|---|\n"
        text += "\n".join(rows) + "\n"
    return text


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
        pipeline_tag="token-classification",
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
    load_id = repo_id or str(model_dir)
    relation_lines = "\n".join(
        f"  - `{label}`" + (f" ({args[0]} -> {args[1]})" if isinstance(args, (list, tuple)) and len(args) == 2 else "")
        for label, args in relation_types.items()
    )
    settings = {
        key: training_args[key]
        for key in (
            "encoder",
            "dataset",
            "dataset_config",
            "max_length",
            "stride",
            "num_epochs",
            "max_steps",
            "per_device_batch_size",
            "gradient_accumulation_steps",
            "encoder_lr",
            "head_lr",
            "warmup_ratio",
            "mixed_precision",
            "seed",
            "re_loss_weight",
            "token_shape_features",
            "gazetteer_features",
            "train_on_validation_from",
        )
        if key in training_args and training_args[key] not in (None, "")
    }
    settings_md = "\n".join(f"- `{k}`: `{v}`" for k, v in settings.items()) or "- (no `training_args.json`)"
    gazetteer = read_json(model_dir / "gazetteer" / "gazetteer_config.json")
    if gazetteer:
        names = ", ".join(f"{t} {n:,}" for t, n in gazetteer.get("names", {}).items())
        sources = "; ".join(f"{v.get('name')}: {v.get('version')}" for v in gazetteer.get("vocabularies", []))
        settings_md += (f"\n- gazetteer (`gazetteer/`, a token feature): name keys {names}, from the vocabularies "
                        f"only ({sources or 'none listed'}), never the corpus")
    citation = CITATIONS.get(corpus)
    threshold_md = _threshold_markdown(config, metrics or {})
    linking_md = linker_markdown(model_dir, metrics or {})
    return f"""---
{card_data.to_yaml()}
---

# {model_name}

Joint biomedical named entity recognition and document-level relation extraction: a BERT-style
encoder with a BIO tagging head for mentions and a pair classifier over entities, trained on
{corpus_name}. One forward pass gives the mentions, groups them into entities and scores every
entity pair allowed by the relation schema.

- Entity types: {", ".join(f"`{t}`" for t in entity_types) or "(see `config.json`)"}
- Relation labels:
{relation_lines or "  - (see `config.json`)"}

## How to use

The model code ships with the weights (`modeling_joint_ner_re.py` and friends), so load it with
`trust_remote_code=True`:

```python
from transformers import AutoModel, AutoTokenizer

model = AutoModel.from_pretrained("{load_id}", trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained("{load_id}", trust_remote_code=True)  # reads config.json
predictions = model.extract(["Naloxone reverses the antihypertensive effect of clonidine."], tokenizer,
                            mode="end2end")
for prediction in predictions:
    print(prediction["mentions"])   # [{{"start", "end", "text", "type"}}, ...]
    print(prediction["entities"])   # [{{"id", "type", "mention_indices"}}, ...]
    print(prediction["relations"])  # [{{"label", "head", "tail", "score"}}, ...]
```

`mode="gold"` takes documents that already carry `mentions` and `entities` (the corpus `documents`
schema) and only classifies the relations between them. On a CPU with many documents,
`model.extract(texts, tokenizer, batch_size=4, parallel_batches=2)` runs two batches at once, each on its own
thread, with the same predictions.

{threshold_md}

## Concept linking

{linking_md}

## Evaluation

Scores in percent; NER is exact span and type, RE is document-level over entity pairs (with the gold
entities, and end to end from predicted mentions).

{results_markdown(metrics, threshold)}
## Training

{settings_md}

## Intended use and limitations

- Research on biomedical text mining: extracting chemicals, diseases{" and genes" if "Gene" in entity_types else ""}
  and their relations from English PubMed titles and abstracts.
- Not for clinical decision making. Predictions are unreviewed machine output, and so are their concept
  ids (see Concept linking for how often they are right).
- Trained on abstracts; full texts, clinical notes and other genres are out of domain. Relations are
  document-level and limited to the labels above; anything else is never predicted.
- {corpus_name} annotations carry their own biases (curation choices, publication years); see the
  dataset card.

## Citation

{f"```bibtex{chr(10)}{citation}{chr(10)}```" if citation else "Cite the corpus the model was trained on."}
"""


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
