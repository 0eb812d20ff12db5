"""Exact S_max(y) = max_c S(c, y) for graphs too large to enumerate, as a mixed-integer program.

Binary x_m per concept; per multi-concept factor f a distribution z_f over its 2**r_f
assignments tied to x by the marginal constraints sum_a z_f,a = 1 and
sum_{a: a_j = 1} z_f,a = x_{v_j}. With x integral these force z_f onto the one assignment x
picks, so z can stay continuous and the program is exact. The constraint matrix is the same
for every category; only the objective changes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from tqdm.auto import tqdm

from again_mln.errors import AgainError

if TYPE_CHECKING:
    from again_mln.graph import FactorGraph


def max_score_milp(graph: "FactorGraph", progress: bool | None = None) -> np.ndarray:
    """max_c S(c, k) for every category k (K,), exactly, with scipy's HiGHS MILP solver."""
    M, K = graph.num_concepts, graph.num_categories
    variables = graph._factor_variables[:-1].cpu().numpy()
    arity = np.asarray(graph._factor_arity, dtype=np.int64)
    values = graph._factor_values.reshape(graph._factor_truth.shape)[:, :-1].detach().cpu().numpy()

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
            cols += list(start + on) + [int(variables[f, j])]
            data += [1.0] * len(on) + [-1.0]
            row += 1
    lower = np.zeros(row)
    upper = np.zeros(row)
    first_rows = np.concatenate([[0], np.cumsum(1 + arity)])[:-1]
    lower[first_rows] = upper[first_rows] = 1.0
    constraints = [LinearConstraint(sparse.csr_array((data, (rows, cols)), shape=(row, n_vars)), lower, upper)] if row else []
    integrality = np.r_[np.ones(M), np.zeros(n_vars - M)]

    unary = graph.unary.detach().cpu().numpy()
    const = graph.const.detach().cpu().numpy()
    result = np.empty(K)
    show = progress if progress is not None else K >= 50
    for k in tqdm(range(K), desc="S_max (MILP)", disable=not show, leave=False):
        table = values[k if values.shape[0] > 1 else 0]
        objective = np.concatenate([unary[k, :, 1] - unary[k, :, 0]] + [table[f, : 2**r] for f, r in enumerate(arity)])
        solution = milp(-objective, constraints=constraints, integrality=integrality, bounds=Bounds(0, 1))
        if not solution.success:
            raise AgainError(f"the integer program for S_max of category {k} failed: {solution.message}")
        result[k] = -solution.fun + const[k] + unary[k, :, 0].sum()
    return result
