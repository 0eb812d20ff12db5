"""Compiled rule files, cached per user, so parsing, compiling and S_max are paid once per file.

A rule file of CUB size takes seconds to parse, compile and solve for S_max (docs/method.md),
far longer than rectifying a million explanations. The compiled rules' ``state_dict`` (tables,
weights and S_max), with the rule set and the little else needed to rebuild the module, is stored in the per-user cache folder under a key made of the file's content hash,
the device, and the source of the modules that compile it, so any change to the rules or to the
compiler is a miss. An unreadable or foreign cache entry is ignored and rebuilt; a cache folder
that cannot be written only costs the speed-up.

The entries are pickles (of tensors and plain data, never of a module) written by this module into a folder that only the user can write
(mode 0700); they are never read from anywhere else.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch

from again_mln.io.atomic import note_input
from again_mln.again.compiled import CompiledRules
from again_mln.devices import resolve_device
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.again.logic import Atom, Formula, RuleSet
from again_mln.again.mlnfile import read_mln

APP_NAME = "again-mln"
#: Bump when the entry layout changes.
FORMAT = 2
#: Modules whose source decides what a compiled graph and its entry hold.
_COMPILER_MODULES = (__name__, "again_mln.again.graph", "again_mln.again.compiled", "again_mln.again.logic", "again_mln.again.mlnfile")


def cache_folder() -> Path:
    """The per-user folder of compiled rule files (``$XDG_CACHE_HOME/again-mln/graphs`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "graphs"


def _compiler_fingerprint() -> bytes:
    digest = hashlib.sha256(f"{FORMAT} {torch.__version__}".encode())
    for name in _COMPILER_MODULES:
        digest.update(Path(sys.modules[name].__file__).read_bytes())
    return digest.digest()


def cache_key(rule_text: bytes, device: torch.device) -> str:
    """The entry name of a rule file's content compiled for ``device``."""
    digest = hashlib.sha256(_compiler_fingerprint())
    digest.update(str(device).encode())
    digest.update(rule_text)
    return digest.hexdigest()


def _load(entry: Path, key: str) -> CompiledRules | None:
    """The compiled rules stored under ``key``, or None when the entry is missing, unreadable or foreign."""
    try:
        with entry.open("rb") as handle:
            stored = pickle.load(handle)
        if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("ruleset"), RuleSet):
            return None
        state = {name[len("graph."):]: value for name, value in stored["state"].items() if name.startswith("graph.")}
        graph = FactorGraph.from_state(stored["ruleset"], state, stored["hard_weight"], stored["factor_arity"])
        return CompiledRules(graph, stored["state"]["s_max_table"])
    except Exception:  # a missing, truncated, corrupt or foreign entry is a miss, whatever it raises
        return None


def _share_atoms(formula: Formula, atoms: dict[Atom, Atom]) -> Formula:
    """The formula with every atom replaced by one shared instance per distinct atom."""
    if isinstance(formula, Atom):
        return atoms.setdefault(formula, formula)
    changes = {}
    for part in dataclasses.fields(formula):
        value = getattr(formula, part.name)
        if isinstance(value, Formula):
            changes[part.name] = _share_atoms(value, atoms)
        elif isinstance(value, tuple) and all(isinstance(v, Formula) for v in value):
            changes[part.name] = tuple(_share_atoms(v, atoms) for v in value)
    return dataclasses.replace(formula, **changes)


def _with_shared_atoms(ruleset: RuleSet) -> RuleSet:
    """An equal rule set whose formulas share their atoms, so that an entry holds (and loading
    builds) each distinct atom once: a CUB-size rule set then loads about four times faster."""
    atoms: dict[Atom, Atom] = {}
    rules = [dataclasses.replace(rule, formula=_share_atoms(rule.formula, atoms)) for rule in ruleset.rules]
    return dataclasses.replace(ruleset, rules=rules)


def _store(entry: Path, key: str, compiled: CompiledRules) -> None:
    """Write the entry atomically; a folder that cannot be written leaves the cache cold."""
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=entry.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                graph = compiled.graph
                state = {name: value for name, value in compiled.state_dict().items()
                         if name.startswith("graph.") or name == "s_max_table"}
                pickle.dump({"key": key, "ruleset": _with_shared_atoms(graph.ruleset), "state": state,
                             "hard_weight": graph.hard_weight, "factor_arity": graph.factor_arity},
                            handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass


def compiled_rules(mln_path: str | os.PathLike, device: str | torch.device | None = "auto", use_cache: bool = True,
                   check: Callable[[FactorGraph], None] | None = None) -> tuple[CompiledRules, bool]:
    """The compiled rules of a rule file with S_max solved, and whether they came from the cache.
    ``check`` sees the graph before S_max is solved (a refusal costs no inference)."""
    path = Path(mln_path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise AgainError(f"{path}: no such file") from None
    except OSError as err:
        raise AgainError(f"{path}: cannot read ({err.strerror})") from None
    note_input(path)  # a cache hit skips read_mln; the rule file is still an input of the command
    device = resolve_device(device)
    key = cache_key(text, device)
    entry = cache_folder() / f"{key}.pickle"
    if use_cache:
        compiled = _load(entry, key)
        if compiled is not None:
            if check is not None:
                check(compiled.graph)
            return compiled, True
    graph = FactorGraph(read_mln(path), device=device)
    if check is not None:
        check(graph)
    compiled = CompiledRules(graph)
    compiled.s_max  # solved once, stored with the tables
    if use_cache:
        _store(entry, key, compiled)
    return compiled, False
