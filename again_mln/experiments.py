"""The paper's evaluation, end to end (behind ``again-mln evaluate`` and ``again-mln demo``).

One repeat, for one seed: generate the dataset (a validation part held out of the training
split), build the rules and learn their weights from the training concepts, train a CBM, fine-tune
a copy adversarially against the *known* attack (CBM-AT), optionally train a CEM, pick the
detection relaxation d (fixed, or calibrated on the clean validation part for a target SR), then
measure every method on the clean test split and under the known and the *unknown* attack at each
budget. AGAIN (the factor graph) never sees an attack: it rectifies the CBM's (or CEM's) outputs
on the same adversarial inputs the plain model receives.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from again_mln.attacks import EPSILONS, AttackConfig, adversarial_perturbation, attack_dataset, attack_summary, input_bounds
from again_mln.detection import calibrate_threshold, s_max
from again_mln.datasets import DataConfig, load_dataset
from again_mln.datasets.base import ConceptDataset
from again_mln.errors import AgainError
from again_mln.devices import resolve_device
from again_mln.graph import FactorGraph
from again_mln.learning import learn_weights
from again_mln.logic import RuleSet
from again_mln.metrics import e_acc, identification_rate, lsm, p_acc, success_rate
from again_mln.models.bridge import RectifiedConceptModel
from again_mln.models.cbm import ConceptModel
from again_mln.models.factory import ModelConfig, build_model
from again_mln.models.training import TrainConfig, fit
from again_mln.rectify import HARD_STRATEGIES, STRATEGIES

EVALUATION_DATASETS = ("mnist", "ews", "cub-sim")
#: standard deviation of the Gaussian prior on learned weights: rules that always hold in the
#: training data (all of Synthetic-MNIST's) would otherwise get unbounded weights
PRIOR_STDEV = 5.0
#: category-head epochs of the by-step training: the head reads cached concept outputs, so epochs
#: are cheap, and EWS's ordinal 16-way head needs many (15 epochs: 23% accuracy, 100: 57%)
HEAD_EPOCHS = 100
Log = Callable[[str], None]


@dataclass
class EvaluationConfig:
    """Everything one evaluation run depends on. Attack budgets are in units of 1/255."""

    dataset: str
    n_train: int | None = None  # generated training samples, validation part included
    n_val: int = 1000
    n_test: int | None = None
    epochs: int = 20
    at_epochs: int = 5
    at_eps: float = 16.0
    at_steps: int = 5
    attack_steps: int = 10
    n_targets: int = 2
    epsilons: tuple[float, ...] = EPSILONS
    known: tuple[str, str] = ("erasure", "random")  # (kind, targets) of CBM-AT's training attack
    unknown: tuple[str, str] = ("confounding", "random")
    strategies: tuple[str, ...] = HARD_STRATEGIES
    threshold: float = 0.9
    target_sr: float | None = None
    with_cem: bool = False
    repeats: int = 1
    seed: int = 0
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.dataset not in EVALUATION_DATASETS:
            raise AgainError(f"unknown dataset {self.dataset!r}; expected one of {', '.join(EVALUATION_DATASETS)}")
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise AgainError(f"unknown strategy {unknown[0]!r}; expected one of {', '.join(STRATEGIES)}")
        if self.repeats < 1:
            raise AgainError("repeats must be at least 1")
        self.known, self.unknown = tuple(self.known), tuple(self.unknown)
        self.attack("known", 0.0), self.attack("unknown", 0.0)  # validates kinds and targets

    def attack(self, condition: str, eps: float, steps: int | None = None) -> AttackConfig:
        """The known or unknown attack at budget ``eps``."""
        kind, targets = self.known if condition == "known" else self.unknown
        return AttackConfig(kind, eps, steps or self.attack_steps, self.n_targets, targets)


#: ``--quick``: minutes on a 2-core CPU; the full setting uses the datasets' default sizes
QUICK = {
    "mnist": dict(n_train=4500, n_val=500, n_test=500, epochs=3, at_epochs=1, at_steps=3, attack_steps=8,
                  repeats=2),
    "ews": dict(n_train=6000, n_val=1000, n_test=1000, epochs=20, at_epochs=3, repeats=4),
    "cub-sim": dict(n_test=1000, epochs=20, at_epochs=3, repeats=2),
}
FULL = {
    "mnist": dict(n_train=20000, n_val=2000, n_test=4000, epochs=4, at_epochs=2, repeats=4),
    "ews": dict(n_train=20000, n_val=2000, n_test=5000, epochs=20, at_epochs=5, repeats=4),
    "cub-sim": dict(epochs=20, at_epochs=5, repeats=4),
}


def evaluation_config(dataset: str, quick: bool = False, **overrides: Any) -> EvaluationConfig:
    """The preset for ``dataset`` (quick or full) with ``overrides`` (``None`` values ignored); a
    smaller ``n_train`` without ``n_val`` holds out a fifth of it for validation."""
    if dataset not in EVALUATION_DATASETS:
        raise AgainError(f"unknown dataset {dataset!r}; expected one of {', '.join(EVALUATION_DATASETS)}")
    values = {**(QUICK if quick else FULL)[dataset], **{k: v for k, v in overrides.items() if v is not None}}
    if overrides.get("n_train") is not None and overrides.get("n_val") is None:
        values["n_val"] = min(values.get("n_val", EvaluationConfig.n_val), values["n_train"] // 5)
    return EvaluationConfig(dataset, **values)


# --------------------------------------------------------------------------------- set-up
@dataclass
class Setup:
    """One repeat's ingredients: data, rules, graph, trained models and the detection threshold."""

    seed: int
    train: ConceptDataset
    val: ConceptDataset
    test: ConceptDataset
    rules: RuleSet  # as built (prior weights)
    learned: RuleSet  # with the weights the graph uses
    graph: FactorGraph
    models: dict[str, ConceptModel]
    threshold: float
    info: dict[str, Any] = field(default_factory=dict)


