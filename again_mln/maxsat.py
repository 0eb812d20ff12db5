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
from tqdm import tqdm

from again_mln.errors import AgainError

if TYPE_CHECKING:
    from again_mln.graph import FactorGraph


class _Program:
    """The constraint matrix shared by every category and sample of one graph."""

    def __init__(self, graph: "FactorGraph"):
        M = graph.num_concepts
        scopes = graph.factor_scopes
        self.arity = arity = np.array([len(scope) for scope in scopes], dtype=np.int64)
        self.values = graph.factor_tables.detach().cpu().numpy()
        self.unary = graph.unary.detach().cpu().numpy()
        self.const = graph.const.detach().cpu().numpy()
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
        self.constraints = [LinearConstraint(matrix, bound, bound)] if row else []
        self.integrality = np.r_[np.ones(M), np.zeros(n_vars - M)]
        self.num_concepts = M

    def solve(self, category: int, extra_unary: np.ndarray | None) -> tuple[float, np.ndarray]:
        """max_c S(c, category) + sum_m extra_unary[m, c_m], and the maximising c."""
        unary = self.unary[category] if extra_unary is None else self.unary[category] + extra_unary
        table = self.values[category if self.values.shape[0] > 1 else 0]
        objective = np.concatenate([unary[:, 1] - unary[:, 0]] + [table[f, : 2**r] for f, r in enumerate(self.arity)])
        solution = milp(-objective, constraints=self.constraints, integrality=self.integrality, bounds=Bounds(0, 1))
        if not solution.success:
            raise AgainError(f"the integer program for category {category} failed: {solution.message}")
        assignment = np.round(solution.x[: self.num_concepts]).astype(np.int64)
        return -solution.fun + self.const[category] + unary[:, 0].sum(), assignment


def solve_milp(
    graph: "FactorGraph",
    categories: np.ndarray,
    extra_unary: np.ndarray | None = None,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact max_c S(c, y_p) [+ sum_m extra_unary[p, m, c_m]] for each problem p.

    Returns the maxima (P,) and the maximising assignments (P, M).
    """
    program = _Program(graph)
    categories = np.asarray(categories, dtype=np.int64)
    values = np.empty(len(categories))
    assignments = np.empty((len(categories), graph.num_concepts), dtype=np.int64)
    show = progress if progress is not None else len(categories) >= 50
    for p in tqdm(range(len(categories)), desc="integer programs", disable=None if show else True, leave=False):
        extra = None if extra_unary is None else extra_unary[p]
        values[p], assignments[p] = program.solve(int(categories[p]), extra)
    return values, assignments
