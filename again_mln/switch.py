"""The candidates of the intervention switch (docs/method.md, "Rectification", Eq. 4-5): the gain
s = S(c xor t) - S(c) of flipping every non-empty subset t of the concepts of every rule.

A subset's gain is the sum of its single-flip gains (from the graph) plus a correction from the
factors that hold two or more of its concepts: their joint flip differs from the sum of single
flips. The tables of those factors are compiled once per graph structure here, on the
rectification side, and their weighted corrections follow the graph's weights.
"""
from __future__ import annotations

import math
import weakref

import numpy as np
import torch

from again_mln.graph import FactorGraph


def _subset_masks(arity: int) -> np.ndarray:
    """All non-empty subsets of ``arity`` positions as bit masks, smallest first."""
    return np.arange(1, 2**arity)


def _joint_flip_interaction(values: torch.Tensor) -> torch.Tensor:
    """(Kf, F, W, W): for factor value tables (Kf, F, W) and each code and flip mask, the change
    of a joint flip minus the sum of the single flips it is made of (zero for one-bit masks)."""
    width = values.shape[-1]
    codes = torch.arange(width, device=values.device)
    before = values[..., codes][..., None]  # (Kf, F, W, 1)
    joint = values[..., codes[:, None] ^ codes[None, :]] - before
    separate = torch.zeros_like(joint)
    for j in range(int(math.log2(width))):
        single = values[..., codes ^ (1 << j)][..., None] - before  # (Kf, F, W, 1)
        separate = separate + single * ((codes >> j) & 1)  # only masks holding bit j
    return joint - separate


