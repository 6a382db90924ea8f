"""The Gradio demo (`demo/`) as a Hugging Face Space: its files copied as they are, with the README header's
`models:` naming the model the Space shows (the app loads the first `models:` entry), and the few standard-library
modules of this project that the page's result view imports (the result contract and the one PubTator writer),
copied under their package paths so that the Space needs nothing but its requirements."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from .export_dataset import ensure_empty_dir
from .export_model import ExportError

ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = ROOT / "demo"
SPACE_FILES = ("README.md", "app.py", "result_view.py", "examples.json", "requirements.txt", "demo.png")
# what demo/result_view.py imports from the project (each imports only the others and the standard library)
VENDORED_MODULES = (
    "modeling/outputs_joint_ner_re.py",
    "loaders/pubtator.py",
    "biomed_nerre/prediction/corpus_ids.py",
)
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
_MODELS_BLOCK = re.compile(r"^models:\s*\n(?:\s*-\s*\S+\s*\n)+", flags=re.MULTILINE)


def space_readme(readme: str, model_id: str) -> str:
    """The demo README with its YAML header's `models:` list set to `[model_id]`."""
    parts = readme.split("---", 2)
    if len(parts) < 3 or parts[0].strip():
        raise ExportError("demo/README.md: no YAML header (--- ... ---) at the top")
    header, count = _MODELS_BLOCK.subn(f"models:\n  - {model_id}\n", parts[1])
    if count != 1:
        raise ExportError("demo/README.md: the YAML header needs one `models:` list")
    return f"---{header}---{parts[2]}"


def export_space(out_dir: str | Path, model_id: str, demo_dir: str | Path = DEMO_DIR) -> list[Path]:
    """Copy the Space's files from `demo_dir` into the new or empty `out_dir`, the README naming `model_id`
    (a Hub model id: a Space cannot read a local folder). Returns the files written."""
    if not _REPO_ID.fullmatch(model_id):
        raise ExportError(f"--model {model_id!r}: expected a Hub model id owner/name (a Space cannot see local folders)")
    demo_dir, out_dir = Path(demo_dir), Path(out_dir)
    missing = [name for name in SPACE_FILES if not (demo_dir / name).is_file()]
    if missing:
        raise ExportError(f"{demo_dir}: missing {', '.join(missing)}")
    ensure_empty_dir(out_dir)
    written = []
    for name in SPACE_FILES:
        if name == "README.md":
            text = space_readme((demo_dir / name).read_text(encoding="utf-8"), model_id)
            (out_dir / name).write_text(text, encoding="utf-8")
        else:
            shutil.copy2(demo_dir / name, out_dir / name)
        written.append(out_dir / name)
    for module in VENDORED_MODULES:
        target = out_dir / module
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / module, target)
        written.append(target)
        for package in target.relative_to(out_dir).parents:
            init = out_dir / package / "__init__.py"
            if package != Path(".") and not init.exists():
                init.write_text('"""Copied from biomed-nerre for the Space: only the modules its page imports."""\n')
                written.append(init)
    return written


def create_space(repo_id: str, private: bool = False, api: Any = None) -> None:
    """Create the Space `repo_id` with the Gradio SDK if it does not exist (a Space needs its SDK at creation)."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=True if private else None, exist_ok=True)
