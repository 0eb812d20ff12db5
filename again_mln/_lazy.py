"""The public names of a subpackage, imported from their submodule on first use.

A layer lists its API in its ``__init__`` (``__all__``) without importing torch, or any of its
other modules, when the package itself is imported: ``again-mln --help`` stays instant, and a
light module of a layer does not pay for the heavy ones. No public name may equal a submodule's
name (the import system would replace it by the submodule; tests/test_layout.py checks it).
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, tuple[str, ...]]
                 ) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``, whose public names live in its
    submodules (``exports``: submodule -> names); a name is imported when first asked for."""
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home[name]}"), name)
        setattr(sys.modules[package], name, value)  # later look-ups find it without this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(home))

    return list(home), __getattr__, __dir__
