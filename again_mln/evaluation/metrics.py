"""The paper's evaluation metrics (docs/method.md, "Metrics"; the paper's appendix C.3), as fractions in [0, 1].

* P-ACC: accuracy of the category predicted from the (rectified) concepts.
* E-ACC: mean over samples of the fraction of concepts whose binarised value equals the truth.
* LSM: per sample, the weighted fraction of satisfied rules sum_i w_i psi_i / sum_i w_i over the
  rules whose truth depends on the concepts given the predicted category (a rule made true, or
  false, by the category evidence alone is left out: no explanation can change it), averaged over
  samples. A rule with a negative weight is read as its negation with weight |w| (the same
  Markov logic network), so every counted weight is positive. A sample with no such rule scores 1.
* IR: fraction of perturbed samples that detection flags; SR: fraction of clean samples it passes.

Detection curves read a detector's per-sample plausibility scores (higher = more plausible; see
``docs/method.md`` "Detection"), clean test explanations against attacked ones:

* ``ir_changed``: IR over the attacked explanations that differ from their clean ones (an
  unchanged explanation cannot be told from a clean one by any detector);
* ``auroc`` (:mod:`again_mln.again.calibration`, shared with the choice of a detector): the
  probability that an attacked explanation scores below a clean one (ties count half), i.e. the
  area under the ROC curve of IR against 1 - SR; SR is ``calibration.success_rate``;
* ``ir_at_sr``: IR at the strictest threshold that still passes a fraction ``sr`` of the clean
  explanations (an operating point read off that curve).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from again_mln.again.calibration import empirical_rank
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.validation import binarize

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
    return float((binarize(concepts) == binarize(true)).float().mean(1).mean())


def lsm_per_sample(graph: FactorGraph, concepts, categories) -> Tensor:
    """The logic satisfaction of each explanation (N,): concepts (N, M) binarised at 0.5 under
    their predicted categories (N,)."""
    concepts = binarize(_as_tensor(concepts).to(graph.device))
    categories = _as_tensor(categories).to(graph.device).long()
    weights = graph.weight.float()
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


def ir_changed(flagged_perturbed, changed) -> float | None:
    """IR over the perturbed samples whose explanation the attack changed (``changed`` (N,)
    bool); ``None`` when the attack changed none."""
    flagged, changed = _as_numpy(flagged_perturbed).astype(bool), _as_numpy(changed).astype(bool)
    return float(flagged[changed].mean()) if changed.any() else None


def _as_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)


def _sorted(values) -> np.ndarray:
    return np.sort(_as_numpy(values).astype(np.float64).ravel())


def sr_cutoff(clean_scores, sr: float) -> float:
    """The largest cutoff that still passes (score > cutoff) a fraction ``sr`` of these clean
    scores, returned as the passing score at the target's rank: flag where score < it."""
    ranked = _sorted(clean_scores)[::-1]
    if not len(ranked) or not 0.0 < sr <= 1.0:
        raise AgainError(f"an SR cutoff needs clean scores and 0 < SR <= 1, got {len(ranked)} scores, SR {sr}")
    return float(ranked[empirical_rank(len(ranked), sr) - 1])


def ir_at_sr(clean_scores, attacked_scores, sr: float) -> float:
    """IR at the operating point that passes a fraction ``sr`` of these clean scores
    (:func:`sr_cutoff`): the share of attacked scores strictly below it."""
    return float((_as_numpy(attacked_scores) < sr_cutoff(clean_scores, sr)).mean())


def roc_curve(clean_scores, attacked_scores) -> tuple[np.ndarray, np.ndarray]:
    """(1 - SR, IR) at every distinct cutoff (flag where score <= cutoff), from (0, 0) to (1, 1)."""
    clean, attacked = _sorted(clean_scores), _sorted(attacked_scores)
    cutoffs = np.unique(np.concatenate([clean, attacked]))
    fpr = np.searchsorted(clean, cutoffs, "right") / len(clean)
    tpr = np.searchsorted(attacked, cutoffs, "right") / len(attacked)
    return np.concatenate([[0.0], fpr, [1.0]]), np.concatenate([[0.0], tpr, [1.0]])


def roc_on_grid(clean_scores, attacked_scores, grid) -> np.ndarray:
    """IR at each 1 - SR of ``grid`` (the ROC curve's upper envelope, step-interpolated), so
    curves of several repeats can be averaged point by point."""
    fpr, tpr = roc_curve(clean_scores, attacked_scores)
    index = np.searchsorted(fpr, np.asarray(grid, dtype=np.float64), "right") - 1
    return np.maximum.accumulate(tpr)[index]