def load_splits(config: EvaluationConfig, seed: int) -> tuple[ConceptDataset, ConceptDataset, ConceptDataset]:
    """(train, validation, test): the validation part is a seeded random draw from the training split."""
    data = DataConfig(config.dataset, seed=seed, n_train=config.n_train, n_test=config.n_test)
    full, test = load_dataset(data, "train"), load_dataset(data, "test")
    if config.n_test is not None and len(test) > config.n_test:  # CUB's split size is fixed
        test = test.subset(torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:config.n_test])
    if not 0 < config.n_val < len(full):
        raise AgainError(f"n-val = {config.n_val} must be positive and below the {len(full)} training samples")
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed))
    return full.subset(order[config.n_val:]), full.subset(order[:config.n_val]), test


def dataset_rules(dataset: str, n_train: int | None, seed: int) -> RuleSet:
    """The dataset's rule builder, on the same training split the models see."""
    if dataset == "mnist":
        from again_mln.rulegen.mnist import build_mnist_rules

        return build_mnist_rules()
    if dataset == "ews":
        from again_mln.rulegen.ews import build_ews_rules

        return build_ews_rules(n_samples=n_train, seed=seed)
    from again_mln.rulegen.cub import build_cub_rules

    return build_cub_rules()


def weighted_rules(dataset: str, rules: RuleSet, train: ConceptDataset, device: torch.device) -> RuleSet:
    """Learned weights (exact conditional likelihood) for Synthetic-MNIST and EWS; CUB keeps the
    prior weights of its association scores (METHOD.md)."""
    if dataset == "cub-sim":
        return rules
    concepts = train.concepts.numpy().astype(np.uint8)
    return learn_weights(rules, concepts, train.categories.numpy(), prior_stdev=PRIOR_STDEV, device=device,
                         progress=False).ruleset


def train_concept_model(kind: str, train: ConceptDataset, config: EvaluationConfig, seed: int,
                        device: torch.device) -> ConceptModel:
    """A CBM or CEM with the toolkit's default architecture, trained by step (sequential): the
    category head learns on the frozen concept predictor's outputs, which converges in few epochs."""
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind, input_shape=list(train.x.shape[1:])), train.concept_names,
                        train.category_names, train_x=train.x)
    fit(model, train, TrainConfig("sequential", epochs=config.epochs, head_epochs=HEAD_EPOCHS, seed=seed), device,
        progress=False)
    return model.eval()


