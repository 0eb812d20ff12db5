"""Rectification: repair explanations that detection flagged (docs/method.md, "Rectification").

Four strategies, all batched and all applied to the flagged rows only:

* ``switch``: the paper's interactive intervention switch (Eq. 4-5, Algorithm 1): one candidate
  per violated rule (its best subset flip, if that raises S), all candidates applied at once.
* ``iterate``: repeat the single best improving candidate until no violated rule can be
  improved, so S never decreases.
* ``map``: the exact maximiser of S(c, y) + lam * sum_m log p_m(c_m), which weighs the rules
  against the network's confidence in each concept.
* ``marginal``: the sum-ring twin of ``map``: every concept becomes its exact posterior marginal
  P(c_m = 1 | y) under exp(S(c, y) + lam * sum_m log p_m(c_m)); differentiable (:class:`RuleLayer`).

Intervened concepts become hard 0/1 values (``marginal``: posterior probabilities); the others
keep the network's probabilities. Which rows are flagged is the detector's business
(:class:`again_mln.again.rectifier.Rectifier`); this module never detects.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from again_mln.again.evidence import map_assignment, posterior_marginals
from again_mln.again.switch import CandidateTable, SwitchTables
from again_mln.validation import binarize

if TYPE_CHECKING:
    from again_mln.again.compiled import CompiledRules

#: Gains below this are treated as zero, so float round-off cannot make ``iterate`` cycle.
_MIN_GAIN = 1e-5


@dataclass
class RectifyResult:
    """What rectification did to a batch of N explanations over M concepts."""

    rectified: torch.Tensor  # (N, M) float: intervened concepts 0/1, others the input probabilities
    mask: torch.Tensor  # (N, M) bool: concepts the rules changed
    flagged: torch.Tensor  # (N,) bool: explanations that failed detection
    score_before: torch.Tensor  # (N,) S(c_hat, y)
    score_after: torch.Tensor  # (N,) S(binarised rectified concepts, y)
    category: torch.Tensor  # (N,) y: the category each explanation was judged and repaired under


def repair(compiled: "CompiledRules", probs: torch.Tensor, c_hat: torch.Tensor, y: torch.Tensor,
           flagged: torch.Tensor, strategy: str, lam: float) -> RectifyResult:
    """Repair the ``flagged`` rows (N,) of validated probabilities (N, M), binary c_hat (N, M)
    and categories (N,) with ``strategy``; only those rows are computed on."""
    graph = compiled.graph
    cT = c_hat.T.contiguous()  # concept-major, as the graph's hot paths want
    codes = graph.factor_codes(cT)
    score_before = graph.score_cm(cT, y, codes)
    fixedT, score_after, rectified = cT, score_before, probs
    rows = flagged.nonzero().squeeze(1)
    if len(rows):
        everyone = len(rows) == len(y)
        sub_cT, sub_y, sub_codes = (cT, y, codes) if everyone else (cT[:, rows], y[rows], codes[:, rows])
        sub_probs = probs if everyone else probs[rows]
        if strategy == "switch":
            repaired = sub_cT ^ compiled.switch().flips_cm(sub_cT, sub_y, sub_codes).long()
        elif strategy == "iterate":
            repaired = iterate_cm(compiled.switch(), sub_cT, sub_y)
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
    return RectifyResult(rectified=rectified, mask=mask, flagged=flagged, score_before=score_before,
                         score_after=score_after, category=y)


def iterate_cm(switch: SwitchTables, cT: torch.Tensor, y: torch.Tensor, max_rounds: int | None = None) -> torch.Tensor:
    """Apply the single best improving candidate of the switch until none improves S: concepts
    cT (M, N) concept-major in and out.

    The first round also takes every improving flip of a concept that shares no rule with another
    concept (those gains are independent of every other flip). After a round only the candidates
    that its flips can change are recomputed. Every applied flip raises S by its exact gain, so S
    never decreases and the loop ends (a cap of ``max_rounds``, default 4 M, only guards against
    pathological weights)."""
    graph = switch.graph
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


def numpy_result(result: RectifyResult) -> dict[str, np.ndarray]:
    """The arrays of a result as numpy, named as in the ``rectify`` command's output file."""
    return {
        "rectified": result.rectified.cpu().numpy(),
        "mask": result.mask.cpu().numpy(),
        "flagged": result.flagged.cpu().numpy(),
        "score_before": result.score_before.cpu().numpy(),
        "score_after": result.score_after.cpu().numpy(),
        "category": result.category.cpu().numpy(),
    }
