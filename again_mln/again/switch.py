"""The candidates of the intervention switch (docs/method.md, "Rectification", Eq. 4-5): the gain
s = S(c xor t) - S(c) of flipping every non-empty subset t of the concepts of every *violated*
rule, computed for the violated (rule, sample) pairs only.

A realistic explanation breaks a handful of rules, so the work is proportional to those: one
batched lookup finds the violated pairs, and each pair's gains are ragged gathers over the
factors that hold its concepts (a concept -> factors index compiled once per graph). A subset's
gain is the sum of its single-flip gains plus a correction from the factors that hold two or more
of its concepts: their joint flip differs from the sum of single flips. Every gain is added up
in the order of :meth:`FactorGraph.flip_gains_cm`, so it is the same float as the dense
computation's, and so are the flips chosen from it. Where so many rules are violated that the
dense tables of every gain cost less, the switch takes those (:meth:`SwitchTables.dense_is_cheaper`).
``iterate`` keeps the candidates in a :class:`CandidateTable` and recomputes after each round only
those that the round's flips can change.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse
import torch
from torch import nn

from again_mln.again.graph import FactorGraph
from again_mln.errors import AgainError


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


#: Largest joint-flip table (entries) the switch builds: rules are padded to the widest one, so a
#: single wide rule multiplies the size for every rule (4 bytes an entry).
MAX_SWITCH_TABLE_ENTRIES = 2**27


def check_switch_size(graph: FactorGraph) -> None:
    """Refuse, in one line that names the widest rule, a switch whose joint-flip table would not
    fit: (Kf, F+1, W, W) entries for F multi-concept rules padded to W = 2**(widest arity)."""
    values = graph.factor_truth
    entries = values.shape[0] * values.shape[1] * values.shape[2] ** 2
    if entries <= MAX_SWITCH_TABLE_ENTRIES:
        return
    widest = graph.ruleset.rules[int(graph.multi_rules[int(np.argmax(graph.factor_arity))])]
    raise AgainError(f"the switch would need {4 * entries / 2**30:,.1f} GiB for its joint-flips: rule "
                     f"{str(widest.formula)!r} has {graph.max_arity} concepts and every one of the "
                     f"{len(graph.factor_arity):,} multi-concept rules is padded to its 2**{graph.max_arity} values; "
                     f"use --strategy map or marginal, or split that rule")


def _holders(variables: np.ndarray, arity: np.ndarray, masks: np.ndarray, valid: np.ndarray,
             num_concepts: int) -> tuple[np.ndarray, np.ndarray]:
    """For each multi-bit subset u (mask ``masks[u]`` over rule positions) of each rule f, the rules
    g (ascending) holding two or more of its concepts, and which of g's positions those are (bits):
    ``holder`` (U, L, F), F = the dummy factor where there is none, and ``holder_bits`` (U, L, F)."""
    F, R = variables.shape[0], variables.shape[1] if variables.ndim == 2 else 0
    U = len(masks)
    if not F or not U:
        return np.full((U, 0, F), F, np.int64), np.zeros((U, 0, F), np.int64)
    held = np.arange(R)[None, :] < arity[:, None]  # (F, R): position in use
    rows, cols = np.nonzero(held)
    incidence = scipy.sparse.csr_matrix((np.ones(len(rows)), (rows, variables[rows, cols])), shape=(F, num_concepts))
    f, g = (incidence @ incidence.T).nonzero()  # rules sharing a concept (f == g included)
    same = ((variables[f][:, :, None] == variables[g][:, None, :]) & held[f][:, :, None] & held[g][:, None, :])  # (P, R, R)
    chosen = (masks[:, None] >> np.arange(R)) & 1  # (U, R): the positions of f in subset u
    inside = np.einsum("pjk,uj->puk", same.astype(np.int64), chosen) > 0  # (P, U, R): position k of g chosen
    bits = inside.astype(np.int64) @ (1 << np.arange(R))  # (P, U)
    keep = (inside.sum(2) >= 2) & valid[f]  # (P, U)
    pair, u = np.nonzero(keep)
    order = np.lexsort((g[pair], f[pair], u))
    pair, u = pair[order], u[order]
    group = u * F + f[pair]
    first = np.r_[True, group[1:] != group[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(group)), 0))
    slot = np.arange(len(group)) - start  # rank of g within its (u, f) group
    width = int(slot.max()) + 1 if len(slot) else 0
    holder = np.full((U, width, F), F, dtype=np.int64)
    holder_bits = np.zeros((U, width, F), dtype=np.int64)
    holder[u, slot, f[pair]] = g[pair]
    holder_bits[u, slot, f[pair]] = bits[pair, u]
    return holder, holder_bits


def _ragged(pointers: torch.Tensor, counts: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The entries of CSR rows ``rows`` (Q,) laid end to end: each entry's owner q and its
    position in the CSR arrays, rows in order and each row's entries in CSR order (all in the
    index type of ``rows``)."""
    count = counts.index_select(0, rows).to(rows.dtype)
    owner = torch.repeat_interleave(count)
    shift = pointers.index_select(0, rows) - (torch.cumsum(count, 0, dtype=rows.dtype) - count)  # CSR minus output position
    return owner, torch.arange(len(owner), dtype=rows.dtype, device=rows.device) + shift.index_select(0, owner)


