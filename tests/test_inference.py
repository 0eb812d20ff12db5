"""The inference engine against brute force: every route and query, evidence, the marginal
strategy, and a tiny concept model trained end to end through the RuleLayer."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from again_mln.again.graph import FactorGraph
from again_mln.mln.inference import ROUTES, log_partition, map_assignment, marginals, max_score
from again_mln.again.evidence import network_evidence
from again_mln.again.layer import RuleLayer
from again_mln.again.rectifier import Rectifier
from rulesets import all_assignments, brute_force_scores, rulesets


def _brute(ruleset, graph, y, evidence):
    """(objective (N, A), assignments (A, M)) of S(c, y_n) + evidence_n(c) over all assignments."""
    a = all_assignments(len(ruleset.concepts))
    scores = brute_force_scores(ruleset, graph.hard_weight)[:, y].T  # (N, A)
    extra = torch.where(a.bool(), evidence[:, None, :, 1], evidence[:, None, :, 0]).sum(-1)  # (N, A)
    return scores + extra, a


@settings(max_examples=30, deadline=None)
@given(rulesets(), st.integers(0, 1000))
def test_every_route_and_query_equals_brute_force_with_evidence(ruleset, seed):
    graph = FactorGraph(ruleset).double()
    generator = torch.Generator().manual_seed(seed)
    n, m, k = 5, len(ruleset.concepts), len(ruleset.categories)
    y = torch.randint(0, k, (n,), generator=generator)
    evidence = torch.randn(n, m, 2, generator=generator, dtype=torch.float64)
    evidence[0, 0, 0] = -math.inf  # the first sample observes concept 0 = 1
    objective, a = _brute(ruleset, graph, y, evidence)
    posterior = torch.softmax(objective, 1) @ a.double()
    view = graph.factor_view()
    for route in ROUTES:
        if route in ("auto", "eliminate", "enumerate"):
            torch.testing.assert_close(log_partition(view, y, evidence, route), torch.logsumexp(objective, 1))
            torch.testing.assert_close(marginals(view, y, evidence, route), posterior)
        torch.testing.assert_close(max_score(view, y, evidence, route), objective.max(1).values)
        chosen = map_assignment(view, y, evidence, route)
        reached = objective.gather(1, (chosen * (1 << torch.arange(m - 1, -1, -1))).sum(1, keepdim=True)).squeeze(1)
        torch.testing.assert_close(reached, objective.max(1).values)
    assert marginals(view, y, evidence)[0, 0].item() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(rulesets(), st.integers(0, 1000), st.sampled_from([0.0, 1.0, 2.5]))
def test_marginal_strategy_is_the_brute_force_posterior(ruleset, seed, lam):
    graph = FactorGraph(ruleset)
    generator = torch.Generator().manual_seed(seed)
    n, m, k = 8, len(ruleset.concepts), len(ruleset.categories)
    y = torch.randint(0, k, (n,), generator=generator)
    probs = torch.rand(n, m, generator=generator).clamp(0.02, 0.98)
    result = Rectifier(graph, "marginal", lam=lam, threshold=1.0).rectify(probs, y)
    assert result.flagged.all()
    objective, a = _brute(ruleset, graph, y, network_evidence(probs.double(), lam))
    expected = torch.softmax(objective, 1) @ a.double()
    np.testing.assert_allclose(result.rectified.numpy(), expected.numpy(), atol=1e-5)
    assert torch.equal(result.mask, (result.rectified > 0.5) != (probs > 0.5))


def test_marginals_are_differentiable_in_the_evidence():
    from again_mln.again.synthetic import random_ruleset

    graph = FactorGraph(random_ruleset(5, 2, category_rules=6, concept_rules=5, seed=0)).double()
    probs = torch.rand(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).clamp(0.05, 0.95)
    layer = RuleLayer(graph, lam=1.0)
    y = torch.tensor([0, 1, 0])
    assert torch.autograd.gradcheck(lambda p: layer(p, y), (probs.requires_grad_(),))


def test_a_tiny_concept_model_trains_end_to_end_through_the_rule_layer():
    """x -> concept logits -> sigmoid -> RuleLayer (posterior marginals) -> category head."""
    from again_mln.again.synthetic import random_ruleset

    torch.manual_seed(0)
    ruleset = random_ruleset(6, 3, category_rules=12, concept_rules=6, seed=2)
    graph = FactorGraph(ruleset)
    layer = RuleLayer(graph, lam=1.0, threshold=1.0)
    encoder, head = torch.nn.Linear(4, 6), torch.nn.Linear(6, 3)
    x = torch.randn(256, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=0.05)

    def loss_value() -> torch.Tensor:
        rectified = layer(torch.sigmoid(encoder(x)), y)
        return torch.nn.functional.cross_entropy(head(rectified), y)

    first = loss_value().item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = loss_value()
        loss.backward()
        assert encoder.weight.grad.abs().sum() > 0  # gradients cross the rules to the encoder
        optimizer.step()
    assert loss_value().item() < 0.7 * first


def test_graph_is_a_module_that_moves_and_saves():
    from again_mln.again.synthetic import random_ruleset

    graph = FactorGraph(random_ruleset(4, 2, category_rules=4, concept_rules=3, seed=0))
    state = graph.state_dict()
    assert "weight" in state and "factor_truth" in state
    other = FactorGraph(random_ruleset(4, 2, category_rules=4, concept_rules=3, seed=0))
    with torch.no_grad():
        other.weight.mul_(2)
    before = other.unary.clone()
    other.load_state_dict(state)
    assert not torch.equal(other.unary, before) and torch.equal(other.unary, graph.unary)
    assert "concepts=4" in repr(graph) and graph.double().unary.dtype == torch.float64
    with pytest.raises(Exception):
        graph.to("tpu")
