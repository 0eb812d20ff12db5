"""The AGAIN schema of pracmln ``.mln`` rule files and ``.db`` evidence files.

An AGAIN rule file is a pracmln file read by the engine's one reader
(:mod:`again_mln.mln.files`) and held to a schema: the domains ``concept = {...}`` and
``category = {...}``, the predicates ``active(concept)`` and ``label(category!)``, and
propositional formulas over ground atoms of those two (no variables, quantifiers or equality).
Comments above a rule travel with it, so a learned file reads like its source. Writing is
canonical (write -> read -> write gives the same file) and parenthesises ``^`` inside ``v`` and
``v`` inside ``^``, so pracmln reads the file with the same meaning. Every problem is reported as
``file:line: what was expected``.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from again_mln.errors import AgainError, AgainWarning, located, short
from again_mln.io import atomic
from again_mln.mln import files, syntax
from again_mln.mln.model import MLN, Predicate
from again_mln.again.logic import (
    CATEGORY_PREDICATE,
    CONCEPT_PREDICATE,
    MAX_WEIGHT,
    And,
    Atom,
    Equiv,
    Formula,
    Implies,
    Not,
    Or,
    Rule,
    RuleSet,
    quote_constant,
    unsatisfiable_categories,
)

CONCEPT_DOMAIN = "concept"
CATEGORY_DOMAIN = "category"
_SECTION_MARKERS = ("domain declarations", "predicate declarations", "formulas")
_PREDICATES = {
    CONCEPT_PREDICATE: Predicate(CONCEPT_PREDICATE, (CONCEPT_DOMAIN,)),
    CATEGORY_PREDICATE: Predicate(CATEGORY_PREDICATE, (CATEGORY_DOMAIN,), functional=0),
}
_CONNECTIVES = {syntax.And: And, syntax.Or: Or}


class _SchemaError(Exception):
    """A statement outside the AGAIN schema; the reader adds the file and line."""


# --------------------------------------------------------------------------------------------
# formulas: the engine's syntax tree, held to the schema (ground active/label atoms only)
# --------------------------------------------------------------------------------------------
def _from_engine(formula: syntax.Formula) -> Formula:
    """The AGAIN formula of an engine formula, or :class:`_SchemaError` naming what is outside."""
    if isinstance(formula, syntax.Atom):
        return _atom(formula)
    if isinstance(formula, syntax.Not):
        return Not(_from_engine(formula.child))
    if isinstance(formula, (syntax.And, syntax.Or)):
        return _CONNECTIVES[type(formula)](tuple(_from_engine(child) for child in formula.children))
    if isinstance(formula, (syntax.Implies, syntax.Equiv)):
        left, right = (_from_engine(child) for child in formula.children)
        return (Implies if isinstance(formula, syntax.Implies) else Equiv)(left, right)
    what = "quantifiers" if isinstance(formula, syntax.Quantified) else "equality"
    raise _SchemaError(f"{what} ({short(formula.text())}) are not part of AGAIN rule files: "
                       "their formulas are propositional over active(C) and label(Y)")


def _atom(atom: syntax.Atom) -> Atom:
    if atom.predicate not in _PREDICATES:
        raise _SchemaError(f"expected predicate 'active' or 'label', got {short(atom.predicate)}")
    if len(atom.args) != 1:
        raise _SchemaError(f"{atom.predicate} takes one argument, got {len(atom.args)} in {short(atom.text())}")
    term = atom.args[0]
    if isinstance(term, syntax.Var):
        raise _SchemaError(f"expected a constant, got variable {short(term.name)} (quote names that start lower-case)")
    return Atom(atom.predicate, _unquoted(term.name))


def _unquoted(name: str) -> str:
    return name[1:-1] if name.startswith('"') else name


def parse_formula(text: str) -> Formula:
    """Parse one formula in pracmln syntax, e.g. ``label(Y1) => !active("red wing")``."""
    try:
        return _from_engine(files.parse_formula(text, explicit_mixing=True))
    except _SchemaError as err:
        raise AgainError(f"formula {short(text)}: {err}") from None


# --------------------------------------------------------------------------------------------
# .mln files
# --------------------------------------------------------------------------------------------
def parse_mln(text: str, source: str = "<string>", base: Path | None = None) -> RuleSet:
    """Parse the text of an ``.mln`` file into a :class:`RuleSet`, through the engine's reader
    (:func:`again_mln.mln.files.statements`) held to the AGAIN schema.

    A leading UTF-8 byte-order mark is skipped and CRLF line ends are read like LF. ``^`` and
    ``v`` mixed without parentheses are refused (pracmln and earlier versions of this reader
    disagree on them). Hard rules that no explanation of some category can satisfy give an
    :class:`AgainWarning` (reading predictions or training data of such a category is the error).
    """
    domains: dict[str, tuple[str, ...]] = {}
    comments: list[str] = []
    header: tuple[str, ...] | None = None
    pending: list[tuple[Rule, str]] = []
    for item in files.statements(text, source, "standard", base, explicit_mixing=True):
        if isinstance(item, files.Comment):
            if item.text not in _SECTION_MARKERS:
                comments.append(item.text)
            continue
        if header is None:
            header, comments = tuple(comments), []
        try:
            if isinstance(item, files.DomainLine):
                domains[item.name] = _domain(item, domains)
            elif isinstance(item, files.Declaration):
                _check_declaration(item.predicate)
            else:
                rule = Rule(_from_engine(item.formula), item.weight, item.fixed, tuple(comments))
                pending.append((rule, item.source))
                comments = []
        except _SchemaError as err:
            raise AgainError(f"{item.source}: {err}") from None
    for name in (CONCEPT_DOMAIN, CATEGORY_DOMAIN):
        if name not in domains:
            raise located(source, None, f"expected a domain declaration '{name} = {{...}}'")
    ruleset = RuleSet(domains[CONCEPT_DOMAIN], domains[CATEGORY_DOMAIN], [], header or ())
    for rule, where in pending:
        try:
            ruleset.check_rule(rule)
        except AgainError as err:
            raise AgainError(f"{where}: {err}") from None
        ruleset.rules.append(rule)
    if sum(abs(rule.weight) for rule in ruleset.rules if not rule.hard) > MAX_WEIGHT:
        raise located(source, None, f"the soft weights sum to more than float32 can hold ({MAX_WEIGHT:.4g})")
    _check_satisfiable(ruleset, source)
    return ruleset


def _domain(line: files.DomainLine, known: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The names of a concept or category domain line, each once."""
    if line.name not in (CONCEPT_DOMAIN, CATEGORY_DOMAIN):
        raise _SchemaError(f"expected domain 'concept' or 'category', got {short(line.name)}")
    if line.name in known:
        raise _SchemaError(f"duplicate declaration of domain {line.name!r}")
    values = tuple(_unquoted(value) for value in line.values)
    seen: set[str] = set()
    duplicated = next((v for v in values if v in seen or seen.add(v)), None)
    if duplicated is not None:
        raise _SchemaError(f"{short(duplicated)} appears twice in the {line.name} domain")
    return values


