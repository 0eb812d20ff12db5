"""First-order formulas as immutable trees: terms, atoms, connectives, equality and quantifiers.

Nothing here knows files or grounding. Constants keep their surface text (quotes included), as
pracmln compares constants by their text; variables keep theirs too (``x`` or ``?x``), so a
formula prints back in the grammar it was read in. ``+`` on a variable marks a template variable
(one formula per constant).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Var:
    name: str
    template: bool = False  # "+x": expanded into one formula per constant

    def __str__(self) -> str:
        return ("+" if self.template else "") + self.name


@dataclass(frozen=True)
class Const:
    name: str

    def __str__(self) -> str:
        return self.name


Term = Var | Const


class Formula:
    """Base of every formula node; ``children`` lists the sub-formulas."""

    children: tuple["Formula", ...] = ()

    def walk(self) -> Iterator["Formula"]:
        """Every node, depth first, this one first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def atoms(self) -> Iterator["Atom"]:
        return (node for node in self.walk() if isinstance(node, Atom))

    def text(self, top: bool = True) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True)
class Atom(Formula):
    predicate: str
    args: tuple[Term, ...]

    def text(self, top: bool = True) -> str:
        return f"{self.predicate}({','.join(map(str, self.args))})"


@dataclass(frozen=True)
class Equal(Formula):
    """``left = right`` (or ``left =/= right`` when ``negated``)."""

    left: Term
    right: Term
    negated: bool = False

    def text(self, top: bool = True) -> str:
        return f"{self.left} {'=/=' if self.negated else '='} {self.right}"


@dataclass(frozen=True)
class Not(Formula):
    child: Formula

    @property
    def children(self) -> tuple[Formula, ...]:
        return (self.child,)

    def text(self, top: bool = True) -> str:
        inner = self.child.text(False)
        return f"!{inner}" if isinstance(self.child, Atom) or (inner.startswith("(") and not isinstance(self.child, Not)) else f"!({inner})"


@dataclass(frozen=True)
class _Connective(Formula):
    children: tuple[Formula, ...]
    symbol = ""

    def text(self, top: bool = True) -> str:
        body = f" {self.symbol} ".join(child.text(False) for child in self.children)
        return body if top else f"({body})"


class And(_Connective):
    symbol = "^"


class Or(_Connective):
    symbol = "v"


class Implies(_Connective):
    symbol = "=>"


class Equiv(_Connective):
    symbol = "<=>"


@dataclass(frozen=True)
class Quantified(Formula):
    """``EXIST x, y (body)`` or ``FORALL x, y (body)``."""

    variables: tuple[Var, ...]
    body: Formula
    universal: bool = False

    @property
    def children(self) -> tuple[Formula, ...]:
        return (self.body,)

    def text(self, top: bool = True) -> str:
        word = "FORALL" if self.universal else "EXIST"
        return f"{word} {','.join(v.name for v in self.variables)} ({self.body.text()})"


def variables(formula: Formula, bound: frozenset[str] = frozenset()) -> dict[str, Var]:
    """The free variables of ``formula`` by name, in order of first appearance."""
    found: dict[str, Var] = {}
    if isinstance(formula, Quantified):
        bound = bound | {v.name for v in formula.variables}
    terms: tuple[Term, ...] = ()
    if isinstance(formula, Atom):
        terms = formula.args
    elif isinstance(formula, Equal):
        terms = (formula.left, formula.right)
    for term in terms:
        if isinstance(term, Var) and term.name not in bound:
            found.setdefault(term.name, term)
    for child in formula.children:
        for name, var in variables(child, bound).items():
            found.setdefault(name, var)
    return found


def substitute(formula: Formula, binding: dict[str, Const]) -> Formula:
    """``formula`` with free variables replaced by constants (quantified ones untouched)."""
    if isinstance(formula, Atom):
        return Atom(formula.predicate, tuple(_bind(t, binding) for t in formula.args))
    if isinstance(formula, Equal):
        return Equal(_bind(formula.left, binding), _bind(formula.right, binding), formula.negated)
    if isinstance(formula, Not):
        return Not(substitute(formula.child, binding))
    if isinstance(formula, Quantified):
        inner = {k: v for k, v in binding.items() if k not in {var.name for var in formula.variables}}
        return Quantified(formula.variables, substitute(formula.body, inner), formula.universal)
    return type(formula)(tuple(substitute(child, binding) for child in formula.children))


def _bind(term: Term, binding: dict[str, Const]) -> Term:
    return binding.get(term.name, term) if isinstance(term, Var) else term
