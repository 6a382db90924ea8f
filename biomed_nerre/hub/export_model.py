"""Export a trained model folder as exactly the files to upload to the Hub.

Copies `config.json` (which must carry `auto_map`), the safetensors weights, the `modeling` code files
that `auto_map` and `custom_pipelines` need (and what they import relatively; taken from the project's `modeling/` when the
folder lacks them), the tokenizer files, `metrics.json` / `training_args.json`, and writes a fresh model
card. Refuses pickle weights and a folder without `metrics.json` unless told otherwise.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path
from typing import Sequence

import modeling
from modeling.files_joint_ner_re import read_json
from modeling.outputs_joint_ner_re import InputError

from .export_dataset import ensure_empty_dir
from .model_card import METRICS_FILE, TRAINING_ARGS_FILE, write_model_card

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "chat_template.jinja",
)
EXTRA_FILES = (METRICS_FILE, TRAINING_ARGS_FILE, "generation_config.json")
PROJECT_MODELING_DIR = Path(modeling.__file__).resolve().parent  # this package's model code (a checkout or installed)


class ExportError(InputError):
    """The model folder cannot be exported as asked (message names the folder and the reason)."""


def _load_config(model_dir: Path) -> dict:
    path = model_dir / "config.json"
    if not path.is_file():
        raise ExportError(f"{model_dir}: no config.json (is this a model folder saved by train.py?)")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ExportError(f"{path}: line {err.lineno}: invalid JSON ({err.msg})") from err
    if not isinstance(config.get("auto_map"), dict) or not config["auto_map"]:
        raise ExportError(
            f"{path}: no `auto_map`; save the model with register_for_auto_class() so that "
            "AutoModel.from_pretrained(..., trust_remote_code=True) can find its code"
        )
    return config


def auto_map_modules(config: dict) -> list[str]:
    """Module names (without .py) that `config["auto_map"]` points at, e.g. `modeling_joint_ner_re`."""
    modules = []
    for reference in config["auto_map"].values():
        for ref in reference if isinstance(reference, list) else [reference]:
            if not ref:
                continue
            ref = ref.split("--", 1)[-1]  # "repo--module.Class" names code in another repo
            module = ref.rsplit(".", 1)[0]
            if module not in modules:
                modules.append(module)
    return modules


def custom_pipeline_modules(config: dict) -> list[str]:
    """Module names of the pipeline classes that `config["custom_pipelines"]` declares (`pipeline()` loads
    them from the repo with `trust_remote_code=True`), e.g. `pipeline_joint_ner_re`."""
    pipelines = config.get("custom_pipelines") or {}
    return [info["impl"].rsplit(".", 1)[0] for info in pipelines.values() if isinstance(info, dict) and info.get("impl")]


def relative_imports(source: str, filename: str) -> list[str]:
    """Modules imported with `from .x import ...` / `from . import x` in a Python source."""
    names = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.append(node.module.split(".")[0])
            else:
                names.extend(alias.name for alias in node.names)
    return names


def find_code_file(module: str, model_dir: Path, fallback_dir: Path) -> Path:
    """`module`.py from the model folder, else from the project's `modeling/`."""
    for folder in (model_dir, fallback_dir):
        candidate = folder / f"{module}.py"
        if candidate.is_file():
            return candidate
    raise ExportError(
        f"{model_dir}: code module {module!r} (from auto_map or a relative import) not found here nor in {fallback_dir}"
    )


def code_files(model_dir: Path, config: dict, fallback_dir: Path = PROJECT_MODELING_DIR) -> dict[str, Path]:
    """File name -> source path of every code file `trust_remote_code` loading needs (transitively)."""
    todo = auto_map_modules(config) + custom_pipeline_modules(config)
    found: dict[str, Path] = {}
    while todo:
        module = todo.pop()
        if f"{module}.py" in found:
            continue
        path = find_code_file(module, model_dir, fallback_dir)
        found[f"{module}.py"] = path
        todo.extend(relative_imports(path.read_text(), str(path)))
    return found


