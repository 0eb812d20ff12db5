"""Exact sum-product and max-product over binary variables by variable elimination.

log Z(y) (learning) and S_max(y) (detection) are the same contraction of the factor graph in
two semirings, log-sum-exp and max-plus; the cost is 2^(width + 1) per eliminated variable,
where the width comes from a min-fill elimination order, so chains and trees of concept rules
stay cheap whatever the number of concepts. Tables carry leading batch dimensions (one per
category, say) and every step is a batched torch op, differentiable in the tables.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import torch

from again_mln.errors import AgainError

Semiring = Literal["logsumexp", "max"]
#: Default bound on the variables of one intermediate table (2**24 entries per batch row).
MAX_WIDTH = 24


@dataclass(frozen=True)
class Factor:
    """A log-space table over binary variables: ``table.shape == batch + (2,) * len(scope)``."""

    scope: tuple[int, ...]
    table: torch.Tensor

    def __post_init__(self) -> None:
        if len(set(self.scope)) != len(self.scope) or self.table.shape[self.table.ndim - len(self.scope):] != (2,) * len(self.scope):
            raise ValueError(f"factor table {tuple(self.table.shape)} does not match scope {self.scope}")


@dataclass(frozen=True)
class Contraction:
    """The contracted value (batch shape) and, for ``max``, a maximising assignment (batch + (n,))."""

    value: torch.Tensor
    argmax: torch.Tensor | None = None


def _neighbours(scopes: Iterable[Sequence[int]], variables: Iterable[int]) -> dict[int, set[int]]:
    graph: dict[int, set[int]] = {v: set() for v in variables}
    for scope in scopes:
        for v in scope:
            graph.setdefault(v, set()).update(u for u in scope if u != v)
    return graph


def min_fill_order(scopes: Iterable[Sequence[int]], variables: Iterable[int] = ()) -> list[int]:
    """A greedy elimination order: each step removes the variable whose neighbours need the fewest
    new edges to become a clique (ties: fewest neighbours, then lowest id)."""
    graph = _neighbours(scopes, variables)
    order = []
    while graph:
        def fill(v: int) -> tuple[int, int, int]:
            nb = list(graph[v])
            missing = sum(1 for i, a in enumerate(nb) for b in nb[i + 1:] if b not in graph[a])
            return missing, len(nb), v

        v = min(graph, key=fill)
        for a in graph[v]:
            graph[a].update(graph[v] - {a})
            graph[a].discard(v)
        del graph[v]
        order.append(v)
    return order


def induced_width(scopes: Iterable[Sequence[int]], order: Sequence[int]) -> int:
    """Most variables in one intermediate table when eliminating in ``order`` (0 for no factors)."""
    graph = _neighbours(scopes, order)
    width = 0
    for v in order:
        width = max(width, len(graph[v]) + 1)
        for a in graph[v]:
            graph[a].update(graph[v] - {a})
            graph[a].discard(v)
        del graph[v]
    return width


def _align(factor: Factor, union: Sequence[int], batch_ndim: int) -> torch.Tensor:
    """The factor's table with one axis per variable of ``union`` (size 1 where absent)."""
    position = {v: i for i, v in enumerate(factor.scope)}
    present = [v for v in union if v in position]
    table = factor.table.permute(*range(batch_ndim), *(batch_ndim + position[v] for v in present))
    return table.reshape(*table.shape[:batch_ndim], *(2 if v in position else 1 for v in union))


def contract(
    factors: Sequence[Factor],
    num_variables: int,
    semiring: Semiring = "logsumexp",
    order: Sequence[int] | None = None,
    max_width: int = MAX_WIDTH,
) -> Contraction:
    """Contract all variables ``0..num_variables-1``: log-sum-exp or max of the summed tables.

    Variables in no factor count once each (log 2 in ``logsumexp``; value 0 in the argmax).
    """
    if semiring not in ("logsumexp", "max"):
        raise ValueError(f"unknown semiring {semiring!r}")
    if not factors:
        raise ValueError("contract needs at least one factor (its batch shape fixes the output's)")
    batch_ndim = factors[0].table.ndim - len(factors[0].scope)
    order = list(order) if order is not None else min_fill_order([f.scope for f in factors], range(num_variables))
    pending = list(factors)
    backtrack: list[tuple[int, tuple[int, ...], torch.Tensor]] = []
    free = 0
    for v in order:
        touching = [f for f in pending if v in f.scope]
        if not touching:
            free += 1
            continue
        pending = [f for f in pending if v not in f.scope]
        union = sorted({u for f in touching for u in f.scope})
        if len(union) > max_width:
            raise AgainError(f"exact contraction needs a table over {len(union)} variables (limit {max_width})")
        joint = sum(_align(f, union, batch_ndim) for f in touching)
        axis = batch_ndim + union.index(v)
        rest = tuple(u for u in union if u != v)
        if semiring == "logsumexp":
            reduced = torch.logsumexp(joint, dim=axis)
        else:
            joint = joint.expand(*joint.shape[:batch_ndim], *(2,) * len(union))
            reduced, best = joint.max(dim=axis)
            backtrack.append((v, rest, best))
        pending.append(Factor(rest, reduced))
    value = sum(f.table for f in pending)
    if semiring == "logsumexp":
        return Contraction(value + free * math.log(2.0))
    return Contraction(value, _backtrack(backtrack, value.shape, num_variables, value.device))


def _backtrack(
    steps: list[tuple[int, tuple[int, ...], torch.Tensor]], batch: torch.Size, num_variables: int, device: torch.device
) -> torch.Tensor:
    """Read a maximising assignment off the stored argmax tables, last eliminated first."""
    assignment = torch.zeros(*batch, num_variables, dtype=torch.long, device=device)
    for v, rest, best in reversed(steps):
        flat = best.expand(*batch, *best.shape[len(batch):]).reshape(*batch, -1)
        index = torch.zeros(batch, dtype=torch.long, device=device)
        for u in rest:  # rest is sorted and table axes are C-ordered: the first is the high bit
            index = index * 2 + assignment[..., u]
        assignment[..., v] = flat.gather(-1, index[..., None]).squeeze(-1)
    return assignment
