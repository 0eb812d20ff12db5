"""How plausible an explanation is under the rules: the score of each detector behind ``--detector``
(docs/method.md, "Detection" and "Detectors"). Higher is more plausible; a detector flags a score
at most its cutoff (:mod:`again_mln.again.calibration` chooses the cutoff).

* ``paper``: Eq. 3, S(c_hat, y) - S_max(y) = ln P(c_hat | y) / max_c P(c | y) <= 0; the cutoff is
  ln d for the relaxation d in [0, 1].
* ``per-category``: the same score with one cutoff per predicted category.
* ``confidence``: the rule margin plus the network's log-confidence in its own explanation,
  S(c_hat, y) - S_max(y) + lam * sum_m log max(p_m, 1 - p_m).
* ``map-gap``: O(c_hat) - max_c O(c) <= 0 for the MAP objective O(c) = S(c, y) + lam * sum_m log p_m(c_m).
* ``weighted-damage``: minus the rule damage of each concept weighted by the network's doubt in
  it, -sum_m relu(S(c_hat xor e_m, y) - S(c_hat, y)) * (1 - |2 p_m - 1|).
* ``mixture``: the rule margin under the network's category distribution instead of its argmax,
  log sum_y p(y | x) exp(S(c_hat, y) - S_max(y)): a correct explanation of a wrongly predicted
  category passes when a category the network also believes in explains it. Its explanation is
  repaired under the category it settles on, argmax_y p(y | x) exp(S(c_hat, y) - S_max(y))
  (:func:`settled_categories`).

Every score reads the category distribution as log p(y | x) (N, K) too; category ids stand for a
distribution certain of one category, under which ``mixture`` is the paper's margin.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from again_mln.again.evidence import evidence_of, map_assignment
from again_mln.again.graph import FactorGraph
from again_mln.mln.inference import max_score


def solve_s_max(graph: FactorGraph) -> Tensor:
    """S_max(y) = max_c S(c, y) for every category (K,), by the max ring of the engine."""
    return max_score(graph.factor_view()).to(graph.unary.dtype)


def rule_margin(graph: FactorGraph, s_max: Tensor, c_hat: Tensor, y: Tensor) -> Tensor:
    """S(c_hat, y) - S_max(y) (N,) for binary concepts (N, M) and categories (N,), both validated."""
    return graph.score_cm(c_hat.T.contiguous(), y) - s_max[y]


def category_margins(graph: FactorGraph, s_max: Tensor, c_hat: Tensor) -> Tensor:
    """S(c_hat, k) - S_max(k) (N, K) under every category k: one batched score per category."""
    cT = c_hat.T.contiguous()
    codes = graph.factor_codes(cT)
    every = torch.ones(len(c_hat), dtype=torch.long, device=c_hat.device)
    return torch.stack([graph.score_cm(cT, k * every, codes) for k in range(graph.num_categories)], 1) - s_max


def _joint(graph: FactorGraph, s_max: Tensor, c_hat: Tensor, log_p: Tensor) -> Tensor:
    """log p(y | x) + S(c_hat, y) - S_max(y) (N, K), float64."""
    return log_p.double() + category_margins(graph, s_max, c_hat).double()


def settled_categories(graph: FactorGraph, s_max: Tensor, c_hat: Tensor, log_p: Tensor) -> Tensor:
    """The category ``mixture`` settles on (N,): the one that, weighed by the network's belief in
    it, explains c_hat best; rectification repairs under it."""
    return _joint(graph, s_max, c_hat, log_p).argmax(1)


def _log_confidence(probs: Tensor) -> Tensor:
    """sum_m log max(p_m, 1 - p_m) = log P_network(c_hat | x) under independent concepts (N,)."""
    return torch.maximum(probs, 1 - probs).log().sum(1)


def _margin(graph, s_max, probs, c_hat, y, lam, log_p):
    return rule_margin(graph, s_max, c_hat, y)


def _confidence(graph, s_max, probs, c_hat, y, lam, log_p):
    return rule_margin(graph, s_max, c_hat, y) + lam * _log_confidence(probs)


def _map_gap(graph, s_max, probs, c_hat, y, lam, log_p):
    best = map_assignment(graph, probs, y, lam)
    return (graph.score_cm(c_hat.T.contiguous(), y) + evidence_of(probs, c_hat, lam)
            - graph.score_cm(best.T.contiguous(), y) - evidence_of(probs, best, lam))


def _weighted_damage(graph, s_max, probs, c_hat, y, lam, log_p):
    gains = graph.flip_gains(c_hat, y)  # (N, M): how much the rules want m flipped
    doubt = 1 - (2 * probs - 1).abs()
    return -(gains.clamp_min(0) * doubt).sum(1)


def _mixture(graph, s_max, probs, c_hat, y, lam, log_p):
    return _joint(graph, s_max, c_hat, log_p).logsumexp(1)


Score = Callable[[FactorGraph, Tensor, Tensor, Tensor, Tensor, float, Tensor], Tensor]
#: detector name -> its score (graph, S_max (K,), probs (N, M), c_hat (N, M) long, y (N,), lam,
#: log p(y | x) (N, K)) -> (N,)
SCORES: dict[str, Score] = {"paper": _margin, "per-category": _margin, "confidence": _confidence,
                            "map-gap": _map_gap, "weighted-damage": _weighted_damage, "mixture": _mixture}
