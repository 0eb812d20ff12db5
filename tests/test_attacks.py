"""Attacks on explanations: the budget, the category-preservation constraint, target choice and
that target concepts really move."""
import pytest
import torch
from torch import nn

from again_mln.evaluation.attacks import (KINDS, AttackConfig, adversarial_perturbation, attack_dataset,
                                          choose_targets, input_bounds, pgd_attack)
from again_mln.datasets.base import ConceptDataset
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.again.logic import Implies, Not, Rule, RuleSet, category, concept
from again_mln.models import ConceptBottleneckModel, TrainConfig, fit

M, K, D = 4, 3, 6


def tabular_model(seed=0):
    torch.manual_seed(seed)
    body = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, M))
    return ConceptBottleneckModel(body, nn.Linear(M, K), [f"c{m}" for m in range(M)],
                                  [f"y{k}" for k in range(K)]).eval()


def data(n=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=g) * torch.linspace(0.5, 20, D)  # features on different scales
    return ConceptDataset(x, torch.zeros(n, M), torch.zeros(n, dtype=torch.long), [f"c{m}" for m in range(M)],
                          [f"y{k}" for k in range(K)])


def outputs(model, x):
    with torch.no_grad():
        concept_logits, category_logits = model(x)
    return torch.sigmoid(concept_logits), category_logits.argmax(1)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("eps", [4, 32])
def test_budget_and_category_are_respected(kind, eps):
    model, split = tabular_model(), data()
    bounds = input_bounds(split.x)
    result = attack_dataset(model, split, AttackConfig(kind, eps, steps=15), bounds, seed=0, batch_size=16)
    assert ((result.x - split.x).abs() <= eps / 255 * bounds.scale * (1 + 1e-5)).all()
    _, clean_category = outputs(model, split.x)
    _, category = outputs(model, result.x)
    assert torch.equal(category, clean_category) and torch.equal(result.clean_categories, clean_category)


@pytest.mark.parametrize("kind", KINDS)
def test_target_concepts_move(kind):
    model, split = tabular_model(), data()
    probs, _ = outputs(model, split.x)
    result = attack_dataset(model, split, AttackConfig(kind, 32, steps=20), input_bounds(split.x), seed=0)
    adversarial, _ = outputs(model, result.x)
    erase, introduce = result.erase, result.introduce
    assert erase.any() == (kind != "introduction") and introduce.any() == (kind != "erasure")
    pushed = torch.cat([adversarial[erase] < probs[erase], adversarial[introduce] > probs[introduce]])
    assert pushed.float().mean() >= 0.8  # pushed the right way (a few are blocked by the category)
    moved = (erase & (adversarial < 0.5)) | (introduce & (adversarial > 0.5))
    assert moved.sum() / (erase | introduce).sum() > 0.3  # and many across 0.5


def test_an_iterate_that_changes_the_category_is_rejected():
    """The category is 'concept 0 on' vs 'off': erasing concept 0 would change it, so the attack
    must leave concept 0 active however large the budget."""
    head = nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[10.0, 0.0], [-10.0, 0.0]]))
        head.bias.copy_(torch.tensor([-5.0, 5.0]))  # "on" exactly when p(a) > 0.5
    model = ConceptBottleneckModel(nn.Identity(), head, ["a", "b"], ["on", "off"]).eval()
    x = torch.tensor([[1.0, 1.0], [0.5, 2.0]])
    config = AttackConfig("erasure", 255, steps=10, n_targets=1, targets="random", random_start=True)
    for seed in range(5):
        result = pgd_attack(model, x, config, input_bounds(torch.tensor([[0.0, 0.0], [4.0, 4.0]])),
                            torch.Generator().manual_seed(seed))
        probs, category = outputs(model, result.x)
        assert category.tolist() == [0, 0]
        assert (probs[:, 0] > 0.5).all()


def test_images_stay_in_the_unit_range():
    model = ConceptBottleneckModel(nn.Sequential(nn.Flatten(), nn.Linear(16, M)), nn.Linear(M, K),
                                   [f"c{m}" for m in range(M)], [f"y{k}" for k in range(K)]).eval()
    x = torch.rand(8, 1, 4, 4)
    x[:, :, 0] = 0.0
    x[:, :, 1] = 1.0
    bounds = input_bounds(x)
    result = pgd_attack(model, x, AttackConfig("confounding", 32), bounds, torch.Generator().manual_seed(0))
    assert result.x.min() >= 0 and result.x.max() <= 1
    assert ((result.x - x).abs() <= 32 / 255 + 1e-6).all()


def test_targets_per_kind_and_count():
    probs = torch.tensor([[0.9, 0.8, 0.7, 0.1, 0.2], [0.1, 0.2, 0.3, 0.4, 0.6]])
    g = torch.Generator().manual_seed(0)
    erase, introduce = choose_targets(probs, AttackConfig("confounding", n_targets=2), g)
    assert (erase <= (probs > 0.5)).all() and (introduce <= (probs < 0.5)).all()
    assert erase.sum(1).tolist() == [2, 1] and introduce.sum(1).tolist() == [2, 2]
    erase, introduce = choose_targets(probs, AttackConfig("erasure", n_targets=1), g)
    assert erase.sum(1).tolist() == [1, 1] and not introduce.any()
    erase, introduce = choose_targets(probs, AttackConfig("confounding", n_targets=None), g)
    assert torch.equal(erase, probs > 0.5) and torch.equal(introduce, probs <= 0.5)  # 'all': every concept


def test_damaging_targets_break_the_heaviest_rules():
    rules = RuleSet(("a", "b", "c"), ("y",), [Rule(Implies(category("y"), concept("a")), 5.0),
                                             Rule(Implies(category("y"), concept("b")), 1.0),
                                             Rule(Implies(category("y"), Not(concept("c"))), 3.0)])
    graph = FactorGraph(rules, device="cpu")
    probs = torch.tensor([[0.9, 0.9, 0.1]])
    g = torch.Generator().manual_seed(0)
    erase, _ = choose_targets(probs, AttackConfig("erasure", n_targets=1, targets="damaging"), g, graph,
                              torch.tensor([0]))
    assert erase.tolist() == [[True, False, False]]  # erasing a costs 5, erasing b only 1
    with pytest.raises(AgainError, match="damaging targets need the rules"):
        choose_targets(probs, AttackConfig(targets="damaging"), g)


def test_seeded_and_deterministic():
    model, split = tabular_model(), data(16)
    config = AttackConfig("confounding", 16)
    first = attack_dataset(model, split, config, input_bounds(split.x), seed=3)
    second = attack_dataset(model, split, config, input_bounds(split.x), seed=3)
    assert torch.equal(first.x, second.x) and torch.equal(first.erase, second.erase)


def test_bad_configurations():
    with pytest.raises(AgainError, match="unknown attack kind"):
        AttackConfig("swap")
    with pytest.raises(AgainError, match="unknown target choice"):
        AttackConfig(targets="all")
    with pytest.raises(AgainError, match="out of range"):
        AttackConfig(eps=300)


def test_adversarial_training_hook_runs_inside_fit():
    model, split = tabular_model(), data(32)
    split.concepts = (torch.rand(32, M, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    perturb = adversarial_perturbation(AttackConfig("erasure", 16, steps=2), input_bounds(split.x), seed=0)
    history = fit(model, split, TrainConfig(epochs=1, batch_size=16), progress=False, perturb=perturb)
    assert len(history) == 1 and model.training  # the attack restores training mode
