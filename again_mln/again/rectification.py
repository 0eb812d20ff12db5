"""Rectification: detect explanations that break the rules and repair them (docs/method.md,
"Rectification").

Four strategies, all batched and all applied to the flagged samples only:

* ``switch``: the paper's interactive intervention switch (Eq. 4-5, Algorithm 1): one candidate
  per violated rule (its best subset flip, if that raises S), all candidates applied at once.
* ``iterate``: repeat the single best improving candidate until no violated rule can be
  improved, so S never decreases.
* ``map``: the exact maximiser of S(c, y) + lam * sum_m log p_m(c_m), which weighs the rules
  against the network's confidence in each concept.
* ``marginal``: the sum-ring twin of ``map``: every concept becomes its exact posterior marginal
  P(c_m = 1 | y) under exp(S(c, y) + lam * sum_m log p_m(c_m)); differentiable (:class:`RuleLayer`).

Intervened concepts become hard 0/1 values (``marginal``: posterior probabilities); the others
keep the network's probabilities.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from again_mln.mln import inference
from again_mln.choices import HARD_STRATEGIES, STRATEGIES
from again_mln.again.detection import fails_detection
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.again.switch import CandidateTable, switch_of
from again_mln.validation import binarize, check_choice, check_probabilities

#: Gains below this are treated as zero, so float round-off cannot make ``iterate`` cycle.
_MIN_GAIN = 1e-5


@dataclass
class RectifyResult:
    """What rectification did to a batch of N explanations over M concepts."""

    rectified: torch.Tensor  # (N, M) float: intervened concepts 0/1, others the input probabilities
    mask: torch.Tensor  # (N, M) bool: concepts the rules changed
    flagged: torch.Tensor  # (N,) bool: explanations that failed detection (Eq. 3)
    score_before: torch.Tensor  # (N,) S(c_hat, y)
    score_after: torch.Tensor  # (N,) S(binarised rectified concepts, y)

    @property
    def interventions(self) -> torch.Tensor:
        """Number of intervened concepts per sample (N,)."""
        return self.mask.sum(1)


def check_options(strategy: str, lam: float) -> None:
    """The strategy and lam, checked once at the boundary."""
    check_choice(strategy, STRATEGIES, "strategy")
    if lam < 0 or not math.isfinite(lam):
        raise AgainError(f"lam must be a finite number >= 0, got {lam}")


def rectify(
    graph: FactorGraph,
    concept_probs: torch.Tensor,
    categories: torch.Tensor,
    strategy: str = "switch",
    threshold: float = 0.9,
    lam: float = 1.0,
) -> RectifyResult:
    """Detect (Eq. 3, relaxation ``threshold`` = d) and rectify with ``strategy``."""
    check_options(strategy, lam)
    probs = check_probabilities(concept_probs, graph.num_concepts).to(graph.device, torch.float32)
    c_hat, y = graph.validate(binarize(probs), categories)
    with torch.no_grad():
        return _rectify(graph, probs, c_hat, y, strategy, threshold, lam)


def _rectify(graph: FactorGraph, probs: torch.Tensor, c_hat: torch.Tensor, y: torch.Tensor, strategy: str,
             threshold: float, lam: float) -> RectifyResult:
    cT = c_hat.T.contiguous()  # concept-major, as the graph's hot paths want
    codes = graph.factor_codes(cT)
    score_before = graph.score_cm(cT, y, codes)
    flagged = fails_detection(graph, score_before, y, threshold)
    fixedT, score_after, rectified = cT, score_before, probs
    rows = flagged.nonzero().squeeze(1)
    if len(rows):
        everyone = len(rows) == len(y)
        sub_cT, sub_y, sub_codes = (cT, y, codes) if everyone else (cT[:, rows], y[rows], codes[:, rows])
        sub_probs = probs if everyone else probs[rows]
        if strategy == "switch":
            repaired = sub_cT ^ switch_of(graph).flips_cm(sub_cT, sub_y, sub_codes).long()
        elif strategy == "iterate":
            repaired = _iterate_t(graph, sub_cT, sub_y)
        elif strategy == "map":
            repaired = map_assignment(graph, sub_probs, sub_y, lam).T
        else:
            posterior = posterior_marginals(graph, sub_probs, sub_y, lam).to(probs.dtype)
            rectified = posterior if everyone else probs.index_copy(0, rows, posterior)
            repaired = binarize(posterior).long().T
        fixedT = repaired if everyone else cT.index_copy(1, rows, repaired)
        score_after = graph.score_cm(fixedT, y)
    mask = (fixedT != cT).T
    if strategy != "marginal":
        rectified = torch.where(mask, fixedT.T.to(probs.dtype), probs)
    return RectifyResult(rectified=rectified, mask=mask, flagged=flagged, score_before=score_before, score_after=score_after)


def switch_flips(graph: FactorGraph, c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The interactive intervention switch: (N, M) 0/1 mask of concepts to flip.

    For every violated rule the best subset flip t (largest s(t) = S(c xor t) - S(c)) is a
    candidate when s(t) > 0; a concept is flipped when any candidate flips it.
    """
    return switch_of(graph).flips_cm(c.T.contiguous(), y).T.long()