def _check_declaration(predicate: Predicate) -> None:
    expected = _PREDICATES.get(predicate.name)
    if expected is None:
        raise _SchemaError(f"expected predicate 'active' or 'label', got {short(predicate.name)}")
    allowed = {expected, Predicate(predicate.name, expected.types)}  # label(category) reads like label(category!)
    if predicate not in allowed:
        raise _SchemaError(f"expected the declaration {expected.declaration()}")


def _check_satisfiable(ruleset: RuleSet, source: str) -> None:
    impossible = unsatisfiable_categories(ruleset)
    if not impossible:
        return
    names = ", ".join(short(name, 30) for name in impossible[:3]) + (", ..." if len(impossible) > 3 else "")
    which = "any category" if len(impossible) == len(ruleset.categories) else \
        f"{len(impossible)} categor{'y' if len(impossible) == 1 else 'ies'} ({names})"
    warnings.warn(AgainWarning(f"{source}: the hard rules contradict each other for {which}; no explanation "
                               "of it can satisfy them, so detection and learning on it are meaningless"),
                  stacklevel=3)


def format_weight(weight: float) -> str:
    """Shortest text that reads back as the same float (pracmln evaluates it as Python)."""
    return repr(float(weight))


def format_mln(ruleset: RuleSet) -> str:
    """The canonical pracmln text of a rule set."""
    lines = [f"// {c}".rstrip() for c in ruleset.header]
    if lines:
        lines.append("")
    lines += [
        f"// {_SECTION_MARKERS[0]}",
        f"{CONCEPT_DOMAIN} = {{{', '.join(quote_constant(c) for c in ruleset.concepts)}}}",
        f"{CATEGORY_DOMAIN} = {{{', '.join(quote_constant(c) for c in ruleset.categories)}}}",
        "",
        f"// {_SECTION_MARKERS[1]}",
        _PREDICATES[CONCEPT_PREDICATE].declaration(),
        _PREDICATES[CATEGORY_PREDICATE].declaration(),
        "",
        f"// {_SECTION_MARKERS[2]}",
    ]
    for rule in ruleset.rules:
        lines += [f"// {c}".rstrip() for c in rule.comments]
        if rule.fixed:
            lines.append("#fixweight")
        text = rule.formula.to_mln()
        lines.append(f"{text}." if rule.hard else f"{format_weight(rule.weight)} {text}")
    return "\n".join(lines) + "\n"


