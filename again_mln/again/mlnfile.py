"""Reading and writing pracmln ``.mln`` rule files and ``.db`` evidence files.

The subset of pracmln's syntax used here is exactly what an AGAIN model needs: the domains
``concept = {...}`` and ``category = {...}``, the predicates ``active(concept)`` and
``label(category!)``, ``//`` comments, ``#fixweight``, and propositional formulas over ground
atoms with ``!``, ``^``, ``v``, ``=>``, ``<=>`` and parentheses, each with a leading weight or a
trailing ``.`` (hard). Writing is canonical, so write -> read -> write gives the same file.
Every problem is reported as ``file:line: what was expected``.
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from again_mln.io import atomic
from again_mln.errors import AgainError, AgainWarning, located, short
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
_SECTION_MARKERS = ("// domain declarations", "// predicate declarations", "// formulas")
_PREDICATE_DECLARATIONS = {
    CONCEPT_PREDICATE: f"{CONCEPT_PREDICATE}({CONCEPT_DOMAIN})",
    CATEGORY_PREDICATE: f"{CATEGORY_PREDICATE}({CATEGORY_DOMAIN}!)",
}
#: Deepest nesting of parentheses and negations in one formula (the parser recurses on them).
MAX_NESTING = 100
_TOKEN = re.compile(r'\s*(?:(<=>|=>|[!^(),{}=])|("[^"]*")|([A-Za-z0-9_\-+.:]+))')


class _ParseError(Exception):
    """Raised inside a line; the reader adds the file and line number."""


# --------------------------------------------------------------------------------------------
# formulas
# --------------------------------------------------------------------------------------------
def _tokenize(text: str) -> list[str]:
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _ParseError(f"unexpected character {text[position:].lstrip()[:1]!r}")
        tokens.append(next(group for group in match.groups() if group is not None))
        position = match.end()
    return tokens


class _FormulaParser:
    """Recursive descent over pracmln's precedence: <=> < => < v < ^ < !."""

    def __init__(self, tokens: list[str]):
        self.tokens, self.position, self.depth = tokens, 0, 0

    def parse(self) -> Formula:
        if not self.tokens:
            raise _ParseError("expected a formula")
        formula = self._equivalence()
        if self._peek() == ")":
            raise _ParseError("unbalanced parentheses: unexpected ')'")
        if self.position != len(self.tokens):
            raise _ParseError(f"expected an operator or end of formula, got {short(self.tokens[self.position])}")
        return formula

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None:
            raise _ParseError(f"expected {expected!r}, got end of line" if expected else "unexpected end of line")
        if expected is not None and token != expected:
            raise _ParseError(f"expected {expected!r}, got {short(token)}")
        self.position += 1
        return token

    def _equivalence(self) -> Formula:
        return self._binary("<=>", Equiv, self._implication)

    def _implication(self) -> Formula:
        return self._binary("=>", Implies, self._disjunction)

    def _disjunction(self) -> Formula:
        return self._chain("v", Or, self._conjunction)

    def _conjunction(self) -> Formula:
        return self._chain("^", And, self._negation)

    def _binary(self, symbol: str, node: type, operand) -> Formula:
        """``operand [symbol operand]``: pracmln's non-associative => and <=>."""
        left = operand()
        if self._peek() == symbol:
            self._take()
            return node(left, operand())
        return left

    def _chain(self, symbol: str, node: type, operand) -> Formula:
        """``operand (symbol operand)*`` flattened into one n-ary node (^ and v)."""
        operands = [operand()]
        while self._peek() == symbol:
            self._take()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else node(tuple(operands))

    def _negation(self) -> Formula:
        if self._peek() not in ("!", "("):
            return self._atom()
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _ParseError(f"formula nested deeper than {MAX_NESTING} parentheses/negations")
        if self._take() == "!":
            inner: Formula = Not(self._negation())
        else:
            inner = self._equivalence()
            if self._peek() != ")":
                raise _ParseError("unbalanced parentheses: expected ')'")
            self._take()
        self.depth -= 1
        return inner

    def _atom(self) -> Atom:
        if self._peek() is None:
            raise _ParseError("expected an atom such as active(C), got end of line")
        predicate = self._take()
        if predicate in (")", "^", "v", "=>", "<=>", ",", "!"):
            raise _ParseError(f"expected an atom such as active(C), got {short(predicate)}")
        if predicate not in (CONCEPT_PREDICATE, CATEGORY_PREDICATE):
            raise _ParseError(f"expected predicate 'active' or 'label', got {short(predicate)}")
        self._take("(")
        argument = _constant(self._take())
        if self._peek() != ")":
            raise _ParseError(f"expected ')' after {predicate}({short(argument)[1:-1]}")
        self._take()
        return Atom(predicate, argument)


def _constant(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1]
    if token in ("(", ")", ",", "{", "}", "=", "!", "^", "=>", "<=>"):
        raise _ParseError(f"expected a constant, got {short(token)}")
    if token[:1].islower():
        raise _ParseError(f"expected a constant, got variable {short(token)} (quote names that start lower-case)")
    return token


