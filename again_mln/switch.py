"""The candidates of the intervention switch (docs/method.md, "Rectification", Eq. 4-5): the gain
s = S(c xor t) - S(c) of flipping every non-empty subset t of the concepts of every *violated*
rule, computed for the violated (rule, sample) pairs only.

A realistic explanation breaks a handful of rules, so the work is proportional to those: one
batched lookup finds the violated pairs, and each pair's gains are ragged gathers over the
factors that hold its concepts (a concept -> factors index compiled once per graph). A subset's
gain is the sum of its single-flip gains plus a correction from the factors that hold two or more
of its concepts: their joint flip differs from the sum of single flips. Every gain is added up
in the order of :meth:`FactorGraph.flip_gains_cm`, so it is the same float as the dense
computation's, and so are the flips chosen from it.
"""
from __future__ import annotations

import math
import weakref
from typing import NamedTuple

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


def _ragged(pointers: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The entries of CSR rows ``rows`` (Q,) laid end to end: each entry's owner q and its
    position in the CSR arrays, rows in order and each row's entries in CSR order."""
    start = pointers[rows]
    count = pointers[rows + 1] - start
    owner = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), count)
    shift = start - (torch.cumsum(count, 0) - count)  # CSR position minus output position
    return owner, torch.arange(len(owner), device=rows.device) + shift[owner]


