"""One planner, one memory budget: which route contracts a factor view, and in what chunks.

Routes: ``enumerate`` (score all 2**M assignments), ``eliminate`` (variable elimination in a
min-fill order) and the ring's own routes (:attr:`Ring.routes`: the max ring offers ``milp``, an
integer program per batch row). A route
is feasible when its largest tensor for one batch row fits in :data:`MEMORY_BUDGET` entries;
among feasible ones the planner takes the one with less work. The elimination order depends on
the factor scopes only and is computed once per rule structure.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from again_mln.errors import AgainError
from again_mln.mln.factors import FactorView
from again_mln.mln.inference.order import elimination_cost, min_fill_order
from again_mln.mln.inference.rings import Ring

Route = Literal["auto", "enumerate", "eliminate", "milp"]
ROUTES = ("auto", "enumerate", "eliminate", "milp")
#: The one memory budget: entries of the largest tensor a contraction may build (all rows of a chunk).
MEMORY_BUDGET = 2**24
#: Work, in table entries, that one elimination step costs beyond its table (torch call overhead).
_STEP_OVERHEAD = 256


@dataclass(frozen=True)
class Plan:
    """A route and its chunking: ``rows`` batch rows per chunk (elimination) or ``assignments``
    per chunk (enumeration)."""

    route: Literal["enumerate", "eliminate", "milp"]
    order: tuple[int, ...] | None  # None when elimination does not fit
    width: int
    rows: int
    assignments: int


@functools.lru_cache(maxsize=32)
def structure(scopes: tuple[tuple[int, ...], ...], num_variables: int,
              max_width: int | None = None) -> tuple[tuple[int, ...] | None, int, float]:
    """The min-fill order of the variables, its induced width and the entries it builds; with
    ``max_width``, (None, max_width + 1, inf) as soon as the greedy order would be wider (an order
    the budget cannot afford is not worth finishing: on 2,000 concepts and 5,000 random pairs the
    full order takes about 25 s, the check 0.5 s)."""
    everything = tuple((m,) for m in range(num_variables)) + scopes
    order = min_fill_order(everything, range(num_variables), max_width)
    if order is None:
        return None, max_width + 1, float("inf")
    width, entries = elimination_cost(everything, order)
    return tuple(order), width, entries


def plan(view: FactorView, ring: Ring, route: Route = "auto", budget: int | None = None) -> Plan:
    """The route for contracting ``view`` in ``ring`` under ``budget`` (default
    :data:`MEMORY_BUDGET`; ``route`` forces one)."""
    budget = MEMORY_BUDGET if budget is None else budget
    if route not in ROUTES and route not in ring.routes:
        raise AgainError(f"unknown inference route {route!r}; expected one of {', '.join(ROUTES)}")
    M, F, B = view.num_variables, len(view.scopes), max(1, view.batch)
    order, width, entries = structure(view.scopes, M, budget.bit_length() - 2)  # 2**(width + 1) <= budget
    per_row = 2 ** (width + 1)  # the joint table of the widest step
    feasible = {
        "enumerate": 2**M <= budget,
        "eliminate": per_row <= budget,
    }
    work = {
        "enumerate": 2**M * (M + F + 1),
        "eliminate": entries + _STEP_OVERHEAD * M,
    }
    for own in ring.routes:  # the ring's own exact routes (the max ring's integer program): the last resort
        feasible[own], work[own] = True, float("inf")
    if route == "auto":
        candidates = [r for r in feasible if feasible[r]]
        if not candidates:
            raise AgainError(
                f"exact inference is out of reach: {M} variables, elimination width {width}{'+' if order is None else ''} "
                f"(budget 2**{budget.bit_length() - 1} entries); use pseudo-likelihood"
            )
        chosen = min(candidates, key=lambda r: work[r])
    elif not feasible.get(route, False):
        raise AgainError(f"the {route} route does not fit: {M} variables, elimination width {width}{'+' if order is None else ''}")
    else:
        chosen = route
    rows = max(1, min(B, budget // per_row))
    assignments = max(1, min(2**M, budget // (B * (M + F + 1))))
    return Plan(chosen, order, width, rows, assignments)
