"""The public inference queries, each batched over the rows of a factor view (categories or
samples) and each accepting extra unary evidence (docs/method.md, "Inference"):

* :func:`log_partition`: log Z = log sum_c exp S(c), differentiable;
* :func:`max_score`: S_max = max_c S(c);
* :func:`map_assignment`: a maximiser argmax_c S(c);
* :func:`marginals`: P(c_m = 1) = d log Z / d unary[m, 1], differentiable (the sum-ring twin of MAP).

``rows`` picks the view's batch rows (e.g. each sample's category) and ``evidence`` (B, M, 2)
adds log-potentials (e.g. lam * log p_m(c_m); -inf rules a value out) before contracting.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from again_mln.factors import FactorView
from again_mln.inference.contract import Contraction, Factor, contract
from again_mln.inference.enumerate import enumerate_contract
from again_mln.inference.milp import milp_contract
from again_mln.inference.planner import Plan, Route, plan
from again_mln.inference.rings import LogRing, MaxRing, Ring


def factors_of(view: FactorView) -> list[Factor]:
    """The view as elimination factors: the constant (no scope), one per unary, one per table."""
    factors = [Factor((), view.const)] + [Factor((m,), view.unary[:, m]) for m in range(view.num_variables)]
    for f, scope in enumerate(view.scopes):
        table = view.tables[:, f, : 2 ** len(scope)].reshape(-1, *(2,) * len(scope))  # C order: last axis = bit 0
        factors.append(Factor(scope[::-1], table))
    return factors


def _rows(view: FactorView, start: int, stop: int) -> FactorView:
    tables = view.tables if view.tables.shape[0] == 1 else view.tables[start:stop]
    return FactorView(view.const[start:stop], view.unary[start:stop], view.scopes, tables)


def _run(view: FactorView, ring: Ring, chosen: Plan) -> Contraction:
    if chosen.route == "milp":
        return milp_contract(view)
    if chosen.route == "enumerate":
        return enumerate_contract(view, ring, chosen.assignments)
    parts = [
        contract(factors_of(_rows(view, start, start + chosen.rows)), view.num_variables, ring, order=chosen.order)
        for start in range(0, view.batch, chosen.rows)
    ]
    if len(parts) == 1:
        return parts[0]
    argmax = torch.cat([p.argmax for p in parts]) if ring is MaxRing else None
    return Contraction(torch.cat([p.value for p in parts]), argmax)


def _contract(view: FactorView, ring: Ring, rows, evidence, route: Route) -> Contraction:
    view = view.condition(rows, evidence)
    if view.batch == 0:
        empty = view.const.new_zeros(0)
        return Contraction(empty, torch.zeros(0, view.num_variables, dtype=torch.long, device=empty.device))
    return _run(view, ring, plan(view, ring, route))


def log_partition(view: FactorView, rows: torch.Tensor | None = None, evidence: torch.Tensor | None = None,
                  route: Route = "auto") -> torch.Tensor:
    """log sum_c exp S(c) for every row (B,), differentiable in the view's tables."""
    return _contract(view, LogRing, rows, evidence, route).value


def max_score(view: FactorView, rows: torch.Tensor | None = None, evidence: torch.Tensor | None = None,
              route: Route = "auto") -> torch.Tensor:
    """max_c S(c) for every row (B,)."""
    with torch.no_grad():
        return _contract(view, MaxRing, rows, evidence, route).value


def map_assignment(view: FactorView, rows: torch.Tensor | None = None, evidence: torch.Tensor | None = None,
                   route: Route = "auto") -> torch.Tensor:
    """A maximiser of S(c) for every row: (B, M) long."""
    with torch.no_grad():
        return _contract(view, MaxRing, rows, evidence, route).argmax


def marginals(view: FactorView, rows: torch.Tensor | None = None, evidence: torch.Tensor | None = None,
              route: Route = "auto") -> torch.Tensor:
    """P(c_m = 1) for every row and variable (B, M): the gradient of log Z in the unary value of
    c_m = 1. Differentiable (through a double backward) when the view or evidence carries gradients."""
    view = view.condition(rows, evidence)
    if view.batch == 0:
        return view.unary.new_zeros(0, view.num_variables)
    differentiable = torch.is_grad_enabled() and any(t.requires_grad for t in (view.const, view.unary, view.tables))
    with torch.enable_grad():
        handle = torch.zeros(view.batch, view.num_variables, dtype=view.unary.dtype, device=view.unary.device, requires_grad=True)
        handled = replace(view, unary=view.unary + torch.stack([torch.zeros_like(handle), handle], -1))
        log_z = _contract(handled, LogRing, None, None, route).value
        (probs,) = torch.autograd.grad(log_z.sum(), handle, create_graph=differentiable)
    return probs.clamp(0.0, 1.0)  # round-off can step past the bounds