def adversarially_train(model: ConceptModel, train: ConceptDataset, config: EvaluationConfig, seed: int,
                        device: torch.device) -> ConceptModel:
    """CBM-AT: a copy of ``model`` whose concept predictor is fine-tuned on the known attack's
    adversarial examples (budget ``at_eps``, ``at_steps`` PGD steps) labelled with the true concepts,
    after which its category head is refitted on the clean training outputs."""
    tuned = copy.deepcopy(model)
    perturb = adversarial_perturbation(config.attack("known", config.at_eps, config.at_steps),
                                       input_bounds(train.x), seed=seed)
    fit(tuned, train, TrainConfig("sequential", epochs=config.at_epochs, head_epochs=HEAD_EPOCHS, seed=seed),
        device, progress=False, perturb=perturb)
    return tuned.eval()


def prepare(config: EvaluationConfig, seed: int, device: torch.device, log: Log | None = None) -> Setup:
    """Data, rules, weights, models and threshold for one repeat."""
    say = log or (lambda _: None)
    start = time.perf_counter()
    train, val, test = load_splits(config, seed)
    say(f"data      {config.dataset}: {len(train)} train, {len(val)} validation, {len(test)} test samples, "
        f"{train.n_concepts} concepts, {train.n_categories} categories")
    rules = dataset_rules(config.dataset, config.n_train, seed)
    learned = weighted_rules(config.dataset, rules, train, device)
    graph = FactorGraph(learned, device=device)
    s_max(graph)  # compiled once per repeat
    say(f"rules     {len(rules.rules)} rules; weights "
        f"{'learned (exact CLL, Gaussian prior sd %g)' % PRIOR_STDEV if learned is not rules else 'from the prior'}")
    models = {"cbm": train_concept_model("cbm", train, config, seed, device)}
    say(f"cbm       trained {config.epochs} epochs: {_accuracy_line(models['cbm'], test, device)}")
    models["cbm-at"] = adversarially_train(models["cbm"], train, config, seed, device)
    say(f"cbm-at    fine-tuned {config.at_epochs} epochs against {config.attack('known', config.at_eps).name} "
        f"at eps {config.at_eps:g}/255: {_accuracy_line(models['cbm-at'], test, device)}")
    if config.with_cem:
        models["cem"] = train_concept_model("cem", train, config, seed, device)
        say(f"cem       trained {config.epochs} epochs: {_accuracy_line(models['cem'], test, device)}")
    threshold, info = config.threshold, {"seed": seed}
    if config.target_sr is not None:
        clean = RectifiedConceptModel(models["cbm"], graph).predict(val, config.batch_size)
        calibration = calibrate_threshold(graph, torch.from_numpy(clean["concepts"]),
                                          torch.from_numpy(clean["categories"].argmax(1)), config.target_sr)
        threshold = calibration.threshold
        info["validation_sr"] = calibration.success_rate
        say(f"calibrate d = {threshold:.6g}: SR {100 * calibration.success_rate:.1f}% on {calibration.samples} clean "
            f"validation samples (target {100 * config.target_sr:g}%)")
    info["threshold"] = threshold
    info["setup_seconds"] = time.perf_counter() - start
    return Setup(seed, train, val, test, rules, learned, graph, models, threshold, info)


def _accuracy_line(model: ConceptModel, data: ConceptDataset, device: torch.device) -> str:
    probs, categories = _predict(model, data.x, device)
    return (f"test concept accuracy {100 * e_acc(probs, data.concepts):.1f}%, "
            f"category accuracy {100 * p_acc(categories, data.categories):.1f}%")