def weight_files(model_dir: Path) -> list[Path]:
    """The safetensors weights: `model.safetensors`, or an index and its shards."""
    single = model_dir / "model.safetensors"
    if single.is_file():
        return [single]
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        missing = [s for s in shards if not (model_dir / s).is_file()]
        if missing:
            raise ExportError(f"{index}: shards missing from the folder: {missing}")
        return [index, *(model_dir / s for s in shards)]
    raise ExportError(f"{model_dir}: no model.safetensors (nor model.safetensors.index.json)")


def pickle_files(model_dir: Path) -> list[Path]:
    """Files in the folder (not in checkpoint subfolders) with a pickle-based weight suffix."""
    return sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES)


def onnx_files(model_dir: Path) -> dict[str, Path]:
    """`onnx/model.onnx` (the encoder for the ONNX Runtime backend) and `onnx/export_info.json`, exported into the
    folder first when missing or made from other weights; `onnx/model_quantized.onnx` too when the folder has an
    int8 copy of the same export."""
    from modeling import SciBertForJointNerRe
    from modeling.onnx_joint_ner_re import INFO_FILE, INT8_FILE, ONNX_DIR, OnnxBackendError, onnx_file_for

    try:
        path = onnx_file_for(SciBertForJointNerRe.from_pretrained(model_dir), folder=model_dir / ONNX_DIR)
    except OnnxBackendError as err:
        raise ExportError(f"{model_dir}: --onnx: {err}") from err
    files = {f"{ONNX_DIR}/{path.name}": path, f"{ONNX_DIR}/{INFO_FILE}": path.parent / INFO_FILE}
    if INT8_FILE in json.loads((path.parent / INFO_FILE).read_text()).get("files", []):
        files[f"{ONNX_DIR}/{INT8_FILE}"] = path.parent / INT8_FILE
    return files


def gazetteer_files(model_dir: Path) -> dict[str, Path]:
    """The gazetteer's files (`gazetteer/gazetteer_config.json`, `gazetteer/names.tsv.gz`) when the folder has
    one; ExportError for a `gazetteer/` folder missing one of them, or for a model whose config reads gazetteer
    features and that has none."""
    from modeling.gazetteer_joint_ner_re import CONFIG_FILE, GAZETTEER_FOLDER, NAMES_FILE

    folder = model_dir / GAZETTEER_FOLDER
    if not folder.is_dir():
        if _load_config(model_dir).get("gazetteer_features"):
            raise ExportError(f"{model_dir}: the model reads gazetteer features and the folder has no {GAZETTEER_FOLDER}/")
        return {}
    missing = [name for name in (CONFIG_FILE, NAMES_FILE) if not (folder / name).is_file()]
    if missing:
        raise ExportError(f"{folder}: incomplete gazetteer, no {', '.join(missing)}")
    return {f"{GAZETTEER_FOLDER}/{name}": folder / name for name in (CONFIG_FILE, NAMES_FILE)}


def linker_files(model_dir: Path) -> dict[str, Path]:
    """The concept linker's files (`linker/linker_config.json`, `linker/names.tsv.gz`) when the folder has one;
    ExportError for a `linker/` folder missing one of them."""
    from modeling.linking_joint_ner_re import CONFIG_FILE, LINKER_FOLDER, NAMES_FILE

    folder = model_dir / LINKER_FOLDER
    if not folder.is_dir():
        return {}
    missing = [name for name in (CONFIG_FILE, NAMES_FILE) if not (folder / name).is_file()]
    if missing:
        raise ExportError(f"{folder}: incomplete linker, no {', '.join(missing)}")
    files = {f"{LINKER_FOLDER}/{name}": folder / name for name in (CONFIG_FILE, NAMES_FILE)}
    # a dense ranker's encoder (`linker/encoder/`), file by file as its config lists them for the Hub download
    dense = read_json(folder / CONFIG_FILE).get("dense")
    if isinstance(dense, dict):
        encoder = folder / str(dense.get("encoder", "encoder"))
        for name in dense.get("files", []):
            if not (encoder / name).is_file():
                raise ExportError(f"{encoder / name}: missing (listed in {folder / CONFIG_FILE})")
            files[f"{LINKER_FOLDER}/{encoder.name}/{name}"] = encoder / name
    return files


