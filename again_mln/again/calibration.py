"""Where a detector cuts, and how well it separates (docs/method.md, "Detection" and "Detectors").

A detector scores explanations (higher = more plausible) and flags a score at most its cutoff.
Calibration on clean validation scores picks the cutoff just below the score at a rank:

* the paper's rank ceil(n * target): the strictest cutoff whose pass rate on these very scores
  is at least the target (the calibrated relaxation d of Eq. 3);
* the conformal rank ceil((n + 1) * target): a new exchangeable clean explanation passes with
  probability at least the target (-inf, pass all, when too few samples make that rank > n).

The pass rate and the AUROC live here, below the evaluation, because calibration and the choice of
a detector need them; :mod:`again_mln.evaluation.metrics` reports with the same functions.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from again_mln.errors import AgainError

#: a cutoff sits this far below the score at its rank (at least; 1e-6 relative beyond): the float32
#: round-off of the scores must not let the sample at the rank fail
SLACK = 1e-4


def _as_numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)


def success_rate(flagged_clean) -> float:
    """SR: the fraction of clean samples that detection passes (flags (N,) bool)."""
    flags = flagged_clean if isinstance(flagged_clean, Tensor) else torch.as_tensor(np.asarray(flagged_clean))
    return 1.0 - float(flags.float().mean())


def cutoff_at_rank(scores: Tensor, rank: int) -> float:
    """Just below the ``rank``-th largest score (1-based); -inf when the rank exceeds the scores."""
    if rank > len(scores):
        return -math.inf
    at_rank = float(scores.double().sort(descending=True).values[rank - 1])
    return at_rank - max(SLACK, 1e-6 * abs(at_rank))


def empirical_rank(n: int, target_sr: float) -> int:
    """The paper's calibration: the rank whose cutoff passes >= ``target_sr`` of these n scores."""
    return min(n, math.ceil(target_sr * n - 1e-9))


def conformal_rank(n: int, target_sr: float) -> int:
    """Split conformal calibration: the rank whose cutoff passes a new clean score with probability
    >= ``target_sr``."""
    return math.ceil((n + 1) * target_sr - 1e-9)


def min_samples(target_sr: float) -> int:
    """The fewest clean samples whose conformal cutoff is finite: (n + 1) * target <= n."""
    return math.ceil(target_sr / (1 - target_sr) - 1e-9)


def auroc(clean_scores, attacked_scores) -> float:
    """P(attacked score < clean score) + P(equal) / 2 over all (clean, attacked) pairs: the
    Mann-Whitney statistic, from sorted clean scores (no pairwise matrix)."""
    clean = np.sort(_as_numpy(clean_scores).astype(np.float64).ravel())
    attacked = _as_numpy(attacked_scores).astype(np.float64).ravel()
    if not len(clean) or not len(attacked):
        raise AgainError("AUROC needs at least one clean and one attacked score")
    above = len(clean) - np.searchsorted(clean, attacked, "right")
    tied = np.searchsorted(clean, attacked, "right") - np.searchsorted(clean, attacked, "left")
    return float((above + 0.5 * tied).sum() / (len(clean) * len(attacked)))


def auroc_stderr(value: float, n_clean: int, n_attacked: int) -> float:
    """Standard error of an AUROC ``value`` measured on ``n_clean`` and ``n_attacked`` scores
    (Hanley and McNeil, Radiology 1982): how far apart two detectors' AUROCs must be before the
    difference means more than the draw of samples."""
    if n_clean < 1 or n_attacked < 1:
        raise AgainError("an AUROC standard error needs at least one clean and one attacked score")
    a = min(max(value, 0.0), 1.0)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_attacked - 1) * (q1 - a * a) + (n_clean - 1) * (q2 - a * a)) / (n_clean * n_attacked)
    return math.sqrt(max(var, 0.0))


def per_category_cutoffs(scores: Tensor, y: Tensor, num_categories: int, target_sr: float
                         ) -> tuple[Tensor, tuple[int, ...]]:
    """Conformal cutoffs (K,) float64, one per category; categories with fewer than
    :func:`min_samples` clean samples share one cutoff of their pooled samples (of all samples
    when even those are too few). Also the categories that share it."""
    need = min_samples(target_sr)
    counts = torch.bincount(y, minlength=num_categories).cpu()
    rare = counts < need
    pool = rare.to(y.device)[y]
    pooled = scores[pool] if int(pool.sum()) >= need else scores
    cutoffs = torch.full((num_categories,), cutoff_at_rank(pooled, conformal_rank(len(pooled), target_sr)),
                         dtype=torch.float64)
    common = (~rare).nonzero().squeeze(1)
    if len(common):  # one sort by (category, descending score); the rank-th score of each block
        values = scores.cpu().double()
        order = torch.from_numpy(np.lexsort((-values.numpy(), y.cpu().numpy())))
        start = torch.cumsum(counts, 0) - counts
        ranks = torch.ceil((counts[common] + 1).double() * target_sr - 1e-9).long()  # conformal_rank, per category
        at_rank = values[order][start[common] + ranks - 1]
        cutoffs[common] = at_rank - torch.clamp(1e-6 * at_rank.abs(), min=SLACK)
    return cutoffs, tuple(rare.nonzero().squeeze(1).tolist())
