"""The update plan a sampler sweeps through: which variables move together, and which factor
entries each move reads.

A *unit* is what one move changes: a single atom (two states) or a whole functional block (one
state per value, with the chain's prefix atoms set to match), so that no move ever leaves a block
with zero or two true values. Units that share no factor are conditionally independent, so a
colour class of the unit interaction graph (a vectorised greedy colouring, Luby's maximal
independent sets one colour at a time, computed once with numpy/scipy) is updated in one step.
Within a class, units are grouped by shape (number of states and member atoms) so that every
step is a dense tensor operation. For each group the plan holds the factors touching it, each
with its one owner unit (a class never has two units in one factor), the bits of the factor's
code that the owner sets (``keep`` clears them) and the bits each owner state sets (``add``):
the code of factor l under state i is ``(code & keep[l]) | add[l, i]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from again_mln.errors import AgainError
from again_mln.mln.factors import FactorView

Blocks = tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]


@dataclass(frozen=True)
class Group:
    """Conditionally independent units of one shape: ``members`` (S, R) their atoms, ``conf``
    (K, R) the atoms' values in each state, the ``factors`` (L,) touching them sorted by
    ``owner`` (L,) with segment ``bounds`` (S + 1,), each factor's ``scope`` (L, R') and
    ``bits`` (L, R') (bit weight of each scope position, 0 for padding), ``keep`` (L,) and
    ``add`` (L, K) as in the module docstring, and ``unary`` (S, K, R) the flat index of each
    member's unary entry in each state."""

    members: torch.Tensor
    conf: torch.Tensor
    factors: torch.Tensor
    owner: torch.Tensor
    bounds: torch.Tensor
    scope: torch.Tensor
    bits: torch.Tensor
    keep: torch.Tensor
    add: torch.Tensor
    unary: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.members.shape[0])

    @property
    def states(self) -> int:
        return int(self.conf.shape[0])

    @property
    def binary(self) -> bool:
        """Units of one atom each (state = the atom's value): the samplers' fast path."""
        return self.conf.shape == (2, 1)


@dataclass(frozen=True)
class SweepPlan:
    """Every factor's ``scope`` (F, R) and ``bits`` (F, R), the ``groups`` of one sweep, the
    ``fixed`` atoms (units with one state) with their ``fixed_values``, and the colours used."""

    num_variables: int
    scope: torch.Tensor
    bits: torch.Tensor
    groups: tuple[Group, ...]
    fixed: torch.Tensor
    fixed_values: torch.Tensor
    colours: int

    @property
    def incidences(self) -> int:
        """Factor-unit pairs one sweep reads (each read in every state of its unit)."""
        return sum(int(g.factors.shape[0]) * g.states for g in self.groups)


def units(num_variables: int, blocks: Blocks) -> tuple[list[list[int]], list[np.ndarray]]:
    """Each unit's atoms and its (K, R) state table: one unit per functional block (values, then
    the chain's prefix atoms s_j = "a value up to j is true", s_0 being value 0 itself), one per
    other atom."""
    members, confs = [], []
    covered = np.zeros(num_variables, bool)
    for values, prefix in blocks:
        if prefix and prefix[0] != values[0]:
            raise AgainError("a functional block's chain must start at its first value")
        atoms = list(values) + list(prefix[1:])
        k = len(values)
        conf = np.zeros((k, len(atoms)), np.int64)
        conf[:, :k] = np.eye(k, dtype=np.int64)
        for j in range(1, len(prefix)):
            conf[:, k + j - 1] = np.arange(k) <= j
        members.append(atoms)
        confs.append(conf)
        covered[atoms] = True
    single = np.array([[0], [1]], np.int64)
    for v in np.flatnonzero(~covered).tolist():
        members.append([v])
        confs.append(single)
    return members, confs


def colour(adjacency, seed: int = 0) -> np.ndarray:
    """A proper colouring of a symmetric sparse graph: colour c is a maximal independent set of
    the nodes not yet coloured, found by Luby's rounds (a node joins when its random priority
    beats every candidate neighbour's), all vectorised."""
    from scipy.sparse import csr_array

    adjacency = csr_array(adjacency)
    n = adjacency.shape[0]
    indptr, indices = adjacency.indptr, adjacency.indices
    starts = indptr[:-1][np.diff(indptr) > 0]
    nonempty = np.diff(indptr) > 0
    rng = np.random.default_rng(seed)
    colours = np.full(n, -1, np.int64)
    c = 0
    while (colours < 0).any():
        candidate = colours < 0
        while candidate.any():
            priority = np.where(candidate, rng.random(n), -1.0)
            best = np.full(n, -1.0)
            if len(indices):
                best[nonempty] = np.maximum.reduceat(priority[indices], starts)
            win = candidate & (priority > best)
            colours[win] = c
            touched = adjacency @ win.astype(np.float64) > 0
            candidate &= ~win & ~touched
        c += 1
    return colours


