"""The P(c|y) / cosine / never-together estimator, and the EWS builder on the simulator."""
import numpy as np
import pytest

from again_mln.datasets.ews import news_concept_names
from again_mln.errors import AgainError
from again_mln.rulegen.estimate import EstimateThresholds, concept_statistics, estimate_rules
from again_mln.rulegen.ews import build_ews_rules
from again_mln.rulegen.kinds import CATEGORY_COEXISTENCE, CATEGORY_EXCLUSION, CONCEPT_COEXISTENCE, CONCEPT_EXCLUSION
from again_mln.rulegen.summary import summarize


def _toy():
    """Category 0: A always, B never; category 1: B always, A never; C = A; D seen 3 times."""
    y = np.repeat([0, 1], 50)
    a = (y == 0).astype(int)
    d = np.zeros(100, int)
    d[[0, 50, 51]] = 1
    return np.stack([a, 1 - a, a, d], axis=1), y


def test_statistics_are_counts():
    x, y = _toy()
    stats = concept_statistics(x, y, 3)
    assert stats.category_counts.tolist() == [50, 50, 0]
    assert stats.p_concept[0].tolist()[:3] == [1.0, 0.0, 1.0] and np.isnan(stats.p_concept[2]).all()
    assert stats.together[0, 2] == 50 and stats.together[0, 1] == 0


def test_rules_from_a_toy_table():
    x, y = _toy()
    rules = estimate_rules(x, y, ["A", "B", "C", "D"], ["Y0", "Y1", "Y2"])
    text = {str(r.formula) for r in rules.rules}
    assert 'label(Y0) => active(A)' in text and 'label(Y0) => !active(B)' in text
    assert 'active(A) <=> active(C)' in text and '!(active(A) ^ active(B))' in text
    assert 'label(Y0) => !active(D)' in text  # P(D | Y0) = 0.02
    assert not any("Y2" in t or ("D)" in t and "label" not in t) for t in text)  # no samples / too rare
    assert any("no category-concept rules" in h and "Y2" in h for h in rules.header)
    summary = summarize(rules)
    assert summary.count(CATEGORY_COEXISTENCE) == 3 and summary.count(CATEGORY_EXCLUSION) == 5
    assert summary.count(CONCEPT_COEXISTENCE) == 1 and summary.count(CONCEPT_EXCLUSION) == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(p_high=1.5), "p-high = 1.5 is out of range"),
    (dict(p_low=0.9, p_high=0.8), "p-low = 0.9 must be below p-high = 0.8"),
    (dict(cos_above=-0.1), "cos-above = -0.1 is out of range"),
    (dict(min_support=0), "min-support = 0 is out of range"),
])
def test_thresholds_out_of_range(kwargs, message):
    with pytest.raises(AgainError, match=message):
        EstimateThresholds(**kwargs)


def test_bad_arrays():
    x, y = _toy()
    with pytest.raises(AgainError, match="binary"):
        estimate_rules(x * 2, y, ["A", "B", "C", "D"], ["Y0", "Y1"])
    with pytest.raises(AgainError, match=r"integers in \[0, 0\]"):
        estimate_rules(x, y, ["A", "B", "C", "D"], ["Y0"])
    with pytest.raises(AgainError, match=r"expected shape \(N, 3\)"):
        estimate_rules(x, y, ["A", "B", "C"], ["Y0", "Y1"])


def test_ews_rules_from_the_simulator():
    rules = build_ews_rules(n_samples=4000, seed=0)
    assert list(rules.concepts) == news_concept_names() and len(rules.concepts) == 22
    assert list(rules.categories) == [f"ews_{k}" for k in range(16)]
    text = {str(r.formula) for r in rules.rules}
    assert '!(active("heart_rate_between_111_130") ^ active("heart_rate_ge_131"))' in text
    assert 'label("ews_0") => !active("heart_rate_ge_131")' in text
    assert build_ews_rules(n_samples=4000, seed=0).rules == rules.rules  # deterministic
    with pytest.raises(AgainError, match="n-samples = 0"):
        build_ews_rules(n_samples=0)
