"""The first-order engine against a brute-force oracle on random MLNs (types, a functional
predicate, EXIST/FORALL, equality, hard formulas, open and closed world, several databases),
and its language: pracmln's precedence and grammars, and one-line errors with file and line."""
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from again_mln.errors import AgainError
from again_mln.mln import format_mln, parse_db, parse_formula, parse_mln, query

sys.path.insert(0, str(Path(__file__).parent))
from mln_oracle import brute_force  # noqa: E402

HEADER = """
ta = {A1, A2}
tb = {B1, B2}
p(ta)
q(ta, ta)
f(ta, tb!)
s(tb)
"""
LITERALS = ["p(x)", "p(y)", "q(x,y)", "q(y,x)", "q(x,x)", "f(x,z)", "f(y,B1)", "s(z)", "s(B2)", "p(A1)"]


def random_formula(rng: random.Random, depth: int = 0, pracmln: bool = False) -> str:
    """A random formula; ``pracmln``: only what pracmln's StandardGrammar reads (no FORALL, no =/=)."""
    roll = rng.random()
    if depth >= 2 or roll < 0.35:
        literal = rng.choice(LITERALS)
        return ("!" if rng.random() < 0.3 else "") + literal
    if roll < 0.45:
        return f"EXIST w ({rng.choice(['q(x,w)', 'p(w)', 'f(w,z)'])} ^ {random_formula(rng, depth + 2, pracmln)})"
    if roll < 0.5 and not pracmln:
        return f"FORALL w (q(x,w) v {random_formula(rng, depth + 2, pracmln)})"
    if roll < 0.55:
        if pracmln:  # pracmln types a variable from atoms only
            return f"q(x,y) ^ ((x = y) v {random_formula(rng, depth + 1, pracmln)})"
        return f"(x =/= y) ^ {random_formula(rng, depth + 1)}"
    op = rng.choice(["^", "v", "=>", "<=>"])
    return f"({random_formula(rng, depth + 1, pracmln)}) {op} ({random_formula(rng, depth + 1, pracmln)})"


def random_case(seed: int, pracmln: bool = False):
    rng = random.Random(seed)
    lines = [HEADER]
    for _ in range(rng.randint(1, 4)):
        formula = random_formula(rng, pracmln=pracmln)
        if rng.random() < 0.15:
            lines.append(f"{formula}.")
        else:
            lines.append(f"{rng.uniform(-2, 2):.3f} {formula}")
    mln = parse_mln("\n".join(lines), "random.mln")
    atoms = [f"p({a})" for a in ("A1", "A2")] + [f"q({a},{b})" for a in ("A1", "A2") for b in ("A1", "A2")] \
        + [f"s({b})" for b in ("B1", "B2")]
    databases = []
    for _ in range(rng.randint(1, 2)):
        evidence = [("!" if rng.random() < 0.5 else "") + a for a in atoms if rng.random() < 0.4]
        for a in ("A1", "A2"):
            if rng.random() < 0.4:
                evidence.append(f"f({a},{rng.choice(['B1', 'B2'])})")
        databases.append("\n".join(evidence))
    dbs = parse_db("\n---\n".join(databases), mln, "random.db")
    closed = [p for p in ("p", "q", "s") if rng.random() < 0.3]
    return mln, dbs, closed


@pytest.mark.parametrize("seed", range(40))
def test_marginals_match_brute_force_on_random_mlns(seed):
    mln, dbs, closed = random_case(seed)
    try:
        expected = [brute_force(mln, db, closed) for db in dbs]
    except AssertionError as err:  # no world satisfies the hard formulas: the engine must refuse
        assert "no world" in str(err)
        with pytest.raises(AgainError, match="hard formula"):
            query(mln, dbs, ["p", "q", "f", "s"], closed)
        return
    answers = query(mln, dbs, ["p", "q", "f", "s"], closed)
    assert len(answers) == len(dbs)
    for answer, oracle in zip(answers, expected):
        assert sorted(answer.atoms) == sorted(oracle)
        got = dict(zip(answer.atoms, answer.values))
        for atom, probability in oracle.items():
            assert got[atom] == pytest.approx(probability, abs=1e-9), (atom, format_mln(mln))


@pytest.mark.parametrize("seed", range(12))
def test_map_is_a_most_probable_world(seed):
    """The MAP answer scores as high as the best world the oracle finds (ties allowed)."""
    mln, dbs, closed = random_case(seed)
    oracles = [[] for _ in dbs]
    try:
        for db, oracle in zip(dbs, oracles):
            brute_force(mln, db, closed, best=oracle)
    except AssertionError:
        return
    answers = query(mln, dbs, ["p", "q", "f", "s"], closed, method="map")
    for answer, (top, score_of) in zip(answers, oracles):
        assert set(np.unique(answer.values)) <= {0.0, 1.0}
        score = score_of({atom: bool(value) for atom, value in zip(answer.atoms, answer.values)})
        assert score is not None and score == pytest.approx(top, abs=1e-9)


