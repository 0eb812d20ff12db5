"""Intervention policies on hand-made cases: a concept model whose inputs are its concept logits
(so each case sets the network's beliefs directly), a two-category head and a few rules."""
import itertools
import json
import math

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from again_mln.cli import main
from again_mln.datasets.base import ConceptDataset
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.again.rectifier import Rectifier
from again_mln.evaluation.interventions import (POLICIES, Oracle, Session, curves_table, intervention_curves,
                                                answered_posterior, summarize)
from again_mln.again.logic import Equiv, Implies, RuleSet, category, concept
from again_mln.again.mlnfile import write_mln

CONCEPTS = ["A", "B", "C", "D"]


def ruleset() -> RuleSet:
    """A <=> B <=> C strongly (a chain), D free; category Y1 suggests D."""
    rules = RuleSet(CONCEPTS, ["Y0", "Y1"])
    rules.add(Equiv(concept("A"), concept("B")), 6.0)
    rules.add(Equiv(concept("B"), concept("C")), 6.0)
    rules.add(Implies(category("Y1"), concept("D")), 1.0)
    return rules


def model() -> nn.Module:
    from again_mln.models.cbm import ConceptBottleneckModel

    head = nn.Linear(4, 2)
    with torch.no_grad():  # Y1 iff D is on
        head.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, -4.0], [0.0, 0.0, 0.0, 4.0]]))
        head.bias.copy_(torch.tensor([2.0, -2.0]))
    return ConceptBottleneckModel(nn.Identity(), head, CONCEPTS, ["Y0", "Y1"]).eval()


def dataset(probs: list[list[float]], truth: list[list[int]]) -> ConceptDataset:
    p = torch.tensor(probs)
    concepts = torch.tensor(truth, dtype=torch.float32)
    return ConceptDataset(torch.log(p / (1 - p)), concepts, concepts[:, 3].long(), CONCEPTS, ["Y0", "Y1"])


#: sample 0: the chain is wrong as a whole (all off, truth all on), D confident and right;
#: sample 1: B alone breaks the chain (confidently off, truth on), C is uncertain and right
CASES = dataset([[0.3, 0.3, 0.3, 0.9], [0.9, 0.1, 0.55, 0.3]], [[1, 1, 1, 1], [1, 1, 1, 0]])


def rules(threshold: float = 1.0, lam: float = 1.0) -> Rectifier:
    return Rectifier(FactorGraph(ruleset(), device="cpu"), "marginal", lam=lam, threshold=threshold)


def run(policy: str, data: ConceptDataset = CASES, steps: int = 0, threshold: float = 1.0) -> Session:
    rectifier = rules(threshold)
    net = model()
    session = Session(policy, net, net.encode(data.x), data.concepts, rectifier, torch.Generator().manual_seed(0))
    for _ in range(steps):
        session.step()
    return session


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("k", [0, 1, 2, 4])
def test_oracle_is_asked_exactly_k_times_and_answers_the_truth(policy, k):
    session = run(policy, steps=k)
    assert session.oracle.calls.tolist() == [k, k]
    assert session.answered.sum(1).tolist() == [k, k]  # never the same concept twice
    answered = session.answered
    assert torch.equal(session.concepts[answered], CASES.concepts[answered])