def read_mln(path: str | os.PathLike) -> RuleSet:
    """Read an ``.mln`` file (``#include`` relative to its folder); errors name the file and line."""
    return parse_mln(_read_text(path, ".mln"), source=str(path), base=Path(path).parent)


def _read_text(path: str | os.PathLike, kind: str) -> str:
    """The UTF-8 text of an input file (noted as an input of the running command)."""
    path = Path(path)
    if not path.is_file():
        raise AgainError(f"{path}: no such {kind} file")
    atomic.note_input(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise AgainError(f"{path}: not UTF-8 text (byte {err.start}); expected a {kind} file") from None
    except OSError as err:
        raise AgainError(f"{path}: cannot read ({err.strerror})") from None


def write_mln(ruleset: RuleSet, path: str | os.PathLike) -> None:
    """Write a rule set as an ``.mln`` file, atomically."""
    atomic.write_text(path, format_mln(ruleset))


# --------------------------------------------------------------------------------------------
# .db evidence files
# --------------------------------------------------------------------------------------------
def format_db(ruleset: RuleSet, concepts: np.ndarray, categories: np.ndarray) -> str:
    """pracmln evidence: one database per sample, separated by ``---``.

    Every concept atom is written (negated when inactive) so the evidence is complete, and the
    sample's category as its one true ``label`` atom (``label`` is functional).
    """
    concepts = np.asarray(concepts)
    categories = np.asarray(categories)
    if concepts.ndim != 2 or concepts.shape[1] != len(ruleset.concepts):
        raise AgainError(f"concepts: expected shape (N, {len(ruleset.concepts)}), got {concepts.shape}")
    if categories.shape != (concepts.shape[0],):
        raise AgainError(f"categories: expected shape ({concepts.shape[0]},), got {categories.shape}")
    concept_atoms = [f"{CONCEPT_PREDICATE}({quote_constant(c)})" for c in ruleset.concepts]
    category_atoms = [f"{CATEGORY_PREDICATE}({quote_constant(c)})" for c in ruleset.categories]
    blocks = []
    for row, y in zip(concepts.astype(bool), categories.astype(int)):
        lines = [atom if on else f"!{atom}" for atom, on in zip(concept_atoms, row)]
        lines.append(category_atoms[y])
        blocks.append("\n".join(lines))
    return "\n---\n".join(blocks) + "\n"


def parse_db(text: str, ruleset: RuleSet, source: str = "<string>", missing: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Read evidence back as ``(concepts (N, M), categories (N,) int64)``, through the engine's
    ``.db`` reader (so ``label``'s one true value per database is the engine's functional check).

    Concepts not mentioned in a database are ``missing``: 0 is pracmln's closed-world default
    for evidence (uint8 concepts); -1 marks them unknown, for queries (int8 concepts). Each
    database must name exactly one true category.
    """
    dtype = np.int8 if missing < 0 else np.uint8
    schema = MLN(predicates=dict(_PREDICATES))
    databases = [db for db in files.parse_db(text, schema, source) if db.evidence]
    concepts = np.full((len(databases), len(ruleset.concepts)), missing, dtype)
    categories = np.zeros(len(databases), np.int64)
    indices = {CONCEPT_PREDICATE: ruleset.concept_index, CATEGORY_PREDICATE: ruleset.category_index}
    for row, db in enumerate(databases):
        label = None
        for (name, args), value in db.evidence.items():
            if name == CATEGORY_PREDICATE and not value:
                continue
            index = indices[name].get(_unquoted(args[0]))
            if index is None:
                kind = "concept" if name == CONCEPT_PREDICATE else "category"
                raise AgainError(f"{db.lines[name, args]}: unknown {kind} {short(_unquoted(args[0]))}")
            if name == CONCEPT_PREDICATE:
                concepts[row, index] = value
            else:
                label = index
        if label is None:
            raise AgainError(f"{db.source}: expected one true label(...) atom in this database")
        categories[row] = label
    return concepts, categories


def read_db(path: str | os.PathLike, ruleset: RuleSet, missing: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``.db`` evidence file against the domains of ``ruleset`` (see :func:`parse_db`)."""
    return parse_db(_read_text(path, ".db"), ruleset, source=str(path), missing=missing)


def write_db(ruleset: RuleSet, concepts: np.ndarray, categories: np.ndarray, path: str | os.PathLike) -> None:
    """Write evidence as a pracmln ``.db`` file, atomically."""
    atomic.write_text(path, format_db(ruleset, concepts, categories))
