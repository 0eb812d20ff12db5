"""Attacks on concept-level explanations (docs/method.md, "Attacks on explanations"; the paper's appendix E).

L-infinity PGD on the input that moves chosen concepts across 0.5 while the predicted category
must stay what it was on the clean input:

* ``erasure`` pushes chosen active concepts below 0.5;
* ``introduction`` pushes chosen inactive concepts above 0.5;
* ``confounding`` does both at once.

The budget ``eps`` is a fraction of the input range: of [0, 1] for images, of each feature's
range (max - min over a reference set) for tabular inputs. Every iterate whose category differs
from the clean one is rejected: the sample stays at its last accepted point and its step size is
halved. The attack returns, per sample, the accepted iterate that moved the most targets.
Everything is batched on the model's device; a seeded generator makes it deterministic.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from again_mln.choices import ATTACK_KINDS as KINDS, ATTACK_TARGETS as TARGETS
from again_mln.datasets.base import ConceptDataset
from again_mln.devices import resolve_device
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.models.cbm import ConceptModel
from again_mln.models.checkpoint import load_checkpoint
from again_mln.models.workflow import checkpoint_dataset
from again_mln.validation import binarize

#: the paper's budgets, in units of 1/255 of the input range
EPSILONS = (4, 8, 16, 32)
#: a target concept counts as pushed far enough once its logit is this far past 0
CONCEPT_MARGIN = 2.0
#: the category term of the objective keeps the clean category's logit this far ahead
CATEGORY_MARGIN = 1.0


@dataclass(frozen=True)
class AttackConfig:
    """One attack configuration. ``eps`` is in units of 1/255 of the input range; ``n_targets``
    concepts per direction (confounding erases and introduces that many each; ``None``: every
    active and every inactive concept, as far as the budget allows); ``targets``
    ``random`` draws them, ``damaging`` takes those whose flip lowers the rule score most (needs
    the factor graph); ``step_size`` (same units as ``eps``) defaults to 2.5 eps / steps."""

    kind: str = "confounding"
    eps: float = 8.0
    steps: int = 10
    n_targets: int | None = 2
    targets: str = "random"
    random_start: bool = True
    step_size: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AgainError(f"unknown attack kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.targets not in TARGETS:
            raise AgainError(f"unknown target choice {self.targets!r}; expected one of {', '.join(TARGETS)}")
        if not 0 <= self.eps <= 255:
            raise AgainError(f"eps = {self.eps} is out of range; expected 0..255 (units of 1/255)")
        if self.steps < 1 or (self.n_targets is not None and self.n_targets < 1):
            raise AgainError("an attack needs at least one step and one target concept")

    @property
    def name(self) -> str:
        """Short label, e.g. ``confounding/random``."""
        return f"{self.kind}/{self.targets}"


class InputBounds(NamedTuple):
    """Per-feature range ``scale`` (what eps is a fraction of) and optional clip limits."""

    scale: Tensor  # broadcastable to one input (x.shape[1:])
    low: Tensor | None = None
    high: Tensor | None = None

    def to(self, device: torch.device) -> "InputBounds":
        return InputBounds(*(t.to(device) if t is not None else None for t in self))


def input_bounds(x: Tensor) -> InputBounds:
    """Images (``(N, C, H, W)``) live in [0, 1]: range 1, clipped to [0, 1]. Feature vectors use
    each feature's observed range in ``x`` (a constant feature gets range 1) and are not clipped."""
    if x.ndim > 2:
        one = torch.ones(())
        return InputBounds(one, torch.zeros(()), one)
    span = x.amax(0) - x.amin(0)
    return InputBounds(torch.where(span > 0, span, torch.ones_like(span)).float())


class AttackResult(NamedTuple):
    """An attacked batch; every tensor is on the model's device."""

    x: Tensor  # adversarial inputs
    erase: Tensor  # (N, M) bool, the concepts the attack tried to erase
    introduce: Tensor  # (N, M) bool, the concepts it tried to introduce
    clean_categories: Tensor  # (N,) the category predicted on the clean input (kept by construction)


