"""The paper's evaluation, end to end (behind ``again-mln evaluate`` and ``again-mln demo``).

One repeat, for one seed: generate the dataset (a validation part held out of the training
split), build the rules and learn their weights from the training concepts, train a CBM, fine-tune
a copy adversarially against the *known* attack (CBM-AT), optionally train a CEM, pick the
detection relaxation d (fixed, or calibrated on the clean validation part for a target SR), then
measure every method on the clean test split and under the known and the *unknown* attacks at each
budget. AGAIN (the factor graph) never sees an attack: it rectifies the CBM's (or CEM's) outputs
on the same adversarial inputs the plain model receives, and each detector is calibrated on clean
validation data only; ``auto`` picks a detector by its validation AUROC against a *synthetic*
corruption (one flip of the concept the network is least sure of; docs/method.md, "Detectors"),
never looking at an attack. The detection matrix measures every detector on the CBM under every
attack kind and target choice at :data:`MATRIX_EPSILONS`, and the worst case over them.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from again_mln.evaluation.attacks import (EPSILONS, AttackConfig, adversarial_perturbation, attack_dataset, attack_summary,
                                          input_bounds)
from again_mln.choices import ATTACK_KINDS, ATTACK_TARGETS, EVALUATION_DATASETS, check_detectors
from again_mln.again.compiled import CompiledRules
from again_mln.again.rectifier import Rectifier
from again_mln.again.selection import AUTO_CORRUPTION, select_detectors
from again_mln.choices import AUTO, HARD_STRATEGIES, STRATEGIES
from again_mln.datasets import DataConfig, load_dataset
from again_mln.datasets.base import ConceptDataset
from again_mln.errors import AgainError
from again_mln.devices import describe_machine, resolve_device
from again_mln.again.graph import FactorGraph
from again_mln.again.learning import LearningResult, learn_weights
from again_mln.again.logic import RuleSet
from again_mln.again.calibration import auroc
from again_mln.evaluation.metrics import e_acc, identification_rate, ir_at_sr, ir_changed, lsm, p_acc, roc_on_grid
from again_mln.models.bridge import RectifiedConceptModel, encode_batches
from again_mln.models.cbm import ConceptModel, Encoding
from again_mln.models.factory import ModelConfig, build_model
from again_mln.models.training import TrainConfig, fit, predict
from again_mln.rulegen.registry import build_rules
from again_mln.validation import binarize

#: standard deviation of the Gaussian prior on learned weights: rules that always hold in the
#: training data (all of Synthetic-MNIST's) would otherwise get unbounded weights
PRIOR_STDEV = 5.0
#: category-head epochs of the by-step training: the head reads cached concept outputs, so epochs
#: are cheap, and EWS's ordinal 16-way head needs many (15 epochs: 23% accuracy, 100: 57%)
HEAD_EPOCHS = 100
#: budgets of the detection matrix (every attack kind and target choice against the CBM)
MATRIX_EPSILONS = (8.0, 16.0, 32.0)
#: pass rates at which IR is read off each detector's ROC curve
SR_POINTS = (0.95, 0.98, 0.99)
#: 1 - SR at which each ROC curve is stored (dense near 0, where detectors operate)
ROC_GRID = np.unique(np.concatenate([np.linspace(0, 0.1, 101), np.linspace(0.1, 1, 91)]))
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
    n_targets: int | str | None = 2  # "all" (stored as None): every active (inactive) concept
    epsilons: tuple[float, ...] = EPSILONS
    known: tuple[str, str] = ("erasure", "random")  # (kind, targets) of CBM-AT's training attack
    unknown: tuple[tuple[str, str], ...] = (("confounding", "random"),)
    matrix_epsilons: tuple[float, ...] = MATRIX_EPSILONS  # () skips the detection matrix
    strategies: tuple[str, ...] = HARD_STRATEGIES
    threshold: float = 0.9
    detectors: tuple[str, ...] = (AUTO,)
    target_sr: float | None = None
    with_cem: bool = False
    repeats: int = 1
    seed: int = 0
    batch_size: int = 256
    data_root: str | None = None  # the data folder (MNIST, CUB); None: $AGAIN_DATA, then the per-user one

    def __post_init__(self) -> None:
        if self.dataset not in EVALUATION_DATASETS:
            raise AgainError(f"unknown dataset {self.dataset!r}; expected one of {', '.join(EVALUATION_DATASETS)}")
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise AgainError(f"unknown strategy {unknown[0]!r}; expected one of {', '.join(STRATEGIES)}")
        if self.repeats < 1:
            raise AgainError("repeats must be at least 1")
        self.known = tuple(self.known)
        self.n_targets = None if self.n_targets == "all" else self.n_targets
        self.unknown = ((tuple(self.unknown),) if isinstance(self.unknown[0], str)
                        else tuple(tuple(a) for a in self.unknown))
        self.detectors = check_detectors(self.detectors)
        if self.target_sr is None and set(self.detectors) - {"paper", AUTO}:
            raise AgainError("detectors other than 'paper' are calibrated: give a target SR (--target-sr)")
        self.attacks("known", 0.0), self.attacks("unknown", 0.0)  # validates kinds and targets

    def attacks(self, condition: str, eps: float, steps: int | None = None) -> list[AttackConfig]:
        """The known attack, or each unknown attack, or (``matrix``) every kind and target choice, at budget ``eps``."""
        pairs = {"known": (self.known,), "unknown": self.unknown,
                 "matrix": tuple((k, t) for k in ATTACK_KINDS for t in ATTACK_TARGETS)}[condition]
        return [AttackConfig(kind, eps, steps or self.attack_steps, self.n_targets, targets) for kind, targets in pairs]


#: both presets attack with random targets and, as a second unknown attack, the most damaging ones
UNKNOWN = (("confounding", "random"), ("confounding", "damaging"))
#: ``--quick``: minutes on a 2-core CPU, with models close to the full preset's accuracy (fewer
#: samples, more epochs; measured in benchmarks/results/evaluation.md); the full setting uses
#: the datasets' default sizes
QUICK = {
    "mnist": dict(n_train=8500, n_val=500, n_test=1000, epochs=6, at_epochs=1, at_steps=3, attack_steps=8,
                  repeats=2, unknown=UNKNOWN),
    "ews": dict(n_train=6000, n_val=1000, n_test=1000, epochs=20, at_epochs=3, repeats=4, unknown=UNKNOWN),
    "cub-sim": dict(n_test=1000, epochs=20, at_epochs=3, repeats=2, unknown=UNKNOWN),
    "cub-koh": dict(n_test=1000, epochs=20, at_epochs=3, repeats=2, unknown=UNKNOWN),
}
FULL = {
    "mnist": dict(n_train=20000, n_val=2000, n_test=4000, epochs=5, at_epochs=2, repeats=4, unknown=UNKNOWN),
    "ews": dict(n_train=20000, n_val=2000, n_test=5000, epochs=20, at_epochs=5, repeats=4, unknown=UNKNOWN),
    "cub-sim": dict(epochs=20, at_epochs=5, repeats=4, unknown=UNKNOWN),
    "cub-koh": dict(epochs=20, at_epochs=5, repeats=4, unknown=UNKNOWN),
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
    """One repeat's ingredients: data, rules, graph, trained models and the calibrated detectors."""

    seed: int
    train: ConceptDataset
    val: ConceptDataset
    test: ConceptDataset
    rules: RuleSet  # as built (prior weights)
    learned: RuleSet  # with the weights the graph uses
    compiled: CompiledRules
    models: dict[str, ConceptModel]
    detectors: dict[str, Rectifier]
    info: dict[str, Any] = field(default_factory=dict)