def plan_model_export(
    model_dir: str | Path, *, allow_pickle: bool = False, allow_missing_metrics: bool = False, onnx: bool = False
) -> tuple[dict[str, Path], list[str]]:
    """What an export would copy (name in the repo -> source file) and the folder's files left out.
    `onnx`: the encoder's ONNX export too (`onnx_files`).

    Raises `ExportError` for a folder that is not exportable as asked.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ExportError(f"{model_dir}: not a folder")
    config = _load_config(model_dir)
    pickles = pickle_files(model_dir)
    if pickles and not allow_pickle:
        raise ExportError(
            f"{model_dir}: holds pickle weights {[p.name for p in pickles]}; pickles can run code when loaded. "
            "Remove them (safetensors is exported) or pass --allow-pickle to upload them too"
        )
    if not (model_dir / METRICS_FILE).is_file() and not allow_missing_metrics:
        raise ExportError(
            f"{model_dir}: no {METRICS_FILE}, so the model card would have no measured scores; "
            "evaluate the model first or pass --allow-missing-metrics"
        )
    plan: dict[str, Path] = {"config.json": model_dir / "config.json"}
    plan |= {p.name: p for p in weight_files(model_dir)}
    plan |= code_files(model_dir, config)
    tokenizer = [name for name in TOKENIZER_FILES if (model_dir / name).is_file()]
    if "tokenizer_config.json" not in tokenizer:
        raise ExportError(f"{model_dir}: no tokenizer_config.json; save the tokenizer next to the model")
    plan |= {name: model_dir / name for name in tokenizer}
    plan |= {name: model_dir / name for name in EXTRA_FILES if (model_dir / name).is_file()}
    if allow_pickle:
        plan |= {p.name: p for p in pickles}
    plan |= linker_files(model_dir)
    plan |= gazetteer_files(model_dir)
    if onnx:
        plan |= onnx_files(model_dir)
    folders = {name.split("/", 1)[0] for name in plan if "/" in name}
    left_out = sorted(p.name for p in model_dir.iterdir()
                      if p.name not in plan and p.name not in folders and p.name != "README.md")
    return plan, left_out


def export_model(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    repo_id: str | None = None,
    model_name: str | None = None,
    allow_pickle: bool = False,
    allow_missing_metrics: bool = False,
    base_model: str | None = None,
    datasets: Sequence[str] | None = None,
    license: str = "apache-2.0",
    tags: Sequence[str] = (),
    keep_card: bool = False,
    onnx: bool = False,
) -> tuple[list[Path], list[str]]:
    """Copy the files to upload from `model_dir` into the new or empty `out_dir` and write README.md
    (a fresh card from the folder's files; `keep_card` copies the folder's own README.md instead).

    Returns the files written and the names of files in `model_dir` that were left out (checkpoints,
    predictions, logs...), so the caller can report them.
    """
    plan, left_out = plan_model_export(
        model_dir, allow_pickle=allow_pickle, allow_missing_metrics=allow_missing_metrics, onnx=onnx
    )
    if keep_card and not (Path(model_dir) / "README.md").is_file():
        raise ExportError(f"{model_dir}: no README.md to keep")
    out_dir = Path(out_dir)
    ensure_empty_dir(out_dir)
    written = []
    for name, source in plan.items():
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)  # onnx/, linker/, gazetteer/
        shutil.copy2(source, out_dir / name)
        written.append(out_dir / name)
    if keep_card:
        card = Path(shutil.copy2(Path(model_dir) / "README.md", out_dir / "README.md"))
    else:
        # named after the repo id, else `model_name`, else the trained folder (never the export folder)
        card = write_model_card(
            out_dir, repo_id=repo_id, model_name=model_name or Path(model_dir).resolve().name,
            base_model=base_model, datasets=datasets, license=license, tags=tags
        )
    return [*written, card], left_out
