"""Random rule sets of the builders' four kinds, for benchmarks, tests and scale experiments."""
from __future__ import annotations

import numpy as np

from again_mln.again.logic import And, Equiv, Implies, Not, RuleSet, category, concept


def random_ruleset(
    num_concepts: int,
    num_categories: int,
    category_rules: int,
    concept_rules: int,
    seed: int = 0,
    max_weight: float = 3.0,
) -> RuleSet:
    """Rules like the builders make: ``label(Y) => [!]active(C)`` and, between concept pairs,
    ``active(A) <=> active(B)`` or ``!(active(A) ^ active(B))``; weights uniform in (0, max_weight]."""
    rng = np.random.default_rng(seed)
    concepts = [f"C{m}" for m in range(num_concepts)]
    categories = [f"Y{k}" for k in range(num_categories)]
    ruleset = RuleSet(concepts, categories)
    pairs = rng.choice(num_categories * num_concepts, size=category_rules, replace=False)
    for flat in pairs:
        k, m = divmod(int(flat), num_concepts)
        head = concept(concepts[m]) if rng.random() < 0.3 else Not(concept(concepts[m]))
        ruleset.add(Implies(category(categories[k]), head), float(rng.uniform(0, max_weight)) or max_weight)
    chosen: set[tuple[int, int]] = set()
    while len(chosen) < min(concept_rules, num_concepts * (num_concepts - 1) // 2):
        a, b = sorted(rng.choice(num_concepts, 2, replace=False).tolist())
        if (a, b) in chosen:
            continue
        chosen.add((a, b))
        left, right = concept(concepts[a]), concept(concepts[b])
        formula = Equiv(left, right) if rng.random() < 0.8 else Not(And((left, right)))
        ruleset.add(formula, float(rng.uniform(0, max_weight)) or max_weight)
    return ruleset
