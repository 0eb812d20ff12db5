"""Random small rule sets and a brute-force reference, shared by the property tests."""
from __future__ import annotations

import itertools

import torch
from hypothesis import strategies as st

from again_mln.again.logic import And, Equiv, Formula, Implies, Not, Or, RuleSet, category, concept


def formulas(num_concepts: int, num_categories: int) -> st.SearchStrategy[Formula]:
    """Formulas over C0.. and Y0.. atoms with every connective, nested a few levels."""
    atoms = st.one_of(
        st.integers(0, num_concepts - 1).map(lambda m: concept(f"C{m}")),
        st.integers(0, num_categories - 1).map(lambda k: category(f"Y{k}")),
    )

    def extend(children):
        return st.one_of(
            children.map(Not),
            st.lists(children, min_size=2, max_size=3).map(lambda fs: And(tuple(fs))),
            st.lists(children, min_size=2, max_size=3).map(lambda fs: Or(tuple(fs))),
            st.tuples(children, children).map(lambda ab: Implies(*ab)),
            st.tuples(children, children).map(lambda ab: Equiv(*ab)),
        )

    return st.recursive(atoms, extend, max_leaves=4)


@st.composite
def rulesets(draw, max_concepts: int = 5, max_categories: int = 3, max_rules: int = 7) -> RuleSet:
    """A random rule set; some rules may be hard, weights may be negative."""
    m = draw(st.integers(2, max_concepts))
    k = draw(st.integers(1, max_categories))
    ruleset = RuleSet([f"C{i}" for i in range(m)], [f"Y{i}" for i in range(k)])
    for formula in draw(st.lists(formulas(m, k), min_size=1, max_size=max_rules)):
        hard = draw(st.integers(0, 5)) == 0
        ruleset.add(formula, None if hard else draw(st.floats(-2, 4).map(lambda w: round(w, 3))))
    return ruleset


def all_assignments(num_concepts: int) -> torch.Tensor:
    """Every binary assignment (2**M, M), first concept slowest."""
    return torch.tensor(list(itertools.product([0, 1], repeat=num_concepts)))


def brute_force_scores(ruleset: RuleSet, hard_weight: float) -> torch.Tensor:
    """S(c, k) for every assignment and category (2**M, K), evaluating each formula directly."""
    assignments = all_assignments(len(ruleset.concepts)).bool()
    K = len(ruleset.categories)
    concept_index, category_index = ruleset.concept_index, ruleset.category_index
    scores = torch.zeros(len(assignments), K, dtype=torch.float64)
    for k in range(K):
        def value_of(atom):
            if atom.is_concept:
                return assignments[:, concept_index[atom.argument]]
            return torch.full((len(assignments),), category_index[atom.argument] == k)

        for rule in ruleset.rules:
            weight = hard_weight if rule.hard else rule.weight
            scores[:, k] += weight * rule.formula.evaluate(value_of).double()
    return scores