def _iterate_t(graph: FactorGraph, cT: torch.Tensor, y: torch.Tensor, max_rounds: int | None = None) -> torch.Tensor:
    switch = switch_of(graph)
    cT, codes = cT.clone(), graph.factor_codes(cT)
    candidates = switch.candidates(cT, y, codes)
    # A concept in no multi-concept rule interacts with nothing: its gain depends on itself alone and
    # its flip on no other gain, so every improving one is taken at once (and none improves after).
    lone = (candidates.concept_gain > _MIN_GAIN) & ~switch.coupled[candidates.concept]
    cT[candidates.concept[lone], candidates.concept_sample[lone]] ^= 1
    table = CandidateTable(switch, cT, y, codes, candidates)
    active = torch.arange(cT.shape[1], device=graph.device)
    for _ in range(max_rounds or 4 * graph.num_concepts):
        if not len(active):
            break
        best, column = table.best(active)
        improving = best > _MIN_GAIN
        active = active[improving]
        if len(active):
            table.flip(column[improving], active)
    return cT


def iterate(graph: FactorGraph, c: torch.Tensor, y: torch.Tensor, max_rounds: int | None = None) -> torch.Tensor:
    """Apply the single best improving candidate of the switch until none improves S: (N, M).

    The first round also takes every improving flip of a concept that shares no rule with another
    concept (those gains are independent of every other flip). After a round only the candidates
    that its flips can change are recomputed. Every applied flip raises S by its exact gain, so S
    never decreases and the loop ends
    (a cap of ``max_rounds``, default 4 M, only guards against pathological weights).
    """
    return _iterate_t(graph, c.T.contiguous(), y, max_rounds).T


def network_evidence(probs: torch.Tensor, lam: float) -> torch.Tensor:
    """lam * (log(1 - p_m), log p_m) as unary log-potentials (N, M, 2), clamped above -inf."""
    tiny = torch.finfo(probs.dtype).tiny
    return lam * torch.stack([torch.log1p(-probs).clamp_min(math.log(tiny)), probs.clamp_min(tiny).log()], -1)


def map_assignment(graph: FactorGraph, probs: torch.Tensor, y: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Exact argmax_c S(c, y) + lam * sum_m log p_m(c_m) for each sample: (N, M) long, by the
    max ring of :mod:`again_mln.mln.inference` (elimination, or an integer program for dense rules)."""
    return inference.map_assignment(graph.factor_view(), y, network_evidence(probs, lam))


def posterior_marginals(graph: FactorGraph, probs: torch.Tensor, y: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Exact P(c_m = 1 | y) under exp(S(c, y) + lam * sum_m log p_m(c_m)) for each sample: (N, M),
    differentiable in ``probs`` (and in the graph's weights when they require gradients)."""
    view = graph.factor_view().to(torch.float64)
    return inference.marginals(view, y, network_evidence(probs.double(), lam))


class RuleLayer(nn.Module):
    """The ``marginal`` strategy as a differentiable layer: concept probabilities (N, M) and
    categories (N,) in, rectified concept probabilities out. Flagged explanations (Eq. 3 at
    ``threshold`` = d; d = 1 flags every one) become their posterior marginals under the rules
    and lam times the network's evidence; the others pass through unchanged. Gradients flow to
    the probabilities, so a concept model can be trained through the rules."""

    def __init__(self, graph: FactorGraph, lam: float = 1.0, threshold: float = 1.0):
        super().__init__()
        check_options("marginal", lam)
        self.graph, self.lam, self.threshold = graph, lam, threshold

    def forward(self, concept_probs: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        c_hat, y = self.graph.validate(binarize(concept_probs.detach()), categories)
        with torch.no_grad():
            flagged = fails_detection(self.graph, self.graph.score(c_hat, y), y, self.threshold)
        posterior = posterior_marginals(self.graph, concept_probs, y, self.lam).to(concept_probs.dtype)
        return torch.where(flagged[:, None], posterior, concept_probs)

    def extra_repr(self) -> str:
        return f"lam={self.lam}, threshold={self.threshold}"


def numpy_result(result: RectifyResult) -> dict[str, np.ndarray]:
    """The arrays of a result as numpy, named as in the ``rectify`` command's output file."""
    return {
        "rectified": result.rectified.cpu().numpy(),
        "mask": result.mask.cpu().numpy(),
        "flagged": result.flagged.cpu().numpy(),
        "score_before": result.score_before.cpu().numpy(),
        "score_after": result.score_after.cpu().numpy(),
    }
