"""User errors of the entry points: one line ``error: ...`` on stderr and exit status 2, never a traceback.

Lives in the lowest floor (data) so that every entry point (``python -m loaders``, train.py, evaluate.py,
push_to_hub.py, ...) can import it. A traceback is kept for bugs: only `UsageError` and argparse's own
errors (unknown flag, bad choice, missing argument) become the one line.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import sys
from typing import Iterable, Iterator, NoReturn

from modeling.outputs_joint_ner_re import InputError

EXIT_USAGE = 2  # argparse's status for a bad command line


class UsageError(InputError):
    """Bad input from the user (a wrong name, a missing path, incompatible flags): the message says what is
    wrong and what is allowed. An `InputError` (the package's one type for bad input, a `ValueError`)."""


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


def os_error_message(error: OSError) -> str:
    """An `OSError` as `<file>: <what>` ("models/x/config.json: permission denied"), the form of every other
    one-line error."""
    what = (error.strerror or str(error)).strip()
    if error.filename is None:
        return what or type(error).__name__
    what = what[:1].lower() + what[1:]
    return f"{error.filename}: {what}" + (f" ({error.filename2})" if error.filename2 else "")


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """The body of an entry point: bad input (`InputError`, which `UsageError` and every reader's error are) and
    what the file system refuses (`OSError`: no such file, permission denied, a full disk) end the command with
    one line `error: ...` and exit status 2; any other exception is a bug and keeps its traceback."""
    try:
        yield
    except InputError as error:
        exit_with_error(str(error))
    except OSError as error:
        exit_with_error(os_error_message(error))


def unknown_name(kind: str, name: str, allowed: Iterable[str]) -> UsageError:
    """``unknown <kind> 'x' (did you mean 'y'?); expected one of: a, b``."""
    allowed = list(allowed)
    close = difflib.get_close_matches(str(name), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return UsageError(f"unknown {kind} {name!r}{hint}; expected one of: {', '.join(allowed)}")
