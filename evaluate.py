"""Thin entry point: ``python evaluate.py --model <dir or Hub id> --dataset bc5cdr --split test``.

The CLI lives in ``evaluation/run.py``. This file has the same name as the Hugging Face ``evaluate``
package, and the repository root is on ``sys.path`` whenever Python runs from here (``python -c``, pytest
with ``pythonpath = .``), so ``import evaluate`` would find this file first. When imported as ``evaluate``
it therefore hands the import over to the real package: it removes itself from ``sys.modules``, imports
``evaluate`` with the repository root hidden from ``sys.path``, puts the real package in
``sys.modules["evaluate"]`` and restores ``sys.path``. The import machinery reads
``sys.modules`` again after running this file, so ``import evaluate`` gives the importer the real package.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from biomed_nerre.evaluation.run import cli

    sys.exit(cli())
elif __name__ == "evaluate":
    import importlib as _importlib
    import os as _os

    def _hand_over_to_hf_evaluate() -> None:
        here = _os.path.dirname(_os.path.abspath(__file__))
        this_module = sys.modules.pop(__name__)
        saved_path = list(sys.path)
        # "" (and ".") on sys.path mean the current directory
        sys.path[:] = [p for p in sys.path if _os.path.abspath(p or _os.curdir) != here]
        try:
            real = _importlib.import_module(__name__)
        except ImportError as err:
            sys.modules[__name__] = this_module
            raise ImportError("the Hugging Face `evaluate` package is not installed (pip install evaluate); "
                              f"{__file__} is this project's CLI, run it as `python evaluate.py`") from err
        finally:
            sys.path[:] = saved_path
        sys.modules[__name__] = real

    _hand_over_to_hf_evaluate()
else:  # loaded under another name (e.g. by path from a tool): expose the CLI without side effects
    from biomed_nerre.evaluation.run import main  # noqa: F401