def load_splits(config: EvaluationConfig, seed: int) -> tuple[ConceptDataset, ConceptDataset, ConceptDataset]:
    """(train, validation, test): the validation part is a seeded random draw from the training split."""
    data = DataConfig(config.dataset, seed=seed, n_train=config.n_train, n_test=config.n_test,
                      data_root=config.data_root)
    full, test = load_dataset(data, "train"), load_dataset(data, "test")
    if config.n_test is not None and len(test) > config.n_test:  # CUB's split size is fixed
        test = test.subset(torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:config.n_test])
    if not 0 < config.n_val < len(full):
        raise AgainError(f"n-val = {config.n_val} must be positive and below the {len(full)} training samples")
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed))
    return full.subset(order[config.n_val:]), full.subset(order[:config.n_val]), test


def dataset_rules(dataset: str, n_train: int | None, seed: int) -> RuleSet:
    """The dataset's rule builder, on the same training split the models see."""
    if dataset == "ews":
        return build_rules("ews", n_samples=n_train, seed=seed)
    return build_rules("cub" if dataset.startswith("cub") else dataset)


def weighted_rules(rules: RuleSet, train: ConceptDataset, device: torch.device) -> LearningResult:
    """The rules with weights learned on the training split (``learn_weights``' auto method: exact
    conditional likelihood wherever the contraction fits, as it does for every preset: one log Z
    and its gradient over CUB's 14,679 rules and 200 categories take about 0.1 s)."""
    concepts = train.concepts.numpy().astype(np.uint8)
    return learn_weights(rules, concepts, train.categories.numpy(), prior_stdev=PRIOR_STDEV, device=device,
                         progress=False)


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
    perturb = adversarial_perturbation(config.attacks("known", config.at_eps, config.at_steps)[0],
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
    learning = weighted_rules(rules, train, device)
    learned = learning.ruleset
    compiled = CompiledRules(FactorGraph(learned, device=device))
    compiled.s_max  # solved once per repeat
    say(f"rules     {len(rules.rules)} rules; weights learned by {learning.method}, Gaussian prior sd {PRIOR_STDEV:g}: "
        f"{learning.iterations} iterations, {'converged' if learning.converged else learning.message}, "
        f"{learning.seconds:.1f} s")
    models = {"cbm": train_concept_model("cbm", train, config, seed, device)}
    say(f"cbm       trained {config.epochs} epochs: {_accuracy_line(models['cbm'], test, device)}")
    models["cbm-at"] = adversarially_train(models["cbm"], train, config, seed, device)
    say(f"cbm-at    fine-tuned {config.at_epochs} epochs against {config.attacks('known', 0)[0].name} "
        f"at eps {config.at_eps:g}/255: {_accuracy_line(models['cbm-at'], test, device)}")
    if config.with_cem:
        models["cem"] = train_concept_model("cem", train, config, seed, device)
        say(f"cem       trained {config.epochs} epochs: {_accuracy_line(models['cem'], test, device)}")
    info: dict[str, Any] = {"seed": seed, "accuracy": {key: _accuracies(model, test, device)
                                                       for key, model in models.items()},
                            "weights": {"method": learning.method, "iterations": learning.iterations,
                                        "converged": learning.converged, "seconds": learning.seconds}}
    detectors = choose_detectors(config, compiled, models["cbm"], val, seed, device, info, say)
    info["setup_seconds"] = time.perf_counter() - start
    return Setup(seed, train, val, test, rules, learned, compiled, models, detectors, info)


def choose_detectors(config: EvaluationConfig, compiled: CompiledRules, model: ConceptModel, val: ConceptDataset,
                     seed: int, device: torch.device, info: dict[str, Any], say: Log) -> dict[str, Rectifier]:
    """The detectors to evaluate, as rectifiers calibrated on the CBM's clean validation explanations
    (:func:`again_mln.again.selection.select_detectors`, which also resolves ``auto``). Without a
    target SR only the paper's at the fixed d."""
    strategy = (config.strategies or ("switch",))[0]
    if config.target_sr is None:
        info["thresholds"] = {"paper": config.threshold}
        return {"paper": Rectifier(compiled, strategy, "paper", threshold=config.threshold)}
    probs, categories = (torch.from_numpy(a) for a in _predict(model, val, device))
    selection = select_detectors(config.detectors, compiled, probs, categories, config.target_sr, seed=seed,
                                 strategy=strategy)
    info.update(validation_auroc=selection.validation_auroc, validation_sr=selection.validation_sr)
    if selection.auto is not None:
        info["auto"] = selection.auto
        say(f"detectors validation AUROC against a {AUTO_CORRUPTION}: " + ", ".join(
            f"{n} {a:.3f}" for n, a in selection.validation_auroc[AUTO_CORRUPTION].items())
            + f"; auto -> {selection.auto}")
    info["thresholds"] = {name: _cutoff_summary(d) for name, d in selection.detectors.items()}
    for name in selection.detectors:
        say(f"calibrate {name}: cutoff {info['thresholds'][name]}, SR {100 * selection.validation_sr[name]:.1f}% "
            f"on {len(val)} clean validation samples (target {100 * config.target_sr:g}%)")
    return selection.detectors


def _cutoff_summary(detector: Rectifier) -> float | list[float]:
    """The paper's d, one shared cutoff, or the per-category cutoffs (JSON-ready)."""
    cutoffs = detector.cutoffs.tolist()
    if len(set(cutoffs)) > 1:
        return cutoffs
    return math.exp(min(cutoffs[0], 0.0)) if detector.detector == "paper" else cutoffs[0]


def _accuracies(model: ConceptModel, data: ConceptDataset, device: torch.device) -> dict[str, float]:
    probs, categories = _predict(model, data, device)
    return {"concept": e_acc(probs, data.concepts), "category": p_acc(categories.argmax(1), data.categories)}


def _accuracy_line(model: ConceptModel, data: ConceptDataset, device: torch.device) -> str:
    probs, categories = _predict(model, data, device)
    return (f"test concept accuracy {100 * e_acc(probs, data.concepts):.1f}%, "
            f"category accuracy {100 * p_acc(categories.argmax(1), data.categories):.1f}%")


def log_categories(category_probs: np.ndarray) -> np.ndarray:
    """log p(y | x) (N, K) of softmax outputs, finite (a probability that underflowed to 0 reads
    as the smallest float32): what the detectors read as the network's category distribution."""
    return np.log(np.maximum(category_probs, np.finfo(np.float32).tiny))


def _predict(model: ConceptModel, data: ConceptDataset, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Concept probabilities (N, M) and category log-probabilities (N, K) of ``model`` on ``data``
    (:func:`again_mln.models.training.predict`, batched)."""
    arrays = predict(model, data, device=device)
    return arrays["concepts"], log_categories(arrays["categories"])


# ------------------------------------------------------------------------------ measuring
def measure(setup: Setup, model_key: str, data: ConceptDataset, encodings: list[Encoding], strategies: tuple[str, ...],
            detector: Rectifier | None, batch_size: int
            ) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Metrics of the plain model and of each rectification strategy on ``data`` (the test split
    with its inputs replaced), whose network ``encodings`` are given: ``{"plain": {...},
    strategy: {...}}`` with IR/SR's raw flag rate as ``flagged``, and the bridge's outputs (of the
    last strategy; detection is the same for all)."""
    results: dict[str, dict[str, float]] = {}
    out: dict[str, np.ndarray] = {}
    rectifier = detector or Rectifier(setup.compiled, strategies[0] if strategies else "switch")
    for strategy in strategies or ("switch",):
        bridge = RectifiedConceptModel(setup.models[model_key], rectifier.with_strategy(strategy))
        out = bridge.predict(data, batch_size, encodings)
        if not results:
            results["plain"] = _scores(setup.compiled.graph, out["concepts"], out["categories"], out)
        if strategies:
            results[strategy] = _scores(setup.compiled.graph, out["rectified_concepts"], out["rectified_categories"], out)
    return results, out


def _scores(graph: FactorGraph, concepts: np.ndarray, category_probs: np.ndarray,
            out: dict[str, np.ndarray]) -> dict[str, float]:
    predicted = category_probs.argmax(1)
    return {
        "lsm": lsm(graph, concepts, predicted),
        "e_acc": e_acc(concepts, out["true_concepts"]),
        "p_acc": p_acc(predicted, out["true_categories"]),
        "flagged": identification_rate(out["flagged"]),
    }


def detection_fields(clean_scores: np.ndarray, attacked_scores: np.ndarray, flagged: np.ndarray,
                     changed: np.ndarray) -> dict[str, float | None]:
    """The threshold-free detection metrics of one attacked condition (docs/method.md, "Metrics"):
    IR over changed explanations, the changed share, AUROC and IR at each SR of :data:`SR_POINTS`
    (operating points set on the clean *test* scores)."""
    return {
        "ir_changed": ir_changed(flagged, changed),
        "changed_fraction": float(changed.mean()),
        "auroc": auroc(clean_scores, attacked_scores),
        **{f"ir_at_sr{round(100 * sr)}": ir_at_sr(clean_scores, attacked_scores, sr) for sr in SR_POINTS},
    }


def detection_matrix(config: EvaluationConfig, setup: Setup, attacked: dict[AttackConfig, torch.Tensor],
                     device: torch.device) -> list[dict[str, Any]]:
    """Each detector on the CBM under every attack kind and target choice at each budget of
    ``config.matrix_epsilons``: one record of :func:`detection_fields` per (detector, attack, eps).
    ``attacked`` holds the CBM's adversarial inputs already made by the main conditions (reused)."""
    model, test = setup.models["cbm"], setup.test
    bounds = input_bounds(setup.train.x)
    clean = _predict(model, test, device)
    clean_scores = {name: d.scores(*clean).cpu().numpy() for name, d in setup.detectors.items()}
    records = []
    attacks = [a for eps in config.matrix_epsilons for a in config.attacks("matrix", eps)]
    for number, attack in enumerate(attacks):
        x = attacked.get(attack)
        if x is None:
            x = attack_dataset(model, test, attack, bounds, seed=seed_of(setup.seed, "matrix", number),
                               graph=setup.compiled.graph, batch_size=config.batch_size, device=device).x
        probs, log_p = _predict(model, dataclasses.replace(test, x=x.cpu()), device)
        changed = (binarize(clean[0]) != binarize(probs)).any(1)
        for name, detector in setup.detectors.items():
            plausible = detector.scores(probs, log_p).cpu().numpy()
            records.append({"detector": name, "attack": attack.name, "eps": attack.eps, "seed": setup.seed,
                            **detection_fields(clean_scores[name], plausible, plausible <= 0, changed)})
    return records


def seed_of(seed: int, part: str, number: int) -> int:
    """The attack seed of condition ``number`` of the main conditions or of the matrix: distinct per part."""
    return seed * 1000 + number + (500 if part == "matrix" else 0)


def run_repeat(config: EvaluationConfig, seed: int, device: torch.device, log: Log | None = None,
               progress: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], Setup]:
    """All conditions for one seed: one record per (method, detector, condition, attack, eps),
    one ROC curve (IR on :data:`ROC_GRID`) per (rectified model, detector, attacked condition), and
    the detection matrix's records (:func:`detection_matrix`)."""
    setup = prepare(config, seed, device, log)
    bounds = input_bounds(setup.train.x)
    attacked = [("cbm", "CBM", config.strategies), ("cbm-at", "CBM-AT", ())]
    if config.with_cem:
        attacked.append(("cem", "CEM", config.strategies[:1]))
    conditions = [("clean", None, 0.0)] + [(c, attack, eps) for c in ("known", "unknown") for eps in config.epsilons
                                            for attack in config.attacks(c, eps)]
    records: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    cbm_attacked: dict[AttackConfig, torch.Tensor] = {}
    bar = tqdm(total=len(attacked) * len(conditions), desc=f"evaluate {config.dataset} seed {seed}",
               disable=not progress, leave=False)
    for key, label, strategies in attacked:
        clean_probs = _predict(setup.models[key], setup.test, device)[0]
        detectors: dict[str | None, Rectifier | None] = dict(setup.detectors) if strategies else {None: None}
        clean_scores: dict[str | None, np.ndarray] = {}
        for number, (condition, attack, eps) in enumerate(conditions):
            extra: dict[str, Any] = {}
            x = setup.test.x
            if attack is not None:
                result = attack_dataset(setup.models[key], setup.test, attack, bounds, seed=seed_of(seed, "main", number),
                                        graph=setup.compiled.graph, batch_size=config.batch_size, device=device)
                x = result.x
                if key == "cbm":
                    cbm_attacked[attack] = x
                extra = attack_summary(clean_probs, _predict(setup.models[key], dataclasses.replace(setup.test, x=x),
                                                             device)[0], result)
            data = dataclasses.replace(setup.test, x=x.cpu())
            encodings = encode_batches(setup.models[key].to(device).eval(), data, config.batch_size, device)
            for order, (name, detector) in enumerate(detectors.items()):
                scores, out = measure(setup, key, data, encodings, strategies, detector, config.batch_size)
                where = {"condition": condition, "attack": attack.name if attack else "none", "eps": eps}
                found: dict[str, Any] = {}
                if detector is not None:
                    plausible = detector.scores(out["concepts"], log_categories(out["categories"])).cpu().numpy()
                    if attack is None:
                        clean_scores[name] = plausible
                    else:
                        changed = (binarize(clean_probs) != binarize(out["concepts"])).any(1)
                        found = detection_fields(clean_scores[name], plausible, out["flagged"], changed)
                        curves.append({"method": f"{label}+AGAIN", "detector": name, **where, "seed": seed,
                                       "ir": roc_on_grid(clean_scores[name], plausible, ROC_GRID).tolist()})
                for variant, values in scores.items():
                    if variant == "plain" and order:
                        continue  # the plain model's record does not depend on the detector
                    detects = variant != "plain"
                    records.append({
                        "method": label if not detects else f"{label}+AGAIN ({variant})",
                        "detector": name if detects else None, **where,
                        "lsm": values["lsm"], "e_acc": values["e_acc"], "p_acc": values["p_acc"],
                        "ir": values["flagged"] if detects and attack else None,
                        "sr": 1.0 - values["flagged"] if detects and not attack else None,
                        **(found if detects else {}), "seed": seed, **extra,
                    })
            bar.update()
    bar.close()
    return records, curves, detection_matrix(config, setup, cbm_attacked, device), setup


@dataclass
class Evaluation:
    """Per-seed records and ROC curves, the per-seed set-up facts (model accuracies, detectors and
    their cutoffs, timings), the total run time and the detection matrix's per-seed records."""

    config: EvaluationConfig
    records: list[dict[str, Any]]
    curves: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    seconds: float
    cpu_seconds: float
    matrix: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready, so that runs of other seeds can be merged later (:func:`merge_evaluations`)."""
        return {"config": dataclasses.asdict(self.config), "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                "runs": self.runs, "records": self.records, "curves": self.curves, "matrix": self.matrix}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Evaluation":
        """The inverse of :meth:`to_dict`."""
        try:
            config = EvaluationConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["config"].items()})
            return cls(config, list(data["records"]), list(data["curves"]), list(data["runs"]),
                       float(data["seconds"]), float(data["cpu_seconds"]), list(data.get("matrix", [])))
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise AgainError(f"not a saved evaluation ({type(err).__name__}: {err})") from None


#: settings that may differ between evaluations merged into one report
_MERGE_FREE = ("seed", "repeats", "data_root")


def merge_evaluations(parts: list[Evaluation]) -> Evaluation:
    """One evaluation from runs of the same setting with different seeds (e.g. on several
    machines): records, curves and runs together in seed order, run times summed."""
    if not parts:
        raise AgainError("no evaluations to merge")
    settings = [{k: v for k, v in dataclasses.asdict(p.config).items() if k not in _MERGE_FREE} for p in parts]
    for other in settings[1:]:
        differ = [k for k in settings[0] if settings[0][k] != other[k]]
        if differ:
            raise AgainError(f"the evaluations differ in {', '.join(differ)}; only seeds may differ")
    seeds = [run["seed"] for p in parts for run in p.runs]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise AgainError(f"seed {repeated[0]} appears in more than one evaluation")
    order = sorted(range(len(parts)), key=lambda i: min(run["seed"] for run in parts[i].runs))
    merged = [parts[i] for i in order]
    config = dataclasses.replace(merged[0].config, seed=min(seeds), repeats=len(seeds))
    return Evaluation(config, [r for p in merged for r in p.records], [c for p in merged for c in p.curves],
                      [run for p in merged for run in p.runs], sum(p.seconds for p in merged),
                      sum(p.cpu_seconds for p in merged), [m for p in merged for m in p.matrix])


def run_evaluation(config: EvaluationConfig, device: str | torch.device = "auto", log: Log | None = None,
                   progress: bool = True, keep: Callable[[Setup], None] | None = None) -> Evaluation:
    """Every repeat (seeds ``seed .. seed + repeats - 1``); ``keep`` sees each repeat's set-up."""
    dev = resolve_device(device)
    start, cpu = time.perf_counter(), time.process_time()
    records, curves, runs, matrix = [], [], [], []
    for repeat in range(config.repeats):
        seed = config.seed + repeat
        if log is not None and config.repeats > 1:
            log(f"--- repeat {repeat + 1}/{config.repeats} (seed {seed})")
        began = time.perf_counter()
        rows, seed_curves, seed_matrix, setup = run_repeat(config, seed, dev, log, progress)
        records += rows
        curves += seed_curves
        matrix += seed_matrix
        runs.append({**setup.info, "seconds": time.perf_counter() - began, "machine": describe_machine(dev)})
        if keep is not None:
            keep(setup)
    return Evaluation(config, records, curves, runs, time.perf_counter() - start, time.process_time() - cpu, matrix)

