"""The README's Python snippets run: every fenced ``python`` block that follows ``<!-- test: snippet -->``, in
order, in one interpreter, from a working folder laid out like a checkout after the quick start
(``models/quickstart-bc5cdr-minilm`` is a tiny random model; ``../shared/data`` is the real data)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import torch

from modeling import SciBertForJointNerRe, load_tokenizer
from tests.tiny_encoder import write_tiny_encoder

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- test: snippet -->"
BLOCK = re.compile(r"^<!-- test: snippet -->[ \t]*\n\s*```python\n(.*?)\n```", re.DOTALL | re.MULTILINE)


def readme_snippets(text: str) -> list[str]:
    """The python blocks right after a marker comment (blank lines between them allowed)."""
    return BLOCK.findall(text)


def test_every_marker_is_followed_by_a_python_block() -> None:
    text = (ROOT / "README.md").read_text()
    markers = re.findall(r"^<!-- test: snippet -->[ \t]*$", text, re.MULTILINE)  # a marker on a line of its own
    assert len(markers) == len(readme_snippets(text)) >= 1


def test_readme_python_snippets_run_against_a_tiny_model(tmp_path) -> None:
    snippets = readme_snippets((ROOT / "README.md").read_text())
    work = tmp_path / "work"
    model_dir = work / "models" / "quickstart-bc5cdr-minilm"
    encoder = write_tiny_encoder(tmp_path / "encoder", lowercase=False)
    torch.manual_seed(0)
    model = SciBertForJointNerRe.from_encoder(str(encoder), entity_types=["Chemical", "Disease"],
                                              relation_types={"CID": ["Chemical", "Disease"]}, max_length=64,
                                              stride=16, re_block_size=8)
    model.save_pretrained(model_dir)
    load_tokenizer(encoder).save_pretrained(model_dir)
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared")  # ../shared/data as seen from work/
    program = "\n\n".join(f"# --- README snippet {i + 1}\n{code}" for i, code in enumerate(snippets))
    program += "\nprint('README snippets ran:', %d)\n" % len(snippets)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(tmp_path / "datasets_cache"), "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run([sys.executable, "-c", program], cwd=work, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"README snippets ran: {len(snippets)}" in result.stdout
