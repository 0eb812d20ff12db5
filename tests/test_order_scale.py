"""The incremental min-fill order (again_mln.mln.inference.order): the same greedy choices as
rescoring every variable at every step, valid orders, and a width cap that lets the planner
decide quickly on label-free-CBM-sized concept graphs."""
from __future__ import annotations

import random

import pytest

from again_mln.errors import AgainError
from again_mln.mln.factors import FactorView
from again_mln.mln.inference.order import elimination_cost, min_fill_order
from again_mln.mln.inference.planner import plan
from again_mln.mln.inference.rings import LogRing, MaxRing


def _rescored_min_fill(scopes, variables) -> list[int]:
    """The reference greedy: every remaining variable's fill recomputed at every step."""
    graph = {v: set() for v in variables}
    for scope in scopes:
        for v in scope:
            graph[v].update(u for u in scope if u != v)
    order = []
    while graph:
        def key(v):
            nb = sorted(graph[v])
            return sum(b not in graph[a] for i, a in enumerate(nb) for b in nb[i + 1:]), len(nb), v

        v = min(graph, key=key)
        for a in graph[v]:
            graph[a] |= graph[v] - {a}
            graph[a].discard(v)
        del graph[v]
        order.append(v)
    return order


def _random_scopes(seed: int) -> tuple[list[tuple[int, ...]], int]:
    rng = random.Random(seed)
    n = rng.randint(3, 70)
    return [tuple(rng.sample(range(n), rng.choice([2, 2, 2, 3]))) for _ in range(rng.randint(0, 3 * n))], n


def _cub_like_scopes() -> tuple[list[tuple[int, ...]], int]:
    """CUB's shape: 112 concepts, ~200 concept pairs inside groups of correlated attributes
    (colour and pattern attributes of one body part), a few concepts in no rule."""
    rng = random.Random(7)
    groups = [list(range(start, min(start + 14, 101))) for start in range(0, 101, 14)]
    scopes = []
    while len(scopes) < 203:
        group = rng.choice(groups)
        scopes.append(tuple(rng.sample(group, 2)))
    return scopes, 112


@pytest.mark.parametrize("seed", range(25))
def test_min_fill_makes_the_same_choices_as_rescoring_everything(seed):
    scopes, n = _random_scopes(seed)
    order = min_fill_order(scopes, range(n))
    assert sorted(order) == list(range(n))  # a valid elimination order: each variable once
    assert order == _rescored_min_fill(scopes, range(n))  # hence the same width and entries


def test_cub_like_structure_keeps_its_width():
    scopes, n = _cub_like_scopes()
    order = min_fill_order(scopes, range(n))
    assert sorted(order) == list(range(n)) and order == _rescored_min_fill(scopes, range(n))
    assert elimination_cost(scopes, order) == elimination_cost(scopes, _rescored_min_fill(scopes, range(n)))


def test_real_cub_rules_keep_width_9(cub_folder):
    from again_mln.again.graph import FactorGraph
    from again_mln.rulegen.cub import build_cub_rules

    graph = FactorGraph(build_cub_rules(cub_folder), device="cpu")
    scopes = tuple((m,) for m in range(graph.num_concepts)) + graph.factor_scopes
    order = min_fill_order(scopes, range(graph.num_concepts))
    assert order == _rescored_min_fill(scopes, range(graph.num_concepts))
    assert elimination_cost(scopes, order) == (9, 2146)  # as before the incremental greedy (order.py)


@pytest.mark.parametrize("seed", range(10))
def test_width_cap_stops_exactly_when_the_order_would_be_wider(seed):
    scopes, n = _random_scopes(seed)
    full = min_fill_order(scopes, range(n))
    width = elimination_cost(scopes, full)[0] if scopes else 1
    assert min_fill_order(scopes, range(n), max_width=width) == full
    assert min_fill_order(scopes, range(n), max_width=width - 1) is None


def test_planner_sends_a_label_free_sized_concept_graph_to_the_integer_program():
    import torch

    rng = random.Random(0)
    n, pairs = 2000, 5000
    scopes = tuple(tuple(rng.sample(range(n), 2)) for _ in range(pairs))
    view = FactorView(torch.zeros(1), torch.zeros(1, n, 2), scopes, torch.zeros(1, pairs, 4))
    chosen = plan(view, MaxRing())
    assert chosen.route == "milp" and chosen.order is None and chosen.width > 23
    with pytest.raises(AgainError, match="elimination width 24\\+"):
        plan(view, LogRing())
