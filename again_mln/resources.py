"""Where the declarative rule sources (``rules/``) and the shared data folder live."""
from __future__ import annotations

import os
from pathlib import Path

from again_mln.errors import AgainError

_PACKAGE = Path(__file__).resolve().parent


def rules_dir() -> Path:
    """The ``rules/`` folder shipped with the code (installed copy first, then the checkout)."""
    for candidate in (_PACKAGE / "rules", _PACKAGE.parent / "rules"):
        if candidate.is_dir():
            return candidate
    raise AgainError(f"{_PACKAGE.parent / 'rules'}: rule-source folder not found; reinstall again-mln")


def rules_file(name: str) -> Path:
    """A file in ``rules/`` by name, with a clear error when it is missing."""
    path = rules_dir() / name
    if not path.is_file():
        raise AgainError(f"{path}: no such rule-source file")
    return path


def data_dir() -> Path:
    """The shared data folder: ``$AGAIN_DATA`` or ``../shared/data`` beside the checkout."""
    env = os.environ.get("AGAIN_DATA")
    path = Path(env) if env else _PACKAGE.parent.parent / "shared" / "data"
    if not path.is_dir():
        raise AgainError(f"{path}: data folder not found; set AGAIN_DATA to the folder holding cub/, MNIST/, ews/")
    return path
