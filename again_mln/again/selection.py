"""Choosing a detector without any attack (docs/method.md, "Detectors"): each candidate is
calibrated on clean validation explanations, then compared by its AUROC of those clean
explanations against synthetic corruptions of the same ones; ``auto`` takes the first detector
(the paper's first) whose AUROC is within one standard error of the best."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from again_mln.again.calibration import auroc, auroc_stderr
from again_mln.again.compiled import CompiledRules
from again_mln.again.graph import FactorGraph
from again_mln.again.rectifier import Rectifier
from again_mln.choices import AUTO, DETECTORS, check_detectors
from again_mln.errors import AgainError
from again_mln.validation import binarize, check_probabilities

#: the synthetic corruptions of clean validation explanations that detectors are compared on:
#: name -> (concepts flipped per explanation, which ones; see :func:`flip_concepts`). ``auto``
#: ranks by the first, the smallest corruption (one concept, the one the network is least sure
#: of); two random flips break heavy rules so often that every detector scores ~0.996 on
#: Synthetic-MNIST, and they are kept only as a report (docs/method.md, "Detectors")
CORRUPTIONS = {"least-sure flip": (1, "least-sure"), "2 random flips": (2, "random")}
AUTO_CORRUPTION = next(iter(CORRUPTIONS))
#: how close to 0 or 1 a corrupted probability may come
_EDGE = 1e-6


def flip_concepts(concept_probs: Tensor, n_flips: int, generator: torch.Generator, choose: str = "random") -> Tensor:
    """Synthetic corruptions for choosing a detector without any attack: ``n_flips`` concepts per
    explanation moved across 0.5 to a uniform point on the other side (the corruption assumes
    nothing about how confidently an attack would push a concept). ``choose``: ``random``
    concepts, or the ``least-sure`` ones (nearest 0.5; ties to the lower index)."""
    if choose not in ("random", "least-sure"):
        raise AgainError(f"unknown choice of concepts {choose!r}; expected random or least-sure")
    probs = torch.as_tensor(concept_probs).float().cpu()
    n, m = probs.shape
    order = (torch.rand(n, m, generator=generator).argsort(1) if choose == "random"
             else (probs - 0.5).abs().argsort(dim=1, stable=True))
    mask = torch.zeros(n, m, dtype=torch.bool).scatter_(1, order[:, :min(n_flips, m)], True)
    depth = 0.5 * (1 - torch.rand(n, m, generator=generator))  # in (0, 0.5]: always across 0.5
    moved = torch.where(binarize(probs), 0.5 - depth, 0.5 + depth).clamp(_EDGE, 1 - _EDGE)
    return torch.where(mask, moved, probs)


@dataclass
class Selection:
    """Calibrated rectifiers, one per detector (``auto``'s pick first), with the measurements that chose it."""

    detectors: dict[str, Rectifier]
    validation_auroc: dict[str, dict[str, float]]  # corruption -> detector -> AUROC of clean validation vs corrupted
    validation_sr: dict[str, float]  # pass rate on the clean validation data itself
    auto: str | None  # the detector ``auto`` picked, if asked for


def auto_pick(aurocs: dict[str, float], n: int) -> str:
    """The first detector (in :data:`DETECTORS` order, the paper's first) whose validation AUROC
    is within one standard error of the best one (:func:`again_mln.again.calibration.auroc_stderr`,
    ``n`` clean and ``n`` corrupted explanations): a detector replaces an earlier one only when the
    validation data say it is better by more than the draw of samples."""
    best = max(aurocs.values())
    margin = auroc_stderr(best, n, n)
    return next(name for name in DETECTORS if name in aurocs and aurocs[name] >= best - margin)


def select_detectors(names: Sequence[str], rules: FactorGraph | CompiledRules, concept_probs, categories,
                     target_sr: float, lam: float = 1.0, seed: int = 0, strategy: str = "switch") -> Selection:
    """Calibrate ``names`` on clean validation explanations and measure each one's AUROC of these
    clean explanations against the same ones under each of :data:`CORRUPTIONS`; ``auto`` among
    ``names`` stands for the candidate (of all :data:`DETECTORS`) picked by :func:`auto_pick`
    under :data:`AUTO_CORRUPTION`. No attack is ever involved."""
    if not check_detectors(names):
        raise AgainError(f"no detector to select; expected one or more of {', '.join(DETECTORS + (AUTO,))}")
    compiled = rules if isinstance(rules, CompiledRules) else CompiledRules(rules)
    probs = check_probabilities(concept_probs, compiled.graph.num_concepts).cpu()
    y = torch.as_tensor(categories).cpu()  # ids (N,) or log-probabilities/logits (N, K): the rectifiers validate them
    candidates = DETECTORS if AUTO in names else tuple(dict.fromkeys(names))
    calibrated = {n: Rectifier(compiled, strategy, n, lam, target_sr=target_sr).fit(probs, y) for n in candidates}
    generator = torch.Generator().manual_seed(seed)
    clean = {n: d.scores(probs, y).cpu() for n, d in calibrated.items()}
    aurocs = {}
    for corruption, (n_flips, choose) in CORRUPTIONS.items():
        corrupted = flip_concepts(probs, n_flips, generator, choose)
        aurocs[corruption] = {n: auroc(clean[n], d.scores(corrupted, y).cpu()) for n, d in calibrated.items()}
    rates = {n: 1.0 - float((clean[n] <= 0).double().mean()) for n in calibrated}
    pick = auto_pick(aurocs[AUTO_CORRUPTION], len(probs)) if AUTO in names else None
    keep = dict.fromkeys(pick if n == AUTO else n for n in names)
    return Selection({n: calibrated[n] for n in keep}, aurocs, rates, pick)