def _first_of_each(keys: torch.Tensor, scratch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The position of one occurrence of each distinct key, and for every key the position of
    that occurrence; ``scratch`` is any long tensor indexable by the keys (never cleared:
    each key reads back what this call wrote), so the cost is O(len(keys)), with no sort."""
    order = torch.arange(len(keys), device=keys.device)
    scratch.index_copy_(0, keys, order)  # one of each key's writes survives
    chosen = scratch.index_select(0, keys)
    return (chosen == order).nonzero().squeeze(1), chosen


#: Cost of one entry of the sparse gains (a rule holding a concept to score) against one lookup
#: of the dense gains, measured with the CUB rules on a CPU (about 3).
SPARSE_ENTRY_COST = 3.0


class _Batch(NamedTuple):
    """A batch as flat views: concepts (M*N,) concept-major, categories (N,), factor codes ((F+1)*N,)."""

    size: int
    concepts: torch.Tensor
    y: torch.Tensor
    codes: torch.Tensor


class Candidates(NamedTuple):
    """The switch's candidates in a batch: one entry per violated (rule, sample) pair."""

    concept: torch.Tensor  # (Q,) a concept whose unary rule is violated ...
    concept_sample: torch.Tensor  # (Q,) ... in this sample
    concept_gain: torch.Tensor  # (Q,) S(c xor e_m) - S(c)
    rule: torch.Tensor  # (P,) a violated multi-concept rule f ...
    rule_sample: torch.Tensor  # (P,) ... in this sample
    subset_gains: torch.Tensor  # (P, T) S(c xor t) - S(c), subset t = bit mask t + 1 of f's concepts; -inf where f has none


class SwitchTables(nn.Module):
    """The switch's tables of one graph, as buffers: which factors hold each concept (CSR, entries
    in the graph's flip-gain order) and, for each multi-concept rule f and subset t of its
    concepts, the factors that hold two or more concepts of t, with the bits of t inside them.
    Built with array operations; their size is checked before anything is allocated."""

    def __init__(self, graph: FactorGraph):
        super().__init__()
        check_switch_size(graph)
        object.__setattr__(self, "graph", graph)  # the compiled rules own the graph; not a submodule
        variables = graph.factor_variables.cpu().numpy()
        arity, R, F = graph.factor_arity, graph.max_arity, len(graph.factor_arity)
        subsets = _subset_masks(R)
        valid = subsets[None, :] < 2 ** arity[:, None]  # (F, T): subset t exists in rule f
        multi_bit = [t for t, mask in enumerate(subsets) if bin(mask).count("1") >= 2]
        holder, holder_bits = _holders(variables[:F], arity, subsets[multi_bit], valid[:, multi_bit], graph.num_concepts)
        # concept -> (factor, position) entries, ordered as flip_gains_cm adds them: position, then factor
        factor, position = np.nonzero(np.arange(R) < arity[:, None])
        concept = variables[factor, position]
        order = np.lexsort((factor, position, concept))
        counts = np.bincount(concept, minlength=graph.num_concepts)
        dev = graph.device
        self.num_rules = F
        self.subset_masks = subsets.tolist()
        self.partial_subsets = [t for t in range(len(subsets)) if not valid[:, t].all()]
        self.multi_bit_subsets = multi_bit
        self.mixed_arity = bool(F) and int(arity.min()) < R

        def buffer(name: str, value, dtype) -> None:
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(value), dtype=dtype, device=dev))

        buffer("subset_penalty", np.where(valid, 0.0, -np.inf).T, torch.float32)  # (T, F)
        buffer("holder", holder, torch.long)  # (U, L, F)
        buffer("holder_bits", holder_bits, torch.long)
        buffer("arity", arity, torch.long)
        self.register_buffer("variables", graph.factor_variables.T.contiguous())  # (R, F+1): row j = j-th concept
        buffer("member_counts", counts, torch.int32)
        buffer("member_pointers", np.cumsum(counts) - counts, torch.int32)
        buffer("member_factor", factor[order], torch.int32)
        buffer("member_bit", 1 << position[order], torch.int32)
        self.register_buffer("member_row", self.member_factor * graph.factor_truth.shape[2])  # the factor's table row
        self.register_buffer("coupled", graph.coupled_concepts)
        #: Lookups of the dense single-flip gains per sample (FactorGraph.flip_gains_cm): every
        #: factor at every position, and every concept.
        self.dense_work = (F + 1) * R + graph.num_concepts
        self.mean_degree = len(factor) / graph.num_concepts
        self._interaction: tuple[object, torch.Tensor | None] | None = None

    @property
    def device(self) -> torch.device:
        return self.variables.device

    def interaction(self) -> torch.Tensor | None:
        """(Kf, F+1, W*W) joint-flip corrections under the graph's current weights."""
        values = self.graph.tables().factor_values
        if self._interaction is None or self._interaction[0] is not values:
            table = _joint_flip_interaction(values).flatten(2) if self.holder.shape[1] else None
            self._interaction = (values, table)
        return self._interaction[1]

    # ------------------------------------------------------------------------------ gains
    def candidates(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None) -> Candidates:
        """Every violated (unary rule's concept, sample) and (multi-concept rule, sample) pair of
        concepts cT (M, N) and categories y (N,), with their gains; ``codes`` are cT's factor codes
        when already known."""
        cT, codes = self._prepare(cT, codes)
        return self._candidates(cT, y, codes, *self._violated(cT, y, codes))

    def _prepare(self, cT: torch.Tensor, codes: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        cT = cT.contiguous()
        return cT, (self.graph.factor_codes(cT) if codes is None else codes).contiguous()

    def _violated(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batched lookups: (M, N) concepts with a violated unary rule, (F, N) violated rules."""
        graph = self.graph
        return (graph.unary_lookup(graph.violable_by_concept, cT, y),
                graph.lookup(graph.factor_truth, codes, y)[: self.num_rules] == 0)

    def _candidates(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor, violable: torch.Tensor,
                    violated: torch.Tensor, dense: bool = False) -> Candidates:
        """The candidates of the violated pairs. Their single-flip gains come from ragged gathers
        over the concepts they need, or (``dense``) from the graph's table of every gain, which
        costs less when most rules are violated; both are the same floats."""
        N = cT.shape[1]
        concept_keys = violable.view(-1).nonzero().squeeze(1)
        rule_keys = violated.view(-1).nonzero().squeeze(1)
        rule, rule_sample = rule_keys // N, rule_keys % N
        batch = _Batch(N, cT.view(-1), y, codes.view(-1))
        if dense:
            single = self.graph.flip_gains_cm(cT, y, codes)[0].reshape(-1)
            gains = single.index_select(0, concept_keys)
            per_position = tuple(single.index_select(0, self.variables[j].index_select(0, rule) * N + rule_sample)
                                 for j in range(self.graph.max_arity))
            subset_gains = self._subset_gains(batch, rule, rule_sample, per_position)
        else:
            scratch = torch.empty(cT.numel(), dtype=torch.long, device=self.device)
            gains, subset_gains = self._gains(batch, concept_keys, rule, rule_sample, scratch)
        return Candidates(concept_keys // N, concept_keys % N, gains, rule, rule_sample, subset_gains)

    def _gains(self, batch: _Batch, concept_keys: torch.Tensor, rule: torch.Tensor, rule_sample: torch.Tensor,
               scratch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Single-flip gains of concept keys (m * N + n) and subset gains (P, T) of rule pairs; each
        distinct concept key's single-flip gain is computed once."""
        members = (self.variables.index_select(1, rule) * batch.size + rule_sample).view(-1)  # (R*P,)
        keys = torch.cat([concept_keys, members])
        first, chosen = _first_of_each(keys, scratch)
        slot = torch.empty_like(keys)
        slot.index_copy_(0, first, torch.arange(len(first), device=self.device))
        singles = self._single_gains(batch, keys.index_select(0, first)).index_select(0, slot.index_select(0, chosen))
        per_position = singles[len(concept_keys):].view(self.graph.max_arity, len(rule)).unbind(0)
        return singles[: len(concept_keys)], self._subset_gains(batch, rule, rule_sample, per_position)

    def _single_gains(self, batch: _Batch, keys: torch.Tensor) -> torch.Tensor:
        """S(c xor e_m) - S(c) for concept keys m * N + n: the unary change plus each holding
        factor's change, added in :meth:`FactorGraph.flip_gains_cm`'s order."""
        tables, N = self.graph.tables(), batch.size
        small = max(len(batch.concepts), len(batch.codes), tables.unary_by_concept.numel(),
                    tables.factor_values.numel()) < 2**31
        index = torch.int32 if small else torch.long  # half the memory traffic of int64 indices
        keys = keys.to(index)
        concept = keys // N
        sample = keys - concept * N
        y = batch.y.to(index).index_select(0, sample)
        unary = tables.unary_by_concept
        column = concept * unary.shape[1] + 2 * y + batch.concepts.index_select(0, keys).to(index)
        unary = unary.view(-1)
        gains = unary.index_select(0, column ^ 1) - unary.index_select(0, column)
        owner, entry = _ragged(self.member_pointers, self.member_counts, concept)
        code_row = (self.member_factor.to(index) * N).index_select(0, entry)
        code = batch.codes.index_select(0, code_row + sample.index_select(0, owner)).to(index)
        values = tables.factor_values
        start = self.member_row.to(index).index_select(0, entry) + code
        if len(values) > 1:  # category-dependent tables: the sample's category's block
            start += (y * (values.shape[1] * values.shape[2])).index_select(0, owner)
        values = values.view(-1)
        change = values.index_select(0, start ^ self.member_bit.index_select(0, entry)) - values.index_select(0, start)
        return gains.index_add_(0, owner, change)

    def _subset_gains(self, batch: _Batch, rule: torch.Tensor, sample: torch.Tensor,
                      per_position: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """(P, T) gains of every subset mask t + 1 of each rule's concepts, from the single-flip
        gains of its concepts by position (R x (P,)); -inf where the rule has no such subset."""
        R = self.graph.max_arity
        gains = [sum(per_position[j] for j in range(R) if mask >> j & 1) for mask in self.subset_masks]
        interaction = self.interaction()
        if interaction is not None:
            width, table = self.graph.factor_truth.shape[2], interaction.view(-1)
            y = batch.y.index_select(0, sample) if len(interaction) > 1 else None
            for u, t in enumerate(self.multi_bit_subsets):
                for l in range(self.holder.shape[1]):
                    holder = self.holder[u, l].index_select(0, rule)
                    column = batch.codes.index_select(0, holder * batch.size + sample) * width
                    column += self.holder_bits[u, l].index_select(0, rule)
                    row = self._row(holder, y, interaction.shape)
                    gains[t] = gains[t] + table.index_select(0, row * interaction.shape[2] + column)
        for t in self.partial_subsets:  # subsets that some lower-arity rule does not have
            gains[t] = gains[t] + self.subset_penalty[t].index_select(0, rule)
        return torch.stack(gains, 1)

    @staticmethod
    def _row(factor: torch.Tensor, y: torch.Tensor | None, shape: torch.Size) -> torch.Tensor:
        """Row of (category, factor) in factor tables of shape (Kf, F+1, W) seen as rows of W."""
        return factor if shape[0] == 1 else y * shape[1] + factor

    # ------------------------------------------------------------------------------ flips
    def subset_members(self, rule: torch.Tensor, subset: torch.Tensor, sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (concept, sample) pairs flipped when rule[p] flips its subset number subset[p]
        (bit mask subset + 1 of its concepts) in sample[p]."""
        bits = subset.long() + 1
        chosen = [((bits >> j) & 1).nonzero().squeeze(1) for j in range(self.graph.max_arity)]
        concepts = [self.variables[j].index_select(0, rule.index_select(0, p)) for j, p in enumerate(chosen)]
        return torch.cat(concepts), sample.index_select(0, torch.cat(chosen))

    def flips_cm(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """The switch (Algorithm 1): (M, N) bool, concept m of sample n flipped. Each violated rule's
        best subset (first on ties) is a candidate when its gain is > 0; all candidates apply.

        The gains come from the sparse candidates, unless so many rules are violated that the
        dense tables of every gain of every sample cost less (:meth:`dense_is_cheaper`); both give
        the same floats and so the same flips."""
        M, N = cT.shape
        cT, codes = self._prepare(cT, codes)
        violable, violated = self._violated(cT, y, codes)
        candidates = self._candidates(cT, y, codes, violable, violated, self.dense_is_cheaper(violable, violated))
        flips = torch.zeros(M * N, dtype=torch.bool, device=self.device)
        take = (candidates.concept_gain > 0).nonzero().squeeze(1)
        flips.index_fill_(0, candidates.concept.index_select(0, take) * N + candidates.concept_sample.index_select(0, take), True)
        best, subset = candidates.subset_gains.max(1)  # the first best subset of each rule
        take = (best > 0).nonzero().squeeze(1)
        concept, sample = self.subset_members(*(v.index_select(0, take) for v in (candidates.rule, subset, candidates.rule_sample)))
        return flips.index_fill_(0, concept * N + sample, True).view(M, N)

    def dense_is_cheaper(self, violable: torch.Tensor, violated: torch.Tensor) -> bool:
        """Whether the dense gains cost less than the sparse ones for these violated unary rules'
        concepts (M, N) and rules (F, N): the sparse cost grows with the concepts to score (each
        violated rule's and each violated unary rule's), times the rules that hold each."""
        N = violable.shape[1]
        needed = int(violable.sum()) + self.graph.max_arity * int(violated.sum())
        return needed * self.mean_degree * SPARSE_ENTRY_COST > self.dense_work * N


class CandidateTable:
    """The best candidate of every coupled concept and multi-concept rule of every sample, kept
    current while concepts flip (``iterate``): ``gains`` (N, M + F) holds in column m the gain of
    concept m where a unary rule over it is violated, in column M + f the best subset gain of rule
    f where f is violated, -inf elsewhere; ``subset`` (N, F) that best subset.

    Flipping concepts S of a sample changes the single-flip gains of S and of the concepts that
    share a rule with S (N(S)) and nothing else; a rule's candidate reads the single-flip gains of
    its concepts and the codes of the rules that hold them, so it changes only when it holds a
    concept of N(S). Those are all :meth:`flip` recomputes, so a round costs what it changes
    (plus one max over the candidates of each sample still improving)."""

    def __init__(self, switch: SwitchTables, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor, candidates: Candidates):
        M, N = cT.shape
        F = switch.num_rules
        self.switch, self.cT = switch, cT
        self.batch = _Batch(N, cT.view(-1), y, codes.view(-1))  # views: flips write through to cT
        self.num_concepts, self.width = M, M + F
        self.gains = torch.full((N * self.width,), -math.inf, dtype=candidates.concept_gain.dtype, device=switch.device)
        small = len(switch.subset_masks) <= 256
        self.subset = torch.zeros(N * F, dtype=torch.uint8 if small else torch.long, device=switch.device)
        self.concept_scratch = torch.empty(M * N, dtype=torch.long, device=switch.device)
        self.rule_scratch = torch.empty(F * N, dtype=torch.long, device=switch.device)
        coupled = switch.coupled.index_select(0, candidates.concept).nonzero().squeeze(1)
        concept, sample = candidates.concept.index_select(0, coupled), candidates.concept_sample.index_select(0, coupled)
        self.gains.index_copy_(0, sample * self.width + concept, candidates.concept_gain.index_select(0, coupled))
        self._set_rules(candidates.rule, candidates.rule_sample, candidates.subset_gains)

    def _set_rules(self, rule: torch.Tensor, sample: torch.Tensor, subset_gains: torch.Tensor) -> None:
        best, subset = subset_gains.max(1)  # the first best subset of each rule
        self.gains.index_copy_(0, sample * self.width + self.num_concepts + rule, best)
        self.subset.index_copy_(0, sample * self.switch.num_rules + rule, subset.to(self.subset.dtype))

    def best(self, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The largest candidate gain of each sample and its column (the first on ties)."""
        return self.gains.view(-1, self.width).index_select(0, samples).max(1)

    def flip(self, column: torch.Tensor, samples: torch.Tensor) -> None:
        """Apply candidate ``column`` (of :attr:`gains`) to each sample, in the concepts cT, and
        recompute the candidates that this changes."""
        switch, graph, batch = self.switch, self.switch.graph, self.batch
        M, N, F, R = self.num_concepts, batch.size, switch.num_rules, graph.max_arity
        one = column < M
        by_rule = (~one).nonzero().squeeze(1)
        rule, ruled = column.index_select(0, by_rule) - M, samples.index_select(0, by_rule)
        subset = self.subset.index_select(0, ruled * F + rule)
        concept, sample = switch.subset_members(rule, subset, ruled)
        one = one.nonzero().squeeze(1)
        keys = torch.cat([column.index_select(0, one) * N + samples.index_select(0, one), concept * N + sample])
        batch.concepts.index_copy_(0, keys, batch.concepts.index_select(0, keys) ^ 1)  # distinct keys
        # N(S): the concepts of the rules that hold a flipped concept (the flipped ones among them)
        concept = keys // N
        owner, entry = _ragged(switch.member_pointers, switch.member_counts, concept)
        holder, held = switch.member_factor.index_select(0, entry), (keys - concept * N).index_select(0, owner)
        near = torch.cat([switch.variables[j].index_select(0, holder) * N + held for j in range(R)])
        if switch.mixed_arity:  # positions beyond a rule's arity hold no concept
            near = near[(torch.arange(R, device=near.device)[:, None] < switch.arity.index_select(0, holder)).view(-1)]
        near = near.index_select(0, _first_of_each(near, self.concept_scratch)[0])
        near_concept = near // N
        near_sample = near - near_concept * N
        # the rules that hold a flipped concept: their codes (as FactorGraph.factor_codes) and truth;
        # +inf marks a violated one until its candidate is recomputed below
        rule_keys = holder.long() * N + held
        rule_keys = rule_keys.index_select(0, _first_of_each(rule_keys, self.rule_scratch)[0])
        rule = rule_keys // N
        rule_sample = rule_keys - rule * N
        codes = graph.factor_codes_at(batch.concepts, N, rule, rule_sample)
        batch.codes.index_copy_(0, rule_keys, codes)
        truth = graph.factor_truth
        row = switch._row(rule, batch.y.index_select(0, rule_sample) if len(truth) > 1 else None, truth.shape)
        violated = truth.view(-1).index_select(0, row * truth.shape[2] + codes) == 0
        mark = torch.full(violated.shape, -math.inf, dtype=self.gains.dtype, device=switch.device).masked_fill_(violated, math.inf)
        self.gains.index_copy_(0, rule_sample * self.width + M + rule, mark)
        # the rules that hold a concept of N(S): the violated ones (the others kept their truth) get
        # their candidates recomputed
        owner, entry = _ragged(switch.member_pointers, switch.member_counts, near_concept)
        rule_keys = switch.member_factor.index_select(0, entry).long() * N + near_sample.index_select(0, owner)
        rule_keys = rule_keys.index_select(0, _first_of_each(rule_keys, self.rule_scratch)[0])
        rule = rule_keys // N
        rule_sample = rule_keys - rule * N
        violated = (self.gains.index_select(0, rule_sample * self.width + M + rule) > -math.inf).nonzero().squeeze(1)
        rule, rule_sample = rule.index_select(0, violated), rule_sample.index_select(0, violated)
        # the concepts of N(S) whose unary rule is violated
        violable = graph.violable_by_concept
        state = near_concept * violable.shape[1] + 2 * batch.y.index_select(0, near_sample) + batch.concepts.index_select(0, near)
        self.gains.index_fill_(0, near_sample * self.width + near_concept, -math.inf)
        near = near[violable.view(-1).index_select(0, state)]
        concept_gains, subset_gains = switch._gains(batch, near, rule, rule_sample, self.concept_scratch)
        self.gains.index_copy_(0, (near % N) * self.width + near // N, concept_gains)
        self._set_rules(rule, rule_sample, subset_gains)
