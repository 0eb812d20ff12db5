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

from again_mln.mln.factors import FactorView
from again_mln.mln.inference.contract import Contraction, compile_program, fold, run
from again_mln.mln.inference.enumerate import enumerate_contract
from again_mln.mln.inference.planner import Plan, Route, plan
from again_mln.mln.inference.rings import LogRing, MaxRing, Ring

_LOG, _MAX = LogRing(), MaxRing()


def _eliminate(view: FactorView, ring: Ring, chosen: Plan, rows: torch.Tensor | None) -> Contraction:
    """Variable elimination by the structure's compiled program. The rule tables are folded once
    per call (per category present when they depend on the category), so the per-sample work is
    the sample's evidence and the messages only. ``view`` holds the conditioned const and unary;
    its tables are still the unconditioned ones, picked per row through ``rows``."""
    program = compile_program(view.scopes, view.num_variables, chosen.order).to(view.unary.device)
    per_category = view.tables.shape[0] > 1 and rows is not None
    tables = view.tables.to(view.unary.dtype)
    folded = None if per_category else fold(program, tables)
    unary = view.unary.permute(1, 2, 0).contiguous()  # (M, 2, B): each variable's rows contiguous
    parts = []
    for start in range(0, view.batch, chosen.rows):
        stop = min(start + chosen.rows, view.batch)
        columns = None
        if per_category:  # fold only the categories of this chunk
            present, columns = rows[start:stop].unique(return_inverse=True)
            folded = fold(program, tables[present])
        elif folded.shape[1] > 1:
            columns = torch.arange(start, stop, device=folded.device)
        part = run(program, folded, ring, unary[:, :, start:stop], columns)
        parts.append(Contraction(ring.product(part.value, view.const[start:stop]), part.argmax))
    return parts[0] if len(parts) == 1 else Contraction.cat(parts)


def _contract(view: FactorView, ring: Ring, rows, evidence, route: Route) -> Contraction:
    # const and unary per row now; the tables stay per category until a route needs them per row
    conditioned = view if rows is None else replace(view, const=view.const[rows], unary=view.unary[rows])
    conditioned = conditioned.condition(None, evidence)
    if conditioned.batch == 0:
        empty = view.const.new_zeros(0)
        return Contraction(empty, torch.zeros(0, view.num_variables, dtype=torch.long, device=empty.device))
    chosen = plan(conditioned, ring, route)
    if chosen.route == "eliminate":
        return _eliminate(conditioned, ring, chosen, rows)
    view = view.condition(rows, evidence)
    if chosen.route == "enumerate":
        return enumerate_contract(view, ring, chosen.assignments)
    return ring.routes[chosen.route](view)  # a route of the ring's own (the max ring's integer program)


def log_partition(view: FactorView, rows: torch.Tensor | None = None, evidence: torch.Tensor | None = None,
                  route: Route = "auto") -> torch.Tensor:
    """log sum_c exp S(c) for every row (B,), differentiable in the view's tables."""
    return _contract(view, _LOG, rows, evidence, route).value


def max_score(view: FactorView, rows: torch.Tensor | None = None, evidence: torch.Tensor | None = None,
              route: Route = "auto") -> torch.Tensor:
    """max_c S(c) for every row (B,)."""
    with torch.no_grad():
        return _contract(view, _MAX, rows, evidence, route).value


def map_assignment(view: FactorView, rows: torch.Tensor | None = None, evidence: torch.Tensor | None = None,
                   route: Route = "auto") -> torch.Tensor:
    """A maximiser of S(c) for every row: (B, M) long."""
    with torch.no_grad():
        return _contract(view, _MAX, rows, evidence, route).argmax


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
        log_z = _contract(handled, _LOG, None, None, route).value
        (probs,) = torch.autograd.grad(log_z.sum(), handle, create_graph=differentiable)
    return probs.clamp(0.0, 1.0)  # round-off can step past the bounds
