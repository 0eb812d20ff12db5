"""The compiled elimination (again_mln.mln.inference.contract): one program per structure, rule tables
folded per category, per-sample work only; results equal brute force whatever the chunking, and
nothing stale survives a change of weights or structure."""
from __future__ import annotations

import random

import pytest
import torch

from again_mln.again.graph import FactorGraph
from again_mln.mln.inference import map_assignment, max_score
from again_mln.mln.inference.contract import compile_program
from again_mln.mln.inference.planner import structure
from again_mln.again.logic import And, Implies, Not, RuleSet, category, concept
from rulesets import all_assignments, brute_force_scores


def _category_dependent_ruleset(seed: int, m: int = 8, k: int = 4) -> RuleSet:
    """Rules whose concept-concept part depends on the category (``label(Y) ^ active(A) => active(B)``),
    so the factor tables differ per category, plus category-concept and plain concept-concept rules."""
    rng = random.Random(seed)
    ruleset = RuleSet([f"C{i}" for i in range(m)], [f"Y{i}" for i in range(k)])
    for _ in range(12):
        a, b, c = rng.sample(range(m), 3)
        y = rng.randrange(k)
        kind = rng.randrange(3)
        if kind == 0:
            formula = Implies(And((category(f"Y{y}"), concept(f"C{a}"))), concept(f"C{b}"))
        elif kind == 1:
            formula = Implies(category(f"Y{y}"), Not(concept(f"C{a}")))
        else:
            formula = Not(And((concept(f"C{a}"), concept(f"C{b}"), concept(f"C{c}"))))
        ruleset.add(formula, round(rng.uniform(0.1, 3.0), 3))
    return ruleset


def _objective(ruleset: RuleSet, graph: FactorGraph, y: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
    """S(c, y_n) + evidence_n(c) for every sample and assignment (N, 2**M)."""
    a = all_assignments(len(ruleset.concepts))
    scores = brute_force_scores(ruleset, graph.hard_weight)[:, y].T
    return scores + torch.where(a.bool(), evidence[:, None, :, 1], evidence[:, None, :, 0]).sum(-1)


def _reached(objective: torch.Tensor, assignment: torch.Tensor) -> torch.Tensor:
    m = assignment.shape[1]
    return objective.gather(1, (assignment * (1 << torch.arange(m - 1, -1, -1))).sum(1, keepdim=True)).squeeze(1)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("budget", [None, 2**6])  # 2**6: chunks of a few rows, each folding its own categories
def test_category_dependent_map_equals_brute_force_in_any_chunking(seed, budget, monkeypatch):
    ruleset = _category_dependent_ruleset(seed)
    graph = FactorGraph(ruleset).double()
    view = graph.factor_view()
    assert view.tables.shape[0] == len(ruleset.categories)  # the tables do depend on the category
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, len(ruleset.categories), (23,), generator=generator)
    evidence = torch.randn(23, len(ruleset.concepts), 2, generator=generator, dtype=torch.float64)
    if budget is not None:
        width = structure(view.scopes, view.num_variables)[1]
        monkeypatch.setattr("again_mln.mln.inference.planner.MEMORY_BUDGET", max(budget, 2 ** (width + 1)))
        monkeypatch.setattr("again_mln.mln.inference.planner._STEP_OVERHEAD", 0)
    objective = _objective(ruleset, graph, y, evidence)
    best = objective.max(1).values
    torch.testing.assert_close(max_score(view, y, evidence, "eliminate"), best)
    torch.testing.assert_close(_reached(objective, map_assignment(view, y, evidence, "eliminate")), best)


def test_one_program_per_structure_and_a_new_one_when_it_changes():
    scopes = ((0, 1), (1, 2), (2, 3))
    order = structure(scopes, 4)[0]
    program = compile_program(scopes, 4, order)
    assert compile_program(tuple(scopes), 4, tuple(order)) is program  # reused, not rebuilt
    changed = compile_program(scopes + ((0, 3),), 4, structure(scopes + ((0, 3),), 4)[0])
    assert changed is not program and changed.width > program.width


def test_new_weights_reach_map_at_once():
    """The folded tables are derived per call from the graph's current weights: nothing cached
    per category can go stale when the weights change."""
    ruleset = _category_dependent_ruleset(5)
    graph = FactorGraph(ruleset).double()
    generator = torch.Generator().manual_seed(5)
    y = torch.randint(0, len(ruleset.categories), (9,), generator=generator)
    evidence = 0.1 * torch.randn(9, len(ruleset.concepts), 2, generator=generator, dtype=torch.float64)
    before = map_assignment(graph.factor_view(), y, evidence, "eliminate")
    flipped = -graph.weight.detach().clone()
    graph.set_weights(flipped)
    after = map_assignment(graph.factor_view(), y, evidence, "eliminate")
    objective = _objective(ruleset.with_weights(flipped.tolist()), graph, y, evidence)
    torch.testing.assert_close(_reached(objective, after), objective.max(1).values)
    assert not torch.equal(before, after)
