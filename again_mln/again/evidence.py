"""The network's confidence as unary evidence of the rules' queries, and the two queries that use
it (docs/method.md, "Inference"): the MAP assignment and the posterior marginals under
exp(S(c, y) + lam * sum_m log p_m(c_m)). One definition of the evidence term, so that the ``map``
and ``marginal`` repairs, the ``map-gap`` detector and the intervention policies weigh the network
the same way.
"""
from __future__ import annotations

import math

import torch

from again_mln.again.graph import FactorGraph
from again_mln.mln import inference


def network_evidence(probs: torch.Tensor, lam: float) -> torch.Tensor:
    """lam * (log(1 - p_m), log p_m) as unary log-potentials (N, M, 2); a probability of exactly 0
    or 1 is clamped to the smallest normal number of its dtype, so no entry is -inf."""
    tiny = torch.finfo(probs.dtype).tiny
    return lam * torch.stack([torch.log1p(-probs).clamp_min(math.log(tiny)), probs.clamp_min(tiny).log()], -1)


def evidence_of(probs: torch.Tensor, concepts: torch.Tensor, lam: float) -> torch.Tensor:
    """lam * sum_m log p_m(c_m) of binary ``concepts`` (N, M) under the network's ``probs`` (N,)."""
    return network_evidence(probs, lam).gather(2, concepts.long()[..., None]).squeeze(2).sum(1)


def map_assignment(graph: FactorGraph, probs: torch.Tensor, y: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """Exact argmax_c S(c, y) + lam * sum_m log p_m(c_m) for each sample: (N, M) long, by the
    max ring of :mod:`again_mln.mln.inference` (elimination, or an integer program for dense rules)."""
    return inference.map_assignment(graph.factor_view(), y, network_evidence(probs, lam))


def posterior_marginals(graph: FactorGraph, probs: torch.Tensor, y: torch.Tensor, lam: float = 1.0,
                        evidence: torch.Tensor | None = None) -> torch.Tensor:
    """Exact P(c_m = 1 | y) under exp(S(c, y) + lam * sum_m log p_m(c_m)) for each sample: (N, M)
    float64, differentiable in ``probs`` (and in the graph's weights when they require gradients).
    ``evidence`` (N, M, 2) replaces the network's term where a caller knows more (answered concepts)."""
    view = graph.factor_view().to(torch.float64)
    return inference.marginals(view, y, network_evidence(probs.double(), lam) if evidence is None else evidence)