class Switch:
    """Subset tables of one graph: for each multi-concept rule f and subset t of its concepts,
    the factors that hold two or more concepts of t, with the bits of t inside them."""

    def __init__(self, graph: FactorGraph):
        self.graph = graph
        variables = graph.factor_variables.cpu().numpy()
        arity, R, F = graph.factor_arity, graph.max_arity, len(graph.factor_arity)
        subsets = _subset_masks(R)
        holders: dict[int, list[int]] = {}
        for g in range(F):
            for v in variables[g, : arity[g]]:
                holders.setdefault(int(v), []).append(g)
        valid = np.zeros((F, len(subsets)), bool)
        entries: list[list[tuple[int, int]]] = []
        for f in range(F):
            for t, mask in enumerate(subsets):
                valid[f, t] = mask < 2 ** arity[f]
                chosen = {int(variables[f, j]) for j in range(R) if mask >> j & 1} if valid[f, t] else set()
                touched = {g for v in chosen for g in holders.get(v, [])}
                row = []
                for g in sorted(touched):
                    bits = sum(1 << j for j in range(arity[g]) if int(variables[g, j]) in chosen)
                    if bin(bits).count("1") >= 2:
                        row.append((g, bits))
                entries.append(row)
        multi_bit = [t for t, mask in enumerate(subsets) if bin(mask).count("1") >= 2]
        width = max((len(entries[f * len(subsets) + t]) for f in range(F) for t in multi_bit), default=0)
        holder = np.full((F, len(multi_bit), width), F, dtype=np.int64)  # F = the dummy factor
        holder_bits = np.zeros((F, len(multi_bit), width), dtype=np.int64)
        for f in range(F):
            for u, t in enumerate(multi_bit):
                for l, (g, bits) in enumerate(entries[f * len(subsets) + t]):
                    holder[f, u, l], holder_bits[f, u, l] = g, bits
        dev = graph.device
        self.device = dev
        self.subset_bits = torch.tensor(subsets, device=dev)
        self.subset_valid = torch.tensor(valid, device=dev)
        self.subset_penalty = torch.where(self.subset_valid, 0.0, -math.inf)
        self.partial_subsets = [t for t in range(len(subsets)) if not valid[:, t].all()]
        self.multi_bit_subsets = multi_bit
        self.holder = torch.tensor(holder, device=dev)
        self.holder_bits = torch.tensor(holder_bits, device=dev)
        self._interaction: tuple[object, torch.Tensor | None] | None = None

    def interaction(self) -> torch.Tensor | None:
        """(Kf, F+1, W*W) joint-flip corrections under the graph's current weights."""
        values = self.graph.tables().factor_values
        if self._interaction is None or self._interaction[0] is not values:
            table = _joint_flip_interaction(values).flatten(2) if self.holder.shape[-1] else None
            self._interaction = (values, table)
        return self._interaction[1]

    def gains_cm(
        self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Concept-major candidates: unary gains (M, N) (-inf where no violated unary rule), for
        each subset mask t = 1 .. 2**R - 1 the gains of flipping it in every multi-concept rule
        (T x (F, N); -inf where the rule has no such subset), and which of those rules are
        violated (F, N)."""
        graph = self.graph
        single, codes = graph.flip_gains_cm(cT, y, codes)
        unary = single.masked_fill(~graph.unary_lookup(graph.violable_by_concept, cT, y), -math.inf)
        F = len(graph.multi_rules)
        violated = graph.lookup(graph.factor_truth, codes, y)[:F] == 0  # (F, N)
        per_position = [single.index_select(0, graph.factor_variables[:F, j]) for j in range(graph.max_arity)]
        gains = [sum(per_position[j] for j in range(graph.max_arity) if mask >> j & 1) for mask in self.subset_bits.tolist()]
        interaction = self.interaction()
        if interaction is not None:
            width = graph.factor_truth.shape[2]
            for u, t in enumerate(self.multi_bit_subsets):
                for l in range(self.holder.shape[-1]):
                    holder = self.holder[:, u, l]
                    columns = codes.index_select(0, holder) * width + self.holder_bits[:, u, l, None]
                    gains[t] = gains[t] + graph.lookup(interaction, columns, y, rows=holder)
        for t in self.partial_subsets:  # subsets that some lower-arity rule does not have
            gains[t] = gains[t] + self.subset_penalty[:, t, None]
        return unary, gains, violated

    def gains(self, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample-major candidates as gains s = S(c xor t) - S(c):

        * ``unary`` (N, M): flipping concept m, where a rule over m alone is violated; -inf elsewhere.
        * ``multi`` (N, F, T): flipping subset t of the concepts of rule f, where f is violated;
          -inf where f is satisfied or t does not exist for f's arity.
        """
        unary, gains, violated = self.gains_cm(c.T.contiguous(), y)
        multi = torch.stack(gains, -1).masked_fill(~violated[:, :, None], -math.inf)  # (F, N, T)
        return unary.T, multi.transpose(0, 1)

    def subset_flips_cm(self, chosen: torch.Tensor, subset: torch.Tensor) -> torch.Tensor:
        """(M, N) bool: the concepts flipped when each multi-concept rule f with ``chosen[f, n]``
        flips its subset number ``subset[f, n]`` (the bit mask ``subset + 1`` of its concepts)."""
        graph = self.graph
        F = chosen.shape[0]
        bits = (subset + 1).to(torch.int32)
        flips = torch.zeros(graph.num_concepts, chosen.shape[1], dtype=torch.int32, device=graph.device)
        for j in range(graph.max_arity):
            on = (bits & (1 << j)).bool() & chosen
            flips.index_add_(0, graph.factor_variables[:F, j], on.to(torch.int32))
        return flips > 0

    def subset_concepts(self) -> torch.Tensor:
        """(F, T, M) bool: the concepts that subset t of multi-concept rule f flips (for valid t)."""
        graph = self.graph
        F, T = len(graph.multi_rules), len(self.subset_bits)
        positions = torch.arange(graph.max_arity, device=graph.device)
        chosen = ((self.subset_bits[:, None] >> positions) & 1).bool()  # (T, R)
        chosen = chosen[None] & self.subset_valid[:, :, None]  # (F, T, R)
        out = torch.zeros(F, T, graph.num_concepts, dtype=torch.long, device=graph.device)
        target = graph.factor_variables[:F, None, :].expand(-1, T, -1)
        return out.scatter_add_(2, target, chosen.long()) > 0


_SWITCHES: "weakref.WeakKeyDictionary[FactorGraph, Switch]" = weakref.WeakKeyDictionary()


def switch_of(graph: FactorGraph) -> Switch:
    """The graph's switch tables, compiled on first use (and again after ``graph.to``)."""
    switch = _SWITCHES.get(graph)
    if switch is None or switch.device != graph.device:
        switch = _SWITCHES[graph] = Switch(graph)
    return switch
