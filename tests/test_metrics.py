"""The evaluation metrics and the calibration of d on hand-made cases."""
import math

import numpy as np
import pytest
import torch

from again_mln.again.calibration import success_rate
from again_mln.again.rectifier import Rectifier
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.again.logic import And, Implies, Not, Rule, RuleSet, category, concept
from again_mln.evaluation.metrics import e_acc, identification_rate, lsm, lsm_per_sample, p_acc


def graph(extra=()):
    """y0 => a (w 2); !(a ^ b) (w 1); y1 => !a (w 3)."""
    rules = RuleSet(("a", "b"), ("y0", "y1"), [
        Rule(Implies(category("y0"), concept("a")), 2.0),
        Rule(Not(And((concept("a"), concept("b")))), 1.0),
        Rule(Implies(category("y1"), Not(concept("a"))), 3.0),
        *extra,
    ])
    return FactorGraph(rules, device="cpu")


def test_p_acc_and_e_acc():
    assert p_acc(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])) == 0.75
    probs = np.array([[0.9, 0.2, 0.6], [0.4, 0.51, 0.1]])
    truth = np.array([[1, 0, 0], [1, 1, 0]])
    assert e_acc(probs, truth) == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_concept_dependence_leaves_out_rules_decided_by_the_category():
    assert graph().concept_dependent().tolist() == [[True, True, False], [False, True, True]]


def test_lsm_counts_only_rules_that_depend_on_the_concepts():
    g = graph()
    concepts = torch.tensor([[0.2, 0.9], [0.8, 0.7], [0.9, 0.9], [0.1, 0.1]])
    categories = torch.tensor([0, 0, 1, 1])
    expected = [1 / 3,  # y0: a broken (2), a ^ b fine (1)
                2 / 3,  # y0: a fine, the exclusion broken
                0.0,  # y1: both counted rules broken
                1.0]  # y1: both hold
    torch.testing.assert_close(lsm_per_sample(g, concepts, categories), torch.tensor(expected))
    assert lsm(g, concepts, categories) == pytest.approx(sum(expected) / 4)


def test_negative_weights_count_as_the_negated_rule():
    g = graph([Rule(concept("b"), -4.0)])  # weight -4 on b == weight 4 on !b
    value = lsm_per_sample(g, torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    assert value.item() == pytest.approx((2 + 1 + 4) / 7)


def test_a_sample_without_counted_rules_scores_one():
    rules = RuleSet(("a",), ("y0", "y1"), [Rule(Implies(category("y0"), concept("a")), 1.0)])
    g = FactorGraph(rules, device="cpu")
    assert lsm_per_sample(g, torch.tensor([[0.0]]), torch.tensor([1])).item() == 1.0


def test_ir_and_sr():
    assert identification_rate(np.array([True, True, False, True])) == 0.75
    assert success_rate(np.array([True, False, False, False])) == 0.75


def test_calibration_meets_the_target_with_the_largest_d():
    g = graph()
    rng = np.random.default_rng(0)
    probs = torch.tensor(rng.random((200, 2)), dtype=torch.float32)
    categories = torch.tensor(rng.integers(0, 2, 200))
    for target in (0.5, 0.8, 0.98, 0.999):
        rectifier = Rectifier(g, "map", target_sr=target).fit(probs, categories)
        assert success_rate(rectifier.detect(probs, categories)) >= target
        cutoff = float(rectifier.cutoffs[0])
        assert cutoff <= 0.0 and (rectifier.cutoffs == cutoff).all()  # d = exp(cutoff) <= 1, one for all
        margins = rectifier.raw_scores(probs, categories)
        stricter = min(0.0, float(margins[margins > cutoff].min()) + 1e-3)  # the next passing score fails too
        if stricter < 0.0:
            assert success_rate(margins <= stricter) < target


def test_calibration_rejects_bad_targets():
    with pytest.raises(AgainError, match="target SR"):
        Rectifier(graph(), target_sr=0.0)
    with pytest.raises(AgainError, match=r"target SR must lie in \(0, 1\)"):
        Rectifier(graph(), target_sr=1.0)


def test_auroc_on_hand_made_scores():
    from again_mln.again.calibration import auroc

    assert auroc([3.0, 2.0], [1.0, 0.0]) == 1.0  # every attacked explanation less plausible
    assert auroc([0.0, 1.0], [2.0, 3.0]) == 0.0
    assert auroc([1.0, 1.0], [1.0]) == 0.5  # ties count half
    assert auroc([3.0, 2.0, 1.0], [2.0, 1.0, 0.0]) == pytest.approx(7 / 9)
    with pytest.raises(AgainError, match="AUROC"):
        auroc([], [1.0])


def test_auroc_standard_error_matches_the_spread_of_repeated_draws():
    from again_mln.again.calibration import auroc, auroc_stderr

    assert auroc_stderr(0.5, 1, 1) == pytest.approx(0.5)
    n = 300  # at 0.5 it is the Mann-Whitney null spread sqrt((n1 + n2 + 1) / (12 n1 n2)), up to O(1/n)
    assert auroc_stderr(0.5, n, n) == pytest.approx(math.sqrt((2 * n + 1) / (12 * n * n)), rel=0.01)
    assert auroc_stderr(1.0, n, n) == 0.0
    rng = np.random.default_rng(0)
    draws = [auroc(rng.normal(1.5, 1, 200), rng.normal(0, 1, 200)) for _ in range(400)]
    value = float(np.mean(draws))
    assert auroc_stderr(value, 200, 200) == pytest.approx(np.std(draws, ddof=1), rel=0.15)
    with pytest.raises(AgainError, match="standard error"):
        auroc_stderr(0.7, 0, 5)


def test_ir_at_sr_reads_the_operating_point_off_the_clean_scores():
    from again_mln.evaluation.metrics import ir_at_sr, sr_cutoff

    clean = [4.0, 3.0, 2.0, 1.0]
    assert sr_cutoff(clean, 0.75) == 2.0 and sr_cutoff(clean, 1.0) == 1.0 and sr_cutoff(clean, 0.2) == 4.0
    assert ir_at_sr(clean, [2.0, 1.5, 0.0, 5.0], 0.75) == 0.5  # 1.5 and 0.0 fall below 2; a tie passes
    assert ir_at_sr(clean, [0.5, 0.9], 1.0) == 1.0
    with pytest.raises(AgainError, match="SR cutoff"):
        sr_cutoff(clean, 0.0)


def test_roc_curve_and_its_grid():
    from again_mln.evaluation.metrics import roc_curve, roc_on_grid

    fpr, tpr = roc_curve([1.0, 0.0], [0.0, -1.0])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0] and tpr.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert roc_on_grid([1.0, 0.0], [0.0, -1.0], [0.0, 0.25, 0.5, 1.0]).tolist() == [0.5, 0.5, 1.0, 1.0]
    assert roc_on_grid([1.0, 2.0], [-1.0, -2.0], [0.0]).tolist() == [1.0]  # separable: IR 1 at SR 1


def test_ir_over_changed_explanations():
    from again_mln.evaluation.metrics import ir_changed

    assert ir_changed([True, False, True, False], [True, True, False, False]) == 0.5
    assert ir_changed(torch.tensor([True, False]), torch.tensor([False, False])) is None
