"""The bridge: model -> concept probabilities -> detection -> rectification -> re-prediction."""
import numpy as np
import pytest
import torch
from torch import nn

from again_mln.datasets.base import ConceptDataset
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.again.logic import Implies, Rule, RuleSet, category, concept
from again_mln.models import ConceptBottleneckModel
from again_mln.models.bridge import RectifiedConceptModel
from again_mln.again.rectifier import Rectifier


def tiny_model():
    """Inputs are concept logits; the head scores y0 = a + 2b and y1 = b."""
    head = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, 1.0]]))
    return ConceptBottleneckModel(nn.Identity(), head, ["a", "b"], ["y0", "y1"])


def graph():
    rules = RuleSet(("a", "b"), ("y0", "y1"), [Rule(Implies(category("y0"), concept("a")), 3.0)])
    return FactorGraph(rules, device="cpu")


def logits(probs):
    return torch.logit(torch.tensor(probs))


def test_flagged_explanations_are_rectified_and_repredicted():
    bridge = RectifiedConceptModel(tiny_model(), Rectifier(graph(), "switch", threshold=0.9))
    out = bridge(logits([[0.2, 0.9], [0.8, 0.9]]))  # both predicted y0; only the first breaks the rule
    assert out.flagged.tolist() == [True, False]
    assert out.mask.tolist() == [[True, False], [False, False]]
    torch.testing.assert_close(out.rectified, torch.tensor([[1.0, 0.9], [0.8, 0.9]]))
    torch.testing.assert_close(out.rectified_logits, bridge.model.category_head(out.rectified))
    torch.testing.assert_close(out.category_logits, bridge.model.category_head(out.concept_probs))


def test_predict_over_a_dataset_in_batches():
    x = logits([[0.2, 0.9], [0.8, 0.9], [0.1, 0.95]])
    data = ConceptDataset(x, torch.tensor([[1.0, 1], [1, 1], [1, 1]]), torch.tensor([0, 0, 0]), ["a", "b"],
                          ["y0", "y1"])
    arrays = RectifiedConceptModel(tiny_model(), Rectifier(graph())).predict(data, batch_size=2)
    assert arrays["flagged"].tolist() == [True, False, True]
    np.testing.assert_allclose(arrays["rectified_concepts"][:, 0], [1.0, 0.8, 1.0], rtol=1e-6)
    assert arrays["rectified_categories"].shape == (3, 2) and arrays["true_categories"].tolist() == [0, 0, 0]


def test_names_must_match_the_rules():
    model = ConceptBottleneckModel(nn.Identity(), nn.Linear(2, 2), ["b", "a"], ["y0", "y1"])
    with pytest.raises(AgainError, match="concept names differ"):
        RectifiedConceptModel(model, Rectifier(graph()))


def test_mixture_in_the_bridge_reads_the_category_distribution():
    """a = 0.2, b = 0.9: the head says y0 with p = 0.75 (logits 2.0 and 0.9); y1 explains the
    concepts (no rule), so mixture scores log(0.75 e^-3 + 0.25) = -1.25 and passes at a cutoff of
    -2 what the paper's detector at the argmax flags."""
    x = logits([[0.2, 0.9]])
    paper = RectifiedConceptModel(tiny_model(), Rectifier(graph(), "switch", "paper", threshold=0.9))(x)
    mixture = RectifiedConceptModel(tiny_model(), Rectifier(graph(), "switch", "mixture", target_sr=0.5))
    mixture.rectifier.cutoffs.fill_(-2.0)  # as if calibrated: flag a score of at most -2
    out = mixture(x)
    assert paper.flagged.tolist() == [True] and out.flagged.tolist() == [False]
    p = torch.softmax(out.category_logits.double(), 1)[0]
    score = torch.log(p[0] * torch.exp(torch.tensor(-3.0, dtype=torch.float64)) + p[1])
    torch.testing.assert_close(mixture.rectifier.raw_scores(out.concept_probs, out.category_logits)[0], score)
    torch.testing.assert_close(out.rectified_logits, mixture.model.category_head(out.rectified))
