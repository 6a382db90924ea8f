"""Every entry point answers `--help`: the top-level scripts, `python -m <package>`, every bench/ and demo/
script (a file there with a ``__main__`` block; the others are helper modules), the console scripts of
pyproject.toml, and the subcommands. The lists are discovered from the repository, so an entry point added later
(predict.py, demo/app.py, ...) is covered without editing this file.

One interpreter imports the heavy third-party libraries (torch, transformers, ...) once and forks a child per
entry point; each child sets ``sys.path`` and ``sys.argv`` as ``python <script> --help`` (or ``python -m``)
would and has none of the project's modules imported, so a script that cannot find its imports still fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_FOLDERS = ("bench", "demo")  # folders of scripts run as `python <folder>/<name>.py`


def _scripts() -> list[str]:
    top = [p.name for p in sorted(ROOT.glob("*.py")) if p.name not in ("setup.py", "conftest.py")]
    nested = [str(p.relative_to(ROOT)) for folder in SCRIPT_FOLDERS for p in sorted((ROOT / folder).glob("*.py"))
              if p.name != "__init__.py" and "__main__" in p.read_text()]
    return top + nested


def _package_mains() -> list[str]:
    return [p.parent.name for p in sorted(ROOT.glob("*/__main__.py")) if (p.parent / "__init__.py").exists()]


def _console_scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def _subcommands() -> list[list[str]]:
    """`<entry> <subcommand> --help` for the argparse subcommands of the known multi-command entry points."""
    found = []
    if (ROOT / "push_to_hub.py").exists():
        found += [["push_to_hub.py", "model"], ["push_to_hub.py", "dataset"]]
    if (ROOT / "loaders" / "__main__.py").exists():
        found += [["-m", "loaders", "build"]]
    return found


DRIVER = r"""
import io, json, os, runpy, sys
sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]  # nothing of the project before the fork
import torch, transformers, datasets, accelerate  # noqa: F401  (shared by every child; the slow part)
results = []
for argv in json.loads(sys.argv[1]):
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: `python <argv...> --help`
        os.dup2(out_w, 1); os.dup2(err_w, 2)
        sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True)
        code = 0
        try:
            if argv[0] == "-m":
                sys.path.insert(0, os.getcwd())
                sys.argv = [argv[1], *argv[2:], "--help"]
                runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
            elif argv[0] == "-c":
                sys.path.insert(0, "")
                sys.argv = ["-c", "--help"]
                exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
            else:
                sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
                sys.argv = [*argv, "--help"]
                runpy.run_path(argv[0], run_name="__main__")
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    os.close(out_w); os.close(err_w)
    with os.fdopen(out_r) as out, os.fdopen(err_r) as err:
        stdout, stderr = out.read(), err.read()
    _, status = os.waitpid(pid, 0)
    results.append({"argv": argv, "returncode": os.waitstatus_to_exitcode(status), "stdout": stdout,
                    "stderr": stderr})
print(json.dumps(results))
"""


def _all_argvs() -> list[list[str]]:
    argvs = [[script] for script in _scripts()] + [["train.py", "-h"], ["train.py", "--config", "configs/quickstart.yaml"]]
    argvs += [["-m", package] for package in _package_mains()] + _subcommands()
    for target in _console_scripts().values():
        module, function = target.split(":")
        argvs.append(["-c", f"import sys; from {module} import {function} as entry; sys.exit(entry())"])
    return argvs


@pytest.fixture(scope="module")
def helps() -> dict[str, subprocess.CompletedProcess]:
    """`--help` of every entry point, run once for the module: {" ".join(argv): the finished child}."""
    import json

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONPATH", None)  # each script must find the packages by itself
    argvs = _all_argvs()
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argvs)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    return {" ".join(r["argv"]): subprocess.CompletedProcess(r["argv"], r["returncode"], r["stdout"], r["stderr"])
            for r in results}


def check_help(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert "usage:" in result.stdout.lower(), result.stdout[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


def test_discovery_finds_the_known_entry_points() -> None:
    scripts = _scripts()
    for name in ("train.py", "evaluate.py", "push_to_hub.py", "bench/trainer_baseline.py", "bench/quality.py"):
        assert name in scripts
    assert "loaders" in _package_mains()
    assert {"nerre-train", "nerre-evaluate", "nerre-push-to-hub", "nerre-loaders"} <= set(_console_scripts())


@pytest.mark.parametrize("script", _scripts())
def test_script_help(script: str, helps) -> None:
    check_help(helps[script])
    if script == "train.py":  # -h, and --help after --config (the YAML is read before the help is printed)
        check_help(helps["train.py -h"])
        check_help(helps["train.py --config configs/quickstart.yaml"])


@pytest.mark.parametrize("package", _package_mains())
def test_package_main_help(package: str, helps) -> None:
    check_help(helps[f"-m {package}"])


@pytest.mark.parametrize("argv", _subcommands(), ids=" ".join)
def test_subcommand_help(argv: list[str], helps) -> None:
    check_help(helps[" ".join(argv)])


@pytest.mark.parametrize("name", sorted(_console_scripts()))
def test_console_script_help(name: str, helps) -> None:
    """The function each console script calls (what `pip install` wires up) answers --help."""
    module, function = _console_scripts()[name].split(":")
    check_help(helps[f"-c import sys; from {module} import {function} as entry; sys.exit(entry())"])


def test_a_script_that_cannot_find_its_imports_fails_here(tmp_path) -> None:
    """The harness itself: a bench-like script importing the project without putting the root on sys.path fails
    (as `python bench/trainer_baseline.py --help` did), so the tests above can fail."""
    import json

    (tmp_path / "bench").mkdir()
    script = tmp_path / "bench" / "probe.py"
    # bench/ is never installed (pyproject excludes it), so this import fails even where the package is installed
    script.write_text("from bench.common import bench_parser\nimport argparse\nargparse.ArgumentParser().parse_args()\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([[str(script)]])], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    [result] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["returncode"] != 0 and "No module named 'bench'" in result["stderr"]