def parse_formula(text: str) -> Formula:
    """Parse one formula in pracmln syntax, e.g. ``label(Y1) => !active("red wing")``."""
    try:
        return _FormulaParser(_tokenize(text)).parse()
    except _ParseError as err:
        raise AgainError(f"formula {short(text)}: {err}") from None


# --------------------------------------------------------------------------------------------
# .mln files
# --------------------------------------------------------------------------------------------
@dataclass
class _PendingRule:
    rule: Rule
    line: int


def parse_mln(text: str, source: str = "<string>") -> RuleSet:
    """Parse the text of an ``.mln`` file into a :class:`RuleSet`.

    A leading UTF-8 byte-order mark is skipped and CRLF line ends are read like LF. Hard rules
    that no explanation of some category can satisfy give an :class:`AgainWarning` (reading
    predictions or training data of such a category is the error).
    """
    text = text.removeprefix("\ufeff")
    domains: dict[str, tuple[str, ...]] = {}
    domain_lines: dict[str, int] = {}
    comments: list[str] = []
    header: tuple[str, ...] | None = None
    pending: list[_PendingRule] = []
    fix_next = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        try:
            if not line:
                continue
            if line.startswith("//"):
                if line not in _SECTION_MARKERS:
                    comments.append(line[2:].strip())
                continue
            if header is None:
                header, comments = tuple(comments), []
            line = line.split("//", 1)[0].strip() if '"' not in line else line
            if line.startswith("#"):
                if line != "#fixweight":
                    raise _ParseError(f"expected '#fixweight', got unsupported directive {line.split()[0]!r}")
                fix_next = True
            elif re.match(r"^[A-Za-z_]\w*\s*=", line):
                name, values = _parse_domain(line)
                if name in domains:
                    raise _ParseError(f"duplicate declaration of domain {name!r}")
                seen: set[str] = set()
                duplicated = next((v for v in values if v in seen or seen.add(v)), None)
                if duplicated is not None:
                    raise _ParseError(f"{short(duplicated)} appears twice in the {name} domain")
                domains[name], domain_lines[name] = values, number
            elif re.match(rf"^({CONCEPT_PREDICATE}|{CATEGORY_PREDICATE})\s*\(\s*(concept|category)!?\s*\)$", line):
                _check_predicate_declaration(line)
            else:
                pending.append(_PendingRule(_parse_rule_line(line, fix_next, tuple(comments)), number))
                fix_next, comments = False, []
        except _ParseError as err:
            raise located(source, number, str(err)) from None
    for name in (CONCEPT_DOMAIN, CATEGORY_DOMAIN):
        if name not in domains:
            raise located(source, None, f"expected a domain declaration '{name} = {{...}}'")
    ruleset = RuleSet(domains[CONCEPT_DOMAIN], domains[CATEGORY_DOMAIN], [], header or ())
    for item in pending:
        try:
            ruleset.check_rule(item.rule)
        except AgainError as err:
            raise located(source, item.line, str(err)) from None
        ruleset.rules.append(item.rule)
    if sum(abs(rule.weight) for rule in ruleset.rules if not rule.hard) > MAX_WEIGHT:
        raise located(source, None, f"the soft weights sum to more than float32 can hold ({MAX_WEIGHT:.4g})")
    _check_satisfiable(ruleset, source)
    return ruleset


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


def _parse_domain(line: str) -> tuple[str, tuple[str, ...]]:
    tokens = _tokenize(line)
    name = tokens[0]
    if name not in (CONCEPT_DOMAIN, CATEGORY_DOMAIN):
        raise _ParseError(f"expected domain 'concept' or 'category', got {short(name)}")
    if len(tokens) < 4 or tokens[1] != "=" or tokens[2] != "{" or tokens[-1] != "}":
        raise _ParseError(f"expected '{name} = {{A, B, ...}}'")
    body = tokens[3:-1]
    values = body[0::2]
    if any(sep != "," for sep in body[1::2]) or len(body) % 2 == 0:
        raise _ParseError(f"expected constants separated by ',' in the {name} domain")
    # In a domain a bare lower-case name is unambiguous, so pracmln's looser form is accepted.
    return name, tuple(v[1:-1] if v.startswith('"') else v for v in values)


def _check_predicate_declaration(line: str) -> None:
    compact = line.replace(" ", "")
    predicate = compact.split("(", 1)[0]
    allowed = {_PREDICATE_DECLARATIONS[predicate]}
    if predicate == CATEGORY_PREDICATE:
        allowed.add(f"{CATEGORY_PREDICATE}({CATEGORY_DOMAIN})")
    if compact not in allowed:
        raise _ParseError(f"expected the declaration {_PREDICATE_DECLARATIONS[predicate]}")


