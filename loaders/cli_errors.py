"""User errors of the entry points: one line ``error: ...`` on stderr and exit status 2, never a traceback.

Lives in the lowest floor (data) so that every entry point (``python -m loaders``, train.py, evaluate.py,
push_to_hub.py, ...) can import it. A traceback is kept for bugs: only `UsageError` and argparse's own
errors (unknown flag, bad choice, missing argument) become the one line.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import Iterable, NoReturn

EXIT_USAGE = 2  # argparse's status for a bad command line


class UsageError(ValueError):
    """Bad input from the user (a wrong name, a missing path, incompatible flags): the message says what is
    wrong and what is allowed. A `ValueError`, so library callers can keep catching that."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line ``error: ...`` (no usage block; ``--help`` shows it)."""

    def error(self, message: str) -> NoReturn:
        exit_with_error(f"{message} (see {self.prog} --help)")


def exit_with_error(message: str) -> NoReturn:
    """Print ``error: <message>`` (first line only) to stderr and exit with status 2."""
    first_line = str(message).strip().splitlines()[0] if str(message).strip() else "unknown error"
    # one write, newline included: processes of one launch share stderr, and a pipe keeps a single short write
    # whole, while print's two writes (text, then end) can interleave with another process's line
    sys.stderr.write(f"error: {first_line}\n")
    sys.stderr.flush()
    sys.exit(EXIT_USAGE)


def unknown_name(kind: str, name: str, allowed: Iterable[str]) -> UsageError:
    """``unknown <kind> 'x' (did you mean 'y'?); expected one of: a, b``."""
    allowed = list(allowed)
    close = difflib.get_close_matches(str(name), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UsageError(f"unknown {kind} {name!r}{hint}; expected one of: {', '.join(allowed)}")