def test_precedence_follows_pracmln():
    assert parse_formula("a(X) ^ b(X) v c(X)").text() == "a(X) ^ (b(X) v c(X))"
    assert parse_formula("a(X) => b(X) <=> c(X)").text() == "(a(X) => b(X)) <=> c(X)"
    assert parse_formula("!a(x) v EXIST y (b(x,y))").text() == "!a(x) v EXIST y (b(x,y))"


def test_prac_grammar_has_the_usual_precedence():
    """pracmln's PRACGrammar binds ^ tighter than v, unlike its StandardGrammar."""
    assert parse_formula("a(X) ^ b(X) v c(X)", "prac").text() == "(a(X) ^ b(X)) v c(X)"
    assert parse_formula("a(?x) v b(?x) ^ c(?x) => d(?x)", "prac").text() == "(a(?x) v (b(?x) ^ c(?x))) => d(?x)"


def test_prac_grammar_reads_question_mark_variables():
    mln = parse_mln("t = {a, b}\nr(t)\nu(t)\n1.0 r(?x) ^ u(a)\n", "g.mln")
    assert mln.grammar == "prac"
    assert mln.formulas[0].types == {"?x": "t"}


def test_written_mln_reads_back_with_the_same_meaning():
    text = "t = {A, B}\np(t)\nf(t, t!)\nlogx(0.9) p(x) => f(x, A)\np(x) v !p(x).\n#fixweight\n-1.5 EXIST y (f(x,y))\n"
    mln = parse_mln(text)
    again = parse_mln(format_mln(mln))
    assert [e.formula for e in again.formulas] == [e.formula for e in mln.formulas]
    assert [e.weight for e in again.formulas] == pytest.approx([e.weight for e in mln.formulas])
    assert [e.fixed for e in again.formulas] == [False, False, True]
    assert again.predicates == mln.predicates


def test_template_variables_expand_per_constant():
    mln = parse_mln("t = {A, B}\nc = {X, Y}\nk(t, c)\n0.5 k(x, +y)\n")
    expanded = mln.materialize([])
    assert [e.formula.text() for e in expanded.formulas] == ["k(x,X)", "k(x,Y)"]


@pytest.mark.parametrize("text, message", [
    ("p(t)\n1 q(x)\n", "x.mln:2: unknown predicate 'q'"),
    ("p(t)\n1 p(x, y)\n", "x.mln:2: p takes 1 argument"),
    ("p(t)\nr(u)\n1 p(x) ^ r(x)\n", "x.mln:3: variable 'x' is used as a t and as a u"),
    ("p(t)\n1 (p(x)\n", "x.mln:2: unbalanced parentheses: expected ')'"),
    ("p(t)\n1 p(x))\n", "x.mln:2: unbalanced parentheses: unexpected ')'"),
    ("p(t)\n1 p(x) p(y)\n", "x.mln:2: expected an operator or the end of the formula, got 'p'"),
    ("p(t)\n2 p(x).\n", "x.mln:2: expected either a weight or a trailing '.'"),
    ("p(t)\n1 " + "(" * 200 + "p(x)" + ")" * 200 + "\n", "x.mln:2: formula nested deeper than 100"),
    ("p(t)\n1 " + "!" * 5000 + "p(x)\n", "x.mln:2: formula nested deeper than 100"),
    ("t = {A, B\n", "x.mln:1: expected a domain such as 'name = {A, B}'"),
    ("p(t)\nfoo p(x)\n", "x.mln:2: expected a weight"),
    ("p(t, u!, v!)\n", "x.mln:1: p marks more than one argument functional"),
])
def test_bad_mln_gives_file_and_line(text, message):
    with pytest.raises(AgainError) as err:
        parse_mln(text, "x.mln")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("Smokes(Anna)\nCancer(Anna, Bob)\n", "x.db:2: Cancer takes 1 argument"),
    ("Smokes(Anna)\nDrinks(Anna)\n", "x.db:2: unknown predicate 'Drinks'"),
    ("livesIn(Anna, Paris)\nlivesIn(Anna, Rome)\n", "x.db:2: livesIn is functional in argument 2"),
    ("livesIn(Paris, Anna)\n", "x.db:1: Paris is a place, but livesIn expects a person there"),
    ("Smokes(Anna\n", "x.db:1: expected an atom"),
])
def test_bad_db_gives_file_and_line(text, message):
    mln = parse_mln("person = {Anna}\nplace = {Paris, Rome}\nSmokes(person)\nCancer(person)\nlivesIn(person, place!)\n1 Smokes(x) => Cancer(x)\n")
    with pytest.raises(AgainError) as err:
        parse_db(text, mln, "x.db")
    assert str(err.value).startswith(message)


def test_hard_formula_violated_by_evidence_is_refused_naming_it():
    mln = parse_mln("person = {A, B}\nS(person)\nC(person)\nS(x) => C(x).\n", "h.mln")
    dbs = parse_db("S(A)\n!C(A)\n", mln, "h.db")
    with pytest.raises(AgainError, match=r"h.db: the evidence violates the hard formula 'S\(x\) => C\(x\)' \(h.mln:4\) at x=A"):
        query(mln, dbs, ["C"])


