"""The max ring's own route (:attr:`MaxRing.routes`) for graphs too wide to eliminate: an exact
mixed-integer program.

Binary x_m per variable; per higher-order factor f a distribution z_f over its 2**r_f
assignments tied to x by the marginal constraints sum_a z_f,a = 1 and
sum_{a: a_j = 1} z_f,a = x_{v_j}. With x integral these force z_f onto the one assignment x
picks, so z can stay continuous and the program is exact. The constraint matrix is the same
for every batch row; only the objective changes. One program per row (scipy's HiGHS).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from again_mln.errors import AgainError
from again_mln.mln.factors import FactorView
from again_mln.mln.inference.contract import Contraction

if TYPE_CHECKING:
    from scipy.optimize import LinearConstraint


def _constraints(scopes: tuple[tuple[int, ...], ...], num_variables: int) -> list[LinearConstraint]:
    from scipy import sparse  # imported on use: scipy.optimize alone costs about a second at start-up
    from scipy.optimize import LinearConstraint

    M = num_variables
    arity = np.array([len(scope) for scope in scopes], dtype=np.int64)
    offsets = M + np.concatenate([[0], np.cumsum(2**arity)])[:-1]  # first z column of each factor
    n_vars = M + int((2**arity).sum())
    rows, cols, data = [], [], []
    row = 0
    for f, (start, r) in enumerate(zip(offsets, arity)):
        assignments = np.arange(2**r)
        rows += [row] * len(assignments)
        cols += list(start + assignments)
        data += [1.0] * len(assignments)
        row += 1
        for j in range(r):
            on = assignments[(assignments >> j) & 1 == 1]
            rows += [row] * (len(on) + 1)
            cols += list(start + on) + [scopes[f][j]]
            data += [1.0] * len(on) + [-1.0]
            row += 1
    bound = np.zeros(row)
    bound[np.concatenate([[0], np.cumsum(1 + arity)])[:-1]] = 1.0
    matrix = sparse.csr_array((data, (rows, cols)), shape=(row, n_vars))
    return [LinearConstraint(matrix, bound, bound)] if row else []


def milp_contract(view: FactorView, progress: bool | None = None) -> Contraction:
    """max_c of the view's score and a maximiser, for every batch row, by integer programming."""
    from scipy.optimize import Bounds, milp

    M = view.num_variables
    constraints = _constraints(view.scopes, M)
    unary = view.unary.detach().double().cpu().numpy()
    # a ruled-out value (-inf) becomes a penalty larger than any score can make up
    # (a hard factor's table entry likewise); a maximum that needs one means no allowed assignment
    finite = np.isfinite(unary)
    tables = view.tables.detach().double().cpu().numpy()
    table_finite = np.isfinite(tables)
    penalty = 1.0 + 2 * (np.abs(unary[finite]).sum() + np.abs(tables[table_finite]).sum())
    unary = np.where(finite, unary, -penalty)
    tables = np.where(table_finite, tables, -penalty)
    const = view.const.detach().double().cpu().numpy()
    arity = [len(scope) for scope in view.scopes]
    n_z = int(sum(2**r for r in arity))
    integrality = np.r_[np.ones(M), np.zeros(n_z)]
    values = np.empty(view.batch)
    assignments = np.empty((view.batch, M), dtype=np.int64)
    show = progress if progress is not None else view.batch >= 50
    for b in tqdm(range(view.batch), desc="integer programs", disable=None if show else True, leave=False):
        table = tables[b if tables.shape[0] > 1 else 0]
        objective = np.concatenate([unary[b, :, 1] - unary[b, :, 0]] + [table[f, : 2**r] for f, r in enumerate(arity)])
        solution = milp(-objective, constraints=constraints, integrality=integrality, bounds=Bounds(0, 1))
        if not solution.success:
            raise AgainError(f"the integer program for batch row {b} failed: {solution.message}")
        assignments[b] = np.round(solution.x[:M]).astype(np.int64)
        # the penalty bounds the factors' part alone; the constant is added after the check
        factors = -solution.fun + unary[b, :, 0].sum()
        values[b] = -np.inf if factors < -penalty / 2 else factors + const[b]
    device = view.unary.device
    return Contraction(torch.as_tensor(values, device=device), torch.as_tensor(assignments, device=device))
