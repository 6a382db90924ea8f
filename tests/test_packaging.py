"""pyproject.toml: the checkout builds into a wheel holding every package (a folder of the root with an
__init__.py, so packages added later are picked up) and the console scripts, and the installed packages import
from another folder. `.ci/run` checks `pip install -e .` the same way in its fresh environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_PACKAGES = {"tests", "bench", "demo", "docs"}


def test_wheel_holds_every_package_and_imports_from_another_folder(tmp_path) -> None:
    packages = sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_PACKAGES)
    assert packages == ["biomed_nerre", "loaders", "modeling"]  # the promised two and one distinctive name
    source = tmp_path / "source"  # a copy, so the build's scratch folders never land in the shared checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, source / name)
    for package in packages:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                            str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert sorted({n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}) == packages
    # the Apache-2.0 text (PEP 639 license-files) travels with the code, named by the metadata
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "biomed_nerre/hub/templates/model_card.md" in names  # package data: the card cannot be written without it
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    for script, target in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"].items():
        assert f"{script} = {target}" in entry_points

    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import loaders, modeling; from loaders import load_corpus; from modeling import SciBertForJointNerRe; "
            "print(loaders.__file__)")
    result = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().startswith(str(site))
