"""The pracmln engine and the cross-checks of the native engine against it.

These need pracmln (``python -m again_mln.engines.install_pracmln``): they skip without it
locally and fail without it in CI. pracmln grounds everything in Python, so models stay tiny.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from again_mln.again import pracmln as engine
from again_mln.engines import pracmln_compat
from again_mln.errors import AgainError
from again_mln.mln.inference import log_partition, marginals
from again_mln.again.graph import FactorGraph
from again_mln.again.learning import learn_weights
from learning_models import exact_sample, random_ruleset, require_pracmln


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pracmln's pyparsing calls


@pytest.fixture
def pracmln():
    require_pracmln()


def test_a_missing_pracmln_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(pracmln_compat.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AgainError, match="python -m again_mln.engines.install_pracmln"):
        pracmln_compat.import_pracmln()


def test_pracmln_imports_without_tkinter(pracmln):
    code = (
        "import sys; sys.modules['tkinter'] = None\n"
        "from again_mln.engines.pracmln_compat import import_pracmln\n"
        "import_pracmln(); from pracmln.mln.base import parse_mln\n"
        "assert sys.modules.get('tkinter') is None, 'the tkinter stub must not outlive the import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_native_exact_marginals_equal_enumeration_ask(pracmln, seed):
    ruleset = random_ruleset(seed, num_concepts=4, num_categories=2, num_rules=7)
    native = marginals(FactorGraph(ruleset).double().factor_view()).numpy()
    np.testing.assert_allclose(native, engine.concept_marginals(ruleset, "exact"), atol=1e-6, rtol=0)


def test_one_conditional_query_and_mcsat_agree_with_native(pracmln):
    ruleset = random_ruleset(5, num_concepts=4, num_categories=2, num_rules=6)
    graph = FactorGraph(ruleset).double()
    c = np.array([1, 0, 1, 1])
    y = torch.tensor([1])
    native = (graph.score(torch.tensor(c[None]), y) - log_partition(graph.factor_view(), y)).exp().item()
    assert engine.explanation_probability(ruleset, c, 1) == pytest.approx(native, abs=1e-6)
    sampled = engine.concept_marginals(ruleset, "mcsat", maxsteps=3000, rndseed=0)
    np.testing.assert_allclose(sampled, marginals(graph.factor_view()).numpy(), atol=0.08)


@pytest.mark.parametrize("method, prior", [("cll", None), ("cll", 1.0), ("pll", None)])
def test_native_weights_agree_with_pracmln(pracmln, method, prior):
    truth = random_ruleset(7, num_concepts=4, num_categories=2, num_rules=6)
    concepts, categories = exact_sample(truth, 150, seed=3)
    native = learn_weights(truth, concepts, categories, method, prior_stdev=prior, progress=False)
    reference = engine.learn_weights(truth, concepts, categories, method, prior_stdev=prior)
    difference = np.abs(np.subtract([r.weight for r in native.ruleset.rules], [r.weight for r in reference.rules]))
    assert difference.max() < 0.05, difference
