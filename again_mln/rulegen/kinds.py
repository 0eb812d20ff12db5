"""The four rule kinds every builder produces, their formulas, and how a confidence becomes a weight.

docs/method.md ("Objects") fixes the formulas: the default ``implication`` semantics reads a category-concept
rule as "this category implies the concept (is / is not) active" and a concept-concept exclusion
as "at most one of the two"; ``paper`` semantics is the paper's literal equivalence / xor.
Keeping both here, and recognising them again in :func:`classify`, means a summary of any
``.mln`` file counts rules the same way the builders made them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from again_mln.choices import SEMANTICS, WEIGHTINGS
from again_mln.errors import AgainError
from again_mln.again.logic import And, Equiv, Formula, Implies, Not, category, concept

Semantics = Literal["implication", "paper"]
Weighting = Literal["prior", "uniform"]

#: Confidences are clipped to this before the log-odds, so a rule seen without exception (a score
#: of 0 or 100, a concept pair never seen together) gets a large finite weight, log(99) = 4.595.
MAX_CONFIDENCE = 0.99


SCOPES: tuple[str, ...] = ("category-concept", "concept-concept")


@dataclass(frozen=True)
class RuleKind:
    """What a rule relates (``category-concept`` or ``concept-concept``) and how."""

    scope: str
    relation: str

    @property
    def label(self) -> str:
        return f"{self.scope} {self.relation}"

    @property
    def has_category(self) -> bool:
        return self.scope == SCOPES[0]


CATEGORY_COEXISTENCE = RuleKind(SCOPES[0], "coexistence")
CATEGORY_EXCLUSION = RuleKind(SCOPES[0], "exclusion")
CONCEPT_COEXISTENCE = RuleKind(SCOPES[1], "coexistence")
CONCEPT_EXCLUSION = RuleKind(SCOPES[1], "exclusion")
KINDS: tuple[RuleKind, ...] = (CATEGORY_COEXISTENCE, CATEGORY_EXCLUSION, CONCEPT_COEXISTENCE, CONCEPT_EXCLUSION)


def check_semantics(semantics: str) -> None:
    if semantics not in SEMANTICS:
        raise AgainError(f"unknown semantics {semantics!r}; expected one of {', '.join(SEMANTICS)}")


def kind_formula(kind: RuleKind, first: str, second: str, semantics: Semantics = "implication") -> Formula:
    """The formula of one rule: ``first`` is the category (category-concept) or concept A,
    ``second`` the concept (B)."""
    check_semantics(semantics)
    left = category(first) if kind.has_category else concept(first)
    right = concept(second)
    if kind.relation == "coexistence":
        if kind.has_category and semantics == "implication":
            return Implies(left, right)
        return Equiv(left, right)
    if semantics == "paper":
        return Not(Equiv(left, right))
    return Implies(left, Not(right)) if kind.has_category else Not(And((left, right)))


def classify(formula: Formula) -> RuleKind | None:
    """The kind of a formula in any of the builders' forms (either atom order), else ``None``."""
    atoms = formula.atoms()
    if len(atoms) != 2:
        return None
    categories = [a for a in atoms if not a.is_concept]
    concepts = [a for a in atoms if a.is_concept]
    if len(concepts) == 2:
        orders = [(concepts[0], concepts[1]), (concepts[1], concepts[0])]
    elif len(concepts) == 1:
        orders = [(categories[0], concepts[0])]
    else:
        return None
    for kind in KINDS:
        if kind.has_category != (len(categories) == 1):
            continue
        for first, second in orders:
            for semantics in SEMANTICS:
                if kind_formula(kind, first.argument, second.argument, semantics) == formula:
                    return kind
    return None


def confidence_weights(confidence: np.ndarray) -> np.ndarray:
    """Prior weights: the log-odds ``log(q / (1 - q))`` of each rule's confidence ``q``.

    ``q`` is the probability that the rule holds (an association score of 87 % gives a
    coexistence rule q = 0.87, an exclusion rule q = 0.13 -> 1 - 0.13); it is clipped to
    [0.5, MAX_CONFIDENCE] so weights are finite and never negative. The log-odds is the weight
    a single-rule Markov logic network needs to reproduce that probability, which is why it is
    the prior setting; rounded to 4 decimals so files stay readable.
    """
    q = np.clip(np.asarray(confidence, dtype=np.float64), 0.5, MAX_CONFIDENCE)
    return np.round(np.log(q / (1.0 - q)), 4)
