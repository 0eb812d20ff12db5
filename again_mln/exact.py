"""Exact log Z(y) and concept marginals of a :class:`FactorGraph`, differentiable in its weights.

Two exact routes, same numbers: variable elimination over the concept graph
(:mod:`again_mln.contract`, cost K * 2^(width+1) per concept, so it works for any number of
concepts when the rules form chains, trees or small cycles), and enumeration of all 2^M
assignments (M <= 22), chunked and checkpointed so that its gradient needs no 2^M memory.
"""
from __future__ import annotations

from typing import Callable, Literal

import torch
from torch.utils.checkpoint import checkpoint

from again_mln.contract import contract
from again_mln.errors import AgainError
from again_mln.graph import MAX_ENUMERATION_CONCEPTS, FactorGraph

ExactMethod = Literal["auto", "contract", "enumerate"]
#: Largest intermediate table (entries over all categories) that exact learning builds.
MAX_TABLE_ENTRIES = 2**26
_ENUMERATION_CHUNK = 2**14


def exact_route(graph: FactorGraph, method: ExactMethod = "auto") -> Literal["contract", "enumerate"] | None:
    """Which exact route fits in :data:`MAX_TABLE_ENTRIES` (``None``: neither does)."""
    K, M = graph.num_categories, graph.num_concepts
    width = graph.elimination_order()[1]
    fits = {
        "contract": K * 2**width <= MAX_TABLE_ENTRIES,
        "enumerate": M <= MAX_ENUMERATION_CONCEPTS,
    }
    if method == "auto":
        return next((route for route, ok in fits.items() if ok), None)
    if method not in fits:
        raise AgainError(f"unknown exact method {method!r}; expected auto, contract or enumerate")
    return method if fits[method] else None


def log_partition(graph: FactorGraph, method: ExactMethod = "auto") -> torch.Tensor:
    """Exact log Z(y) for every category (K,), with gradients to the graph's weights."""
    return log_partition_function(graph, method)()


def log_partition_function(graph: FactorGraph, method: ExactMethod = "auto") -> Callable[[], torch.Tensor]:
    """A function giving log Z(y) (K,) under the graph's current weights, its route (and
    elimination order) chosen once, for repeated evaluation while the weights change."""
    route = exact_route(graph, method)
    if route is None:
        raise AgainError(
            f"exact log Z is out of reach for {graph.num_concepts} concepts with these rules; use pseudo-likelihood"
        )
    if route == "enumerate":
        return lambda: _enumerated_log_partition(graph)
    order = graph.elimination_order()[0]
    return lambda: contract(graph.factors(dtype=torch.float64), graph.num_concepts, "logsumexp", order=order).value


def _enumerated_log_partition(graph: FactorGraph) -> torch.Tensor:
    """log-sum-exp of S(c, k) over all 2^M assignments; each chunk is recomputed in backward."""
    M = graph.num_concepts
    bits = 1 << torch.arange(M, device=graph.device)

    def chunk_logsumexp(start: int) -> torch.Tensor:
        index = torch.arange(start, min(start + _ENUMERATION_CHUNK, 2**M), device=graph.device)
        return torch.logsumexp(graph.score_all_categories((index[:, None] & bits) > 0).double(), 0)

    parts = [checkpoint(chunk_logsumexp, start, use_reentrant=False) for start in range(0, 2**M, _ENUMERATION_CHUNK)]
    return torch.logsumexp(torch.stack(parts), 0)


def concept_marginals(graph: FactorGraph) -> torch.Tensor:
    """P(c_m = 1 | y) for every category and concept (K, M), exactly, as d log Z / d unary."""
    shift = torch.zeros(graph.num_categories, graph.num_concepts, 2, dtype=torch.float64, device=graph.device, requires_grad=True)
    with torch.enable_grad():
        unary = graph.unary.double() + shift
        log_z = contract(graph.factors(unary, dtype=torch.float64), graph.num_concepts, "logsumexp").value
        (grad,) = torch.autograd.grad(log_z.sum(), shift)
    return grad[..., 1]
