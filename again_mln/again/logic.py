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

from again_mln.errors import AgainError, short

CONCEPT_PREDICATE = "active"
CATEGORY_PREDICATE = "label"

#: Most distinct concepts one rule may read: compiling a rule builds its truth table over all
#: 2**r assignments of its concepts (docs/method.md), 2**20 entries per category at this limit.
MAX_RULE_CONCEPTS = 20
#: Largest |weight|: scores are summed in float32.
MAX_WEIGHT = float(torch.finfo(torch.float32).max)
#: Largest truth table (assignments x categories told apart) the satisfiability check enumerates.
_MAX_CHECKED_ENTRIES = 2**24

# Binding strength when writing: a higher number binds tighter. ``^`` and ``v`` share a level, so
# one inside the other is always parenthesised: pracmln reads ``a ^ b v c`` as ``a ^ (b v c)``.
_PRECEDENCE = {"Equiv": 1, "Implies": 2, "Or": 3, "And": 3, "Not": 5, "Atom": 6}


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
                raise AgainError(f"duplicate {kind} name(s): {', '.join(short(d, 30) for d in duplicates[:5])}")
        for rule in self.rules:
            self.check_rule(rule)

    @property
    def concept_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.concepts)}

    @property
    def category_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.categories)}

    def check_rule(self, rule: Rule) -> None:
        """Raise when the rule names an unknown concept/category, has a bad weight or reads more
        than :data:`MAX_RULE_CONCEPTS` concepts (checked before anything is compiled)."""
        known = {CONCEPT_PREDICATE: set(self.concepts), CATEGORY_PREDICATE: set(self.categories)}
        for atom in rule.formula.atoms():
            if atom.predicate not in known:
                raise AgainError(f"unknown predicate {short(atom.predicate)} in {short(rule.formula)}")
            if atom.argument not in known[atom.predicate]:
                kind = "concept" if atom.is_concept else "category"
                raise AgainError(f"unknown {kind} {short(atom.argument)} in {short(rule.formula)}")
        if rule.weight is not None and not (math.isfinite(rule.weight) and abs(rule.weight) <= MAX_WEIGHT):
            raise AgainError(f"weight {rule.weight!r} is not a finite number within float32 range (|w| <= {MAX_WEIGHT:.4g})")
        arity = len(rule.concept_names())
        if arity > MAX_RULE_CONCEPTS:
            raise AgainError(f"a rule may read at most {MAX_RULE_CONCEPTS} distinct concepts, this one reads {arity}")

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


def unsatisfiable_categories(ruleset: RuleSet) -> tuple[str, ...]:
    """Categories for which no assignment of the concepts satisfies every hard rule.

    Hard rules are grouped by shared concepts; each group is enumerated over its concepts'
    assignments and the categories it tells apart (plus one row for all other categories). A
    group too large to enumerate (more than 2**24 entries) is not checked, so the answer may
    miss a contradiction spread over more than about 20 concepts; it never reports a false one.
    """
    hard = [rule for rule in ruleset.rules if rule.hard]
    groups: dict[int, list[Rule]] = {}
    owner: dict[str, int] = {}  # concept -> group id (merged as rules connect them)
    for number, rule in enumerate(hard):
        joined = {owner[c] for c in rule.concept_names() if c in owner}
        members = [rule] + [r for g in joined for r in groups.pop(g)]
        groups[number] = members
        for member in members:
            for c in member.concept_names():
                owner[c] = number
    impossible: set[str] = set()
    for members in groups.values():
        impossible |= _impossible_in_group(members, ruleset.categories)
    return tuple(name for name in ruleset.categories if name in impossible)


def _impossible_in_group(rules: list[Rule], categories: tuple[str, ...]) -> set[str]:
    concepts = list(dict.fromkeys(c for rule in rules for c in rule.concept_names()))
    named = list(dict.fromkeys(c for rule in rules for c in rule.category_names()))
    others = [c for c in categories if c not in named]
    rows = named + others[:1]  # every category a group does not name behaves the same
    if len(rows) << len(concepts) > _MAX_CHECKED_ENTRIES:
        return set()
    assignment = torch.arange(2 ** len(concepts))
    row = torch.arange(len(rows))[:, None]
    bit = {name: j for j, name in enumerate(concepts)}

    def value_of(atom: Atom) -> torch.Tensor:
        if atom.is_concept:
            return ((assignment >> bit[atom.argument]) & 1).bool().expand(len(rows), -1)
        return (row == rows.index(atom.argument)).expand(-1, len(assignment))

    holds = torch.ones(len(rows), len(assignment), dtype=torch.bool)
    for rule in rules:
        holds &= rule.formula.evaluate(value_of)
    dead = ~holds.any(1)
    return {rows[i] for i in torch.nonzero(dead).flatten().tolist()} | (set(others) if others and dead[-1] else set())
