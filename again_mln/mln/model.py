"""A Markov logic network and its evidence, checked: typed predicates (one argument may be
functional), domains, weighted formulas whose variables each have one type, and databases.

This is the language without files (:mod:`again_mln.mln.files` reads and writes them) and
without grounding (:mod:`again_mln.mln.grounding`). Semantics follow pracmln: constants written
in formulas join their type's domain, each database extends the domains with its constants, a
``+`` variable expands its formula into one formula per constant (``#unique`` ones into distinct
combinations), and a formula without a weight is hard.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from again_mln.errors import AgainError
from again_mln.mln.syntax import Atom, Const, Equal, Formula, Var, substitute, variables


@dataclass(frozen=True)
class Predicate:
    name: str
    types: tuple[str, ...]
    functional: int | None = None  # the "!" argument: exactly one of its values is true

    @property
    def arity(self) -> int:
        return len(self.types)

    def declaration(self) -> str:
        return f"{self.name}({','.join(t + ('!' if i == self.functional else '') for i, t in enumerate(self.types))})"


@dataclass(frozen=True)
class WeightedFormula:
    """A formula with its weight (``None``: hard), the weight as written (``logx(0.9)``), whether
    learning keeps it (``#fixweight``), its ``#unique`` template variables, the type of each of
    its variables, and where it was read (``file:line``)."""

    formula: Formula
    weight: float | None
    weight_text: str | None = None
    fixed: bool = False
    unique: tuple[str, ...] = ()
    types: dict[str, str] = field(default_factory=dict)
    source: str = "<string>"

    @property
    def hard(self) -> bool:
        return self.weight is None

    @property
    def template_variables(self) -> dict[str, Var]:
        return {name: var for name, var in variables(self.formula).items() if var.template}


@dataclass
class Database:
    """Evidence: ``(predicate, args) -> truth`` and the constants it declares per type."""

    evidence: dict[tuple[str, tuple[str, ...]], bool]
    domains: dict[str, list[str]]
    source: str = "<string>"
    lines: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)  # atom -> "file:line"


@dataclass
class MLN:
    predicates: dict[str, Predicate] = field(default_factory=dict)
    domains: dict[str, list[str]] = field(default_factory=dict)
    formulas: list[WeightedFormula] = field(default_factory=list)
    grammar: str = "standard"  # "standard" (lower-case variables) or "prac" (?-variables)

    def add_constant(self, domain: str, constant: str) -> None:
        extend_domain(self.domains.setdefault(domain, []), [constant])

    def check_formula(self, entry: WeightedFormula) -> WeightedFormula:
        """``entry`` with the type of each variable; its constants join their domains. Raises
        :class:`AgainError` naming ``entry.source`` for an unknown predicate, a wrong arity, a
        variable used with two types or one whose type nothing tells."""
        types: dict[str, str] = {}
        pending_equal: list[Equal] = []
        for node in entry.formula.walk():
            if isinstance(node, Atom):
                predicate = self.predicates.get(node.predicate)
                if predicate is None:
                    raise AgainError(f"{entry.source}: unknown predicate {node.predicate!r} (declare it first, e.g. {node.predicate}(type, ...))")
                if len(node.args) != predicate.arity:
                    raise AgainError(f"{entry.source}: {node.predicate} takes {predicate.arity} argument(s), got {len(node.args)} in {node.text()}")
                for term, domain in zip(node.args, predicate.types):
                    if isinstance(term, Var):
                        _assign(types, term.name, domain, entry.source)
                    else:
                        self.add_constant(domain, term.name)
            elif isinstance(node, Equal):
                pending_equal.append(node)
        for _ in range(2):  # an equality can type a variable that another equality then needs
            for node in pending_equal:
                left, right = node.left, node.right
                known = [types.get(t.name) if isinstance(t, Var) else None for t in (left, right)]
                domain = known[0] or known[1]
                if domain is None:
                    continue
                for term in (left, right):
                    if isinstance(term, Var):
                        _assign(types, term.name, domain, entry.source)
                    else:
                        self.add_constant(domain, term.name)
        for node in pending_equal:
            for term in (node.left, node.right):
                if isinstance(term, Var) and term.name not in types:
                    raise AgainError(f"{entry.source}: cannot tell the type of variable {term.name!r}: it appears in no atom")
        return replace(entry, types=types)

    def full_domains(self, databases: list[Database]) -> dict[str, list[str]]:
        """The MLN's domains extended by the constants of ``databases``, in order of appearance."""
        merged = {name: list(values) for name, values in self.domains.items()}
        for db in databases:
            for name, values in db.domains.items():
                extend_domain(merged.setdefault(name, []), values)
        return merged

    def materialize(self, databases: list[Database]) -> "MLN":
        """The MLN with every template formula expanded over the domains of ``databases``
        (pracmln's materialisation): one formula, and one weight, per combination of constants.
        Other domains stay the MLN's own; each database extends them when it is grounded."""
        domains = self.full_domains(databases)
        expanded: list[WeightedFormula] = []
        for entry in self.formulas:
            template = entry.template_variables
            if not template:
                expanded.append(entry)
                continue
            groups: list[list[dict[str, Const]]] = []
            unique = [name for name in entry.unique if name in template]
            by_domain: dict[str, list[str]] = {}
            for name in unique:
                by_domain.setdefault(entry.types[name], []).append(name)
            for domain, names in by_domain.items():
                groups.append([dict(zip(names, map(Const, values)))
                               for values in itertools.combinations(domains.get(domain, []), len(names))])
            for name in template:
                if name not in unique:
                    groups.append([{name: Const(value)} for value in domains.get(entry.types[name], [])])
            for parts in itertools.product(*groups):
                binding = {k: v for part in parts for k, v in part.items()}
                formula = substitute(entry.formula, binding)
                types = {k: v for k, v in entry.types.items() if k not in binding}
                expanded.append(replace(entry, formula=formula, types=types, unique=()))
        kept = {name: list(values) for name, values in self.domains.items()}
        kept.update({entry.types[name]: domains.get(entry.types[name], []) for entry in self.formulas
                     for name in entry.template_variables})  # as pracmln: a template's domain is kept whole
        return replace(self, formulas=expanded, domains=kept)

    def admit_database(self, db: Database) -> None:
        """Check ``db`` against the MLN, then add its evidence constants to its domains. Evidence of
        unknown predicates, wrong arity, a constant of another declared type, or two true values
        of one functional block is refused with the database's file and line."""
        typed = {c: name for name, values in self.domains.items() for c in values}
        for name, values in db.domains.items():
            typed.update({c: name for c in values if c not in typed})
        blocks: dict[tuple, str] = {}
        for (name, args), value in db.evidence.items():
            where = db.lines.get((name, args), db.source)
            predicate = self.predicates.get(name)
            if predicate is None:
                raise AgainError(f"{where}: unknown predicate {name!r} in the evidence")
            if len(args) != predicate.arity:
                raise AgainError(f"{where}: {name} takes {predicate.arity} argument(s), got {len(args)}")
            for constant, domain in zip(args, predicate.types):
                declared = typed.get(constant)
                if declared is not None and declared != domain and constant not in self.domains.get(domain, ()) \
                        and constant not in db.domains.get(domain, ()):
                    raise AgainError(f"{where}: {constant} is a {declared}, but {name} expects a {domain} there")
            if predicate.functional is not None and value:
                block = (name, args[: predicate.functional] + args[predicate.functional + 1:])
                other = blocks.setdefault(block, args[predicate.functional])
                if other != args[predicate.functional]:
                    raise AgainError(f"{where}: {name} is functional in argument {predicate.functional + 1}, "
                                     f"but both {other} and {args[predicate.functional]} are true")
        found: dict[str, list[str]] = {}
        for (name, args) in db.evidence:
            for constant, domain in zip(args, self.predicates[name].types):
                found.setdefault(domain, []).append(constant)
        for domain, constants in found.items():
            extend_domain(db.domains.setdefault(domain, []), constants)


def _assign(types: dict[str, str], name: str, domain: str, source: str) -> None:
    known = types.setdefault(name, domain)
    if known != domain:
        raise AgainError(f"{source}: variable {name!r} is used as a {known} and as a {domain}")


def extend_domain(values: list[str], new: list[str]) -> None:
    """Append the constants of ``new`` that ``values`` lacks, in order, each once (one set per
    call, so that a domain of 100,000 people grows in linear time)."""
    seen = set(values)
    for constant in new:
        if constant not in seen:
            seen.add(constant)
            values.append(constant)
