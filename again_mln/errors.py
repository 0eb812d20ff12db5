"""One exception type for every problem a user can fix, so the CLI can print one line and exit."""
from __future__ import annotations



class AgainError(Exception):
    """A user-facing error: its message is a single line, e.g. ``rules.mln:12: expected ')'``."""


def located(path: object, line: int | None, message: str) -> AgainError:
    """Build an error that names the file (and line) the user must look at."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return AgainError(f"{where}: {message}")
