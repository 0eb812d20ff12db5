"""pracmln's ``.mln`` and ``.db`` files, read and written (its StandardGrammar and PRACGrammar).

Reading checks everything a user can get wrong and says where: ``file:line: what``. Writing gives
text that pracmln reads with the same meaning (weights as written, ``#fixweight``, ``#unique``).
The grammar is found from the text: ``?x`` variables mean PRACGrammar (every other word is a
constant), otherwise StandardGrammar (lower-case words are variables, the rest constants).
:func:`statements` is the one reader of ``.mln`` text; :func:`parse_mln` builds an MLN from it and
other schemas built on the engine (the AGAIN rule files) read their files through it too.
"""
from __future__ import annotations

import ast
import contextlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from again_mln.errors import AgainError, short
from again_mln.mln.model import MLN, Database, Predicate, WeightedFormula, extend_domain
from again_mln.mln.syntax import (And, Atom, Const, Equal, Equiv, Formula, Implies, Not, Or, Quantified, Term,
                                  Var)

#: Tokens per grammar; PRACGrammar's words may hold more characters (``FLAKES_00.000_``, ``ja!_``).
_TOKENS = {
    grammar: re.compile(r'\s*(?:(?P<string>"[^"\n]*")|(?P<op><=>|=>|=/=|=|!|\^|\(|\)|,|\*)|(?P<word>' + word + '))')
    for grammar, word in (("standard", r"\+?[A-Za-z0-9_][\w\-']*(?:\.\d+)?"),
                          ("prac", r"\+?\??[\wÄÖÜäöü\-'][\wÄÖÜäöü\-'.:;$~\\!/]*"))
}
_DOMAIN = re.compile(r'^(\w+)\s*=\s*\{(.*)\}$')
_DECLARATION = re.compile(r'^(\w+)\s*\(\s*(\w+\s*!?(?:\s*,\s*\w+\s*!?)*)\s*\)$')
_PRAC_VARIABLE = re.compile(r'(?<![\w"])\?[A-Za-z_]')
_QUANTIFIERS = {"EXIST": False, "EXISTS": False, "FORALL": True}
#: Deepest nesting of parentheses, negations and quantifiers in one formula (the parser recurses).
MAX_NESTING = 100


@dataclass(frozen=True)
class Comment:
    """A line that holds only a ``//`` comment (its text without the slashes)."""

    text: str
    source: str


@dataclass(frozen=True)
class DomainLine:
    """``name = {A, B, ...}`` as written (values in order, repeats kept)."""

    name: str
    values: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Declaration:
    """A predicate declaration such as ``Friends(person, person)``."""

    predicate: Predicate
    source: str


Statement = Comment | DomainLine | Declaration | WeightedFormula
"""What :func:`statements` yields; each carries ``source``, the ``file:line`` it came from."""


class _Syntax(Exception):
    """A formula that does not parse; the caller adds file and line."""


