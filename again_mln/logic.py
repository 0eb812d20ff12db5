"""Propositional formulas over concept and category atoms, weighted rules and rule sets.

A formula is a small immutable tree (:class:`Atom`, :class:`Not`, :class:`And`, :class:`Or`,
:class:`Implies`, :class:`Equiv`). It knows its atoms, evaluates on boolean tensors of any
batch shape, and prints itself in pracmln syntax with the fewest parentheses that keep the
meaning (``!`` binds tightest, then ``^``, ``v``, ``=>``, ``<=>``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from again_mln.errors import AgainError

CONCEPT_PREDICATE = "active"
CATEGORY_PREDICATE = "label"

# Binding strength in pracmln's grammar: a higher number binds tighter.
_PRECEDENCE = {"Equiv": 1, "Implies": 2, "Or": 3, "And": 4, "Not": 5, "Atom": 6}


class Formula:
    """Base class: a propositional formula over ``active(...)`` / ``label(...)`` atoms."""

    def atoms(self) -> tuple["Atom", ...]:
        """Distinct atoms in order of first appearance."""
        seen: dict[Atom, None] = {}
        self._collect(seen)
        return tuple(seen)

    def _collect(self, seen: dict) -> None:
        raise NotImplementedError

    def evaluate(self, value_of: Callable[["Atom"], torch.Tensor]) -> torch.Tensor:
        """Truth value (bool tensor) given a function from atoms to bool tensors."""
        raise NotImplementedError

    def to_mln(self) -> str:
        """pracmln text of the formula."""
        raise NotImplementedError

    def _child_text(self, child: "Formula", strict: bool) -> str:
        """Parenthesise ``child`` when it binds looser (or equally, for non-associative ops)."""
        mine, theirs = _PRECEDENCE[type(self).__name__], _PRECEDENCE[type(child).__name__]
        text = child.to_mln()
        return f"({text})" if theirs < mine or (strict and theirs == mine) else text

    def __str__(self) -> str:
        return self.to_mln()


@dataclass(frozen=True)
class Atom(Formula):
    predicate: str
    argument: str

    def _collect(self, seen: dict) -> None:
        seen.setdefault(self, None)

    def evaluate(self, value_of):
        return value_of(self)

    def to_mln(self) -> str:
        return f"{self.predicate}({quote_constant(self.argument)})"

    @property
    def is_concept(self) -> bool:
        return self.predicate == CONCEPT_PREDICATE


@dataclass(frozen=True)
class Not(Formula):
    operand: Formula

    def _collect(self, seen):
        self.operand._collect(seen)

    def evaluate(self, value_of):
        return ~self.operand.evaluate(value_of)

    def to_mln(self) -> str:
        # pracmln's grammar has no "!!": a negated negation is written !(!x)
        return "!" + self._child_text(self.operand, strict=isinstance(self.operand, Not))


@dataclass(frozen=True)
class _NAry(Formula):
    operands: tuple[Formula, ...]
    _SYMBOL = ""

    def _collect(self, seen):
        for operand in self.operands:
            operand._collect(seen)

    def to_mln(self) -> str:
        return f" {self._SYMBOL} ".join(self._child_text(op, strict=True) for op in self.operands)


class And(_NAry):
    _SYMBOL = "^"

    def evaluate(self, value_of):
        result = self.operands[0].evaluate(value_of)
        for operand in self.operands[1:]:
            result = result & operand.evaluate(value_of)
        return result


class Or(_NAry):
    _SYMBOL = "v"

    def evaluate(self, value_of):
        result = self.operands[0].evaluate(value_of)
        for operand in self.operands[1:]:
            result = result | operand.evaluate(value_of)
        return result


@dataclass(frozen=True)
class _Binary(Formula):
    left: Formula
    right: Formula
    _SYMBOL = ""

    def _collect(self, seen):
        self.left._collect(seen)
        self.right._collect(seen)

    def to_mln(self) -> str:
        return f"{self._child_text(self.left, True)} {self._SYMBOL} {self._child_text(self.right, True)}"


class Implies(_Binary):
    _SYMBOL = "=>"

    def evaluate(self, value_of):
        return ~self.left.evaluate(value_of) | self.right.evaluate(value_of)


class Equiv(_Binary):
    _SYMBOL = "<=>"

    def evaluate(self, value_of):
        return self.left.evaluate(value_of) == self.right.evaluate(value_of)


def quote_constant(name: str) -> str:
    """pracmln constant text: bare when it starts upper-case/digit and is alphanumeric, else quoted.

    pracmln reads a lower-case identifier as a variable, so ``active(red_wing)`` would mean
    "for every concept"; quoting keeps any concept name a constant.
    """
    bare = name[:1].isupper() or name[:1].isdigit()
    if bare and name.replace("_", "").isalnum() and name.isascii():
        return name
    if '"' in name or "\n" in name:
        raise AgainError(f"name {name!r}: double quotes and newlines cannot appear in an .mln constant")
    return f'"{name}"'


def concept(name: str) -> Atom:
    """The atom ``active(name)``."""
    return Atom(CONCEPT_PREDICATE, name)


def category(name: str) -> Atom:
    """The atom ``label(name)``."""
    return Atom(CATEGORY_PREDICATE, name)


@dataclass
class Rule:
    """A weighted formula. ``weight is None`` marks a hard rule (pracmln's trailing ``.``).

    ``fixed`` keeps the weight during learning (pracmln's ``#fixweight``); ``comments`` are the
    ``//`` lines written just above the rule, kept so a learned file reads like its source.
    """

    formula: Formula
    weight: float | None = 1.0
    fixed: bool = False
    comments: tuple[str, ...] = ()

    @property
    def hard(self) -> bool:
        return self.weight is None

    def concept_names(self) -> tuple[str, ...]:
        return tuple(a.argument for a in self.formula.atoms() if a.is_concept)

    def category_names(self) -> tuple[str, ...]:
        return tuple(a.argument for a in self.formula.atoms() if not a.is_concept)


@dataclass
class RuleSet:
    """Concept and category domains plus weighted rules over them: one Markov logic network.

    The concept order is the column order of every concept array the toolkit reads or writes.
    """

    concepts: tuple[str, ...]
    categories: tuple[str, ...]
    rules: list[Rule] = field(default_factory=list)
    header: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.concepts = tuple(self.concepts)
        self.categories = tuple(self.categories)
        for kind, names in (("concept", self.concepts), ("category", self.categories)):
            if not names:
                raise AgainError(f"the {kind} domain is empty")
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise AgainError(f"duplicate {kind} name(s): {', '.join(duplicates)}")
        for rule in self.rules:
            self.check_rule(rule)

    @property
    def concept_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.concepts)}

    @property
    def category_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.categories)}

    def check_rule(self, rule: Rule) -> None:
        """Raise when the rule names an unknown concept/category or has a bad weight."""
        known = {CONCEPT_PREDICATE: set(self.concepts), CATEGORY_PREDICATE: set(self.categories)}
        for atom in rule.formula.atoms():
            if atom.predicate not in known:
                raise AgainError(f"unknown predicate {atom.predicate!r} in {rule.formula}")
            if atom.argument not in known[atom.predicate]:
                kind = "concept" if atom.is_concept else "category"
                raise AgainError(f"unknown {kind} {atom.argument!r} in {rule.formula}")
        if rule.weight is not None and not math.isfinite(rule.weight):
            raise AgainError(f"weight of {rule.formula} is not a finite number")

    def add(self, formula: Formula, weight: float | None = 1.0, **kwargs) -> Rule:
        """Append a rule after checking it against the domains."""
        rule = Rule(formula, weight, **kwargs)
        self.check_rule(rule)
        self.rules.append(rule)
        return rule

    def with_weights(self, weights: Sequence[float]) -> "RuleSet":
        """A copy whose soft rules carry ``weights`` (in order); hard rules stay hard."""
        soft = [r for r in self.rules if not r.hard]
        if len(weights) != len(soft):
            raise AgainError(f"expected {len(soft)} weights, got {len(weights)}")
        new_weight = iter(float(w) for w in weights)
        rules = [r if r.hard else Rule(r.formula, next(new_weight), r.fixed, r.comments) for r in self.rules]
        return RuleSet(self.concepts, self.categories, rules, self.header)
