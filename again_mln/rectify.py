"""Rectification: detect explanations that break the rules and repair them (METHOD.md).

Three strategies, all batched and all applied to the flagged samples only:

* ``switch``: the paper's interactive intervention switch (Eq. 4-5, Algorithm 1): one candidate
  per violated rule (its best subset flip, if that raises S), all candidates applied at once.
* ``iterate``: repeat the single best improving candidate until no violated rule can be
  improved, so S never decreases.
* ``map``: the exact maximiser of S(c, y) + lam * sum_m log p_m(c_m), which weighs the rules
  against the network's confidence in each concept.

Intervened concepts become hard 0/1 values; the others keep the network's probabilities.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from again_mln.errors import AgainError
from again_mln.graph import FactorGraph

STRATEGIES = ("switch", "iterate", "map")
#: Gains below this are treated as zero, so float round-off cannot make ``iterate`` cycle.
_MIN_GAIN = 1e-5
#: Connected groups of concepts up to this size are maximised by enumeration in ``map``.
_MAX_ENUMERATED_GROUP = 12


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


def check_probabilities(probs: torch.Tensor, num_concepts: int, name: str = "concept probabilities") -> torch.Tensor:
    """Validate an (N, M) array of probabilities; one clear error per problem."""
    probs = torch.as_tensor(probs)
    if probs.ndim != 2 or probs.shape[1] != num_concepts:
        raise AgainError(f"{name}: expected shape (N, {num_concepts}), got {tuple(probs.shape)}")
    if not torch.is_floating_point(probs):
        probs = probs.float()
    if not torch.isfinite(probs).all():
        raise AgainError(f"{name}: contains NaN or infinite values")
    if len(probs) and (probs.min() < 0 or probs.max() > 1):
        raise AgainError(f"{name}: values must lie in [0, 1] (pass logits with --logits)")
    return probs


def rectify(
    graph: FactorGraph,
    concept_probs: torch.Tensor,
    categories: torch.Tensor,
    strategy: str = "switch",
    threshold: float = 0.9,
    lam: float = 1.0,
) -> RectifyResult:
    """Detect (Eq. 3, relaxation ``threshold`` = d) and rectify with ``strategy``."""
    if strategy not in STRATEGIES:
        raise AgainError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if lam < 0 or not math.isfinite(lam):
        raise AgainError(f"lam must be a finite number >= 0, got {lam}")
    probs = check_probabilities(concept_probs, graph.num_concepts).to(graph.device, torch.float32)
    c_hat, y = graph._prepare(probs > 0.5, categories)
    flagged = graph.detect(probs, y, threshold)
    fixed = c_hat.clone()
    rows = flagged.nonzero().squeeze(1)
    if len(rows):
        if strategy == "switch":
            fixed[rows] = c_hat[rows] ^ switch_flips(graph, c_hat[rows], y[rows])
        elif strategy == "iterate":
            fixed[rows] = iterate(graph, c_hat[rows], y[rows])
        else:
            fixed[rows] = map_assignment(graph, probs[rows], y[rows], lam)
    mask = fixed != c_hat
    return RectifyResult(
        rectified=torch.where(mask, fixed.to(probs.dtype), probs),
        mask=mask,
        flagged=flagged,
        score_before=graph._score(c_hat, y),
        score_after=graph._score(fixed, y),
    )


def _flips_of_rules(graph: FactorGraph, chosen: torch.Tensor, subset: torch.Tensor) -> torch.Tensor:
    """(N, M) bool: the concepts flipped when rule f (where ``chosen[n, f]``) flips subset[n, f]."""
    N, F = chosen.shape
    positions = torch.arange(graph.max_arity, device=graph.device)
    bits = graph._subset_bits[subset]  # (N, F)
    on = ((bits[..., None] >> positions) & 1).bool() & chosen[..., None]  # (N, F, R)
    target = graph._factor_variables[:F].expand(N, -1, -1).reshape(N, -1)
    out = torch.zeros(N, graph.num_concepts, device=graph.device, dtype=torch.long)
    return out.scatter_add_(1, target, on.reshape(N, -1).long()) > 0


def switch_flips(graph: FactorGraph, c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The interactive intervention switch: (N, M) bool mask of concepts to flip.

    For every violated rule the best subset flip t (largest s(t) = S(c xor t) - S(c)) is a
    candidate when s(t) > 0; a concept is flipped when any candidate flips it.
    """
    unary, multi = graph.switch_gains(c, y)
    flips = unary > 0
    if multi.shape[1]:
        best, subset = multi.max(-1)
        flips |= _flips_of_rules(graph, best > 0, subset)
    return flips.long()