def test_oracle_counts_and_reads_the_truth():
    oracle = Oracle(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert oracle.ask(torch.tensor([1, 1])).tolist() == [True, False]
    assert oracle.ask(torch.tensor([0, 0])).tolist() == [False, True]
    assert oracle.calls.tolist() == [2, 2]


def test_uncertainty_asks_the_probability_closest_to_one_half():
    assert run("uncertainty").choose().tolist() == [0, 2]  # sample 0: a tie, the first wins


def test_rules_ask_about_the_concept_that_breaks_them():
    # sample 1: B disagrees with A and C under A <=> B <=> C; the network is confident about it,
    # so uncertainty would never ask, but the rules say it is the likeliest error
    assert run("rules").choose()[1].item() == 1


def test_random_asks_each_concept_once_in_a_seeded_order():
    session = run("random", steps=4)
    assert session.answered.all()
    again = run("random", steps=2)
    assert torch.equal(again.answered, run("random", steps=2).answered)


def test_rules_rectify_repairs_the_chain_from_one_answer():
    # sample 0: one answer about the chain turns the other two on; uncertainty needs three answers
    rectified = run("rules+rectify", steps=1).concepts
    assert (rectified[0, :3] > 0.5).all()
    assert ((run("uncertainty", steps=1).concepts[0, :3] > 0.5).sum()) <= 1


def test_rules_rectify_leaves_explanations_that_pass_detection_alone():
    session = run("rules+rectify", threshold=0.0)  # d = 0 passes every explanation
    assert torch.equal(session.concepts, session.probs)


def test_posterior_marginals_match_brute_force():
    rectifier = rules(lam=0.7)
    graph = rectifier.graph
    probs = torch.tensor([[0.3, 0.8, 0.6, 0.4], [0.9, 0.2, 0.5, 0.7]])
    y = torch.tensor([0, 1])
    answered = torch.tensor([[False, True, False, False], [False, False, False, False]])
    answers = torch.tensor([[False, False, False, False], [False] * 4])
    lam = 0.7
    got = answered_posterior(rectifier, probs, y, answered, answers)
    assignments = torch.tensor(list(itertools.product([0, 1], repeat=4)))
    for n in range(2):
        log_p = torch.where(assignments.bool(), probs[n].log(), (1 - probs[n]).log()).sum(1)
        weight = (graph.score(assignments, y[n].repeat(16)) + lam * log_p).double()
        allowed = (assignments[:, answered[n]] == answers[n][answered[n]].long()).all(1)
        weight = torch.where(allowed, weight, -math.inf)
        expected = (torch.softmax(weight, 0)[:, None] * assignments).sum(0)
        assert torch.allclose(got[n].double(), expected, atol=1e-5)


def test_curves_have_every_k_and_policy_and_start_together():
    records = intervention_curves(model(), rules(), CASES, POLICIES, 3, seed=1)
    assert [(r["policy"], r["k"]) for r in records] == [(p, k) for p in POLICIES for k in range(4)]
    start = {r["policy"]: r["e_acc"] for r in records if r["k"] == 0}
    assert start["random"] == start["uncertainty"] == start["rules"] == pytest.approx(4 / 8)
    rr = [r["e_acc"] for r in records if r["policy"] == "rules+rectify"]
    uncertainty = [r["e_acc"] for r in records if r["policy"] == "uncertainty"]
    assert rr[0] == pytest.approx(5 / 8)  # the rules repair sample 1's B before any answer
    assert rr[1] == 1.0 and uncertainty[1] == pytest.approx(5 / 8)
    table = curves_table(summarize(records))
    assert "| rules+rectify | " in table and "k=3" in table


def test_bad_arguments_are_one_line_errors():
    graph, net = rules(), model()
    with pytest.raises(AgainError, match="unknown policy 'greedy'"):
        intervention_curves(net, graph, CASES, ["greedy"], 1)
    with pytest.raises(AgainError, match="max-k = 5 must lie in 0..4"):
        intervention_curves(net, graph, CASES, ["random"], 5)


def test_intervene_command_writes_curves_table_and_figure(tmp_path):
    runner = CliRunner()
    checkpoint, rules = tmp_path / "ews.pt", tmp_path / "ews.mln"
    result = runner.invoke(main, ["train", "--dataset", "ews", "--n-train", "300", "--n-test", "40", "--epochs", "1",
                                  "--head-epochs", "2", "--quiet", "--device", "cpu", "-o", str(checkpoint)])
    assert result.exit_code == 0, result.output
    from again_mln.rulegen.ews import build_ews_rules

    write_mln(build_ews_rules(n_samples=300), rules)
    out = tmp_path / "curves.json"
    result = runner.invoke(main, ["intervene", str(checkpoint), "--mln", str(rules), "--attack", "confounding",
                                  "--eps", "16", "--steps", "2", "--max-k", "2", "--policy", "uncertainty,rules+rectify",
                                  "--quiet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    assert {(r["policy"], r["k"], r["condition"]) for r in records} == {
        (p, k, c) for p in ("uncertainty", "rules+rectify") for k in range(3) for c in ("clean", "attacked")}
    assert all(0 <= r["e_acc"] <= 1 and 0 <= r["p_acc"] <= 1 for r in records)
    assert "#### attacked: E-ACC" in (tmp_path / "curves.md").read_text()
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    result = runner.invoke(main, ["intervene", str(checkpoint), "--mln", str(rules), "--policy", "oracle",
                                  "-o", str(out)])
    assert result.exit_code == 1 and "unknown policy 'oracle'" in result.output
