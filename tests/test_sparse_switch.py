"""The sparse switch and the incremental ``iterate`` against the dense oracle (tests/dense_switch.py):
the same gains (as floats), the same flips and the same iterate results, on random rule sets of
several arities, with category-dependent and category-independent multi-concept rules, on inputs
that break most rules, a few rules or none, and on an empty batch."""
from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from again_mln.again.graph import FactorGraph
from again_mln.again.logic import And, Equiv, Implies, Not, Or, RuleSet, category, concept
from again_mln.again.rectification import iterate_cm
from again_mln.again.rectifier import Rectifier
from again_mln.again.switch import SPARSE_ENTRY_COST, SwitchTables
from dense_switch import dense_gains_cm, dense_iterate_t, dense_switch_flips_t
from rulesets import brute_force_scores, rulesets


def wide_ruleset(num_concepts: int, num_categories: int, seed: int, category_dependent: bool) -> RuleSet:
    """Unary rules per category and multi-concept rules over 2, 3 and 4 concepts; with
    ``category_dependent`` some of those hold under one category only (``label(Y) => ...``)."""
    rng = np.random.default_rng(seed)
    ruleset = RuleSet([f"C{m}" for m in range(num_concepts)], [f"Y{k}" for k in range(num_categories)])
    atom = [concept(f"C{m}") for m in range(num_concepts)]
    for k in range(num_categories):
        for m in rng.choice(num_concepts, num_concepts // 2, replace=False):
            head = atom[m] if rng.random() < 0.5 else Not(atom[m])
            ruleset.add(Implies(category(f"Y{k}"), head), float(rng.uniform(0.1, 3)))
    shapes = [
        lambda a, b, c, d: Equiv(a, b),
        lambda a, b, c, d: Not(And((a, b))),
        lambda a, b, c, d: Implies(And((a, b)), c),
        lambda a, b, c, d: Or((a, Not(b), c)),
        lambda a, b, c, d: Equiv(Or((a, b)), And((c, d))),
    ]
    for i in range(3 * num_concepts):
        a, b, c, d = (atom[m] for m in rng.choice(num_concepts, 4, replace=False))
        formula = shapes[i % len(shapes)](a, b, c, d)
        if category_dependent and rng.random() < 0.4:
            formula = Implies(category(f"Y{rng.integers(num_categories)}"), formula)
        ruleset.add(formula, None if rng.random() < 0.05 else float(rng.uniform(-1, 3)))
    return ruleset


def near_best(graph: FactorGraph, y: torch.Tensor, wrong: float, seed: int) -> torch.Tensor:
    """(N, M) concepts that follow each category's unary rules, a share ``wrong`` of them flipped."""
    generator = torch.Generator().manual_seed(seed)
    unary = graph.unary
    likely = (unary[:, :, 1] > unary[:, :, 0]).long()[y]
    return likely ^ (torch.rand(likely.shape, generator=generator) < wrong).long()


def assert_same_as_dense(graph: FactorGraph, c: torch.Tensor, y: torch.Tensor) -> None:
    """The switch as the automatic choice takes it, always sparse, always dense."""
    for cost in (SPARSE_ENTRY_COST, 0.0, math.inf):
        with mock.patch("again_mln.again.switch.SPARSE_ENTRY_COST", cost):
            _assert_same_as_dense(graph, c, y)


def _assert_same_as_dense(graph: FactorGraph, c: torch.Tensor, y: torch.Tensor) -> None:
    cT = c.T.contiguous()
    switch = SwitchTables(graph)
    M, N, F = graph.num_concepts, len(y), switch.num_rules
    candidates = switch.candidates(cT, y)
    unary, gains, violated = dense_gains_cm(switch, cT, y)
    sparse_unary = torch.full((M, N), -math.inf)
    sparse_unary[candidates.concept, candidates.concept_sample] = candidates.concept_gain
    assert torch.equal(sparse_unary, unary)  # the same floats (-0.0 == 0.0)
    assert torch.equal(violated.nonzero(), torch.stack([candidates.rule, candidates.rule_sample], 1))
    dense_multi = torch.stack(gains, -1)[candidates.rule, candidates.rule_sample] if F else candidates.subset_gains
    assert torch.equal(candidates.subset_gains, dense_multi)
    assert torch.equal(SwitchTables(graph).flips_cm(c.T.contiguous(), y).T.long(), dense_switch_flips_t(graph, cT, y).T.long())
    assert torch.equal(iterate_cm(SwitchTables(graph), c.T.contiguous(), y).T, dense_iterate_t(graph, cT, y).T)
    assert torch.equal(iterate_cm(SwitchTables(graph), c.T.contiguous(), y, max_rounds=2).T, dense_iterate_t(graph, cT, y, max_rounds=2).T)


@settings(max_examples=60, deadline=None)
@given(rulesets(), st.integers(0, 1000))
def test_sparse_equals_dense_on_random_formulas(ruleset, seed):
    graph = FactorGraph(ruleset)
    generator = torch.Generator().manual_seed(seed)
    n, m, k = 64, len(ruleset.concepts), len(ruleset.categories)
    y = torch.randint(0, k, (n,), generator=generator)
    assert_same_as_dense(graph, torch.randint(0, 2, (n, m), generator=generator), y)
    # few violated rules: each category's best assignment (brute force) with one concept flipped
    best = brute_force_scores(ruleset, graph.hard_weight).argmax(0)[y]  # rows of all_assignments
    c = (best[:, None] >> torch.arange(m - 1, -1, -1)) & 1
    c[torch.arange(n), torch.randint(0, m, (n,), generator=generator)] ^= 1
    assert_same_as_dense(graph, c, y)


@pytest.mark.parametrize("category_dependent", [False, True])
@pytest.mark.parametrize("wrong", [0.03, 0.2, 0.5])
def test_sparse_equals_dense_on_wide_rule_sets(category_dependent, wrong):
    graph = FactorGraph(wide_ruleset(24, 5, seed=int(100 * wrong), category_dependent=category_dependent))
    assert graph.max_arity == 4 and (graph.factor_truth.shape[0] > 1) == category_dependent
    y = torch.randint(0, 5, (300,), generator=torch.Generator().manual_seed(1))
    assert_same_as_dense(graph, near_best(graph, y, wrong, seed=2), y)


def test_sparse_equals_dense_when_every_rule_is_violated():
    ruleset = RuleSet([f"C{m}" for m in range(6)], ["Y0", "Y1"])
    atom = [concept(f"C{m}") for m in range(6)]
    for m in range(6):
        ruleset.add(Implies(category("Y0"), atom[m]), 1.0 + m)
    for m in range(5):
        ruleset.add(Or((atom[m], atom[m + 1])), 0.5 * m - 0.5)  # one negative weight
        ruleset.add(Or((atom[m], atom[m + 1], atom[(m + 3) % 6])), 1.5)
    graph = FactorGraph(ruleset)
    c, y = torch.zeros(8, 6, dtype=torch.long), torch.zeros(8, dtype=torch.long)
    candidates = SwitchTables(graph).candidates(c.T.contiguous(), y)
    assert len(candidates.concept) == 6 * 8 and len(candidates.rule) == 10 * 8  # all of them
    assert_same_as_dense(graph, c, y)


def test_the_switch_takes_the_dense_gains_only_when_most_rules_are_violated():
    ruleset = RuleSet([f"C{m}" for m in range(30)], ["Y0"])
    atom = [concept(f"C{m}") for m in range(30)]
    for m in range(30):
        ruleset.add(Or((atom[m], atom[(m + 1) % 30])), 1.0)
    switch = SwitchTables(FactorGraph(ruleset))
    y = torch.zeros(50, dtype=torch.long)
    broken = torch.zeros(30, 50, dtype=torch.long)  # every rule broken
    assert switch.dense_is_cheaper(*switch._violated(broken, y, switch.graph.factor_codes(broken)))
    few = torch.ones(30, 50, dtype=torch.long)
    few[torch.arange(50) % 30, torch.arange(50)] = 0
    few[(torch.arange(50) + 1) % 30, torch.arange(50)] = 0  # two neighbours off: one rule broken
    violable, violated = switch._violated(few, y, switch.graph.factor_codes(few))
    assert int(violated.sum()) == 50 and not switch.dense_is_cheaper(violable, violated)
    with mock.patch.object(switch.graph, "flip_gains_cm", side_effect=AssertionError("dense")):
        switch.flips_cm(few, y)
        with pytest.raises(AssertionError, match="dense"):
            switch.flips_cm(broken, y)


def test_sparse_equals_dense_on_rules_of_one_category_and_no_multi_concept_rules():
    ruleset = RuleSet(["A", "B", "C"], ["Y", "Z"])
    ruleset.add(Implies(category("Y"), concept("A")), 2.0)
    ruleset.add(Implies(category("Z"), Not(concept("B"))), 1.0)
    graph = FactorGraph(ruleset)
    c = torch.tensor([[0, 1, 0], [1, 1, 1], [0, 0, 0]])
    assert_same_as_dense(graph, c, torch.tensor([0, 1, 1]))


def test_empty_batch():
    graph = FactorGraph(wide_ruleset(8, 2, seed=0, category_dependent=True))
    c, y = torch.zeros(0, 8, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    assert SwitchTables(graph).flips_cm(c.T.contiguous(), y).T.long().shape == (0, 8)
    assert iterate_cm(SwitchTables(graph), c.T.contiguous(), y).T.shape == (0, 8)
    result = Rectifier(graph, "iterate").rectify(torch.zeros(0, 8), y)
    assert result.mask.shape == (0, 8)


def test_candidate_gains_are_the_changes_of_score():
    graph = FactorGraph(wide_ruleset(12, 3, seed=5, category_dependent=True))
    y = torch.randint(0, 3, (200,), generator=torch.Generator().manual_seed(3))
    c = near_best(graph, y, 0.3, seed=4)
    switch = SwitchTables(graph)
    candidates = switch.candidates(c.T.contiguous(), y)
    n, m = candidates.concept_sample, candidates.concept
    flipped = c[n].clone()
    flipped[torch.arange(len(n)), m] ^= 1
    np.testing.assert_allclose(candidates.concept_gain, graph.score(flipped, y[n]) - graph.score(c[n], y[n]), atol=1e-4)
    for t in range(candidates.subset_gains.shape[1]):
        valid = candidates.subset_gains[:, t] > -math.inf
        assert valid.tolist() == (t + 1 < 2 ** switch.arity[candidates.rule]).tolist()
        rule, sample = candidates.rule[valid], candidates.rule_sample[valid]
        members = switch.subset_members(rule, torch.full_like(rule, t), torch.arange(len(rule)))
        flipped = c[sample].clone()
        flipped[members[1], members[0]] ^= 1
        change = graph.score(flipped, y[sample]) - graph.score(c[sample], y[sample])
        np.testing.assert_allclose(candidates.subset_gains[valid, t], change, atol=1e-4)