@torch.no_grad()
def _predict(model: ConceptModel, x: torch.Tensor, device: torch.device, batch_size: int = 512
             ) -> tuple[np.ndarray, np.ndarray]:
    """Concept probabilities (N, M) and predicted category ids (N,) of ``model`` on inputs ``x``."""
    model.to(device).eval()
    parts = [model(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    probs = torch.sigmoid(torch.cat([c for c, _ in parts]))
    return probs.cpu().numpy(), torch.cat([y for _, y in parts]).argmax(1).cpu().numpy()


# ------------------------------------------------------------------------------ measuring
def measure(setup: Setup, model_key: str, x: torch.Tensor, strategies: tuple[str, ...],
            batch_size: int) -> dict[str, dict[str, float]]:
    """Metrics of the plain model and of each rectification strategy on inputs ``x`` (the test
    split's labels): ``{"plain": {...}, strategy: {...}}`` with IR/SR's raw flag rate as ``flagged``."""
    data = dataclasses.replace(setup.test, x=x.cpu())
    results: dict[str, dict[str, float]] = {}
    for strategy in strategies or ("switch",):
        out = RectifiedConceptModel(setup.models[model_key], setup.graph, strategy, setup.threshold).predict(
            data, batch_size)
        if not results:
            results["plain"] = _scores(setup.graph, out["concepts"], out["categories"], out)
        if strategies:
            results[strategy] = _scores(setup.graph, out["rectified_concepts"], out["rectified_categories"], out)
    return results


def _scores(graph: FactorGraph, concepts: np.ndarray, category_probs: np.ndarray,
            out: dict[str, np.ndarray]) -> dict[str, float]:
    predicted = category_probs.argmax(1)
    return {
        "lsm": lsm(graph, concepts, predicted),
        "e_acc": e_acc(concepts, out["true_concepts"]),
        "p_acc": p_acc(predicted, out["true_categories"]),
        "flagged": identification_rate(out["flagged"]),
    }


def run_repeat(config: EvaluationConfig, seed: int, device: torch.device, log: Log | None = None,
               progress: bool = True) -> tuple[list[dict[str, Any]], Setup]:
    """All conditions for one seed: one record per (method, condition, attack, eps)."""
    setup = prepare(config, seed, device, log)
    bounds = input_bounds(setup.train.x)
    attacked = [("cbm", "CBM", config.strategies), ("cbm-at", "CBM-AT", ())]
    if config.with_cem:
        attacked.append(("cem", "CEM", config.strategies[:1]))
    conditions = [("clean", None, 0.0)] + [(c, config.attack(c, eps), eps) for c in ("known", "unknown")
                                            for eps in config.epsilons]
    records: list[dict[str, Any]] = []
    bar = tqdm(total=len(attacked) * len(conditions), desc=f"evaluate {config.dataset} seed {seed}",
               disable=not progress, leave=False)
    for key, label, strategies in attacked:
        clean_probs = _predict(setup.models[key], setup.test.x, device)[0]
        for number, (condition, attack, eps) in enumerate(conditions):
            extra: dict[str, Any] = {}
            x = setup.test.x
            if attack is not None:
                result = attack_dataset(setup.models[key], setup.test, attack, bounds, seed=seed * 1000 + number,
                                        graph=setup.graph, batch_size=config.batch_size, device=device)
                x = result.x
                extra = attack_summary(clean_probs, _predict(setup.models[key], x, device)[0], result)
            scores = measure(setup, key, x, strategies, config.batch_size)
            for variant, values in scores.items():
                method = label if variant == "plain" else f"{label}+AGAIN ({variant})"
                detects = variant != "plain"
                records.append({
                    "method": method, "condition": condition, "attack": attack.name if attack else "none",
                    "eps": eps, "lsm": values["lsm"], "e_acc": values["e_acc"], "p_acc": values["p_acc"],
                    "ir": values["flagged"] if detects and attack else None,
                    "sr": 1.0 - values["flagged"] if detects and not attack else None,
                    "seed": seed, **extra,
                })
            bar.update()
    bar.close()
    return records, setup


@torch.no_grad()
def _probs(model: ConceptModel, x: torch.Tensor, device: torch.device, batch_size: int = 512) -> np.ndarray:
    model.to(device).eval()
    parts = [torch.sigmoid(model.encode(x[i:i + batch_size].to(device)).concept_logits) for i in
             range(0, len(x), batch_size)]
    return torch.cat(parts).cpu().numpy()


@dataclass
class Evaluation:
    """Per-seed records, the per-seed set-up facts (threshold, timings) and the total run time."""

    config: EvaluationConfig
    records: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    seconds: float
    cpu_seconds: float


def run_evaluation(config: EvaluationConfig, device: str | torch.device = "auto", log: Log | None = None,
                   progress: bool = True, keep: Callable[[Setup], None] | None = None) -> Evaluation:
    """Every repeat (seeds ``seed .. seed + repeats - 1``); ``keep`` sees each repeat's set-up."""
    dev = resolve_device(device)
    start, cpu = time.perf_counter(), time.process_time()
    records, runs = [], []
    for repeat in range(config.repeats):
        seed = config.seed + repeat
        if log is not None and config.repeats > 1:
            log(f"--- repeat {repeat + 1}/{config.repeats} (seed {seed})")
        began = time.perf_counter()
        rows, setup = run_repeat(config, seed, dev, log, progress)
        records += rows
        runs.append({**setup.info, "seconds": time.perf_counter() - began})
        if keep is not None:
            keep(setup)
    return Evaluation(config, records, runs, time.perf_counter() - start, time.process_time() - cpu)