def test_grounding_over_the_limit_is_refused_before_allocation():
    people = ", ".join(f"P{i}" for i in range(3000))
    mln = parse_mln(f"person = {{{people}}}\nF(person, person)\nS(person)\n1 F(x, y) => (S(x) <=> S(y))\n", "big.mln")
    dbs = parse_db("F(P0, P1)\n", mln, "big.db")
    with pytest.raises(AgainError, match=r"big.mln:4: formula .* has 9,000,000 groundings to consider, over the limit of 1,000,000: close a predicate"):
        query(mln, dbs, ["S"], limit=1_000_000)
    # closing the friendship predicate makes it a join over the one true friendship
    answers = query(mln, dbs, ["S"], ["F"], limit=1_000_000)
    assert answers[0].stats["ground_formulas"] == 1


LONG_BLOCK = """
ta = {A1}
tb = {B1, B2, B3, B4, B5, B6, B7, B8, B9}
f(ta, tb!)
s(tb)
0.7 f(x, z) ^ s(z)
-1.2 f(x, B3) v s(B4)
f(x, B5) => s(B1).
"""


@pytest.mark.parametrize("evidence", ["", "!f(A1,B1)\n!f(A1,B2)", "!f(A1,B9)\n!f(A1,B8)\n!f(A1,B7)"])
def test_long_functional_blocks_are_exact(evidence):
    """A block of more than six unknown values is encoded as a chain; the answer stays exact."""
    mln = parse_mln(LONG_BLOCK, "long.mln")
    known = "s(B2)\n!s(B3)\ns(B5)\n!s(B6)\ns(B7)\n!s(B8)\ns(B9)\n"
    dbs = parse_db(known + evidence, mln, "long.db")
    oracle = brute_force(mln, dbs[0])
    answer = query(mln, dbs, ["f", "s"])[0]
    got = dict(zip(answer.atoms, answer.values))
    for atom, probability in oracle.items():
        assert got[atom] == pytest.approx(probability, abs=1e-9)


@pytest.mark.parametrize("seed", range(10))
def test_world_enumeration_equals_binary_contraction(seed):
    """The route over the worlds that functional blocks allow (pracmln's EnumerationAsk) gives the
    marginals and the best score that contraction gives, with and without a chain."""
    import torch

    from again_mln.mln import inference
    from again_mln.mln.answers import _finite, closed_set
    from again_mln.mln.grounding import World, ground
    from again_mln.mln.network import build
    from again_mln.mln.worlds import enumerate_worlds

    mln, dbs, closed = random_case(seed) if seed % 2 else (parse_mln(LONG_BLOCK), None, [])
    dbs = dbs or parse_db("s(B2)", mln)
    materialized = mln.materialize(dbs)
    world = World(materialized, dbs[0], closed_set(materialized, closed, []))
    groups, blocks = ground(world, predicates=set(materialized.predicates))
    for batch in build(groups, blocks).batches:
        view = _finite(batch.view)
        if inference.log_partition(view).min() < -1e29:
            continue  # the hard formulas leave no world
        marginals, _ = enumerate_worlds(view, batch.blocks, maximise=False)
        torch.testing.assert_close(marginals, inference.marginals(view), atol=1e-9, rtol=0)
        _, best = enumerate_worlds(view, batch.blocks, maximise=True)
        torch.testing.assert_close(best, inference.max_score(view), atol=1e-9, rtol=0)


def test_a_query_over_an_undeclared_domain_is_refused():
    mln = parse_mln("person = {A}\nS(person)\nL(person, place)\n1 S(x) => L(x, y)\n", "d.mln")
    with pytest.raises(AgainError, match=r"d.db: the type 'place' of query L has no constants: declare its domain"):
        query(mln, parse_db("S(A)\n", mln, "d.db"), ["L"])


def test_map_by_integer_program_respects_hard_formulas():
    """Forced onto the integer program, MAP still keeps every hard formula and a functional block."""
    import torch

    from again_mln.mln import inference
    from again_mln.mln.answers import closed_set
    from again_mln.mln.grounding import World, ground
    from again_mln.mln.network import build

    mln = parse_mln(LONG_BLOCK)
    db = parse_db("s(B5)\n!s(B1)", mln)[0]
    world = World(mln.materialize([db]), db, closed_set(mln, [], []))
    groups, blocks = ground(world, predicates={"f", "s"})
    for batch in build(groups, blocks).batches:
        by_milp = inference.map_assignment(batch.view, route="milp")
        torch.testing.assert_close(inference.max_score(batch.view, route="milp"), inference.max_score(batch.view))
        assert torch.isfinite(inference.max_score(batch.view, route="milp")).all()
        assert by_milp.shape == (batch.view.batch, batch.view.num_variables)
