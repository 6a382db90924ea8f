"""The documentation's Python snippets run: every fenced ``python`` block that follows ``<!-- test: snippet -->``
in README.md and in each page of docs/, in order, one interpreter per file, from a working folder laid out like a
checkout after the quick start (``models/quickstart-bc5cdr-minilm`` is a tiny random model; ``../shared/data`` is
the real data).

That folder also holds a user's own ``training.py``, ``evaluation.py``, ``prediction.py``, ``linking.py`` and
``hub.py``, each raising on import: the snippets, ``python -m`` entry points and every console script run from
there all the same (the package's names cannot collide with them)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from modeling import SciBertForJointNerRe, load_tokenizer
from tests.tiny_encoder import write_tiny_encoder

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- test: snippet -->"
MARKER_LINE = re.compile(r"^<!-- test: snippet -->[ \t]*$", re.MULTILINE)  # a marker on a line of its own
# README.md, then every docs page with a marker (each page's snippets stand alone)
FILES = ["README.md"] + sorted(str(page.relative_to(ROOT)) for page in (ROOT / "docs").glob("*.md")
                               if MARKER_LINE.search(page.read_text()))
USER_MODULES = ("training", "evaluation", "prediction", "linking", "hub")


def write_user_modules(folder: Path) -> None:
    """Files a user may well have in a working folder, named like generic packages, each raising on import."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in USER_MODULES:
        (folder / f"{name}.py").write_text(f'raise ImportError("the user\'s own {name}.py was imported")\n')


BLOCK = re.compile(r"^<!-- test: snippet -->[ \t]*\n\s*```python\n(.*?)\n```", re.DOTALL | re.MULTILINE)


def readme_snippets(text: str) -> list[str]:
    """The python blocks right after a marker comment (blank lines between them allowed)."""
    return BLOCK.findall(text)


@pytest.mark.parametrize("name", FILES)
def test_every_marker_is_followed_by_a_python_block(name) -> None:
    text = (ROOT / name).read_text()
    assert len(MARKER_LINE.findall(text)) == len(readme_snippets(text)) >= 1


@pytest.mark.parametrize("name", FILES)
def test_python_snippets_run_against_a_tiny_model(name, tmp_path) -> None:
    snippets = readme_snippets((ROOT / name).read_text())
    work = tmp_path / "work"
    model_dir = work / "models" / "quickstart-bc5cdr-minilm"
    encoder = write_tiny_encoder(tmp_path / "encoder", lowercase=False)
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(str(encoder), entity_types=["Chemical", "Disease"],
                                              relation_types={"CID": ["Chemical", "Disease"]}, max_length=64,
                                              stride=16, re_block_size=8)
    model.save_pretrained(model_dir)
    load_tokenizer(encoder).save_pretrained(model_dir)
    write_user_modules(work)
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared")  # ../shared/data as seen from work/
    program = "\n\n".join(f"# --- {name} snippet {i + 1}\n{code}" for i, code in enumerate(snippets))
    program += "\nprint('snippets ran:', %d)\n" % len(snippets)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "datasets_cache"), "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run([sys.executable, "-c", program], cwd=work, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"snippets ran: {len(snippets)}" in result.stdout


CONSOLE_SCRIPTS = sorted(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


@pytest.mark.parametrize("command", [*([script] for script in CONSOLE_SCRIPTS),
                                     [sys.executable, "-m", "loaders"], [sys.executable, "-m", "biomed_nerre.linking"]],
                         ids=lambda command: " ".join(Path(c).name for c in command))
def test_entry_points_run_beside_a_users_generic_modules(command, tmp_path) -> None:
    write_user_modules(tmp_path)
    executable = shutil.which(command[0], path=str(Path(sys.executable).parent)) or command[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    shown = subprocess.run([executable, *command[1:], "--help"], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "usage:" in shown.stdout.lower()
