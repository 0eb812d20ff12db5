"""Exact inference by enumerating the worlds that functional blocks allow, as pracmln's
EnumerationAsk does: a block of k values contributes k worlds, not 2**k. It answers components
that binary elimination cannot (three clusters, each one of 21 objects, every pair of objects
linked: 9,261 worlds, but an elimination width of 40) and stops at a stated budget."""
from __future__ import annotations

import math

import numpy as np
import torch

from again_mln.mln.factors import FactorView
from again_mln.mln.inference.enumerate import score_assignments

#: Most worlds times batch rows one enumeration scores.
WORLD_BUDGET = 2**24


def count_worlds(num_variables: int, blocks: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]) -> int:
    """Worlds of a component: the product of its block sizes times 2 per variable in no block."""
    in_blocks = sum(len(values) + len(prefix) - (1 if prefix else 0) for values, prefix in blocks)
    return math.prod(len(values) for values, _ in blocks) * 2 ** (num_variables - in_blocks)


def world_assignments(num_variables: int, blocks, start: int, stop: int) -> torch.Tensor:
    """(stop - start, M) long: worlds number start..stop-1, block values as the fastest digits, then
    the free variables' bits; a chain's prefix atoms set to "a value up to i is true"."""
    index = np.arange(start, stop, dtype=np.int64)
    bits = np.zeros((len(index), num_variables), np.int64)
    covered = np.zeros(num_variables, bool)
    for values, prefix in blocks:
        choice = index % len(values)
        index = index // len(values)
        bits[:, list(values)] = np.arange(len(values))[None, :] == choice[:, None]
        for i, variable in enumerate(prefix):
            bits[:, variable] = choice <= i
        covered[list(values) + list(prefix)] = True
    free = np.flatnonzero(~covered)
    bits[:, free] = (index[:, None] >> np.arange(len(free))[None, :]) & 1
    return torch.from_numpy(bits)


def enumerate_worlds(view: FactorView, blocks, maximise: bool) -> torch.Tensor:
    """Marginals (B, M) or, with ``maximise``, a most probable world (B, M) of every row of
    ``view``, over the worlds that its blocks allow."""
    M, B = view.num_variables, view.batch
    W = count_worlds(M, blocks)
    step = max(1, WORLD_BUDGET // max(B * (M + 1), 1))
    best = torch.full((B,), -math.inf, dtype=torch.float64)
    best_world = torch.zeros(B, M, dtype=torch.long)
    log_z = torch.full((B,), -math.inf, dtype=torch.float64)
    mass = torch.zeros(B, M, dtype=torch.float64)
    for start in range(0, W, step):
        worlds = world_assignments(M, blocks, start, min(W, start + step))
        scores = score_assignments(view, worlds)  # (B, A)
        if maximise:
            value, at = scores.max(1)
            better = value > best
            best = torch.where(better, value, best)
            best_world[better] = worlds[at[better]]
            continue
        chunk_z = torch.logsumexp(scores, 1)
        new_z = torch.logaddexp(log_z, chunk_z)
        scale = torch.exp(log_z - new_z).nan_to_num(0.0)
        weights = torch.exp(scores - new_z[:, None]).nan_to_num(0.0)
        mass = mass * scale[:, None] + weights @ worlds.double()
        log_z = new_z
    if maximise:
        return best_world, best
    return mass.clamp(0.0, 1.0), log_z