def _parse_rule_line(line: str, fixed: bool, comments: tuple[str, ...]) -> Rule:
    if line.endswith("."):
        if re.match(r"^[-+]?[0-9.]", line):
            raise _ParseError("expected either a weight or a trailing '.' (hard rule), not both")
        return Rule(_FormulaParser(_tokenize(line[:-1])).parse(), None, fixed, comments)
    weight_text, _, formula_text = line.partition(" ")
    try:
        weight = float(weight_text)
    except ValueError:
        raise _ParseError(
            f"expected a number as the rule weight (or a trailing '.' for a hard rule), got {weight_text!r}"
        ) from None
    if weight != weight or weight in (float("inf"), float("-inf")):
        raise _ParseError(f"expected a finite weight, got {weight_text!r}")
    return Rule(_FormulaParser(_tokenize(formula_text)).parse(), weight, fixed, comments)


def format_weight(weight: float) -> str:
    """Shortest text that reads back as the same float (pracmln evaluates it as Python)."""
    return repr(float(weight))


def format_mln(ruleset: RuleSet) -> str:
    """The canonical pracmln text of a rule set."""
    lines = [f"// {c}".rstrip() for c in ruleset.header]
    if lines:
        lines.append("")
    lines += [
        _SECTION_MARKERS[0],
        f"{CONCEPT_DOMAIN} = {{{', '.join(quote_constant(c) for c in ruleset.concepts)}}}",
        f"{CATEGORY_DOMAIN} = {{{', '.join(quote_constant(c) for c in ruleset.categories)}}}",
        "",
        _SECTION_MARKERS[1],
        _PREDICATE_DECLARATIONS[CONCEPT_PREDICATE],
        _PREDICATE_DECLARATIONS[CATEGORY_PREDICATE],
        "",
        _SECTION_MARKERS[2],
    ]
    for rule in ruleset.rules:
        lines += [f"// {c}".rstrip() for c in rule.comments]
        if rule.fixed:
            lines.append("#fixweight")
        text = rule.formula.to_mln()
        lines.append(f"{text}." if rule.hard else f"{format_weight(rule.weight)} {text}")
    return "\n".join(lines) + "\n"


def read_mln(path: str | os.PathLike) -> RuleSet:
    """Read an ``.mln`` file; errors name the file and line."""
    return parse_mln(_read_text(path, ".mln"), source=str(path))


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
    """Read evidence back as ``(concepts (N, M), categories (N,) int64)``.

    Concepts not mentioned in a database are ``missing``: 0 is pracmln's closed-world default
    for evidence (uint8 concepts); -1 marks them unknown, for queries (int8 concepts). Each
    database must name exactly one true category.
    """
    dtype = np.int8 if missing < 0 else np.uint8
    concept_index, category_index = ruleset.concept_index, ruleset.category_index
    rows: list[np.ndarray] = []
    labels: list[int] = []
    row, label = np.full(len(ruleset.concepts), missing, dtype), None

    def finish(number: int) -> None:
        nonlocal row, label
        if label is None:
            raise located(source, number, "expected one true label(...) atom in this database")
        rows.append(row)
        labels.append(label)
        row, label = np.full(len(ruleset.concepts), missing, dtype), None

    lines = text.removeprefix("\ufeff").splitlines()
    for number, raw in enumerate(lines, start=1):
        line = raw.split("//", 1)[0].strip() if '"' not in raw else raw.strip()
        if not line:
            continue
        if line == "---":
            finish(number)
            continue
        try:
            formula = _FormulaParser(_tokenize(line)).parse()
        except _ParseError as err:
            raise located(source, number, str(err)) from None
        negated = isinstance(formula, Not)
        atom = formula.operand if negated else formula
        if not isinstance(atom, Atom):
            raise located(source, number, "expected a ground atom such as active(C) or !active(C)")
        if atom.is_concept:
            if atom.argument not in concept_index:
                raise located(source, number, f"unknown concept {short(atom.argument)}")
            row[concept_index[atom.argument]] = 0 if negated else 1
        elif not negated:
            if atom.argument not in category_index:
                raise located(source, number, f"unknown category {short(atom.argument)}")
            if label is not None:
                raise located(source, number, "expected only one true label(...) atom per database")
            label = category_index[atom.argument]
    if label is not None or (row != missing).any():
        finish(len(lines))
    return np.stack(rows) if rows else np.zeros((0, len(ruleset.concepts)), dtype), np.asarray(labels, np.int64)


def read_db(path: str | os.PathLike, ruleset: RuleSet, missing: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``.db`` evidence file against the domains of ``ruleset`` (see :func:`parse_db`)."""
    return parse_db(_read_text(path, ".db"), ruleset, source=str(path), missing=missing)


def write_db(ruleset: RuleSet, concepts: np.ndarray, categories: np.ndarray, path: str | os.PathLike) -> None:
    """Write evidence as a pracmln ``.db`` file, atomically."""
    atomic.write_text(path, format_db(ruleset, concepts, categories))
