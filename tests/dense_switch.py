"""The dense switch and ``iterate`` that the package used before the sparse ones (issue 13): every
single-flip gain of every concept and every subset gain of every multi-concept rule of every
sample. Kept here as the oracle the sparse candidates are tested equal to, flip for flip."""
from __future__ import annotations

import math

import torch

from again_mln.again.graph import FactorGraph
from again_mln.again.rectification import _MIN_GAIN
from again_mln.again.switch import SwitchTables


def dense_gains_cm(switch: SwitchTables, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None):
    """Unary gains (M, N) (-inf where no violated unary rule), T x (F, N) subset gains (-inf where
    the rule has no such subset) and which multi-concept rules are violated (F, N)."""
    graph = switch.graph
    single, codes = graph.flip_gains_cm(cT, y, codes)
    unary = single.masked_fill(~graph.unary_lookup(graph.violable_by_concept, cT, y), -math.inf)
    F = len(graph.multi_rules)
    violated = graph.lookup(graph.factor_truth, codes, y)[:F] == 0  # (F, N)
    per_position = [single.index_select(0, graph.factor_variables[:F, j]) for j in range(graph.max_arity)]
    gains = [sum(per_position[j] for j in range(graph.max_arity) if mask >> j & 1) for mask in switch.subset_masks]
    interaction = switch.interaction()
    if interaction is not None:
        width = graph.factor_truth.shape[2]
        for u, t in enumerate(switch.multi_bit_subsets):
            for l in range(switch.holder.shape[1]):
                holder = switch.holder[u, l]
                columns = codes.index_select(0, holder) * width + switch.holder_bits[u, l, :, None]
                gains[t] = gains[t] + graph.lookup(interaction, columns, y, rows=holder)
    for t in switch.partial_subsets:
        gains[t] = gains[t] + switch.subset_penalty[t, :, None]
    return unary, gains, violated


def dense_subset_flips_cm(graph: FactorGraph, chosen: torch.Tensor, subset: torch.Tensor) -> torch.Tensor:
    """(M, N) bool: the concepts flipped when rule f with ``chosen[f, n]`` flips subset ``subset[f, n]``."""
    F = chosen.shape[0]
    bits = (subset + 1).to(torch.int32)
    flips = torch.zeros(graph.num_concepts, chosen.shape[1], dtype=torch.int32, device=graph.device)
    for j in range(graph.max_arity):
        on = (bits & (1 << j)).bool() & chosen
        flips.index_add_(0, graph.factor_variables[:F, j], on.to(torch.int32))
    return flips > 0


def dense_switch_flips_t(graph: FactorGraph, cT: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(M, N) bool flips of the paper's switch, the dense way."""
    unary, gains, violated = dense_gains_cm(SwitchTables(graph), cT, y)
    flips = unary > 0
    if gains:
        best, subset = gains[0], torch.zeros_like(violated, dtype=torch.uint8)
        for t, gain in enumerate(gains[1:], start=1):  # the best subset per rule, first on ties
            better = gain > best
            best = torch.maximum(gain, best)
            subset.masked_fill_(better, t)
        flips |= dense_subset_flips_cm(graph, (best > 0) & violated, subset)
    return flips


def dense_iterate_t(graph: FactorGraph, cT: torch.Tensor, y: torch.Tensor, max_rounds: int | None = None) -> torch.Tensor:
    """``iterate`` the dense way: every round recomputes every gain of every active sample."""
    cT = cT.clone()
    M = graph.num_concepts
    alone = ~graph.coupled_concepts[:, None]
    active = torch.arange(cT.shape[1], device=graph.device)
    switch = SwitchTables(graph)
    for _ in range(max_rounds or 4 * M):
        if not len(active):
            break
        unary, gains, violated = dense_gains_cm(switch, cT[:, active], y[active])
        F, T = violated.shape[0], len(gains)
        lone_flips = (unary > _MIN_GAIN) & alone
        multi = torch.stack(gains, 1).masked_fill(~violated[:, None, :], -math.inf) if T else unary[:0]
        best, index = torch.cat([unary.masked_fill(alone, -math.inf), multi.reshape(F * T, len(active))]).max(0)
        take_best = best > _MIN_GAIN
        improving = take_best | lone_flips.any(0)
        active, index, take_best, flips = active[improving], index[improving], take_best[improving], lone_flips[:, improving]
        if not len(active):
            break
        columns = torch.arange(len(active), device=graph.device)
        single = take_best & (index < M)
        flips[index[single], columns[single]] = True
        if F:
            rule, subset = (index - M).clamp(min=0) // T, (index - M).clamp(min=0) % T
            chosen = torch.zeros(F, len(active), dtype=torch.bool, device=graph.device)
            chosen[rule, columns] = take_best & (index >= M)
            flips |= dense_subset_flips_cm(graph, chosen, subset[None].expand(F, -1))
        cT[:, active] ^= flips.long()
    return cT
