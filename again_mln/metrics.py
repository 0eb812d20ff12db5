"""The paper's evaluation metrics (METHOD.md "Metrics", appendix C.3), as fractions in [0, 1].

* P-ACC: accuracy of the category predicted from the (rectified) concepts.
* E-ACC: mean over samples of the fraction of concepts whose binarised value equals the truth.
* LSM: per sample, the weighted fraction of satisfied rules sum_i w_i psi_i / sum_i w_i over the
  rules whose truth depends on the concepts given the predicted category (a rule made true, or
  false, by the category evidence alone is left out: no explanation can change it), averaged over
  samples. A rule with a negative weight is read as its negation with weight |w| (the same
  Markov logic network), so every counted weight is positive. A sample with no such rule scores 1.
* IR: fraction of perturbed samples that detection flags; SR: fraction of clean samples it passes.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from again_mln.graph import FactorGraph

#: samples per chunk of the (N, R) rule-truth matrix, so LSM stays small in memory at CUB scale
_LSM_CHUNK = 1024


def _as_tensor(values) -> Tensor:
    return values if isinstance(values, Tensor) else torch.as_tensor(np.asarray(values))


def p_acc(predicted_categories, true_categories) -> float:
    """Fraction of samples whose predicted category id (N,) equals the true one (N,)."""
    predicted, true = _as_tensor(predicted_categories), _as_tensor(true_categories)
    return float((predicted.cpu() == true.cpu()).float().mean())


def e_acc(concepts, true_concepts) -> float:
    """Mean over samples of the fraction of concepts (N, M) whose value binarised at 0.5 equals
    the 0/1 truth (N, M)."""
    concepts, true = _as_tensor(concepts).cpu(), _as_tensor(true_concepts).cpu()
    return float(((concepts > 0.5) == (true > 0.5)).float().mean(1).mean())


def lsm_per_sample(graph: FactorGraph, concepts, categories) -> Tensor:
    """The logic satisfaction of each explanation (N,): concepts (N, M) binarised at 0.5 under
    their predicted categories (N,)."""
    concepts = _as_tensor(concepts).to(graph.device) > 0.5
    categories = _as_tensor(categories).to(graph.device).long()
    weights = graph.weights.float()
    counted = graph.concept_dependent().float() * weights.abs()  # (K, R)
    negative = weights < 0
    parts = []
    for start in range(0, len(concepts), _LSM_CHUNK):
        rows = slice(start, start + _LSM_CHUNK)
        truth = graph.rule_truth(concepts[rows], categories[rows])
        satisfied = torch.where(negative, 1.0 - truth, truth)
        weight = counted[categories[rows]]
        total = weight.sum(1)
        parts.append(torch.where(total > 0, (weight * satisfied).sum(1) / total.clamp_min(1e-30), 1.0))
    return torch.cat(parts) if parts else torch.zeros(0, device=graph.device)


def lsm(graph: FactorGraph, concepts, categories) -> float:
    """Mean logic satisfaction over samples (see :func:`lsm_per_sample`)."""
    return float(lsm_per_sample(graph, concepts, categories).mean())


def identification_rate(flagged_perturbed) -> float:
    """IR: the fraction of perturbed samples that detection flags (flags (N,) bool)."""
    return float(_as_tensor(flagged_perturbed).float().mean())


def success_rate(flagged_clean) -> float:
    """SR: the fraction of clean samples that detection passes (flags (N,) bool)."""
    return 1.0 - float(_as_tensor(flagged_clean).float().mean())
