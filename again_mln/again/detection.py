"""Detection of implausible explanations and its calibration on clean data (docs/method.md, "Detection").

A detector scores explanations (concept probabilities, trusted category): the higher the score,
the more plausible; an explanation is flagged when its score is at most the detector's cutoff.
Calibration picks the largest cutoff whose pass rate on clean validation data still meets a
target, i.e. the strictest detector that costs at most that share of benign explanations.

The rule detector of the paper (Eq. 3) scores S(c_hat, y) - S_max(y) = ln P(c_hat | y) / max_c P(c | y),
so its cutoff is ln d for the relaxation d in [0, 1]. Other detectors plug in by implementing
:class:`Detector`; :func:`calibrate` works for any of them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch

from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.mln.inference import max_score
from again_mln.evaluation.metrics import success_rate
from again_mln.validation import binarize


class Detector(Protocol):
    """Anything that scores explanations; ``flag`` = score <= cutoff."""

    def scores(self, concept_probs: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """(N,) plausibility of each explanation; higher is more plausible."""


@dataclass(frozen=True)
class Calibration:
    """The chosen cutoff (and, for the rule detector, d = exp(cutoff)) with its pass rate."""

    cutoff: float  # flag where score <= cutoff
    success_rate: float  # SR on the calibration data at this cutoff
    target: float
    samples: int

    @property
    def threshold(self) -> float:
        """The rule detector's relaxation d = exp(cutoff), clipped to [0, 1]."""
        return min(1.0, math.exp(self.cutoff))


def s_max(graph: FactorGraph) -> torch.Tensor:
    """S_max(y) = max_c S(c, y) for every category (K,), computed once per weight setting and
    kept with the graph (it moves with ``graph.to``)."""
    if graph.s_max_cache is None:
        graph.s_max_cache = max_score(graph.factor_view()).to(graph.unary.dtype)
    return graph.s_max_cache


def check_threshold(threshold: float) -> float:
    """The relaxation d as a float in [0, 1], or an error."""
    if not 0.0 <= threshold <= 1.0:
        raise AgainError(f"detection threshold d must lie in [0, 1], got {threshold}")
    return float(threshold)


def fails_detection(graph: FactorGraph, scores: torch.Tensor, categories: torch.Tensor, threshold: float = 0.9) -> torch.Tensor:
    """Eq. 3 on scores S(c_hat, y) already computed: True where S - S_max(y) <= ln d."""
    return _fails(scores - s_max(graph)[categories], threshold)


def _fails(margins: torch.Tensor, threshold: float) -> torch.Tensor:
    """margin <= ln d. At d = 1 every explanation fails: S never exceeds S_max, and float
    round-off between the two computations must not let one pass."""
    threshold = check_threshold(threshold)
    if threshold == 1.0:
        return torch.ones_like(margins, dtype=torch.bool)
    return ~(margins > (math.log(threshold) if threshold > 0 else -math.inf))


@dataclass
class RuleDetector:
    """The paper's detector (Eq. 3): score = S(c_hat, y) - S_max(y) <= 0."""

    graph: FactorGraph

    def scores(self, concept_probs: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        c, y = self.graph.validate(binarize(torch.as_tensor(concept_probs)), categories)
        return self.graph.score_cm(c.T.contiguous(), y) - s_max(self.graph)[y]  # validated once


def detection_margins(graph: FactorGraph, concept_probs: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
    """S(c_hat, y) - S_max(y) <= 0 for each explanation (N,): log P(c_hat | y) / max_c P(c | y)."""
    return RuleDetector(graph).scores(concept_probs, categories)


def detect(graph: FactorGraph, concept_probs: torch.Tensor, categories: torch.Tensor, threshold: float = 0.9) -> torch.Tensor:
    """Flag explanations that fail Eq. 3: pass iff S(c_hat, y) - S_max(y) > ln d. (N,) bool."""
    check_threshold(threshold)
    return _fails(detection_margins(graph, concept_probs, categories), threshold)


def calibrate(detector: Detector, concept_probs: torch.Tensor, categories: torch.Tensor, target_sr: float = 0.98) -> Calibration:
    """The largest cutoff whose pass rate (score > cutoff) on these clean explanations is at
    least ``target_sr``: just below the score of the sample at the target's rank."""
    if not 0.0 < target_sr <= 1.0:
        raise AgainError(f"target SR must lie in (0, 1], got {target_sr}")
    scores = detector.scores(concept_probs, categories).double()
    if not len(scores):
        raise AgainError("calibration needs at least one clean validation sample")
    ranked = scores.sort(descending=True).values
    rank = min(len(ranked), math.ceil(target_sr * len(ranked) - 1e-9))
    at_rank = float(ranked[rank - 1])
    slack = max(1e-4, 1e-6 * abs(at_rank))  # below float32 round-off of the scores
    cutoff = at_rank - slack
    return Calibration(cutoff, success_rate(~(scores > cutoff)), target_sr, len(scores))


def calibrate_threshold(graph: FactorGraph, concept_probs: torch.Tensor, categories: torch.Tensor,
                        target_sr: float = 0.98) -> Calibration:
    """The largest d in [0, 1] whose pass rate on these clean explanations is at least ``target_sr``."""
    calibration = calibrate(RuleDetector(graph), concept_probs, categories, target_sr)
    cutoff = min(calibration.cutoff, 0.0)  # d = 1 is the strictest relaxation there is
    passed = success_rate(detect(graph, concept_probs, categories, math.exp(cutoff)))
    return Calibration(cutoff, passed, target_sr, calibration.samples)
