"""Native weight learning: exact log Z routes, marginals, recovery of known weights, validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from again_mln.errors import AgainError
from again_mln.mln.inference import log_partition, marginals
from again_mln.again.graph import FactorGraph
from again_mln.again.learning import check_data, exact_route, learn_weights, read_data
from again_mln.again.logic import And, Equiv, Implies, Not, Or, RuleSet, category, concept
from learning_models import all_assignments, exact_sample, random_ruleset


def known_model() -> RuleSet:
    """A small model whose weights are all identifiable from (concepts, category) data."""
    A, B, C, D = (concept(n) for n in "ABCD")
    Y0, Y1, Y2 = (category(n) for n in ("Y0", "Y1", "Y2"))
    ruleset = RuleSet("ABCD", ("Y0", "Y1", "Y2"))
    for formula, weight in [
        (Implies(Y0, A), 1.5), (Implies(Y1, Not(B)), 1.0), (Implies(Y2, C), 2.0), (Implies(Y0, D), 0.8),
        (Equiv(A, B), 0.7), (Not(And((C, D))), 1.2), (Or((A, Not(C), D)), 0.5),
    ]:
        ruleset.add(formula, weight)
    return ruleset


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contraction_enumeration_and_the_graph_agree_on_log_z(seed):
    graph = FactorGraph(random_ruleset(seed, num_concepts=6, num_rules=12))
    view = graph.double().factor_view()
    expected = log_partition(view)
    torch.testing.assert_close(log_partition(view, route="eliminate"), expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(log_partition(view, route="enumerate"), expected, rtol=1e-9, atol=1e-9)


def test_marginals_equal_brute_force():
    ruleset = random_ruleset(4, num_concepts=5, num_rules=10)
    graph = FactorGraph(ruleset)
    a = all_assignments(5)
    K = len(ruleset.categories)
    scores = graph.score(a.repeat(K, 1), torch.arange(K).repeat_interleave(len(a))).view(K, -1)
    brute = torch.softmax(scores.double(), 1) @ a.double()  # (K, M)
    for route in ("eliminate", "enumerate"):
        torch.testing.assert_close(marginals(graph.factor_view(), route=route).double(), brute, atol=1e-5, rtol=0)


def test_contraction_is_exact_beyond_enumeration_for_a_chain():
    names = [f"C{m}" for m in range(40)]
    ruleset = RuleSet(names, ("Y",))
    for a, b in zip(names, names[1:]):
        ruleset.add(Equiv(concept(a), concept(b)), 1.0)
    graph = FactorGraph(ruleset)
    assert exact_route(graph) == "eliminate"
    # a chain of 39 equivalences: Z = 2 * (1 + e)^39
    torch.testing.assert_close(log_partition(graph.double().factor_view()), torch.tensor([np.log(2) + 39 * np.log1p(np.e)], dtype=torch.float64))


@pytest.mark.parametrize("method", ["cll", "pll"])
def test_weights_are_recovered_from_20000_exact_samples(method):
    truth = known_model()
    concepts, categories = exact_sample(truth, 20_000, seed=0)
    start = truth.with_weights([0.0] * len(truth.rules))
    result = learn_weights(start, concepts, categories, method, progress=False)
    assert result.converged, result.message
    learned = np.array([r.weight for r in result.ruleset.rules])
    assert np.abs(learned - [r.weight for r in truth.rules]).max() < 0.15


def test_fixed_and_hard_rules_keep_their_weights_and_text():
    ruleset = known_model()
    ruleset.rules[0].fixed = True
    ruleset.rules[0].comments = ("kept",)
    ruleset.add(Not(And((concept("A"), concept("B"), concept("C"), concept("D")))), None)
    concepts, categories = exact_sample(known_model(), 500, seed=1)
    keep = concepts.sum(1) < 4
    learned = learn_weights(ruleset, concepts[keep], categories[keep], "cll", progress=False).ruleset
    assert learned.rules[0].weight == 1.5 and learned.rules[0].fixed and learned.rules[0].comments == ("kept",)
    assert learned.rules[-1].hard and [str(r.formula) for r in learned.rules] == [str(r.formula) for r in ruleset.rules]
    with pytest.raises(AgainError, match="hard rule"):
        learn_weights(ruleset, np.ones((3, 4), np.uint8), np.zeros(3, np.int64), progress=False)


def test_auto_falls_back_to_pseudo_likelihood_when_exact_is_out_of_reach():
    names = [f"C{m}" for m in range(30)]
    ruleset = RuleSet(names, ("Y0", "Y1"))
    for i, a in enumerate(names):
        ruleset.add(Implies(category(f"Y{i % 2}"), concept(a)), 1.0)
        for b in names[i + 1:]:
            ruleset.add(Not(And((concept(a), concept(b)))), 0.1)
    rng = np.random.default_rng(0)
    concepts, categories = rng.integers(0, 2, (50, 30)), rng.integers(0, 2, 50)
    assert learn_weights(ruleset, concepts, categories, "auto", max_iter=3, progress=False).method == "pll"
    with pytest.raises(AgainError, match="method pll"):
        learn_weights(ruleset, concepts, categories, "cll", progress=False)


@pytest.mark.parametrize(
    "concepts, categories, message",
    [
        (np.zeros((4, 3)), np.zeros(4, int), r"shape \(N, 4\)"),
        (np.full((4, 4), 2), np.zeros(4, int), "0/1"),
        (np.zeros((4, 4)), np.zeros(3, int), r"shape \(4,\)"),
        (np.zeros((4, 4)), np.array([0, 1, 2, 3]), "ids in 0..2"),
        (np.zeros((2, 4)), np.array(["Y0", "Y9"]), "unknown category name"),
    ],
)
def test_data_that_does_not_match_the_rules_is_a_clear_error(concepts, categories, message):
    with pytest.raises(AgainError, match=message):
        check_data(known_model(), concepts, categories)


def test_read_data_checks_keys_and_names(tmp_path):
    ruleset = known_model()
    good = tmp_path / "good.npz"
    np.savez(good, concepts=np.eye(4, dtype=np.uint8), categories=np.array(["Y0", "Y1", "Y2", "Y0"]), concept_names=np.array(list("ABCD")))
    concepts, categories = read_data(good, ruleset)
    assert categories.tolist() == [0, 1, 2, 0] and concepts.dtype == np.uint8
    # saved names put columns and category ids into the rules' order, as for `rectify`
    shuffled = tmp_path / "shuffled.npz"
    np.savez(shuffled, concepts=np.eye(4, dtype=np.uint8)[:, [3, 2, 1, 0]], concept_names=np.array(list("DCBA")),
             categories=np.array([1, 0, 2, 1]), category_names=np.array(["Y1", "Y0", "Y2"]))
    concepts, categories = read_data(shuffled, ruleset)
    assert concepts.tolist() == np.eye(4).tolist() and categories.tolist() == [0, 1, 2, 0]
    np.savez(tmp_path / "names.npz", concepts=np.eye(4), categories=np.zeros(4, int), concept_names=np.array(list("ABCE")))
    with pytest.raises(AgainError, match="concept 'D' of the rules is missing"):
        read_data(tmp_path / "names.npz", ruleset)
    np.savez(tmp_path / "ids.npz", concepts=np.eye(4), categories=np.array([0, 1, 5, 0]), category_names=np.array(["Y0", "Y1"]))
    with pytest.raises(AgainError, match="must index the saved category_names"):
        read_data(tmp_path / "ids.npz", ruleset)
    np.savez(tmp_path / "keys.npz", X=np.eye(4))
    with pytest.raises(AgainError, match="expected an array named 'concepts'"):
        read_data(tmp_path / "keys.npz", ruleset)