def plan_sweeps(view: FactorView, blocks: Blocks, device: torch.device) -> SweepPlan:
    """The sweep plan of a view's structure (its scopes and blocks; not its tables)."""
    from scipy.sparse import coo_array

    M, F = view.num_variables, len(view.scopes)
    R = max((len(s) for s in view.scopes), default=1)
    scope = np.array([s + (s[0],) * (R - len(s)) for s in view.scopes], np.int64).reshape(F, R)
    arity = np.array([len(s) for s in view.scopes], np.int64)
    valid = np.arange(R)[None, :] < arity[:, None]
    bits = np.where(valid, 1 << np.arange(R, dtype=np.int64)[None, :], 0)

    members, confs = units(M, blocks)
    unit_of = np.empty(M, np.int64)
    position = np.empty(M, np.int64)
    for u, atoms in enumerate(members):
        unit_of[atoms] = u
        position[atoms] = np.arange(len(atoms))
    U = len(members)
    inc_f, inc_j = np.nonzero(valid)
    inc_u = unit_of[scope[inc_f, inc_j]]
    incidence = coo_array((np.ones(len(inc_f)), (inc_u, inc_f)), shape=(U, F)).tocsr()
    adjacency = (incidence @ incidence.T).tocoo()
    off = adjacency.row != adjacency.col
    adjacency = coo_array((np.ones(off.sum()), (adjacency.row[off], adjacency.col[off])), shape=(U, U))
    colours = colour(adjacency)

    states = np.array([len(c) for c in confs])
    width = np.array([len(m) for m in members])
    moving = states > 1
    fixed = [a for u in np.flatnonzero(~moving) for a in members[u]]
    fixed_values = [int(v) for u in np.flatnonzero(~moving) for v in confs[u][0]]
    shapes = sorted({(int(colours[u]), int(states[u]), int(width[u]), confs[u].tobytes()) for u in np.flatnonzero(moving)})
    key_of = {key: g for g, key in enumerate(shapes)}
    group_of = np.full(U, -1, np.int64)
    local = np.zeros(U, np.int64)
    grouped: list[list[int]] = [[] for _ in shapes]
    for u in np.flatnonzero(moving).tolist():
        g = key_of[(int(colours[u]), int(states[u]), int(width[u]), confs[u].tobytes())]
        group_of[u], local[u] = g, len(grouped[g])
        grouped[g].append(u)

    inc_g = group_of[inc_u]
    keep_inc = inc_g >= 0
    inc_f, inc_j, inc_u, inc_g = inc_f[keep_inc], inc_j[keep_inc], inc_u[keep_inc], inc_g[keep_inc]
    order = np.lexsort((inc_j, inc_f, local[inc_u], inc_g))
    inc_f, inc_j, inc_u, inc_g = inc_f[order], inc_j[order], inc_u[order], inc_g[order]
    cuts = np.searchsorted(inc_g, np.arange(len(shapes) + 1))
    to = (lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long, device=device))
    groups = []
    for g, unit_ids in enumerate(grouped):
        conf = confs[unit_ids[0]]
        K = conf.shape[0]
        part = slice(cuts[g], cuts[g + 1])
        f, j, u = inc_f[part], inc_j[part], inc_u[part]
        r = position[scope[f, j]]
        key = local[u] * max(F, 1) + f
        pairs, inverse = np.unique(key, return_inverse=True)
        inverse = inverse.reshape(-1)
        owner, factors = pairs // max(F, 1), pairs % max(F, 1)
        mask = np.zeros(len(pairs), np.int64)
        np.add.at(mask, inverse, np.int64(1) << j)
        add = np.zeros((len(pairs), K), np.int64)
        np.add.at(add, inverse, conf[:, r].T << j[:, None])
        atoms = np.array([members[x] for x in unit_ids], np.int64)
        groups.append(Group(
            members=to(atoms), conf=to(conf), factors=to(factors), owner=to(owner),
            bounds=to(np.searchsorted(owner, np.arange(len(unit_ids) + 1))),
            scope=to(scope[factors]), bits=to(bits[factors]), keep=to(~mask), add=to(add),
            unary=to(atoms[:, None, :] * 2 + conf[None, :, :]),
        ))
    return SweepPlan(M, to(scope), to(bits), tuple(groups), to(np.array(fixed, np.int64)),
                     to(np.array(fixed_values, np.int64)), int(colours.max()) + 1 if U else 0)
