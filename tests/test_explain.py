"""Explanations of a rectification: the repaired rules and the Figure-7 style picture."""
import numpy as np
import torch
from matplotlib.figure import Figure

from again_mln.again.explain import plot_rectified, repaired_rules, shown_concepts
from again_mln.again.graph import FactorGraph
from again_mln.again.logic import And, Implies, Not, RuleSet, category, concept
from again_mln.again.rectifier import Rectifier


def small_graph() -> FactorGraph:
    ruleset = RuleSet(["a", "b", "c"], ["y0", "y1"])
    ruleset.add(Implies(category("y0"), concept("a")), 2.0)  # 0
    ruleset.add(Not(And((concept("a"), concept("b")))), 2.0)  # 1
    ruleset.add(Implies(category("y1"), Not(concept("c"))), 2.0)  # 2
    return FactorGraph(ruleset, device="cpu")


def test_repaired_rules_are_violated_before_and_satisfied_after():
    graph = small_graph()
    probs = torch.tensor([[0.2, 0.1, 0.9], [0.9, 0.8, 0.1]])
    rectified = torch.tensor([[1.0, 0.1, 0.9], [0.9, 0.0, 0.1]])
    repaired = repaired_rules(graph, probs, rectified, torch.tensor([0, 1]))
    # sample 0 (y0): a off breaks rule 0, turning it on repairs it; rule 2 is about y1 only
    # sample 1 (y1): a and b both on break rule 1, b off repairs it
    assert repaired.tolist() == [[True, False, False], [False, True, False]]


def test_shown_concepts_put_intervened_first_when_there_are_many():
    probs = np.linspace(0.0, 1.0, 20)
    mask = np.zeros(20, bool)
    mask[[2, 5]] = True
    assert shown_concepts(probs[:5], mask[:5]).tolist() == [0, 1, 2, 3, 4]
    assert shown_concepts(probs, mask, limit=4).tolist() == [5, 2, 19, 18]


def test_plot_rectified_labels_concepts_and_lists_the_repaired_rule():
    graph = small_graph()
    probs = torch.tensor([[0.2, 0.1, 0.9]])
    result = Rectifier(graph).rectify(probs, torch.tensor([0]))
    assert result.mask[0].tolist() == [True, False, False]
    ax = Figure().add_subplot()
    plot_rectified(ax, graph, probs, result, torch.tensor([0]), 0)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["* a", "b", "c"]
    assert ax.get_xlabel() and "flagged" in ax.get_title()
    assert any("label(y0) => active(a)" in t.get_text() for t in ax.texts)
    assert ax.get_legend() is not None
