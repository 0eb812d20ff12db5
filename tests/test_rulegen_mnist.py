"""Synthetic-MNIST rules from the category-to-digits mapping."""
import pytest

from again_mln.errors import AgainError
from again_mln.rulegen.kinds import CATEGORY_COEXISTENCE, CATEGORY_EXCLUSION, CONCEPT_COEXISTENCE, CONCEPT_EXCLUSION
from again_mln.rulegen.mnist import build_mnist_rules
from again_mln.rulegen.summary import summarize


def test_rules_from_the_shipped_mapping():
    rules = build_mnist_rules()
    summary = summarize(rules)
    assert summary.count(CATEGORY_COEXISTENCE) == 12 * 4 and summary.count(CATEGORY_EXCLUSION) == 12 * 6
    # 8 and 9 appear in exactly the same four categories; every other pair shares at least one.
    assert summary.count(CONCEPT_COEXISTENCE) == 1 and summary.count(CONCEPT_EXCLUSION) == 0
    assert str(rules.rules[-1].formula) == 'active("digit_8") <=> active("digit_9")'
    assert str(rules.rules[0].formula) == 'label("cat_00") => active("digit_0")'


def test_never_sharing_digits_are_exclusive(tmp_path):
    mapping = tmp_path / "map.txt"
    mapping.write_text("A: 0 1 2 3\nB: 0 1 2 4\nC: 5 6 7 8\n")
    text = {str(r.formula) for r in build_mnist_rules(mapping).rules}
    assert '!(active("digit_0") ^ active("digit_5"))' in text
    assert 'active("digit_0") <=> active("digit_1")' in text
    assert not any("digit_9" in t and ("<=>" in t or "^" in t) for t in text)  # 9 never appears
    assert not any('active("digit_3") <=> active("digit_4")' in t for t in text)


def test_drop_fraction_is_random_but_seeded():
    full = build_mnist_rules()
    dropped = build_mnist_rules(drop_fraction=0.25, seed=3)
    assert len(dropped.rules) == len(full.rules) - round(0.25 * len(full.rules))
    assert [r.formula for r in dropped.rules] == [r.formula for r in build_mnist_rules(drop_fraction=0.25, seed=3).rules]
    assert [r.formula for r in dropped.rules] != [r.formula for r in build_mnist_rules(drop_fraction=0.25, seed=4).rules]
    assert any("dropped at random: 0.25" in h for h in dropped.header)
    with pytest.raises(AgainError, match=r"drop-fraction = 1 is out of range"):
        build_mnist_rules(drop_fraction=1.0)


def test_bad_mapping(tmp_path):
    mapping = tmp_path / "map.txt"
    mapping.write_text("A: 0 1 2\n")
    with pytest.raises(AgainError, match="map.txt:1"):
        build_mnist_rules(mapping)
