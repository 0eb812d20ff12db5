"""Small random rule sets and exact samples from them, shared by the learning and pracmln tests."""
from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import torch

from again_mln.again.graph import FactorGraph
from again_mln.again.logic import And, Equiv, Implies, Not, Or, RuleSet, category, concept


def random_ruleset(seed: int, num_concepts: int = 4, num_categories: int = 3, num_rules: int = 8) -> RuleSet:
    """Category-concept implications/exclusions and concept-concept rules of the kinds in docs/method.md,
    plus a three-concept clause, with random weights (names that pracmln must read as constants)."""
    rng = np.random.default_rng(seed)
    concepts = tuple(f"c{m}_x" if m % 2 else f"C{m}" for m in range(num_concepts))
    categories = tuple(f"y{k}" for k in range(num_categories))
    ruleset = RuleSet(concepts, categories)
    for i in range(num_rules):
        a, b, c = (concept(concepts[j]) for j in rng.choice(num_concepts, 3, replace=False))
        y = category(categories[rng.integers(num_categories)])
        formula = [Implies(y, a), Implies(y, Not(a)), Equiv(a, b), Not(And((a, b))), Or((a, Not(b), c))][i % 5]
        ruleset.add(formula, float(np.round(rng.uniform(-1.5, 2.0), 3)))
    return ruleset


def all_assignments(num_concepts: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product((0, 1), repeat=num_concepts)))


def exact_sample(ruleset: RuleSet, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n samples: categories uniform, concepts drawn exactly from P(c | y) by enumeration."""
    graph = FactorGraph(ruleset)
    generator = torch.Generator().manual_seed(seed)
    assignments = all_assignments(len(ruleset.concepts))
    K = len(ruleset.categories)
    y = torch.randint(K, (n,), generator=generator)
    scores = graph.score(assignments.repeat(K, 1), torch.arange(K).repeat_interleave(len(assignments)))
    scores = scores.view(K, -1).double()  # (K, A)
    probs = torch.softmax(scores, 1)
    rows = torch.multinomial(probs[y].double(), 1, generator=generator).squeeze(1)
    return assignments[rows].numpy(), y.numpy()


def require_pracmln() -> None:
    """Skip without pracmln locally; in CI (CI=true) a missing pracmln is a failure."""
    from again_mln.errors import AgainError
    from again_mln.engines.pracmln_compat import import_pracmln

    try:
        import_pracmln()
    except AgainError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"pracmln is required in CI: {err}")
        pytest.skip(str(err))
