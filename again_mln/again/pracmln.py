"""The AGAIN schema on pracmln: our rules and data as pracmln objects, and pracmln's learning and inference.

pracmln is the reference the native engine is checked against. The adapter goes through the
interchange format on purpose: a :class:`RuleSet` is written with :func:`format_mln` and parsed
by pracmln, and data is written with :func:`format_db`, so whatever the toolkit writes is what
pracmln is tested on. The mapping of objectives:

* ``cll``: pracmln's discriminative composite likelihood (DCLL) with ``active`` as the query
  predicate and one partition holding every concept, i.e. exactly sum_n log P(c_n | y_n, w);
* ``pll``: pracmln's discriminative pseudo-likelihood (DPLL, the BPLL objective restricted to
  the ``active`` atoms; concepts are plain binary atoms, so blocking changes nothing).

Both optimise with pracmln's default BFGS from all-zero weights, and pracmln's Gaussian prior
adds -w^2 / (2 stdev^2) per formula once to the summed log-likelihood, as the native engine does.
"""
from __future__ import annotations

import contextlib
import io
from typing import Any, Literal

import numpy as np

from again_mln.engines.pracmln_compat import import_pracmln
from again_mln.errors import AgainError
from again_mln.again.logic import CATEGORY_PREDICATE, CONCEPT_PREDICATE, RuleSet, quote_constant
from again_mln.again.mlnfile import format_db, format_mln

Method = Literal["cll", "pll"]
InferenceMethod = Literal["exact", "mcsat"]


def to_pracmln(ruleset: RuleSet) -> Any:
    """A pracmln ``MLN`` parsed from the canonical ``.mln`` text of ``ruleset``."""
    import_pracmln()
    from pracmln.mln.base import parse_mln

    mln = parse_mln(format_mln(ruleset), searchpaths=["."], projectpath=None, logic="FirstOrderLogic", grammar="PRACGrammar")
    if len(mln.formulas) != len(ruleset.rules):
        raise AgainError(f"pracmln read {len(mln.formulas)} formulas from {len(ruleset.rules)} rules")
    return mln


def to_databases(mln: Any, ruleset: RuleSet, concepts: np.ndarray, categories: np.ndarray) -> list:
    """One pracmln ``Database`` per sample (complete concept evidence plus its category)."""
    from pracmln.mln.database import parse_db

    return parse_db(mln, format_db(ruleset, concepts, categories))


def learn_weights(
    ruleset: RuleSet,
    concepts: np.ndarray,
    categories: np.ndarray,
    method: Method = "cll",
    prior_stdev: float | None = None,
    verbose: bool = False,
) -> RuleSet:
    """Learn the soft, non-fixed weights with pracmln; hard and ``#fixweight`` rules are kept."""
    import_pracmln()
    from pracmln.mln.learning.bpll import DPLL
    from pracmln.mln.learning.cll import DCLL

    mln = to_pracmln(ruleset)
    databases = to_databases(mln, ruleset, concepts, categories)
    params: dict[str, Any] = {"qpreds": [CONCEPT_PREDICATE], "verbose": verbose}
    if method == "cll":
        params.update(method=DCLL, partsize=len(ruleset.concepts))
    elif method == "pll":
        params.update(method=DPLL)
    else:
        raise AgainError(f"unknown pracmln learning method {method!r}; expected cll or pll")
    if prior_stdev is not None:
        params["prior_stdev"] = float(prior_stdev)
    with contextlib.redirect_stdout(None if verbose else io.StringIO()):
        learned = mln.learn(databases, **params)
    weights = [float(w) for w, rule in zip(learned.weights, ruleset.rules) if not rule.hard]
    return ruleset.with_weights(weights)


def _ground(mln: Any, category: str) -> Any:
    """The MRF of ``mln`` given the evidence ``label(category)``, concepts unknown."""
    from pracmln.mln.database import Database

    db = Database(mln)
    db[f"{CATEGORY_PREDICATE}({quote_constant(category)})"] = 1
    return mln.ground(db)


