"""Variable elimination over binary variables in a semiring (docs/method.md, "Inference").

One algorithm for both rings: each step joins the factors that hold the next variable in the
order (ring product = +) and reduces that variable away (the ring's sum). The cost is
2**(width + 1) per eliminated variable, so chains and trees of concept rules stay cheap whatever
the number of concepts. Tables carry leading batch dimensions (one per category or sample) and
every step is a batched torch op, differentiable in the tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from again_mln.errors import AgainError
from again_mln.inference.order import min_fill_order
from again_mln.inference.rings import MaxRing, Ring


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
    """The contracted value (batch shape) and, in the max ring, a maximising assignment (batch + (n,))."""

    value: torch.Tensor
    argmax: torch.Tensor | None = None


def _align(factor: Factor, union: Sequence[int], batch_ndim: int) -> torch.Tensor:
    """The factor's table with one axis per variable of ``union`` (size 1 where absent)."""
    position = {v: i for i, v in enumerate(factor.scope)}
    present = [v for v in union if v in position]
    table = factor.table.permute(*range(batch_ndim), *(batch_ndim + position[v] for v in present))
    return table.reshape(*table.shape[:batch_ndim], *(2 if v in position else 1 for v in union))


def contract(
    factors: Sequence[Factor],
    num_variables: int,
    ring: Ring,
    order: Sequence[int] | None = None,
    max_width: int = 26,
) -> Contraction:
    """Contract all variables ``0..num_variables-1`` of the summed tables in ``ring``.

    Variables in no factor count once each (``ring.free``; value 0 in the argmax).
    """
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
        if ring.records_argmax:  # backpointers need every axis at full size
            joint = joint.expand(*joint.shape[:batch_ndim], *(2,) * len(union))
        rest = tuple(u for u in union if u != v)
        reduced, best = ring.reduce(joint, batch_ndim + union.index(v))
        if best is not None:
            backtrack.append((v, rest, best))
        pending.append(Factor(rest, reduced))
    value = sum(f.table for f in pending) + ring.free(free)
    if ring is not MaxRing:
        return Contraction(value)
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
