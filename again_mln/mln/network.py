"""The ground network of one database: its unknown atoms as variables, split into independent
components, and components of the same shape batched as rows of one :class:`FactorView`.

Components come from ``scipy.sparse.csgraph`` over the atom-factor incidence. Within a component
the atoms are numbered in key order and its factors sorted by their local scopes; components whose
sorted scopes agree share one factor structure and differ only in their tables, so they are the
batch rows of one view (a thousand friend groups of four are one contraction of a thousand rows),
and rows with identical tables are answered once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from again_mln.mln.factors import FactorView
from again_mln.mln.grounding import Blocks, GroundFactors


@dataclass(frozen=True)
class Batch:
    """Components with one structure: ``variables`` (B, M) global variable ids of each row,
    answered by ``view`` whose rows are the distinct ones (``rows`` maps each component to its
    row of ``view``), and the origins of the formulas that touch them."""

    variables: np.ndarray
    view: FactorView
    rows: np.ndarray
    origins: tuple[str, ...]
    blocks: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = ()  # (values, chain prefix) local ids


@dataclass(frozen=True)
class GroundNetwork:
    """Unknown atoms (sorted keys; variable i is ``atoms[i]``) and the batches that hold them."""

    atoms: np.ndarray
    batches: list[Batch]

    @property
    def num_factors(self) -> int:
        return sum(int(b.variables.shape[0]) for b in self.batches)


def build(groups: list[GroundFactors], blocks: list[Blocks] = (), extra_atoms: np.ndarray | None = None,
          channels: tuple[int, ...] = ()) -> GroundNetwork:
    """The network of ``groups``; ``blocks`` are the open functional blocks (their factors are in
    ``groups``); ``extra_atoms`` (e.g. unknown query atoms in no formula) become variables with no
    factor (their own components). Tables with trailing axes, (n, 2**K, C), keep them: the views'
    unary and tables then end in that axis (learning keeps one channel per weight there, so that
    components batch the same way whatever the weights) and must be contracted over it before
    inference; ``channels`` gives that axis when there may be no group to read it from."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    pieces = [g.atoms[g.atoms >= 0] for g in groups]
    if extra_atoms is not None:
        pieces.append(np.asarray(extra_atoms, np.int64))
    atoms = np.unique(np.concatenate(pieces)) if pieces else np.zeros(0, np.int64)
    V = len(atoms)
    # every factor row as (group, row, arity, scope as variable ids padded with -1)
    scope_parts, table_parts, group_of, arity_of = [], [], [], []
    K = max([g.atoms.shape[1] for g in groups], default=1)
    channels = groups[0].table.shape[2:] if groups else channels
    for index, g in enumerate(groups):
        ids = np.where(g.atoms >= 0, np.searchsorted(atoms, np.maximum(g.atoms, 0)), -1)
        scope_parts.append(np.pad(ids, ((0, 0), (0, K - ids.shape[1])), constant_values=-1))
        table_parts.append(g.table)
        group_of.append(np.full(len(ids), index))
        arity_of.append((ids >= 0).sum(1))
    scopes = np.concatenate(scope_parts) if scope_parts else np.zeros((0, K), np.int64)
    group_of = np.concatenate(group_of) if group_of else np.zeros(0, np.int64)
    arity = np.concatenate(arity_of) if arity_of else np.zeros(0, np.int64)
    offsets = np.cumsum([0] + [len(t) for t in table_parts])
    F = len(scopes)
    r, c = np.nonzero(scopes >= 0)
    graph = coo_array((np.ones(len(r)), (V + r, scopes[r, c])), shape=(V + F, V + F))
    _, label = connected_components(graph, directed=False)
    component_of_var = label[:V]
    component_of_factor = label[V + np.arange(F)] if F else np.zeros(0, np.int64)

    # local variable numbers: key order within each component
    by_component = np.lexsort((np.arange(V), component_of_var))
    starts = np.searchsorted(component_of_var[by_component], component_of_var[by_component], "left")
    local = np.empty(V, np.int64)
    local[by_component] = np.arange(V) - starts
    local_scopes = np.where(scopes >= 0, local[np.maximum(scopes, 0)], -1)

    # each component's variables (key order) and factors (sorted by local scope), as slices
    C = int(label.max()) + 1 if len(label) else 0
    members = np.split(by_component, np.cumsum(np.bincount(component_of_var, minlength=C))[:-1])
    factor_order = np.lexsort(tuple(local_scopes.T[::-1]) + (component_of_factor,)) if F else np.zeros(0, np.int64)
    factors_of = np.split(factor_order, np.cumsum(np.bincount(component_of_factor, minlength=C))[:-1])
    blocks_of: dict[int, list[tuple]] = {}
    for block in blocks:
        values = np.where(block.atoms >= 0, local[np.searchsorted(atoms, np.maximum(block.atoms, 0))], -1)
        prefix = np.where(block.prefix >= 0, local[np.searchsorted(atoms, np.maximum(block.prefix, 0))], -1)
        owner = component_of_var[np.searchsorted(atoms, block.atoms[:, 0])]
        for c, v, p in zip(owner.tolist(), values.tolist(), prefix.tolist()):
            blocks_of.setdefault(c, []).append((tuple(x for x in v if x >= 0), tuple(x for x in p if x >= 0)))
    # components of one shape: the same variable count, blocks and local factor scopes
    shapes: dict[tuple, list[int]] = {}
    for component in range(C):
        key = (len(members[component]), tuple(sorted(blocks_of.get(component, ()))), local_scopes[factors_of[component]].tobytes())
        shapes.setdefault(key, []).append(component)

    batches = []
    for (M, block_shape, _), components in shapes.items():
        variables = np.stack([members[c] for c in components])
        factor_rows = np.stack([factors_of[c] for c in components])  # (B, F): column j is one scope
        width, scope_rows = arity[factor_rows[0]], local_scopes[factor_rows[0]]
        tables = _gather_tables(table_parts, offsets, group_of, factor_rows, 2**K, channels)  # (B, F, 2**K, ...)
        single, higher = np.flatnonzero(width == 1), np.flatnonzero(width > 1)
        unary = np.zeros((len(components), M, 2) + channels)
        np.add.at(unary, (slice(None), scope_rows[single, 0]), tables[:, single, :2])
        higher_scopes = [tuple(scope_rows[f, : width[f]].tolist()) for f in higher]
        R = int(width[higher].max()) if len(higher) else 0
        # a factor of lower arity ignores the high bits: its table repeats over them
        index = np.arange(2**R)[None, :] & ((1 << width[higher]) - 1)[:, None]  # (F', 2**R)
        stacked = tables[:, higher[:, None], index] if len(higher) else np.zeros((len(components), 0, 1) + channels)
        flat = np.concatenate([unary.reshape(len(components), -1), stacked.reshape(len(components), -1)], 1)
        first, rows = _distinct_rows(flat)
        view = FactorView(
            const=torch.zeros(len(first), dtype=torch.float64),
            unary=torch.from_numpy(np.ascontiguousarray(unary[first])),
            scopes=tuple(higher_scopes),
            tables=torch.from_numpy(np.ascontiguousarray(stacked[first])),
        )
        used = np.unique(group_of[factor_rows.reshape(-1)]) if factor_rows.size else []
        origins = tuple(sorted({groups[int(g)].origin for g in used}))
        batches.append(Batch(variables, view, rows, origins, block_shape))
    return GroundNetwork(atoms, batches)


def _gather_tables(parts: list[np.ndarray], offsets: np.ndarray, group_of: np.ndarray, rows: np.ndarray,
                   width: int, channels: tuple[int, ...]) -> np.ndarray:
    """The tables of factor rows ``rows`` (any shape), zero-padded to ``width`` entries (each
    with trailing ``channels``): one fancy index per formula group, not one per factor."""
    out = np.zeros(rows.shape + (width,) + tuple(channels))
    groups = group_of[rows]
    for g in np.unique(groups):
        mask = groups == g
        table = parts[int(g)]
        out[mask, : table.shape[1]] = table[rows[mask] - offsets[g]]
    return out


def _distinct_rows(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first index of each distinct row of ``flat`` and every row's distinct number (rows
    compared by their bytes: one pass, where sorting wide rows costs minutes)."""
    if len(flat) == 1:
        return np.zeros(1, np.int64), np.zeros(1, np.int64)
    seen: dict[bytes, int] = {}
    number = np.array([seen.setdefault(row.tobytes(), len(seen)) for row in np.ascontiguousarray(flat)], np.int64)
    first = np.full(len(seen), -1, np.int64)
    first[number[::-1]] = np.arange(len(flat))[::-1]
    return first, number
