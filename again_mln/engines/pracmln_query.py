"""pracmln as an oracle: posterior marginals of any first-order ``.mln`` / ``.db`` pair.

The native Markov logic engine is checked against pracmln 1.2.4 on arbitrary files, so this module
runs pracmln exactly as its ``mlnquery`` tool does (parse the MLN, read every database of the
``.db`` file, materialize, ground, run the inference) and hands back plain dictionaries that the
native engine's answers can be compared with. Nothing of pracmln's semantics is changed; the
differences from ``mlnquery`` are only these, each so that the answers are complete and
reproducible:

* every ground atom of every query predicate is answered, evidence atoms included (at their
  evidence value), and no queries means every predicate pracmln keeps after materialization;
* pracmln merges domains through Python sets, so the order of its constants (and hence which
  random numbers MC-SAT draws for which atom) changes with ``PYTHONHASHSEED``; here domains keep
  their first-seen order (the ``.mln`` declarations, then the database), so a seeded MC-SAT run
  gives the same answer in every process;
* with a seed (``rndseed`` or ``seed``), Python's ``random`` is seeded before grounding too, since
  pracmln's grounder shuffles the formulas with it before MC-SAT seeds itself;
* inference runs on one core (pracmln's ``multicore`` is off unless ``params`` turns it on),
  silently, and every pracmln failure becomes an :class:`~again_mln.errors.AgainError`.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import random
import re
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from again_mln.engines.pracmln_compat import import_pracmln
from again_mln.errors import AgainError, one_line

#: The inference methods offered, by the names pracmln's query tool shows (plus class names).
METHODS = {"EnumerationAsk": "EnumerationAsk", "Enumeration-Ask (exact)": "EnumerationAsk",
           "MC-SAT": "MCSAT", "MCSAT": "MCSAT"}
GRAMMARS = ("auto", "StandardGrammar", "PRACGrammar")
LOGICS = ("FirstOrderLogic", "FuzzyLogic")

_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
#: A ``?x`` variable (PRACGrammar); a soft-functional argument ``dom?`` follows a word, so it is no match.
_PRAC_VARIABLE = re.compile(r"(?<![\w?])\?[A-Za-z_]")


def detect_grammar(mln_text: str) -> str:
    """``PRACGrammar`` when the MLN writes variables as ``?x``, else ``StandardGrammar``: the two
    grammars read ``x`` oppositely (a variable in the standard one, a constant in PRAC's)."""
    return "PRACGrammar" if _PRAC_VARIABLE.search(_COMMENTS.sub("", mln_text)) else "StandardGrammar"


def pracmln_query(
    mln_path: str | os.PathLike,
    db_path: str | os.PathLike | None,
    queries: Sequence[str],
    closed_world: Sequence[str] = (),
    method: str = "EnumerationAsk",
    grammar: str = "auto",
    logic: str = "FirstOrderLogic",
    params: dict[str, Any] | None = None,
) -> list[dict[str, float]]:
    """pracmln's posterior marginals, one dict per database of ``db_path`` (in file order).

    Each dict maps every ground atom of the query predicates, printed as pracmln prints it
    (``Friends(Anna,Bob)``, no spaces), to its probability; evidence atoms are included at their
    evidence value. A query that is a formula rather than a predicate name (``Smokes(Anna)``,
    ``Cancer(x)``) is answered for each of its groundings, keyed as pracmln prints them. No
    queries means every predicate pracmln keeps. ``closed_world`` are pracmln's ``cw_preds``
    (unknown atoms false); ``params`` go to pracmln's inference (``maxsteps``, ``rndseed`` (or
    ``seed``), ``p``, ``chains``, ``cw``: closed world for every non-query predicate). An empty
    database file, or ``db_path=None``, is one database without evidence.
    """
    if method not in METHODS:
        raise AgainError(f"unknown pracmln inference method {method!r}; expected one of {', '.join(METHODS)}")
    import_pracmln()
    from pracmln.mln.inference.exact import EnumerationAsk
    from pracmln.mln.inference.mcsat import MCSAT

    infer = {"EnumerationAsk": EnumerationAsk, "MCSAT": MCSAT}[METHODS[method]]
    options = _inference_options(params)
    answers = []
    with _quiet(), _ordered_domains():
        for where, mrf, query_list in _ground(mln_path, db_path, queries, closed_world, grammar, logic):
            with _seeded(options.get("rndseed")):
                inference = _attempt(where, f"set up {infer.__name__}", lambda: infer(
                    mrf, query_list, cw_preds=list(closed_world), **options))
                results = _attempt(where, f"run {infer.__name__}", lambda: inference.run().results)
            answers.append(_complete(where, mrf, query_list, results))
    return answers


def pracmln_worlds(
    mln_path: str | os.PathLike,
    db_path: str | os.PathLike | None,
    queries: Sequence[str],
    closed_world: Sequence[str] = (),
    grammar: str = "auto",
    logic: str = "FirstOrderLogic",
    params: dict[str, Any] | None = None,
) -> list[int]:
    """How many worlds pracmln's EnumerationAsk would sum over, per database: the product over
    its variables of the values the evidence (and closed world) leaves. Grounding only, so a
    caller can tell an exact query that ends from one that never will, before running it.
    pracmln 1.2.4's MC-SAT is no way out: its SampleSAT draws each state uniformly from a list of
    all these worlds (the WalkSAT moves after it are dead code), so every step costs as much."""
    import_pracmln()
    from pracmln.mln.inference.infer import Inference

    options = _inference_options(params)
    counts = []
    with _quiet(), _ordered_domains():
        for where, mrf, query_list in _ground(mln_path, db_path, queries, closed_world, grammar, logic):
            _attempt(where, "apply the evidence", lambda: Inference(mrf, query_list, cw_preds=list(closed_world), **options))
            worlds = 1
            for variable in mrf.variables:
                worlds *= variable.valuecount(mrf.evidence)
            counts.append(worlds)
    return counts


def _ground(mln_path: str | os.PathLike, db_path: str | os.PathLike | None, queries: Sequence[str],
            closed_world: Sequence[str], grammar: str, logic: str) -> Iterator[tuple[str, Any, list[str]]]:
    """Per database of ``db_path``: where it is (for messages), pracmln's ground MRF of it, and the
    queries (every predicate pracmln keeps when there are none)."""
    mln_path = Path(mln_path)
    if grammar not in GRAMMARS:
        raise AgainError(f"unknown pracmln grammar {grammar!r}; expected one of {', '.join(GRAMMARS)}")
    if logic not in LOGICS:
        raise AgainError(f"unknown pracmln logic {logic!r}; expected one of {', '.join(LOGICS)}")
    mln_text = _read(mln_path)
    db_text = "" if db_path is None else _read(Path(db_path))
    if grammar == "auto":
        grammar = detect_grammar(mln_text)
    import_pracmln()
    from pracmln.mln.base import parse_mln
    from pracmln.mln.database import Database, parse_db

    mln = _attempt(mln_path, "parse the MLN", lambda: parse_mln(
        mln_text, searchpaths=[str(mln_path.parent)], projectpath=None, logic=logic, grammar=grammar))
    for pred in closed_world:
        if mln.predicate(pred) is None:
            raise AgainError(f"{mln_path}: closed-world predicate {pred!r} is not declared in the MLN")
    source = mln_path if db_path is None else Path(db_path)
    databases = _attempt(source, "parse the database", lambda: parse_db(
        mln, db_text, dirs=[str(source.parent)], projectpath=None)) if db_text.strip() else []
    for i, db in enumerate(databases or [Database(mln)]):
        where = f"{source} (database {i})"
        mrf = _attempt(where, "ground the MLN", lambda: mln.materialize(db).ground(db))
        query_list = list(queries) or [pred.name for pred in mrf.mln.iterpreds()]
        for query in query_list:
            if "(" not in query and mrf.mln.predicate(query) is None:
                declared = mln.predicate(query) is not None
                raise AgainError(f"{where}: query predicate {query!r} " + (
                    "appears in no formula that can be grounded, and pracmln drops it" if declared else "is not declared"))
        yield where, mrf, query_list


def pracmln_learn(
    mln_path: str | os.PathLike,
    db_paths: Sequence[str | os.PathLike],
    method: str = "bpll",
    queries: Sequence[str] = (),
    prior_sd: float | None = None,
    grammar: str = "auto",
    logic: str = "FirstOrderLogic",
) -> list[float]:
    """pracmln's learned weights, one per formula of its materialised MLN (hard ones as
    ``None``): ``bpll`` is pracmln's BPLL, ``ll`` its LL (over every world), ``cll`` its DCLL over the
    ``queries`` predicates with one partition holding every query atom (the exact conditional
    likelihood, not a composite one). Every database of every file in ``db_paths`` is used,
    closed world, as pracmln's ``mlnlearn`` does; ``prior_sd``: its Gaussian prior (mean 0)."""
    if method not in ("bpll", "ll", "cll"):
        raise AgainError(f"pracmln learns with bpll, ll or cll, not {method!r} (it has no plain pll)")
    if method == "cll" and not queries:
        raise AgainError("pracmln's cll needs query predicates (--query-preds P,Q)")
    mln_path = Path(mln_path)
    mln_text = _read(mln_path)
    grammar = detect_grammar(mln_text) if grammar == "auto" else grammar
    import_pracmln()
    from pracmln.mln.base import parse_mln
    from pracmln.mln.database import parse_db
    from pracmln.mln.learning import BPLL, DCLL, LL

    mln = _attempt(mln_path, "parse the MLN", lambda: parse_mln(
        mln_text, searchpaths=[str(mln_path.parent)], projectpath=None, logic=logic, grammar=grammar))
    databases = []
    for path in map(Path, db_paths):
        text = _read(path)
        databases += _attempt(path, "parse the database", lambda: parse_db(mln, text, dirs=[str(path.parent)], projectpath=None))
    params: dict[str, Any] = {"method": {"bpll": BPLL, "ll": LL, "cll": DCLL}[method]}
    if method == "cll":
        params.update(qpreds=list(queries), partsize=2**62)
    if prior_sd is not None:
        params["prior_stdev"] = float(prior_sd)
    with _quiet(), _ordered_domains():
        learned = _attempt(mln_path, f"learn by {method}", lambda: mln.learn(databases, **params))
    return [None if f.ishard else float(f.weight) for f in learned.formulas]


def _complete(where: str, mrf: Any, queries: list[str], results: dict[Any, Any]) -> dict[str, float]:
    """pracmln's answers as floats, plus any atom of a query predicate it left out, at its evidence."""
    answer = {str(key): float(value) for key, value in results.items()}
    undefined = [key for key, value in answer.items() if math.isnan(value)]
    if undefined:  # e.g. a soft weight of -inf: EnumerationAsk adds 0 * -inf for the worlds that satisfy it
        raise AgainError(f"{where}: pracmln answered NaN for {undefined[0]} (an infinite soft weight? "
                         "pracmln's hard formulas end with '.')")
    query_preds = {q for q in queries if "(" not in q}
    for atom in mrf.gndatoms:
        if atom.predname in query_preds and str(atom) not in answer:
            value = mrf.evidence[atom.idx]
            if value is None:
                raise AgainError(f"{where}: pracmln gave no answer for the unknown atom {atom}")
            answer[str(atom)] = float(value)
    return answer


def _inference_options(params: dict[str, Any] | None) -> dict[str, Any]:
    """pracmln's keyword options: quiet and single-core by default, ``seed`` read as ``rndseed``."""
    options: dict[str, Any] = {"verbose": False, "multicore": False}
    for key, value in (params or {}).items():
        options["rndseed" if key == "seed" else key] = value
    return options


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise AgainError(f"{path}: cannot read ({err.strerror if isinstance(err, OSError) else err})") from None


def _attempt(where: object, what: str, action: Any) -> Any:
    """Run one pracmln step; its failure (any exception: pracmln raises bare ones) as one line."""
    try:
        return action()
    except AgainError:
        raise
    except Exception as err:  # noqa: BLE001 - pracmln raises Exception, KeyError, ParseException...
        cause = err
        # Some of pracmln's error paths fail themselves (``e.message`` in Python 3): name the first error.
        while isinstance(cause, AttributeError) and isinstance(cause.__context__, Exception):
            cause = cause.__context__
        detail = str(cause).strip() or "no message"
        err_name = type(cause).__name__
        raise AgainError(one_line(f"{where}: pracmln failed to {what}: {err_name}: {detail}")) from err


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Swallow pracmln's prints (MC-SAT prints even when not verbose) and its log records."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _seeded(seed: Any) -> Iterator[None]:
    """Python's ``random`` seeded with ``seed`` (restored after): pracmln's grounder shuffles the
    formulas with it before MC-SAT seeds itself, so the order of the ground formulas, and hence
    which draw goes to which, would otherwise change from call to call."""
    if seed is None:
        yield
        return
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def _merge_in_order(*domains: dict[str, Iterable[str]]) -> dict[str, list[str]]:
    """pracmln's ``mergedom`` keeping first-seen order instead of a set's (hash-seed) order."""
    merged: dict[str, dict[str, None]] = {}
    for domain in domains:
        for name, values in domain.items():
            merged.setdefault(name, {}).update(dict.fromkeys(values))
    return {name: list(values) for name, values in merged.items()}


@contextlib.contextmanager
def _ordered_domains() -> Iterator[None]:
    """While pracmln runs, its modules merge domains with :func:`_merge_in_order`."""
    import pracmln.mln.base as base
    import pracmln.mln.mrf as mrf

    saved = base.mergedom, mrf.mergedom
    base.mergedom = mrf.mergedom = _merge_in_order
    try:
        yield
    finally:
        base.mergedom, mrf.mergedom = saved