def iterate(graph: FactorGraph, c: torch.Tensor, y: torch.Tensor, max_rounds: int | None = None) -> torch.Tensor:
    """Apply the single best improving candidate of the switch until none improves S.

    Every applied flip raises S by its exact gain, so S never decreases and the loop ends
    (a cap of ``max_rounds``, default 4 M, only guards against pathological weights).
    """
    c = c.clone()
    M = graph.num_concepts
    active = torch.arange(len(c), device=graph.device)
    for _ in range(max_rounds or 4 * M):
        if not len(active):
            break
        unary, multi = graph.switch_gains(c[active], y[active])
        T = multi.shape[2] if multi.ndim == 3 else 0
        gains = torch.cat([unary, multi.reshape(len(active), -1)], 1)
        best, index = gains.max(1)
        improving = best > _MIN_GAIN
        active, index = active[improving], index[improving]
        if not len(active):
            break
        single = index < M
        flips = torch.zeros(len(active), M, dtype=torch.bool, device=graph.device)
        flips[single.nonzero().squeeze(1), index[single]] = True
        if T:
            position = index.clamp(min=M) - M
            rule, subset = position // T, position % T
            chosen = torch.zeros(len(active), multi.shape[1], dtype=torch.bool, device=graph.device)
            chosen[torch.arange(len(active), device=graph.device), rule] = ~single
            flips |= _flips_of_rules(graph, chosen, subset[:, None].expand(-1, multi.shape[1]))
        c[active] ^= flips.long()
    return c


def map_assignment(graph: FactorGraph, probs: torch.Tensor, y: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Exact argmax_c S(c, y) + lam * sum_m log p_m(c_m) for each sample: (N, M) long.

    Concepts that share no multi-concept rule are maximised one by one; each connected group of
    concepts is maximised by enumeration when small and by an integer program otherwise.
    """
    eps = torch.finfo(probs.dtype).tiny
    evidence = lam * torch.stack([torch.log1p(-probs).clamp_min(math.log(eps)), probs.clamp_min(eps).log()], -1)
    unary = graph.unary[y] + evidence  # (N, M, 2)
    best = (unary[..., 1] > unary[..., 0]).long()
    groups = graph.factor_components
    if any(len(g) > _MAX_ENUMERATED_GROUP for g in groups):
        from again_mln.maxsat import solve_milp

        extra = evidence.detach().cpu().numpy()
        _, assignment = solve_milp(graph, y.cpu().numpy(), extra)
        return torch.as_tensor(assignment, device=graph.device)
    for group in groups:
        best[:, group] = _enumerate_group(graph, unary, y, torch.as_tensor(group, device=graph.device))
    return best


def _enumerate_group(graph: FactorGraph, unary: torch.Tensor, y: torch.Tensor, group: torch.Tensor) -> torch.Tensor:
    """Best joint assignment of one connected group of concepts, per sample: (N, |group|)."""
    size = len(group)
    table = torch.tensor(list(itertools.product([0, 1], repeat=size)), device=graph.device)  # (A, size)
    group_unary = unary[:, group]  # (N, size, 2)
    scores = (group_unary[..., 1] - group_unary[..., 0]) @ table.T.to(unary.dtype)  # (N, A)
    F = len(graph._multi_rules)
    factors = torch.isin(graph._factor_variables[:F, 0], group).nonzero().squeeze(1)
    full = torch.zeros(len(table), graph.num_concepts, dtype=torch.long, device=graph.device)
    full[:, group] = table
    codes = (full[:, graph._factor_variables[factors]] * graph._factor_bits).sum(-1)  # (A, F_g)
    values = graph._factor_values.reshape(graph._factor_truth.shape)[:, factors]  # (Kf, F_g, 2**R)
    per_category = values.gather(2, codes.T[None].expand(len(values), -1, -1)).sum(1)  # (Kf, A)
    scores = scores + per_category[y if len(values) > 1 else torch.zeros_like(y)]
    return table[scores.argmax(1)]


def numpy_result(result: RectifyResult) -> dict[str, np.ndarray]:
    """The arrays of a result as numpy, named as in the ``rectify`` command's output file."""
    return {
        "rectified": result.rectified.cpu().numpy(),
        "mask": result.mask.cpu().numpy(),
        "flagged": result.flagged.cpu().numpy(),
        "score_before": result.score_before.cpu().numpy(),
        "score_after": result.score_after.cpu().numpy(),
    }