def _inference(method: InferenceMethod) -> type:
    from pracmln.mln.inference.exact import EnumerationAsk
    from pracmln.mln.inference.mcsat import MCSAT

    if method not in ("exact", "mcsat"):
        raise AgainError(f"unknown pracmln inference method {method!r}; expected exact or mcsat")
    return EnumerationAsk if method == "exact" else MCSAT


def concept_marginals(ruleset: RuleSet, method: InferenceMethod = "exact", **params: Any) -> np.ndarray:
    """P(active(c) | label(y)) for every category and concept, (K, M), by pracmln inference.

    ``exact`` is EnumerationAsk; ``mcsat`` is MC-SAT (``params`` go to it, e.g. ``maxsteps``).
    """
    mln = to_pracmln(ruleset)
    infer = _inference(method)
    atoms = [f"{CONCEPT_PREDICATE}({quote_constant(c)})" for c in ruleset.concepts]
    out = np.empty((len(ruleset.categories), len(atoms)))
    for k, category in enumerate(ruleset.categories):
        with contextlib.redirect_stdout(io.StringIO()):
            results = infer(_ground(mln, category), queries=CONCEPT_PREDICATE, cw=False, **params).run().results
        out[k] = [results[a] for a in atoms]
    return out


def explanation_probability(
    ruleset: RuleSet, concepts: np.ndarray, category: int, method: InferenceMethod = "exact", **params: Any
) -> float:
    """P(c | y) of one full concept assignment (M,) given its category: one conditional query."""
    mln = to_pracmln(ruleset)
    literals = [
        ("" if on else "!") + f"{CONCEPT_PREDICATE}({quote_constant(c)})"
        for c, on in zip(ruleset.concepts, np.asarray(concepts).astype(bool))
    ]
    query = " ^ ".join(literals)
    with contextlib.redirect_stdout(io.StringIO()):
        results = _inference(method)(_ground(mln, ruleset.categories[category]), queries=[query], cw=False, **params).run().results
    return float(next(iter(results.values())))


#: Most unknown concepts for which EnumerationAsk runs (2**n worlds); beyond, MC-SAT samples.
MAX_ENUMERATION_UNKNOWN = 14


def conditional_marginals(ruleset: RuleSet, evidence: np.ndarray, categories: np.ndarray,
                          mcsat_steps: int = 5000, seed: int = 0) -> np.ndarray:
    """P(active(c) | evidence, label(y)) (N, M) per database, by EnumerationAsk (MC-SAT when more
    than :data:`MAX_ENUMERATION_UNKNOWN` concepts are unknown). ``evidence`` (N, M): 1, 0 or -1
    (unknown); observed concepts come back as observed."""
    mln = to_pracmln(ruleset)
    from pracmln.mln.database import Database

    atoms = [f"{CONCEPT_PREDICATE}({quote_constant(c)})" for c in ruleset.concepts]
    out = np.asarray(evidence, np.float64).copy()
    for n, (row, y) in enumerate(zip(evidence, categories)):
        db = Database(mln)
        db[f"{CATEGORY_PREDICATE}({quote_constant(ruleset.categories[y])})"] = 1
        for atom, value in zip(atoms, row):
            if value >= 0:
                db[atom] = int(value)
        unknown = [m for m in range(len(atoms)) if row[m] < 0]
        if not unknown:
            continue
        exact = len(unknown) <= MAX_ENUMERATION_UNKNOWN
        params = {} if exact else {"maxsteps": mcsat_steps, "rndseed": seed}
        with contextlib.redirect_stdout(io.StringIO()):
            results = _inference("exact" if exact else "mcsat")(
                mln.ground(db), queries=[atoms[m] for m in unknown], cw=False, **params).run().results
        out[n, unknown] = [results[atoms[m]] for m in unknown]
    return out
