"""Rectification strategies: the paper's switch by hand, and properties on random small graphs."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.again.mlnfile import parse_mln
from again_mln.again.evidence import map_assignment
from again_mln.again.rectification import iterate_cm
from again_mln.again.rectifier import Rectifier
from again_mln.again.switch import SwitchTables
from rulesets import all_assignments, brute_force_scores, rulesets
from test_graph import TWO_CONCEPTS


def test_switch_on_the_two_concept_example():
    graph = FactorGraph(parse_mln(TWO_CONCEPTS))
    # c_hat = {A=1, B=0} under Y violates A <=> B. Flipping A gains 1, B gains 2, both gains -1:
    # the switch flips B; B becomes a hard 1 and A keeps the network's probability.
    result = Rectifier(graph, "switch", threshold=0.9).rectify(torch.tensor([[0.8, 0.3]]), torch.tensor([0]))
    assert result.flagged.tolist() == [True]
    assert result.mask.tolist() == [[False, True]]
    assert result.rectified.tolist() == [[pytest.approx(0.8), 1.0]]
    assert result.score_before.tolist() == [1.0] and result.score_after.tolist() == [3.0]
    candidates = SwitchTables(graph).candidates(torch.tensor([[1], [0]]), torch.tensor([0]))
    assert candidates.rule.tolist() == [0] and candidates.subset_gains.tolist() == [[1.0, 2.0, -1.0]]  # {A}, {B}, {A, B}
    assert candidates.concept.tolist() == []  # label(Y) => active(A) holds


def test_explanations_that_pass_are_left_alone():
    graph = FactorGraph(parse_mln(TWO_CONCEPTS))
    probs = torch.tensor([[0.9, 0.8], [0.8, 0.3]])
    result = Rectifier(graph, "iterate", threshold=0.9).rectify(probs, torch.tensor([0, 0]))
    assert result.flagged.tolist() == [False, True]
    assert torch.equal(result.rectified[0], probs[0])
    assert not result.mask[0].any()


def _random_case(ruleset, seed):
    generator = torch.Generator().manual_seed(seed)
    n, m, k = 64, len(ruleset.concepts), len(ruleset.categories)
    return torch.randint(0, 2, (n, m), generator=generator), torch.randint(0, k, (n,), generator=generator)


@settings(max_examples=40, deadline=None)
@given(rulesets(), st.integers(0, 1000))
def test_switch_gain_equals_the_change_of_score(ruleset, seed):
    graph = FactorGraph(ruleset)
    c, y = _random_case(ruleset, seed)
    switch = SwitchTables(graph)
    candidates = switch.candidates(c.T.contiguous(), y)
    before = graph.score(c, y)
    flipped = c[candidates.concept_sample].clone()
    flipped[torch.arange(len(flipped)), candidates.concept] ^= 1
    n = candidates.concept_sample
    np.testing.assert_allclose(candidates.concept_gain, graph.score(flipped, y[n]) - before[n], atol=1e-3)
    for t in range(candidates.subset_gains.shape[1]):
        rows = candidates.subset_gains[:, t] > -math.inf
        rule, n = candidates.rule[rows], candidates.rule_sample[rows]
        concepts, row = switch.subset_members(rule, torch.full_like(rule, t), torch.arange(len(rule)))
        flipped = c[n].clone()
        flipped[row, concepts] ^= 1
        np.testing.assert_allclose(candidates.subset_gains[rows, t], graph.score(flipped, y[n]) - before[n], atol=1e-3)
    # only violated rules propose interventions: every violated multi-concept rule, and the concepts
    # of every violated unary rule
    truth = graph.rule_truth(c, y)
    multi_rules = [i for i, r in enumerate(ruleset.rules) if len(set(r.concept_names())) >= 2]
    assert sorted(map(list, zip(candidates.rule_sample.tolist(), candidates.rule.tolist()))) == \
        (truth[:, multi_rules] == 0).nonzero().tolist()
    unary_rules = [i for i, r in enumerate(ruleset.rules) if len(set(r.concept_names())) == 1]
    concept_of = [ruleset.concept_index[ruleset.rules[i].concept_names()[0]] for i in unary_rules]
    broken = {(n, concept_of[j]) for n, j in (truth[:, unary_rules] == 0).nonzero().tolist()}
    assert sorted(zip(candidates.concept_sample.tolist(), candidates.concept.tolist())) == sorted(broken)


@settings(max_examples=40, deadline=None)
@given(rulesets(), st.integers(0, 1000))
def test_iterate_never_lowers_the_score_and_ends_with_no_improving_candidate(ruleset, seed):
    graph = FactorGraph(ruleset)
    c, y = _random_case(ruleset, seed)
    fixed = iterate_cm(SwitchTables(graph), c.T.contiguous(), y).T
    assert (graph.score(fixed, y) >= graph.score(c, y) - 1e-4).all()
    candidates = SwitchTables(graph).candidates(fixed.T.contiguous(), y)
    assert (candidates.concept_gain <= 1e-4).all() and (candidates.subset_gains <= 1e-4).all()


@settings(max_examples=40, deadline=None)
@given(rulesets(), st.integers(0, 1000), st.sampled_from([0.0, 0.5, 1.0, 3.0]))
def test_map_returns_the_brute_force_maximiser(ruleset, seed, lam):
    graph = FactorGraph(ruleset)
    _, y = _random_case(ruleset, seed)
    probs = torch.rand(len(y), len(ruleset.concepts), generator=torch.Generator().manual_seed(seed)).clamp(0.01, 0.99)
    chosen = map_assignment(graph, probs, y, lam)
    assignments = all_assignments(len(ruleset.concepts)).double()
    scores = brute_force_scores(ruleset, graph.hard_weight)  # (A, K)
    confidence = assignments @ probs.double().log().T + (1 - assignments) @ (1 - probs.double()).log().T  # (A, N)
    objective = scores[:, y] + lam * confidence
    ours = objective.gather(0, _row_of(chosen)[None]).squeeze(0)
    np.testing.assert_allclose(ours.numpy(), objective.max(0).values.numpy(), atol=1e-3)


def _row_of(assignments: torch.Tensor) -> torch.Tensor:
    """Row of each assignment in ``all_assignments`` (first concept is the most significant bit)."""
    m = assignments.shape[1]
    return (assignments.long() * (1 << torch.arange(m - 1, -1, -1))).sum(1)


def test_map_beyond_enumeration_elimination_and_integer_program_agree(monkeypatch):
    from again_mln.again.synthetic import random_ruleset

    ruleset = random_ruleset(24, 3, category_rules=30, concept_rules=40, seed=1)
    graph = FactorGraph(ruleset)
    probs = torch.rand(6, 24, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])

    def objective(c):
        return graph.score(c, y) + (c * probs.log() + (1 - c) * (1 - probs).log()).sum(1)

    eliminated = map_assignment(graph, probs, y, 1.0)
    monkeypatch.setattr("again_mln.mln.inference.planner.MEMORY_BUDGET", 1)  # elimination out of reach
    programmed = map_assignment(graph, probs, y, 1.0)
    np.testing.assert_allclose(objective(eliminated).numpy(), objective(programmed).numpy(), atol=1e-4)
    for m in range(24):  # and no single flip improves the optimum
        flipped = eliminated.clone()
        flipped[:, m] ^= 1
        assert (objective(flipped) <= objective(eliminated) + 1e-4).all()


def test_switch_flips_agree_with_the_candidates():
    graph = FactorGraph(parse_mln(TWO_CONCEPTS))
    flips = SwitchTables(graph).flips_cm(torch.tensor([[1, 0], [0, 1], [1, 1]]).T.contiguous(), torch.tensor([0, 0, 0])).T.long()
    assert flips.tolist() == [[0, 1], [1, 0], [0, 0]]


def test_strategy_and_input_errors():
    graph = FactorGraph(parse_mln(TWO_CONCEPTS))
    with pytest.raises(AgainError, match="unknown strategy 'best'"):
        Rectifier(graph, "best")
    with pytest.raises(AgainError, match="contains NaN"):
        Rectifier(graph).rectify(torch.tensor([[math.nan, 0.2]]), torch.tensor([0]))
    with pytest.raises(AgainError, match=r"must lie in \[0, 1\]"):
        Rectifier(graph).rectify(torch.tensor([[1.2, 0.2]]), torch.tensor([0]))
