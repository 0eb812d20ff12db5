"""The declarative rule sources shipped inside the package (``again_mln/rules/``).

Third-party data sets are not resources of the package: see :mod:`again_mln.datasets.store`.
"""
from __future__ import annotations

from pathlib import Path

from again_mln.errors import AgainError

RULES_DIR = Path(__file__).resolve().parent / "rules"


def rules_file(name: str) -> Path:
    """A file in ``again_mln/rules/`` by name, with a clear error when it is missing."""
    path = RULES_DIR / name
    if not path.is_file():
        raise AgainError(f"{path}: no such rule-source file; reinstall again-mln")
    return path
