"""The one way outputs are written: checked target, temporary file beside it, rename.

A failure, an exception or a SIGINT/SIGTERM/SIGHUP never leaves half a file or a stray temporary
file behind, and never replaces an input: inside :func:`command_scope` (the CLI opens one per
command) every file read through the readers is noted, and writing over one of them is refused.
Outputs are written only into folders that exist; a command whose output *is* a folder creates
it with :func:`output_folder`.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

from again_mln.errors import AgainError, short

if TYPE_CHECKING:
    import numpy as np

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
#: Resolved paths of the files read by the running command (None outside a command).
_INPUTS: contextvars.ContextVar[set[Path] | None] = contextvars.ContextVar("again_mln_inputs", default=None)


@contextlib.contextmanager
def command_scope() -> Iterator[None]:
    """Protect every input noted inside the block from being overwritten by an output."""
    token = _INPUTS.set(set())
    try:
        yield
    finally:
        _INPUTS.reset(token)


def note_input(path: str | os.PathLike) -> None:
    """Remember ``path`` as an input of the running command (no-op outside a command)."""
    inputs = _INPUTS.get()
    if inputs is not None:
        inputs.add(Path(path).resolve())


def check_target(target: str | os.PathLike) -> Path:
    """``target`` as a path that may be written: not empty, not a folder, not an input of the
    running command, its name not too long, in an existing writable folder."""
    if not str(target).strip():
        raise AgainError("the output path is empty")
    target = Path(target)
    shown = short(str(target))
    parent = target.parent
    try:
        name_max = os.pathconf(parent if parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    if len(os.fsencode(target.name)) > name_max:
        raise AgainError(f"{shown}: the file name is longer than {name_max} bytes")
    try:
        return _check_writable(target, shown, parent)
    except OSError as err:  # e.g. a folder name along the path that is too long
        raise AgainError(f"{shown}: cannot write there ({err.strerror})") from None


def _check_writable(target: Path, shown: str, parent: Path) -> Path:
    if not parent.exists():
        raise AgainError(f"{shown}: the output folder {short(str(parent))} does not exist")
    if not parent.is_dir():
        raise AgainError(f"{shown}: {short(str(parent))} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise AgainError(f"{shown}: the folder {short(str(parent))} is not writable")
    if target.is_dir():
        raise AgainError(f"{shown}: is a folder; expected a file name")
    if target.resolve() in (_INPUTS.get() or ()):
        raise AgainError(f"{shown}: is an input of this command; refusing to overwrite it")
    return target


def output_folder(path: str | os.PathLike, parents: bool = False) -> Path:
    """Create (if needed) a folder that a command writes its outputs into; the folder above it
    must exist unless ``parents``."""
    if not str(path).strip():
        raise AgainError("the output folder path is empty")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise AgainError(f"{short(str(folder))}: is a file, not a folder")
    try:
        folder.mkdir(parents=parents, exist_ok=True)
    except FileNotFoundError:
        raise AgainError(f"{short(str(folder))}: the folder {short(str(folder.parent))} does not exist") from None
    except OSError as err:
        raise AgainError(f"{short(str(folder))}: cannot create the folder ({err.strerror})") from None
    return folder


class _Terminated(SystemExit):
    """SIGTERM/SIGHUP turned into an exception, so the temporary file is removed on the way out."""


class _Held:
    """Signals that arrive between creating a temporary file and the ``finally`` that removes it
    are held back and raised once that ``finally`` is in place (main thread only, where the
    handlers run)."""

    pending: list[int] | None = None

    @classmethod
    def hold(cls) -> None:
        if threading.current_thread() is threading.main_thread():
            cls.pending = []

    @classmethod
    def release(cls) -> None:
        pending, cls.pending = cls.pending, None
        if pending:
            _raise_for(pending[0])


def _raise_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise _Terminated(128 + signum)


def _on_signal(signum: int, frame: object) -> None:
    if _Held.pending is not None:
        _Held.pending.append(signum)
        return
    _raise_for(signum)


@contextlib.contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """Within the block SIGTERM/SIGHUP raise (like Ctrl-C does), so ``finally`` clauses that remove
    temporary files run on those signals too; Ctrl-C keeps raising KeyboardInterrupt, but can be
    held back like them (:class:`_Held`) unless someone else installed its handler."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return
    ours = _SIGNALS + ((signal.SIGINT,) if signal.getsignal(signal.SIGINT) is signal.default_int_handler else ())
    previous = {s: signal.signal(s, _on_signal) for s in ours}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``target``.

    Write the output (in one go or in chunks) to the yielded path. Errors while writing become
    an :class:`AgainError` that names ``target``.
    """
    target = check_target(target)
    with cleanup_on_signals():
        _Held.hold()  # a signal before the ``try`` below would leave the temporary file behind
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:64]}.", suffix=suffix or target.suffix[:16],
                                       dir=target.parent)
        except OSError as err:
            _Held.release()
            raise AgainError(f"{short(str(target))}: cannot write there ({err.strerror})") from None
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            _Held.release()  # a signal that came meanwhile is raised here, inside the ``try``
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs should look like any other file
            yield tmp_path
            os.replace(tmp_path, target)
        except OSError as err:
            raise AgainError(f"{short(str(target))}: cannot write ({err.strerror or err})") from None
        finally:
            tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``target`` atomically (UTF-8)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_npz(target: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Save arrays as an uncompressed ``.npz`` atomically."""
    import numpy as np  # on use: the command line starts without numpy

    with atomic_path(target, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
