"""One exception type for every problem a user can fix, so the CLI can print one line and exit,
and the helpers that keep such a line short whatever the input holds."""
from __future__ import annotations

#: The longest message the command line prints for one error.
MAX_MESSAGE = 300
#: The longest piece of user input (a token, a name, a path) echoed inside a message.
MAX_TOKEN = 60


class AgainError(Exception):
    """A user-facing error: its message is a single line, e.g. ``rules.mln:12: expected ')'``."""


class AgainWarning(UserWarning):
    """Something suspicious but usable (e.g. a category no explanation can satisfy)."""


def short(value: object, limit: int = MAX_TOKEN) -> str:
    """Quoted text of user input, cut with an ellipsis so a 5 MB token keeps a message readable."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line of at most ``limit`` characters (cut with an ellipsis)."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def located(path: object, line: int | None, message: str) -> AgainError:
    """Build an error that names the file (and line) the user must look at."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return AgainError(f"{where}: {message}")
