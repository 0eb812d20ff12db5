"""FactorGraph: scores, exact log Z and S_max, detection — against hand calculations and brute force."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings

from again_mln.errors import AgainError
from again_mln.again.compiled import CompiledRules
from again_mln.again.graph import FactorGraph
from again_mln.again.rectifier import Rectifier
from again_mln.mln.inference import log_partition, map_assignment, max_score
from again_mln.again.mlnfile import parse_mln
from rulesets import all_assignments, brute_force_scores, rulesets

# The paper's two-concept example (section 4.2): concepts A and B, assignment {A=1, B=0}.
TWO_CONCEPTS = """concept = {A, B}
category = {Y, Z}
active(concept)
label(category!)
1.0 label(Y) => active(A)
2.0 active(A) <=> active(B)
"""


def test_two_concept_example_by_hand():
    graph = FactorGraph(parse_mln(TWO_CONCEPTS))
    # Under category Y the four assignments score: {0,0}: 0+2, {0,1}: 0+0, {1,0}: 1+0, {1,1}: 1+2.
    c = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = torch.zeros(4, dtype=torch.long)
    assert graph.score(c, y).tolist() == [2.0, 0.0, 1.0, 3.0]
    z = math.exp(2) + math.exp(0) + math.exp(1) + math.exp(3)
    assert log_partition(graph.factor_view())[0].item() == pytest.approx(math.log(z), abs=1e-5)
    log_prob = graph.score(c[2:3], y[:1]) - log_partition(graph.factor_view(), y[:1])
    assert log_prob.exp().item() == pytest.approx(math.e / z, abs=1e-6)  # P({1,0} | Y) = 0.0871
    assert CompiledRules(graph).s_max.tolist() == [3.0, 3.0]  # under Z the first rule holds whatever A is: 1 + 2
    # Eq. 3: {1,0} has P = e^1/Z against P_max = e^3/Z, so it fails for d = 0.9 and passes for d = e^-2.1
    probs = torch.tensor([[0.8, 0.3]])
    assert Rectifier(graph, threshold=0.9).detect(probs, torch.tensor([0])).item() is True
    assert Rectifier(graph, threshold=math.exp(-2.1)).detect(probs, torch.tensor([0])).item() is False
    assert Rectifier(graph, threshold=0.9).detect(torch.tensor([[0.8, 0.7]]), torch.tensor([0])).item() is False


@settings(max_examples=40, deadline=None)
@given(rulesets())
def test_scores_log_partition_and_s_max_equal_brute_force(ruleset):
    graph = FactorGraph(ruleset)
    expected = brute_force_scores(ruleset, graph.hard_weight)  # (2**M, K)
    assignments = all_assignments(len(ruleset.concepts))
    K = len(ruleset.categories)
    ours = graph.score(assignments.repeat(K, 1), torch.arange(K).repeat_interleave(len(assignments)))
    np.testing.assert_allclose(ours.numpy(), expected.T.reshape(-1).numpy(), atol=1e-3)
    np.testing.assert_allclose(log_partition(graph.factor_view()).numpy(), torch.logsumexp(expected, 0).numpy(), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(CompiledRules(graph).s_max.numpy(), expected.max(0).values.numpy(), atol=1e-3)
    milp_max = max_score(graph.factor_view(), route="milp").numpy()
    milp_argmax = map_assignment(graph.factor_view(), route="milp")
    np.testing.assert_allclose(milp_max, expected.max(0).values.numpy(), atol=1e-3)
    # the integer program's maximiser really scores its maximum
    reached = graph.score(torch.as_tensor(milp_argmax), torch.arange(K))
    np.testing.assert_allclose(reached.numpy(), milp_max, atol=1e-3)
    truth = graph.rule_truth(assignments.repeat(K, 1), torch.arange(K).repeat_interleave(len(assignments)))
    np.testing.assert_allclose((truth @ graph.weight).numpy(), ours.numpy(), atol=1e-3)


def test_large_graphs_use_the_integer_program_and_agree_with_enumeration():
    from again_mln.again.synthetic import random_ruleset

    ruleset = random_ruleset(12, 4, category_rules=20, concept_rules=15, seed=3)
    graph = FactorGraph(ruleset)
    enumerated = max_score(graph.factor_view(), route="enumerate")
    np.testing.assert_allclose(max_score(graph.factor_view(), route="milp").numpy(), enumerated.numpy(), atol=1e-4)


def test_hard_rules_outweigh_all_soft_rules():
    graph = FactorGraph(parse_mln(TWO_CONCEPTS + "label(Z) => !active(A).\n"))
    assert graph.hard_weight == 4.0
    breaking = graph.score(torch.tensor([[1, 1]]), torch.tensor([1]))
    keeping = graph.score(torch.tensor([[0, 0]]), torch.tensor([1]))
    assert breaking < keeping


def test_bad_inputs_are_rejected():
    graph = FactorGraph(parse_mln(TWO_CONCEPTS))
    with pytest.raises(AgainError, match=r"expected shape \(N, 2\)"):
        graph.score(torch.zeros(3, 5, dtype=torch.long), torch.zeros(3, dtype=torch.long))
    with pytest.raises(AgainError, match="ids must lie in 0..1"):
        graph.score(torch.zeros(1, 2, dtype=torch.long), torch.tensor([2]))
    with pytest.raises(AgainError, match=r"threshold d must lie in \[0, 1\]"):
        Rectifier(graph, threshold=1.5).detect(torch.zeros(1, 2), torch.tensor([0]))
    with pytest.raises(AgainError, match="unknown device"):
        FactorGraph(parse_mln(TWO_CONCEPTS), device="tpu")