def _tokenize(text: str, grammar: str) -> list[tuple[str, str]]:
    tokens, position, pattern = [], 0, _TOKENS[grammar]
    text = text.rstrip()
    while position < len(text):
        match = pattern.match(text, position)
        if match is None or match.end() == position:
            raise _Syntax(f"unexpected {short(text[position:].strip()[:20])}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _FormulaParser:
    """Recursive descent with pracmln's precedence, loosest first: ``<=>``, ``=>``, then in
    StandardGrammar ``^`` before ``v`` (its grammar nests disjunctions inside conjunctions:
    ``a ^ b v c`` is ``a ^ (b v c)``), in PRACGrammar the usual ``v`` before ``^``; ``!`` binds
    tightest (``_looser`` and ``_tighter`` are the two middle levels, per grammar).

    With ``explicit_mixing``, ``^`` and ``v`` in one chain without parentheses are refused: the
    two grammars (and most readers) disagree on ``a ^ b v c``."""

    def __init__(self, text: str, grammar: str, explicit_mixing: bool = False):
        self.tokens = _tokenize(text, grammar)
        self.grammar = grammar
        self.explicit_mixing = explicit_mixing
        self.at = 0
        self.depth = 0
        self.bare_chain = False  # did the last _tighter() read an unparenthesised chain?

    def parse(self) -> Formula:
        if not self.tokens:
            raise _Syntax("empty formula")
        formula = self._equivalence()
        if self.at < len(self.tokens):
            token = self.tokens[self.at][1]
            if token == ")":
                raise _Syntax("unbalanced parentheses: unexpected ')'")
            raise _Syntax(f"expected an operator or the end of the formula, got {short(token)}")
        return formula

    def _peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self.tokens[self.at][1] if self.at < len(self.tokens) else None
        if expected is not None and token != expected:
            problem = "unbalanced parentheses: " if expected == ")" else ""
            got = "the end of the formula" if token is None else short(token)
            raise _Syntax(f"{problem}expected {expected!r}, got {got}")
        if token is None:
            raise _Syntax("the formula ends too early (unbalanced parentheses?)")
        self.at += 1
        return token

    def _equivalence(self) -> Formula:
        return self._binary("<=>", Equiv, self._implication)

    def _implication(self) -> Formula:
        return self._binary("=>", Implies, self._looser)

    def _binary(self, symbol: str, node: type, operand) -> Formula:
        """``operand [symbol operand]``: pracmln's ``=>`` and ``<=>`` do not chain."""
        left = operand()
        if self._peek() == symbol:
            self._take()
            return node((left, operand()))
        return left

    def _looser(self) -> Formula:
        symbol, node = ("^", And) if self.grammar == "standard" else ("v", Or)
        parts, mixed = [self._tighter()], self.bare_chain
        while self._peek() == symbol:
            self._take()
            parts.append(self._tighter())
            mixed = mixed or self.bare_chain
        if mixed and len(parts) > 1 and self.explicit_mixing:
            raise _Syntax("'^' and 'v' mixed without parentheses: pracmln reads a ^ b v c as a ^ (b v c), "
                          "most readers as (a ^ b) v c; add parentheses")
        return parts[0] if len(parts) == 1 else node(tuple(parts))

    def _tighter(self) -> Formula:
        symbol, node = ("v", Or) if self.grammar == "standard" else ("^", And)
        parts = [self._negation()]
        while self._peek() == symbol:
            self._take()
            parts.append(self._negation())
        self.bare_chain = len(parts) > 1
        return parts[0] if len(parts) == 1 else node(tuple(parts))

    def _negation(self) -> Formula:
        if self._peek() == "!":
            self._take()
            with self._nested():
                return Not(self._negation())
        if self._peek() == "*":
            raise _Syntax("'*' (soft evidence in formulas) is not supported")
        return self._primary()

    @contextlib.contextmanager
    def _nested(self) -> Iterator[None]:
        """One level deeper; refused past :data:`MAX_NESTING` before Python's recursion limit."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _Syntax(f"formula nested deeper than {MAX_NESTING} parentheses/negations")
        yield
        self.depth -= 1

    def _primary(self) -> Formula:
        token = self._peek()
        if token == "(":
            self._take()
            with self._nested():
                inner = self._equivalence()
            self._take(")")
            return inner
        if token is None:
            raise _Syntax("expected an atom, got the end of the formula")
        if token in _QUANTIFIERS:
            self._take()
            names = [self._variable()]
            while self._peek() == ",":
                self._take()
                names.append(self._variable())
            self._take("(")
            with self._nested():
                body = self._equivalence()
            self._take(")")
            return Quantified(tuple(names), body, _QUANTIFIERS[token])
        kind, word = self.tokens[self.at]
        if kind == "op":
            raise _Syntax(f"unexpected {short(word)}")
        self.at += 1
        if self._peek() == "(" and kind == "word":
            self._take()
            args = [self._term(self._take())]
            while self._peek() == ",":
                self._take()
                args.append(self._term(self._take()))
            self._take(")")
            return Atom(word, tuple(args))
        if self._peek() in ("=", "=/="):
            negated = self._take() == "=/="
            return Equal(self._term(word), self._term(self._take()), negated)
        raise _Syntax(f"expected an atom such as {word}(...) or an equality, got {short(word)}")

    def _variable(self) -> Var:
        term = self._term(self._take())
        if not isinstance(term, Var):
            raise _Syntax(f"{term.name!r} is not a variable")
        return term

    def _term(self, word: str) -> Term:
        if word in ("(", ")", ",", "!", "^", "=>", "<=>", "=", "=/=", "*"):
            raise _Syntax(f"expected a variable or constant, got {word!r}")
        template = word.startswith("+")
        name = word[1:] if template else word
        if self.grammar == "prac":
            is_variable = name.startswith("?")
        else:
            is_variable = name[:1].islower()
        if name.startswith("?") and self.grammar != "prac":
            raise _Syntax(f"{name!r}: ?-variables belong to PRACGrammar")
        if is_variable:
            return Var(name, template)
        if template:
            raise _Syntax(f"'+' marks template variables, not the constant {name!r}")
        return Const(name)


def parse_formula(text: str, grammar: str = "standard", explicit_mixing: bool = False) -> Formula:
    """One formula in pracmln syntax (``grammar``: ``standard`` or ``prac``; ``explicit_mixing``:
    refuse ``^`` and ``v`` mixed without parentheses)."""
    try:
        return _FormulaParser(text, grammar, explicit_mixing).parse()
    except _Syntax as err:
        raise AgainError(f"{short(text)}: {err}") from None


def _weight_value(text: str) -> float:
    """A weight as pracmln writes it: a number or an expression of numbers with ``log``,
    ``logx`` (log with logx(0) = -100, as pracmln), ``exp`` and ``sqrt``."""
    functions = {"log": math.log, "logx": lambda x: -100.0 if x == 0 else math.log(x), "exp": math.exp, "sqrt": math.sqrt}

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            return -value(node.operand) if isinstance(node.op, ast.USub) else value(node.operand)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
            a, b = value(node.left), value(node.right)
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op)) if not isinstance(
                node.op, (ast.Div, ast.Pow)) else (a / b if isinstance(node.op, ast.Div) else a ** b)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions \
                and len(node.args) == 1 and not node.keywords:
            return functions[node.func.id](value(node.args[0]))
        raise ValueError

    try:
        result = float(value(ast.parse(text, mode="eval")))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError, RecursionError):
        raise ValueError(text) from None
    if not math.isfinite(result):
        raise ValueError(text)
    return result


def _strip_comments(text: str) -> list[str]:
    """The lines of ``text`` without ``//`` and ``/* */`` comments (line numbers kept)."""
    out, in_block = [], False
    for line in text.split("\n"):
        kept, i, quoted = [], 0, False
        while i < len(line):
            if in_block:
                end = line.find("*/", i)
                if end < 0:
                    i = len(line)
                    continue
                in_block, i = False, end + 2
                continue
            ch = line[i]
            if ch == '"':
                quoted = not quoted
            elif not quoted and line.startswith("//", i):
                break
            elif not quoted and line.startswith("/*", i):
                in_block, i = True, i + 2
                continue
            kept.append(ch)
            i += 1
        out.append("".join(kept).strip())
    return out


def _split_values(text: str, where: str) -> list[str]:
    """The constants of ``A, "b, c", D`` (commas inside quotes are part of the name)."""
    values = [v.strip() for v in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', text)] if text.strip() else []
    for value in values:
        if not re.fullmatch(r'"[^"]*"|[^\s,(){}"=^]+', value):
            raise AgainError(f"{where}: {short(value)} is not a constant")
    return values


def detect_grammar(text: str) -> str:
    """``prac`` when the text uses ``?x`` variables, else ``standard``."""
    lines = _strip_comments(text)
    return "prac" if any(_PRAC_VARIABLE.search(re.sub(r'"[^"]*"', "", line)) for line in lines) else "standard"


def statements(text: str, source: str = "<string>", grammar: str = "standard", base: Path | None = None,
               explicit_mixing: bool = False, _including: tuple[str, ...] = ()) -> Iterator[Statement]:
    """The statements of ``.mln`` text in order, each checked for syntax and located
    (``file:line``): whole-line comments, domain lines, predicate declarations and weighted
    formulas (``#fixweight`` and ``#unique`` attached to the formula they precede; ``#include``
    read in place, relative to ``base``). Meaning (types, domains) is the consumer's."""
    fixed_next, unique_next = False, ()
    raw_lines = text.removeprefix("\ufeff").split("\n")
    for number, (raw, line) in enumerate(zip(raw_lines, _strip_comments("\n".join(raw_lines))), 1):
        where = f"{source}:{number}"
        if not line:
            if raw.strip().startswith("//"):
                yield Comment(raw.strip()[2:].strip(), where)
            continue
        if line.startswith("#"):
            directive = line.split()[0].split("{")[0]
            if directive == "#fixweight":
                fixed_next = True
            elif directive == "#unique":
                match = re.fullmatch(r'#unique\s*\{(.+)\}', line)
                if match is None:
                    raise AgainError(f"{where}: expected #unique{{+?a,+?b}}")
                unique_next = tuple(v.strip().lstrip("+") for v in match.group(1).split(","))
            elif directive == "#include":
                yield from _include(line, where, base, grammar, explicit_mixing, _including + (source,))
            elif directive == "#fuzzy":
                raise AgainError(f"{where}: #fuzzy predicates need pracmln's FuzzyLogic, which this engine does not "
                                 f"implement (binary logic only); use --engine pracmln")
            elif directive not in ("#group", "#group."):
                raise AgainError(f"{where}: unknown directive {short(directive)}")
            continue
        domain = _DOMAIN.match(line)
        if domain is not None:
            yield DomainLine(domain.group(1), tuple(_split_values(domain.group(2), where)), where)
            continue
        if re.match(r"^\w+\s*=\s*\{", line):
            raise AgainError(f"{where}: expected a domain such as 'name = {{A, B}}', got {short(line)}")
        if line.startswith(("P(", "R(", "SE(", "$")):
            raise AgainError(f"{where}: probability constraints and $-variables are not supported")
        declaration = _DECLARATION.match(line) if not line.endswith(".") else None
        if declaration is not None:
            yield Declaration(_predicate(declaration, where), where)
            continue
        yield _weighted_formula(line, where, grammar, explicit_mixing, fixed_next, unique_next)
        fixed_next, unique_next = False, ()


def _weighted_formula(line: str, where: str, grammar: str, explicit_mixing: bool, fixed: bool,
                      unique: tuple[str, ...]) -> WeightedFormula:
    """A formula line: ``weight formula`` or ``formula.`` (hard)."""
    weight_text, _, body = line.partition(" ")
    if line.endswith("."):
        if body and _is_weight(weight_text):
            raise AgainError(f"{where}: expected either a weight or a trailing '.' (hard formula), not both")
        weight_text, body, weight = None, line[:-1], None
    else:
        try:
            weight = _weight_value(weight_text)
        except ValueError:
            raise AgainError(f"{where}: expected a weight (a number or e.g. log(0.9)) before the formula, or a "
                             f"trailing '.' for a hard formula, got {short(weight_text)}") from None
    try:
        formula = _FormulaParser(body, grammar, explicit_mixing).parse()
    except _Syntax as err:
        raise AgainError(f"{where}: {err}") from None
    return WeightedFormula(formula, weight, weight_text, fixed, unique, source=where)


def _is_weight(text: str) -> bool:
    try:
        _weight_value(text)
    except ValueError:
        return False
    return True


def parse_mln(text: str, source: str = "<string>", grammar: str = "auto", base: Path | None = None) -> MLN:
    """An :class:`MLN` from pracmln ``.mln`` text; ``base`` is the folder ``#include`` reads from."""
    if grammar == "auto":
        grammar = detect_grammar(text)
    if grammar not in ("standard", "prac"):
        raise AgainError(f"unknown grammar {grammar!r}; expected auto, standard or prac")
    mln = MLN(grammar=grammar)
    for item in statements(text, source, grammar, base):
        if isinstance(item, DomainLine):
            extend_domain(mln.domains.setdefault(item.name, []), list(item.values))
        elif isinstance(item, Declaration):
            known = mln.predicates.get(item.predicate.name)
            if known is not None and known != item.predicate:
                raise AgainError(f"{item.source}: {item.predicate.name} is declared twice, differently")
            mln.predicates[item.predicate.name] = item.predicate
        elif isinstance(item, WeightedFormula):
            mln.formulas.append(mln.check_formula(item))
    return mln


def _predicate(match: re.Match, where: str) -> Predicate:
    name = match.group(1)
    arguments = [a.strip().replace(" ", "") for a in match.group(2).split(",")]
    functional = [i for i, a in enumerate(arguments) if a.endswith("!")]
    if len(functional) > 1:
        raise AgainError(f"{where}: {name} marks more than one argument functional ('!')")
    return Predicate(name, tuple(a.rstrip("!") for a in arguments), functional[0] if functional else None)


def _include(line: str, where: str, base: Path | None, grammar: str, explicit_mixing: bool,
             including: tuple[str, ...]) -> Iterator[Statement]:
    match = re.fullmatch(r'#include\s+(?:"([^"]+)"|<([^>]+)>|(\S+))', line)
    if match is None:
        raise AgainError(f"{where}: expected #include \"file.mln\"")
    name = next(g for g in match.groups() if g)
    path = Path(name) if Path(name).is_absolute() else (base or Path(".")) / name
    if str(path) in including:
        raise AgainError(f"{where}: {name} includes itself")
    try:
        text = path.read_text()
    except OSError as err:
        raise AgainError(f"{where}: cannot include {name}: {err.strerror or err}") from None
    yield from statements(text, str(path), grammar, path.parent, explicit_mixing, including)


def read_mln(path: str | os.PathLike, grammar: str = "auto") -> MLN:
    """The MLN of a pracmln ``.mln`` file (``#include`` relative to its folder)."""
    path = Path(path)
    return parse_mln(_read(path), str(path), grammar, path.parent)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise AgainError(f"{path}: not a text file") from None
    except OSError as err:
        raise AgainError(f"{path}: cannot read: {err.strerror or err}") from None


def parse_db(text: str, mln: MLN, source: str = "<string>") -> list[Database]:
    """The databases of pracmln ``.db`` text (separated by ``---``), each checked against ``mln``."""
    databases: list[Database] = []
    current = Database({}, {}, source)
    lines = _strip_comments(text)
    for number, line in enumerate(lines, 1):
        where = f"{source}:{number}"
        if re.fullmatch(r"-{3,}", line):
            databases.append(current)
            current = Database({}, {}, f"{source}:{number + 1}")
            continue
        if not line:
            continue
        domain = _DOMAIN.match(line)
        if domain is not None:
            extend_domain(current.domains.setdefault(domain.group(1), []), _split_values(domain.group(2), where))
            continue
        match = re.fullmatch(r'(!?)\s*(\w+)\s*\((.*)\)', line)
        if match is None:
            hint = "soft evidence (a probability before the atom) is not supported; " if re.match(r"^[\d.]+\s", line) else ""
            raise AgainError(f"{where}: {hint}expected an atom such as Smokes(Anna) or !Smokes(Anna), got {short(line)}")
        args = tuple(_split_values(match.group(3), where))
        if not args:
            raise AgainError(f"{where}: {match.group(2)} has no arguments")
        key = (match.group(2), args)
        value = not match.group(1)
        if current.evidence.get(key, value) != value:
            raise AgainError(f"{where}: {match.group(2)}({','.join(args)}) is given both true and false")
        current.evidence[key] = value
        current.lines[key] = where
    databases.append(current)
    databases = [db for db in databases if db.evidence or db.domains] or databases[:1]
    for db in databases:
        mln.admit_database(db)
    return databases


def read_db(path: str | os.PathLike, mln: MLN) -> list[Database]:
    """The databases of a pracmln ``.db`` file."""
    path = Path(path)
    return parse_db(_read(path), mln, str(path))


def format_mln(mln: MLN) -> str:
    """pracmln text of ``mln``: domains, predicate declarations, then the formulas."""
    lines = ["// domain declarations"]
    lines += [f"{name} = {{{', '.join(values)}}}" for name, values in mln.domains.items() if values]
    lines += ["", "// predicate declarations"] + [p.declaration() for p in mln.predicates.values()]
    lines += ["", "// formulas"]
    for entry in mln.formulas:
        if entry.fixed:
            lines.append("#fixweight")
        if entry.unique:
            lines.append("#unique{" + ",".join("+" + name for name in entry.unique) + "}")
        text = entry.formula.text()
        if entry.hard:
            lines.append(f"{text}.")
        else:
            lines.append(f"{entry.weight_text or repr(entry.weight)} {text}")
    return "\n".join(lines) + "\n"


def format_db(databases: list[Database]) -> str:
    """pracmln ``.db`` text: the evidence of each database, separated by ``---``."""
    blocks = []
    for db in databases:
        blocks.append("\n".join(f"{'' if value else '!'}{name}({','.join(args)})" for (name, args), value in db.evidence.items()))
    return "\n---\n".join(blocks) + "\n"