def choose_targets(probs: Tensor, config: AttackConfig, generator: torch.Generator,
                   graph: FactorGraph | None = None, categories: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per sample, up to ``n_targets`` (all when ``None``) active concepts to erase and inactive ones to introduce
    (``(N, M)`` bool each), according to the kind. ``damaging`` ranks the candidates by how much
    flipping each one alone lowers S(c_hat, y_hat) under ``graph``; ``random`` draws them."""
    active = binarize(probs)
    if config.targets == "random":
        rank = torch.rand(probs.shape, generator=generator).to(probs.device)
    else:
        if graph is None or categories is None:
            raise AgainError("damaging targets need the rules (--mln) to rank concepts by rule damage")
        rank = -_flip_score_changes(graph, active, categories).to(probs.device)
    erase = _top(rank, active, config.n_targets) if config.kind != "introduction" else torch.zeros_like(active)
    introduce = _top(rank, ~active, config.n_targets) if config.kind != "erasure" else torch.zeros_like(active)
    return erase, introduce


def _flip_score_changes(graph: FactorGraph, c: Tensor, y: Tensor) -> Tensor:
    """S(c xor e_m, y) - S(c, y) for every concept m: (N, M)."""
    n, m = c.shape
    c, y = c.to(graph.device).long(), y.to(graph.device)
    flipped = (c[:, None, :] ^ torch.eye(m, dtype=torch.long, device=graph.device)).reshape(n * m, m)
    after = graph.score(flipped, y.repeat_interleave(m)).reshape(n, m)
    return after - graph.score(c, y)[:, None]


def _top(rank: Tensor, allowed: Tensor, k: int | None) -> Tensor:
    """(N, M) bool: the ``k`` highest-ranked allowed entries of each row (fewer if fewer allowed;
    every allowed one when ``k`` is ``None``)."""
    if k is None:
        return allowed.clone()
    k = min(k, rank.shape[1])
    scores = rank.masked_fill(~allowed, -torch.inf)
    index = scores.topk(k, dim=1).indices
    chosen = torch.zeros_like(allowed).scatter_(1, index, True)
    return chosen & allowed


def _objective(concept_logits: Tensor, category_logits: Tensor, erase: Tensor, introduce: Tensor,
               clean: Tensor) -> Tensor:
    """Per sample: how far the targets are pushed (each capped at CONCEPT_MARGIN, so reached
    targets stop pulling) minus a hinge that keeps the clean category CATEGORY_MARGIN ahead."""
    push = torch.where(erase, -concept_logits, concept_logits).clamp(max=CONCEPT_MARGIN)
    gain = (push * (erase | introduce)).sum(1)
    chosen = category_logits.gather(1, clean[:, None]).squeeze(1)
    rival = category_logits.scatter(1, clean[:, None], -torch.inf).amax(1)
    return gain - F.relu(CATEGORY_MARGIN - (chosen - rival))


def _moved(concept_logits: Tensor, erase: Tensor, introduce: Tensor) -> Tensor:
    """Number of targets on the attacker's side of 0.5, per sample."""
    return ((erase & (concept_logits < 0)) | (introduce & (concept_logits > 0))).sum(1)


def pgd_attack(model: ConceptModel, x: Tensor, config: AttackConfig, bounds: InputBounds,
               generator: torch.Generator, graph: FactorGraph | None = None) -> AttackResult:
    """Attack one batch ``x`` (on the model's device) with ``config``; the model is used in eval mode."""
    device = x.device
    bounds = bounds.to(device)
    radius = config.eps / 255.0 * bounds.scale
    shape = (-1,) + (1,) * (x.ndim - 1)

    def forward(delta: Tensor, grad: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        with torch.enable_grad() if grad else torch.no_grad():
            delta = delta.detach().requires_grad_(grad)
            encoding = model.encode(x + delta)
            category_logits = model.classify(encoding, torch.sigmoid(encoding.concept_logits))
            if not grad:
                return encoding.concept_logits, category_logits, None
            objective = _objective(encoding.concept_logits, category_logits, erase, introduce, clean)
            (gradient,) = torch.autograd.grad(objective.sum(), delta)
        return encoding.concept_logits.detach(), category_logits.detach(), gradient

    def project(delta: Tensor) -> Tensor:
        delta = torch.maximum(torch.minimum(delta, radius), -radius)
        if bounds.low is not None:
            delta = torch.maximum(torch.minimum(x + delta, bounds.high), bounds.low) - x
        return delta

    was_training = model.training
    model.eval()
    try:
        concept_logits, category_logits, _ = forward(torch.zeros_like(x), grad=False)
        clean = category_logits.argmax(1)
        erase, introduce = choose_targets(torch.sigmoid(concept_logits), config, generator, graph, clean)
        delta = torch.zeros_like(x)
        if config.random_start and config.eps > 0:
            noise = torch.rand(x.shape, generator=generator).to(device) * 2 - 1
            start = project(noise * radius)
            kept = forward(start, grad=False)[1].argmax(1) == clean
            delta = torch.where(kept.view(shape), start, delta)
        concept_logits, _, gradient = forward(delta, grad=True)
        best, best_moved = delta, _moved(concept_logits, erase, introduce)
        step = torch.full((len(x),), (config.step_size if config.step_size is not None else 2.5 * config.eps
                                      / config.steps) / 255.0, device=device)
        for _ in range(config.steps):
            candidate = project(delta + step.view(shape) * bounds.scale * gradient.sign())
            concept_logits, category_logits, candidate_gradient = forward(candidate, grad=True)
            kept = category_logits.argmax(1) == clean
            delta = torch.where(kept.view(shape), candidate, delta)
            gradient = torch.where(kept.view(shape), candidate_gradient, gradient)
            step = torch.where(kept, step, step / 2)
            moved = _moved(concept_logits, erase, introduce)
            better = kept & (moved >= best_moved)
            best = torch.where(better.view(shape), candidate, best)
            best_moved = torch.where(better, moved, best_moved)
    finally:
        model.train(was_training)
    return AttackResult((x + best).detach(), erase, introduce, clean)


def attack_dataset(model: ConceptModel, data: ConceptDataset, config: AttackConfig, bounds: InputBounds,
                   seed: int = 0, graph: FactorGraph | None = None, batch_size: int = 256,
                   device: torch.device | str = "cpu", progress: Callable | None = None) -> AttackResult:
    """:func:`pgd_attack` over a whole split in batches; ``progress`` wraps the batch iterator."""
    model.to(device)
    generator = torch.Generator().manual_seed(seed)
    batches = data.batches(batch_size)
    if progress is not None:
        batches = progress(batches, total=data.n_batches(batch_size))
    parts = [pgd_attack(model, x.to(device), config, bounds, generator, graph) for x, _, _ in batches]
    return AttackResult(*(torch.cat(field) for field in zip(*parts)))


def adversarial_perturbation(config: AttackConfig, bounds: InputBounds, seed: int = 0,
                             graph: FactorGraph | None = None
                             ) -> Callable[[ConceptModel, Tensor, Tensor, Tensor], Tensor]:
    """A ``perturb`` hook for :func:`again_mln.models.training.fit`: each training batch is
    replaced by its adversarial version under ``config`` (adversarial training, CBM-AT)."""
    generator = torch.Generator().manual_seed(seed)

    def perturb(model: ConceptModel, x: Tensor, concepts: Tensor, categories: Tensor) -> Tensor:
        return pgd_attack(model, x, config, bounds, generator, graph).x

    return perturb


def attack_summary(clean_probs: np.ndarray, adversarial_probs: np.ndarray, result: AttackResult) -> dict[str, float]:
    """How much the attack achieved: the fraction of target concepts moved across 0.5 and the
    fraction of samples whose binarised explanation changed at all."""
    erase, introduce = result.erase.cpu().numpy(), result.introduce.cpu().numpy()
    targets = erase | introduce
    adversarial = binarize(adversarial_probs)
    moved = (erase & ~adversarial) | (introduce & adversarial)
    return {
        "target_rate": float(moved.sum() / max(targets.sum(), 1)),
        "changed": float((binarize(clean_probs) != adversarial).any(1).mean()),
    }


@dataclass
class AttackedSplit:
    """A split under attack: the clean samples, the same samples with the adversarial inputs, and
    what the attack aimed at (its erase/introduce targets)."""

    model: ConceptModel
    clean: ConceptDataset
    adversarial: ConceptDataset
    result: AttackResult


def attack_split(model: ConceptModel, data: ConceptDataset, config: AttackConfig, seed: int = 0,
                 graph: FactorGraph | None = None, batch_size: int = 256, device: str | torch.device = "auto",
                 progress: Callable | None = None) -> AttackedSplit:
    """PGD on every sample of ``data`` (the category kept, the explanation attacked); ``graph``
    ranks the targets of ``config.targets == "damaging"`` and must speak of the model's concepts."""
    if graph is not None and list(graph.ruleset.concepts) != list(model.concept_names):
        raise AgainError(f"the rules' {graph.num_concepts} concepts differ from the model's "
                         f"{len(model.concept_names)} (names and order must match)")
    result = attack_dataset(model, data, config, input_bounds(data.x), seed, graph, batch_size,
                            resolve_device(device), progress)
    return AttackedSplit(model, data, replace(data, x=result.x.cpu()), result)


def attack_checkpoint(path: str | os.PathLike, config: AttackConfig, split: str = "test", seed: int = 0,
                      graph: FactorGraph | None = None, limit: int | None = None, batch_size: int = 256,
                      device: str | torch.device = "auto", data_overrides: dict[str, Any] | None = None,
                      progress: Callable | None = None) -> AttackedSplit:
    """:func:`attack_split` on the first ``limit`` samples (all by default) of a split of the
    dataset a saved model was trained on (the library side of ``again-mln attack``)."""
    model, payload = load_checkpoint(path)
    data = checkpoint_dataset(payload, path, split, data_overrides)
    data = data.subset(slice(0, limit)) if limit else data
    return attack_split(model, data, config, seed, graph, batch_size, device, progress)
