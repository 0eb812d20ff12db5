"""Exact contraction by enumerating all 2**M assignments, chunk by chunk (docs/method.md, "Inference").

For few variables and dense factors (where elimination would build tables as large as the
enumeration anyway) scoring every assignment is simplest and fastest. Chunks keep memory under
the planner's budget; when gradients are asked for, each chunk is recomputed in the backward
pass (checkpointing), so they need no 2**M memory either.
"""
from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

from again_mln.mln.factors import FactorView
from again_mln.mln.inference.contract import Contraction
from again_mln.mln.inference.rings import Ring


def assignment_bits(start: int, stop: int, num_variables: int, device: torch.device) -> torch.Tensor:
    """(stop - start, M) long: assignment number a has variable m = bit m of a."""
    index = torch.arange(start, stop, device=device)
    return (index[:, None] >> torch.arange(num_variables, device=device)) & 1


def score_assignments(view: FactorView, bits: torch.Tensor) -> torch.Tensor:
    """The view's score of each assignment (A, M) under each batch row: (B, A).

    Unary values of -inf (ruled-out evidence) are applied as a mask, so that 0 * -inf never
    turns a score into NaN."""
    unary = view.unary
    banned = torch.isneginf(unary)
    finite = unary.masked_fill(banned, 0.0)
    on = bits.to(unary.dtype)
    scores = view.const[:, None] + finite[..., 0].sum(1)[:, None] + (finite[..., 1] - finite[..., 0]) @ on.T
    if banned.any():
        hits = banned[..., 1].to(unary.dtype) @ on.T + banned[..., 0].to(unary.dtype) @ (1 - on).T
        scores = scores.masked_fill(hits > 0, -math.inf)
    if view.scopes:
        arity = max(len(s) for s in view.scopes)
        variables = torch.tensor([list(s) + [s[0]] * (arity - len(s)) for s in view.scopes], device=bits.device)
        codes = (bits.T[variables] << torch.arange(arity, device=bits.device)[None, :, None]).sum(1)  # (F, A)
        tables = view.tables  # (B or 1, F, W)
        values = tables.gather(2, codes[None].expand(tables.shape[0], -1, -1))  # (B or 1, F, A)
        scores = scores + values.sum(1)
    return scores


def enumerate_contract(view: FactorView, ring: Ring, chunk: int) -> Contraction:
    """Contract by scoring every assignment, ``chunk`` assignments at a time, in ``ring``: its sum
    within each chunk and across the chunks, then the read-back of its backward
    (:meth:`Ring.unravel`: a maximiser in the max ring)."""
    M, device = view.num_variables, view.unary.device
    total = 2**M

    def chunk_sum(start: int, const: torch.Tensor, unary: torch.Tensor,
                  tables: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        part = FactorView(const, unary, view.scopes, tables)
        return ring.argsum(score_assignments(part, assignment_bits(start, min(start + chunk, total), M, device)), 1)

    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (view.const, view.unary, view.tables))
    parts = [
        checkpoint(chunk_sum, start, view.const, view.unary, view.tables, use_reentrant=False) if grad
        else chunk_sum(start, view.const, view.unary, view.tables)
        for start in range(0, total, chunk)
    ]
    value, chunk_of = ring.argsum(torch.stack([value for value, _ in parts]), 0)
    return Contraction(value, ring.unravel(chunk_of, [within for _, within in parts], chunk, M))
