"""Rule kinds: formulas in both semantics, recognising them again, confidence weights."""
import math

import numpy as np
import pytest

from again_mln.errors import AgainError
from again_mln.again.logic import And, Implies, category, concept
from again_mln.rulegen.kinds import KINDS, SEMANTICS, classify, confidence_weights, kind_formula

EXPECTED = {
    ("category-concept coexistence", "implication"): 'label(Y) => active(A)',
    ("category-concept exclusion", "implication"): 'label(Y) => !active(A)',
    ("concept-concept coexistence", "implication"): 'active(B) <=> active(A)',
    ("concept-concept exclusion", "implication"): '!(active(B) ^ active(A))',
    ("category-concept coexistence", "paper"): 'label(Y) <=> active(A)',
    ("category-concept exclusion", "paper"): '!(label(Y) <=> active(A))',
    ("concept-concept coexistence", "paper"): 'active(B) <=> active(A)',
    ("concept-concept exclusion", "paper"): '!(active(B) <=> active(A))',
}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.label)
@pytest.mark.parametrize("semantics", SEMANTICS)
def test_formula_text_and_classification(kind, semantics):
    first = "Y" if kind.has_category else "B"
    formula = kind_formula(kind, first, "A", semantics)
    assert formula.to_mln() == EXPECTED[(kind.label, semantics)]
    assert classify(formula) == kind
    if not kind.has_category:  # either atom order is recognised
        assert classify(kind_formula(kind, "A", "B", semantics)) == kind


def test_other_formulas_are_not_classified():
    assert classify(Implies(concept("A"), concept("B"))) is None
    assert classify(Implies(concept("A"), category("Y"))) is None
    assert classify(Implies(category("Y"), And((concept("A"), concept("B"))))) is None


def test_unknown_semantics():
    with pytest.raises(AgainError, match="unknown semantics"):
        kind_formula(KINDS[0], "Y", "A", "literal")


def test_confidence_weights_are_clipped_log_odds():
    w = confidence_weights(np.array([0.0, 0.5, 0.87, 1.0]))
    assert w[0] == 0.0 and w[1] == 0.0
    assert w[2] == pytest.approx(math.log(0.87 / 0.13), abs=1e-4)
    assert w[3] == pytest.approx(math.log(99), abs=1e-4)