def _unique_pairs(first: torch.Tensor, second: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct (first, second) pairs, second in 0 .. size - 1."""
    keys = torch.unique(first * size + second)
    return keys // size, keys % size


class Candidates(NamedTuple):
    """The switch's candidates in a batch: one entry per violated (rule, sample) pair."""

    concept: torch.Tensor  # (Q,) a concept whose unary rule is violated ...
    concept_sample: torch.Tensor  # (Q,) ... in this sample
    concept_gain: torch.Tensor  # (Q,) S(c xor e_m) - S(c)
    rule: torch.Tensor  # (P,) a violated multi-concept rule f ...
    rule_sample: torch.Tensor  # (P,) ... in this sample
    subset_gains: torch.Tensor  # (P, T) S(c xor t) - S(c), subset t = bit mask t + 1 of f's concepts; -inf where f has none


class Switch:
    """The switch's tables of one graph: which factors hold each concept (CSR, entries in the
    graph's flip-gain order) and, for each multi-concept rule f and subset t of its concepts, the
    factors that hold two or more concepts of t, with the bits of t inside them."""

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
        # concept -> (factor, position) entries, ordered as flip_gains_cm adds them: position, then factor
        factor, position = np.nonzero(np.arange(R) < arity[:, None])
        concept = variables[factor, position]
        order = np.lexsort((factor, position, concept))
        pointers = np.concatenate([[0], np.cumsum(np.bincount(concept, minlength=graph.num_concepts))])
        dev = graph.device
        self.device = dev
        self.num_rules = F
        self.subset_masks = subsets.tolist()
        self.subset_bits = torch.tensor(subsets, device=dev)
        self.subset_valid = torch.tensor(valid, device=dev)
        self.subset_penalty = torch.where(self.subset_valid, 0.0, -math.inf)
        self.partial_subsets = [t for t in range(len(subsets)) if not valid[:, t].all()]
        self.multi_bit_subsets = multi_bit
        self.holder = torch.tensor(holder, device=dev)
        self.holder_bits = torch.tensor(holder_bits, device=dev)
        self.arity = torch.tensor(arity, dtype=torch.long, device=dev)
        self.positions = torch.arange(R, device=dev)
        self.member_pointers = torch.tensor(pointers, dtype=torch.long, device=dev)
        self.member_factor = torch.tensor(factor[order], dtype=torch.long, device=dev)
        self.member_bit = torch.tensor(1 << position[order], dtype=torch.long, device=dev)
        self.coupled = graph.coupled_concepts
        self._interaction: tuple[object, torch.Tensor | None] | None = None

    def interaction(self) -> torch.Tensor | None:
        """(Kf, F+1, W*W) joint-flip corrections under the graph's current weights."""
        values = self.graph.tables().factor_values
        if self._interaction is None or self._interaction[0] is not values:
            table = _joint_flip_interaction(values).flatten(2) if self.holder.shape[-1] else None
            self._interaction = (values, table)
        return self._interaction[1]

    # ------------------------------------------------------------------------------ gains
    def candidates(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None) -> Candidates:
        """Every violated (unary rule's concept, sample) and (multi-concept rule, sample) pair of
        concepts cT (M, N) and categories y (N,), with their gains; ``codes`` are cT's factor codes
        when already known."""
        graph = self.graph
        codes = graph.factor_codes(cT) if codes is None else codes
        concept, sample = graph.unary_lookup(graph.violable_by_concept, cT, y).nonzero(as_tuple=True)
        rule, rule_sample = (graph.lookup(graph.factor_truth, codes, y)[: self.num_rules] == 0).nonzero(as_tuple=True)
        return Candidates(concept, sample, self.concept_gains(concept, sample, cT, y, codes),
                          rule, rule_sample, self.subset_gains(rule, rule_sample, cT, y, codes))

    def concept_gains(self, concept: torch.Tensor, sample: torch.Tensor, cT: torch.Tensor, y: torch.Tensor,
                      codes: torch.Tensor) -> torch.Tensor:
        """S(c xor e_m) - S(c) for (concept, sample) pairs (Q,): the unary change plus each holding
        factor's change, added in :meth:`FactorGraph.flip_gains_cm`'s order."""
        tables = self.graph.tables()
        column = 2 * y[sample] + cT[concept, sample]
        gains = tables.unary_by_concept[concept, column ^ 1] - tables.unary_by_concept[concept, column]
        owner, entry = _ragged(self.member_pointers, concept)
        factor, bit = self.member_factor[entry], self.member_bit[entry]
        code = codes[factor, sample[owner]]
        values = tables.factor_values.reshape(-1)
        base = self._row(factor, y[sample[owner]], tables.factor_values.shape) * tables.factor_values.shape[2]
        return gains.index_add_(0, owner, values[base + (code ^ bit)] - values[base + code])

    def subset_gains(self, rule: torch.Tensor, sample: torch.Tensor, cT: torch.Tensor, y: torch.Tensor,
                     codes: torch.Tensor) -> torch.Tensor:
        """(P, T) S(c xor t) - S(c) for (multi-concept rule, sample) pairs and every subset mask
        t + 1 of the rule's concepts (-inf where the rule has no such subset)."""
        graph = self.graph
        P, R = len(rule), graph.max_arity
        variables = graph.factor_variables[rule]  # (P, R)
        pair, position = (self.positions < self.arity[rule, None]).nonzero(as_tuple=True)
        single = torch.zeros(P, R, dtype=graph.tables().factor_values.dtype, device=self.device)
        single[pair, position] = self.concept_gains(variables[pair, position], sample[pair], cT, y, codes)
        per_position = single.unbind(1)
        gains = [sum(per_position[j] for j in range(R) if mask >> j & 1) for mask in self.subset_masks]
        interaction = self.interaction()
        if interaction is not None:
            flat, width = interaction.reshape(-1), graph.factor_truth.shape[2]
            holders, holder_bits, y_rule = self.holder[rule], self.holder_bits[rule], y[sample]
            for u, t in enumerate(self.multi_bit_subsets):
                for l in range(holders.shape[-1]):
                    holder = holders[:, u, l]
                    column = codes[holder, sample] * width + holder_bits[:, u, l]
                    gains[t] = gains[t] + flat[self._row(holder, y_rule, interaction.shape) * interaction.shape[2] + column]
        for t in self.partial_subsets:  # subsets that some lower-arity rule does not have
            gains[t] = gains[t] + self.subset_penalty[rule, t]
        return torch.stack(gains, 1)

    @staticmethod
    def _row(factor: torch.Tensor, y: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Row of (category, factor) in factor tables of shape (Kf, F+1, W) flattened to rows."""
        return factor if shape[0] == 1 else y * shape[1] + factor

    # ------------------------------------------------------------------------------ flips
    def subset_members(self, rule: torch.Tensor, subset: torch.Tensor, sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (concept, sample) pairs flipped when rule[p] flips its subset number subset[p]
        (bit mask subset + 1 of its concepts) in sample[p]."""
        pair, position = (((subset.long() + 1)[:, None] >> self.positions) & 1).nonzero(as_tuple=True)
        return self.graph.factor_variables[rule[pair], position], sample[pair]

    def flips_cm(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """The switch (Algorithm 1): (M, N) bool, concept m of sample n flipped. Each violated rule's
        best subset (first on ties) is a candidate when its gain is > 0; all candidates apply."""
        candidates = self.candidates(cT, y, codes)
        flips = torch.zeros(cT.shape, dtype=torch.bool, device=self.device)
        take = candidates.concept_gain > 0
        flips[candidates.concept[take], candidates.concept_sample[take]] = True
        best, subset = candidates.subset_gains.max(1)  # the first best subset of each rule
        take = best > 0
        flips[self.subset_members(candidates.rule[take], subset[take], candidates.rule_sample[take])] = True
        return flips


class CandidateTable:
    """The best candidate of every coupled concept and multi-concept rule of every sample, kept
    current while concepts flip (``iterate``): ``gains`` (N, M + F) holds column m the gain of
    concept m where a unary rule over it is violated, column M + f the best subset gain of rule f
    where f is violated, -inf elsewhere; ``subset`` (N, F) that best subset.

    Flipping concepts S of a sample changes the single-flip gains of S and of the concepts that
    share a rule with S (N(S)) and nothing else; a rule's candidate reads the single-flip gains of
    its concepts and the codes of the rules that hold them, so it changes only when it holds a
    concept of N(S). Those are all :meth:`flip` recomputes."""

    def __init__(self, switch: Switch, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor, candidates: Candidates):
        M, N = cT.shape
        self.switch, self.cT, self.y, self.codes = switch, cT, y, codes
        self.num_concepts = M
        self.gains = torch.full((N, M + switch.num_rules), -math.inf, dtype=candidates.concept_gain.dtype, device=switch.device)
        small = len(switch.subset_masks) <= 256
        self.subset = torch.zeros(N, switch.num_rules, dtype=torch.uint8 if small else torch.long, device=switch.device)
        coupled = switch.coupled[candidates.concept]
        self.gains[candidates.concept_sample[coupled], candidates.concept[coupled]] = candidates.concept_gain[coupled]
        self._set_rules(candidates.rule, candidates.rule_sample, candidates.subset_gains)

    def _set_rules(self, rule: torch.Tensor, sample: torch.Tensor, subset_gains: torch.Tensor) -> None:
        best, subset = subset_gains.max(1)  # the first best subset of each rule
        self.gains[sample, self.num_concepts + rule] = best
        self.subset[sample, rule] = subset.to(self.subset.dtype)

    def best(self, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The largest candidate gain of each sample and its column (the first on ties)."""
        return self.gains.index_select(0, samples).max(1)

    def flip(self, column: torch.Tensor, samples: torch.Tensor) -> None:
        """Apply candidate ``column`` (of :attr:`gains`) to each sample, in place of the
        concepts cT, and recompute the candidates that this changes."""
        switch, graph, M = self.switch, self.switch.graph, self.num_concepts
        one = column < M
        rule = column[~one] - M
        ruled = samples[~one]
        concept, sample = switch.subset_members(rule, self.subset[ruled, rule], ruled)
        concept, sample = torch.cat([column[one], concept]), torch.cat([samples[one], sample])
        self.cT[concept, sample] ^= 1
        # N(S): the concepts of the rules that hold a flipped concept (the flipped ones among them)
        owner, entry = _ragged(switch.member_pointers, concept)
        holder, held = switch.member_factor[entry], sample[owner]
        pair, position = (switch.positions < switch.arity[holder, None]).nonzero(as_tuple=True)
        near_sample, near = _unique_pairs(held[pair], graph.factor_variables[holder[pair], position], M)
        # the rules that hold a concept of N(S): their codes (as FactorGraph.factor_codes), truth and candidates
        owner, entry = _ragged(switch.member_pointers, near)
        rule_sample, rule = _unique_pairs(near_sample[owner], switch.member_factor[entry], switch.num_rules)
        codes = self.cT[graph.factor_variables[rule, 0], rule_sample]
        for j in range(1, graph.max_arity):
            codes += self.cT[graph.factor_variables[rule, j], rule_sample] << j
        self.codes[rule, rule_sample] = codes
        truth = graph.factor_truth
        row = switch._row(rule, self.y[rule_sample], truth.shape)
        violated = truth.reshape(-1)[row * truth.shape[2] + codes] == 0
        self.gains[rule_sample, M + rule] = -math.inf
        rule, rule_sample = rule[violated], rule_sample[violated]
        self._set_rules(rule, rule_sample, switch.subset_gains(rule, rule_sample, self.cT, self.y, self.codes))
        violable = graph.violable_by_concept[near, 2 * self.y[near_sample] + self.cT[near, near_sample]]
        gains = torch.full(near.shape, -math.inf, dtype=self.gains.dtype, device=switch.device)
        gains[violable] = switch.concept_gains(near[violable], near_sample[violable], self.cT, self.y, self.codes)
        self.gains[near_sample, near] = gains


_SWITCHES: "weakref.WeakKeyDictionary[FactorGraph, Switch]" = weakref.WeakKeyDictionary()


def switch_of(graph: FactorGraph) -> Switch:
    """The graph's switch tables, compiled on first use (and again after ``graph.to``)."""
    switch = _SWITCHES.get(graph)
    if switch is None or switch.device != graph.device:
        switch = _SWITCHES[graph] = Switch(graph)
    return switch
