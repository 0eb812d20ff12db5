"""Reading and writing pracmln .mln and .db files."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings

from again_mln.errors import AgainError
from again_mln.again.logic import And, Equiv, Implies, Not, Or, category, concept
from again_mln.again.mlnfile import format_db, format_mln, parse_db, parse_formula, parse_mln, read_mln, write_mln
from rulesets import rulesets

EXAMPLE = """// rules for a test
// second header line

concept = {Red_wing, "has bill", "lower"}
category = {Y1, "cat 2"}
active(concept)
label(category!)
// coexistence
1.5 label(Y1) => active(Red_wing)
#fixweight
-0.25 active(Red_wing) <=> (active("has bill") v !active("lower"))
label("cat 2") => !(active(Red_wing) ^ active("has bill")).
0.3 (active(Red_wing) => active("lower")) => active("has bill")
"""


def test_parse_reads_domains_weights_hard_rules_comments_and_fixweight():
    rules = parse_mln(EXAMPLE)
    assert rules.concepts == ("Red_wing", "has bill", "lower")
    assert rules.categories == ("Y1", "cat 2")
    assert rules.header == ("rules for a test", "second header line")
    assert [r.weight for r in rules.rules] == [1.5, -0.25, None, 0.3]
    assert [r.fixed for r in rules.rules] == [False, True, False, False]
    assert rules.rules[0].comments == ("coexistence",)
    assert rules.rules[0].formula == Implies(category("Y1"), concept("Red_wing"))
    assert rules.rules[1].formula == Equiv(concept("Red_wing"), Or((concept("has bill"), Not(concept("lower")))))
    assert rules.rules[2].formula == Implies(category("cat 2"), Not(And((concept("Red_wing"), concept("has bill")))))


def test_precedence_follows_pracmln():
    a, b, c = concept("A"), concept("B"), concept("C")
    assert parse_formula("!active(A) ^ active(B)") == And((Not(a), b))
    assert parse_formula("active(A) => active(B) v active(C)") == Implies(a, Or((b, c)))
    assert parse_formula("active(A) <=> active(B) => active(C)") == Equiv(a, Implies(b, c))


def test_unparenthesised_mix_of_and_and_or_is_refused_with_file_and_line():
    # pracmln binds v tighter than ^, earlier versions of this reader the other way round: a
    # rule file must say which it means.
    with pytest.raises(AgainError, match=r"rules.mln:\d+: .*parenthes"):
        parse_mln(EXAMPLE + "1.0 active(Red_wing) v active(Long_beak) ^ label(Y1)\n", source="rules.mln")
    a, b, c = concept("A"), concept("B"), concept("C")
    assert parse_formula("active(A) v (active(B) ^ active(C))") == Or((a, And((b, c))))
    assert parse_formula("(active(A) v active(B)) ^ active(C)") == And((Or((a, b)), c))


@pytest.mark.parametrize("formula", [
    lambda a, b, c: Or((And((a, b)), c)),
    lambda a, b, c: And((Or((a, b)), c)),
    lambda a, b, c: Or((a, And((b, Not(c))))),
    lambda a, b, c: Implies(And((a, Or((b, c)))), c),
])
def test_written_and_or_mean_the_same_to_the_engine_standard_grammar(formula):
    """The writer parenthesises ^ inside v and v inside ^, so the engine's reader (pracmln's
    StandardGrammar, where v binds tighter) reads back the formula that was written."""
    from again_mln.mln.files import parse_formula as engine_formula

    a, b, c = concept("A"), concept("B"), concept("C")
    written = formula(a, b, c).to_mln()
    assert parse_formula(written) == formula(a, b, c)
    read_by_engine = engine_formula(written)
    for bits in range(8):
        world = {"A": bool(bits & 1), "B": bool(bits & 2), "C": bool(bits & 4)}
        ours = bool(formula(a, b, c).evaluate(lambda atom: torch.tensor(world[atom.argument])))
        assert ours == _engine_truth(read_by_engine, world), (written, world)


def _engine_truth(node, world):
    """Truth of an engine formula over concept atoms ``active(X)`` in ``world``."""
    from again_mln.mln import syntax

    if isinstance(node, syntax.Atom):
        return world[node.args[0].name]
    if isinstance(node, syntax.Not):
        return not _engine_truth(node.child, world)
    if isinstance(node, syntax.And):
        return all(_engine_truth(c, world) for c in node.children)
    if isinstance(node, syntax.Or):
        return any(_engine_truth(c, world) for c in node.children)
    if isinstance(node, syntax.Implies):
        left, right = node.children
        return (not _engine_truth(left, world)) or _engine_truth(right, world)
    if isinstance(node, syntax.Equiv):
        left, right = node.children
        return _engine_truth(left, world) == _engine_truth(right, world)
    raise TypeError(node)


def test_write_read_write_is_identical(tmp_path):
    first = format_mln(parse_mln(EXAMPLE))
    write_mln(parse_mln(first), tmp_path / "rules.mln")
    assert (tmp_path / "rules.mln").read_text() == first
    assert format_mln(read_mln(tmp_path / "rules.mln")) == first


@settings(max_examples=60, deadline=None)
@given(rulesets())
def test_round_trip_of_random_rule_sets(ruleset):
    text = format_mln(ruleset)
    again = parse_mln(text)
    assert [r.formula for r in again.rules] == [r.formula for r in ruleset.rules]
    assert [r.weight for r in again.rules] == [r.weight for r in ruleset.rules]
    assert format_mln(again) == text


@pytest.mark.parametrize(
    "line, message",
    [
        ("1.0 (label(Y1) => active(Red_wing)", "rules.mln:14: unbalanced parentheses: expected ')'"),
        ("1.0 label(Y1) => active(Red_wing))", "rules.mln:14: unbalanced parentheses: unexpected ')'"),
        ("heavy label(Y1) => active(Red_wing)", "rules.mln:14: expected a weight"),
        ("1.0 label(Y1) => active(Blue)", "rules.mln:14: unknown concept 'Blue'"),
        ("1.0 label(Y9) => active(Red_wing)", "rules.mln:14: unknown category 'Y9'"),
        ("1.0 label(Y1) =>", "rules.mln:14: expected an atom"),
        ("1.0 label(Y1) active(Red_wing)", "rules.mln:14: expected an operator or the end of the formula"),
        ("1.0 colour(Y1)", "rules.mln:14: expected predicate 'active' or 'label'"),
        ("concept = {A, B}", "rules.mln:14: duplicate declaration of domain 'concept'"),
        ("1.0 active(x)", "rules.mln:14: expected a constant, got variable 'x'"),
        ("2.0 active(Red_wing).", "rules.mln:14: expected either a weight or a trailing '.'"),
        ("#frobnicate", "rules.mln:14: unknown directive"),
    ],
)
def test_malformed_input_gives_one_line_with_file_and_line(line, message):
    with pytest.raises(AgainError) as caught:
        parse_mln(EXAMPLE + line + "\n", source="rules.mln")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_missing_domain_and_missing_file(tmp_path):
    with pytest.raises(AgainError, match="expected a domain declaration 'category"):
        parse_mln("concept = {A}\n1.0 active(A)\n", source="x.mln")
    with pytest.raises(AgainError, match="no such .mln file"):
        read_mln(tmp_path / "absent.mln")


def test_db_round_trip():
    rules = parse_mln(EXAMPLE)
    concepts = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1]])
    categories = np.array([1, 0, 0])
    text = format_db(rules, concepts, categories)
    assert text.splitlines()[:4] == ["active(Red_wing)", '!active("has bill")', 'active("lower")', 'label("cat 2")']
    read_concepts, read_categories = parse_db(text, rules)
    np.testing.assert_array_equal(read_concepts, concepts)
    np.testing.assert_array_equal(read_categories, categories)


def test_db_errors_name_the_line():
    rules = parse_mln(EXAMPLE)
    with pytest.raises(AgainError, match=r"e.db:2: unknown concept 'Blue'"):
        parse_db("label(Y1)\nactive(Blue)\n", rules, source="e.db")
    with pytest.raises(AgainError, match=r"e.db:2: label is functional in argument 1, but both Y1 and \"cat 2\" are true"):
        parse_db("label(Y1)\nlabel(\"cat 2\")\n", rules, source="e.db")


@settings(max_examples=15, deadline=None)
@given(rulesets())
def test_every_file_we_write_parses_in_pracmln(ruleset):
    from learning_models import require_pracmln

    require_pracmln()
    from again_mln.again.pracmln import to_pracmln

    mln = to_pracmln(ruleset)
    assert len(mln.formulas) == len(ruleset.rules)
    assert [str(c).strip('"') for c in mln.domains["concept"]] == list(ruleset.concepts)
    hard = [f.weight == "HARD" or str(f.weight).upper() == "HARD" or f.ishard for f in mln.formulas]
    assert hard == [r.hard for r in ruleset.rules]
