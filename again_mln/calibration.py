"""Calibrating the detection relaxation d (METHOD.md Eq. 3) on clean validation data.

An explanation passes when S(c_hat, y_hat) - S_max(y_hat) > ln d. On clean data the pass rate
(SR) falls as d rises, so the largest d whose SR still meets a target flags the most perturbed
explanations at that cost in benign ones: d is set just below the margin of the sample at the
target's rank.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from again_mln.errors import AgainError
from again_mln.graph import FactorGraph
from again_mln.metrics import success_rate


@dataclass(frozen=True)
class Calibration:
    """The chosen relaxation and the pass rate it gives on the calibration data."""

    threshold: float  # d
    success_rate: float  # SR on the calibration data at d
    target: float
    samples: int


def detection_margins(graph: FactorGraph, concept_probs: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
    """S(c_hat, y) - S_max(y) <= 0 for each explanation (N,): log P(c_hat | y) / max_c P(c | y)."""
    c_hat = torch.as_tensor(concept_probs).to(graph.device) > 0.5
    y = torch.as_tensor(categories).to(graph.device).long()
    return graph.score(c_hat, y) - graph.s_max[y]


def calibrate_threshold(graph: FactorGraph, concept_probs: torch.Tensor, categories: torch.Tensor,
                        target_sr: float = 0.98) -> Calibration:
    """The largest d in [0, 1] whose pass rate on these clean explanations is at least ``target_sr``."""
    if not 0.0 < target_sr <= 1.0:
        raise AgainError(f"target SR must lie in (0, 1], got {target_sr}")
    margins = detection_margins(graph, concept_probs, categories).double().sort(descending=True).values
    if not len(margins):
        raise AgainError("calibration needs at least one clean validation sample")
    rank = min(len(margins), math.ceil(target_sr * len(margins) - 1e-9))
    at_rank = float(margins[rank - 1])
    slack = max(1e-4, 1e-6 * abs(at_rank))  # below float32 round-off of the scores
    threshold = min(1.0, math.exp(at_rank - slack))
    passed = success_rate(graph.detect(concept_probs, categories, threshold))
    return Calibration(threshold, passed, target_sr, len(margins))
