"""Import pracmln 1.2.4 on a current Python.

Two things stop ``import pracmln`` today, and both are fixed here rather than in pracmln's files:

* its package ``__init__`` imports its Tk GUIs, and ``pracmln/mlnquery.py`` imports
  ``StringVar`` from ``tkinter.filedialog``, which stopped re-exporting it in Python 3.9. The
  engine never opens a window, so the GUI names only need to exist: the real ``tkinter`` is
  patched when it is installed, and a throw-away stub stands in (only while pracmln imports)
  on machines without Tk;
* its dependency dnutils ships a copy of Python 3.6's ``threading`` that reads
  ``_thread._set_sentinel`` (removed in Python 3.13); a plain lock is an adequate stand-in,
  because that copy only ever uses it as the main thread's never-released state lock.
"""
from __future__ import annotations

import _thread
import contextlib
import importlib
import importlib.util
import sys
import types
from typing import Iterator

from again_mln.errors import AgainError

INSTALL_HINT = "install it with: python -m again_mln.engines.install_pracmln"
_TK_SUBMODULES = ("filedialog", "messagebox", "simpledialog", "constants")


class _TkStubModule(types.ModuleType):
    """A module in which every attribute is an inert class, enough for class statements."""

    def __getattr__(self, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        stub = type(name, (), {"__init__": lambda self, *args, **kwargs: None})
        setattr(self, name, stub)
        return stub


@contextlib.contextmanager
def _tkinter_for_pracmln() -> Iterator[None]:
    """Make ``from tkinter.filedialog import StringVar`` (and friends) succeed."""
    try:
        import tkinter
        import tkinter.filedialog
    except ImportError:
        tkinter = None
    if tkinter is not None:
        tkinter.filedialog.StringVar = tkinter.StringVar
        yield
        return
    names = ["tkinter"] + [f"tkinter.{sub}" for sub in _TK_SUBMODULES]
    saved = {name: sys.modules.get(name) for name in names}
    root = _TkStubModule("tkinter")
    sys.modules["tkinter"] = root
    for sub in _TK_SUBMODULES:
        module = _TkStubModule(f"tkinter.{sub}")
        setattr(root, sub, module)
        sys.modules[f"tkinter.{sub}"] = module
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def import_pracmln() -> types.ModuleType:
    """The ``pracmln`` package, imported through the compatibility fixes; a clear error if absent."""
    if importlib.util.find_spec("pracmln") is None:
        raise AgainError(f"the pracmln engine needs pracmln 1.2.4, which is not installed; {INSTALL_HINT}")
    if not hasattr(_thread, "_set_sentinel"):
        _thread._set_sentinel = _thread.allocate_lock
    with _tkinter_for_pracmln():
        try:
            return importlib.import_module("pracmln")
        except ImportError as err:
            raise AgainError(f"pracmln is installed but does not import ({err}); {INSTALL_HINT}") from None
