"""The factor graph of a rule set, compiled to tensors: scores, exact partition functions,
S_max per category, detection (METHOD.md Eq. 3) and the intervention gains of the switch.

Given the category, every rule reduces to a truth table over its concept atoms. Rules over
one concept are summed into per-category unary tables ``(K, M, 2)``; rules over two or more
concepts stay factors with truth tables ``(K or 1, F, 2**R)`` (R = the largest arity; a smaller
factor's table ignores its unused high bits, which point at concept 0). Rules over no concept only
add a per-category constant. Every batched operation below is a gather on these tables, so the
cost per sample is O(M + F), with no Python loop over samples or rules.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from again_mln.contract import Factor, contract, induced_width, min_fill_order
from again_mln.errors import AgainError
from again_mln.logic import Atom, Rule, RuleSet

#: Largest M for which log Z(y) and S_max(y) are computed by enumerating all 2**M assignments.
MAX_ENUMERATION_CONCEPTS = 22
#: Above this many concepts S_max(y) comes from variable elimination or an integer program.
MAX_ENUMERATION_SMAX = 20
#: Largest intermediate table (entries over the whole batch) a max-product contraction may build.
MAX_CONTRACTION_ENTRIES = 2**24


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"`` -> cuda when present, else cpu; anything else as torch reads it."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise AgainError(f"unknown device {device!r}; expected auto, cpu or cuda[:N]") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise AgainError("device 'cuda' requested but no CUDA device is available")
    return resolved


@dataclass(frozen=True)
class _ReducedRule:
    """One rule reduced by the category evidence: a truth table per category."""

    concepts: tuple[int, ...]
    truth: np.ndarray  # (K, 2**r) bool, bit j of the column index = value of concepts[j]


def _reduce(rule: Rule, concept_index: dict[str, int], category_index: dict[str, int]) -> _ReducedRule:
    """Evaluate a rule on every (category, concept assignment) it can tell apart."""
    atoms = rule.formula.atoms()
    concept_atoms = [a for a in atoms if a.is_concept]
    category_atoms = [a for a in atoms if not a.is_concept]
    r, q = len(concept_atoms), len(category_atoms)
    assignment = torch.arange(2**r)
    case = torch.arange(q + 1)[:, None]  # case j < q: category atom j is true; case q: none is

    def value_of(atom: Atom) -> torch.Tensor:
        if atom.is_concept:
            bit = concept_atoms.index(atom)
            return ((assignment >> bit) & 1).bool().expand(q + 1, -1)
        return (case == category_atoms.index(atom)).expand(-1, 2**r)

    table = rule.formula.evaluate(value_of).numpy()  # (q + 1, 2**r)
    case_of_category = np.full(len(category_index), q)
    for j, atom in enumerate(category_atoms):
        case_of_category[category_index[atom.argument]] = j
    return _ReducedRule(tuple(concept_index[a.argument] for a in concept_atoms), table[case_of_category])


def _subset_masks(arity: int) -> np.ndarray:
    """All non-empty subsets of ``arity`` positions as bit masks, smallest first."""
    return np.arange(1, 2**arity)


class FactorGraph:
    """A compiled rule set on a torch device.

    Concept inputs are ``(N, M)`` tensors (bool or 0/1) in the rule set's concept order; categories
    are ``(N,)`` integer ids in its category order.
    """

    def __init__(
        self,
        ruleset: RuleSet,
        device: str | torch.device | None = None,
        hard_weight: float | None = None,
    ):
        self.ruleset = ruleset
        self.device = resolve_device(device)
        self.num_concepts = len(ruleset.concepts)
        self.num_categories = len(ruleset.categories)
        soft = [abs(r.weight) for r in ruleset.rules if not r.hard]
        #: Hard rules get a weight larger than all soft weights together, so that breaking one is
        #: always worse than breaking every soft rule; it stays finite so log Z is well defined.
        self.hard_weight = float(hard_weight if hard_weight is not None else 1.0 + sum(soft))
        self._compile([_reduce(r, ruleset.concept_index, ruleset.category_index) for r in ruleset.rules])
        self.set_weights(
            torch.tensor([self.hard_weight if r.hard else r.weight for r in ruleset.rules], dtype=torch.float32)
        )

    # ---------------------------------------------------------------------------- compilation
    def _compile(self, reduced: list[_ReducedRule]) -> None:
        K, M, dev = self.num_categories, self.num_concepts, self.device
        arity = np.array([len(r.concepts) for r in reduced], dtype=np.int64).reshape(-1)
        self._const_rules = torch.tensor(np.flatnonzero(arity == 0), device=dev)
        self._unary_rules = torch.tensor(np.flatnonzero(arity == 1), device=dev)
        self._multi_rules = torch.tensor(np.flatnonzero(arity >= 2), device=dev)

        # rules over no concept: a (K, R0) truth matrix
        self._const_truth = torch.tensor(
            np.stack([reduced[i].truth[:, 0] for i in self._const_rules.tolist()], 1) if len(self._const_rules) else np.zeros((K, 0), bool),
            dtype=torch.float32, device=dev,
        )
        # rules over one concept: (K, R1, 2) truth tables and the concept each one reads
        unary_truth = np.stack([reduced[i].truth for i in self._unary_rules.tolist()], 1) if len(self._unary_rules) else np.zeros((K, 0, 2), bool)
        self._unary_concept = torch.tensor([reduced[i].concepts[0] for i in self._unary_rules.tolist()], dtype=torch.long, device=dev)
        self._unary_truth = torch.tensor(unary_truth, dtype=torch.float32, device=dev)
        # The switch considers a unary rule's concept when that rule is violated (METHOD.md).
        violable = np.zeros((K, M, 2), bool)
        for j, i in enumerate(self._unary_rules.tolist()):
            violable[:, reduced[i].concepts[0], :] |= ~unary_truth[:, j, :]
        self._violable_by_concept = torch.tensor(violable.transpose(1, 0, 2).reshape(M, 2 * K), device=dev)

        # rules over >= 2 concepts: padded factors
        F = len(self._multi_rules)
        R = int(arity.max()) if F else 2
        self.max_arity = R
        variables = np.zeros((F + 1, R), dtype=np.int64)  # row F: a dummy factor (weight 0)
        multi = self._multi_rules.tolist()
        category_dependent = any((reduced[i].truth != reduced[i].truth[:1]).any() for i in multi)
        Kf = K if category_dependent else 1
        truth = np.ones((Kf, F + 1, 2**R), bool)
        codes = np.arange(2**R)
        for f, i in enumerate(multi):
            rule = reduced[i]
            r = len(rule.concepts)
            variables[f, :r] = rule.concepts
            truth[:, f] = rule.truth[:Kf][:, codes & (2**r - 1)]
        multi_arity = arity[multi]
        self._factor_arity = multi_arity
        self._factor_variables = torch.tensor(variables, device=dev)
        self._factor_truth = torch.tensor(truth, dtype=torch.float32, device=dev)
        self._factor_bits = torch.tensor(1 << np.arange(R), device=dev)
        self._factor_rows = torch.arange(F + 1, device=dev)
        self._compile_switch_tables(variables, multi_arity, R)

    def _compile_switch_tables(self, variables: np.ndarray, arity: np.ndarray, R: int) -> None:
        """For each multi-concept rule f and subset t of its concepts: the factors that hold two or
        more concepts of t, with the bits of t inside them. Their joint flip differs from the sum of
        single flips, so s_f(t) = sum of single-flip gains + a correction from these factors."""
        F, M = len(arity), self.num_concepts
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
        dev = self.device
        self._subset_bits = torch.tensor(subsets, device=dev)
        self._subset_valid = torch.tensor(valid, device=dev)
        self._subset_penalty = torch.where(self._subset_valid, 0.0, -math.inf)
        self._partial_subsets = [t for t in range(len(subsets)) if not valid[:, t].all()]
        self._multi_bit_subsets = multi_bit
        self._holder = torch.tensor(holder, device=dev)
        self._holder_bits = torch.tensor(holder_bits, device=dev)

    # ------------------------------------------------------------------------------- weights
    @property
    def weights(self) -> torch.Tensor:
        """Weights of all rules in rule-set order (hard rules carry ``hard_weight``)."""
        return self._weights

    def set_weights(self, weights: torch.Tensor) -> None:
        """Install rule weights (R,); the tables below are differentiable functions of them."""
        weights = torch.as_tensor(weights, device=self.device)
        weights = weights if torch.is_floating_point(weights) else weights.float()
        if weights.shape != (len(self.ruleset.rules),):
            raise AgainError(f"expected {len(self.ruleset.rules)} weights, got shape {tuple(weights.shape)}")
        self._weights = weights
        K, M = self.num_categories, self.num_concepts
        self.const = self._const_truth.to(weights.dtype) @ weights[self._const_rules]
        unary = torch.zeros(K, M, 2, device=self.device, dtype=weights.dtype)
        unary = unary.index_add(1, self._unary_concept, self._unary_truth.to(weights.dtype) * weights[self._unary_rules][None, :, None])
        self.unary = unary
        self._unary_by_concept = unary.transpose(0, 1).reshape(M, 2 * K)  # (M, 2K): column 2k + value
        factor_weight = torch.cat([weights[self._multi_rules], weights.new_zeros(1)])
        self._factor_weight = factor_weight
        values = self._factor_truth.to(weights.dtype) * factor_weight[None, :, None]  # (Kf, F+1, W)
        self._factor_value_table = values
        self._interaction = _joint_flip_interaction(values).flatten(2) if self._holder.shape[-1] else None
        for cached in ("s_max",):
            self.__dict__.pop(cached, None)

    # ------------------------------------------------------------------------------- scoring
    def validate(self, concepts: torch.Tensor, categories: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Binary concepts (N, M) as long and category ids (N,) on the graph's device, or an error."""
        concepts = torch.as_tensor(concepts, device=self.device)
        categories = torch.as_tensor(categories, device=self.device).long()
        if concepts.ndim != 2 or concepts.shape[1] != self.num_concepts:
            raise AgainError(f"concepts: expected shape (N, {self.num_concepts}), got {tuple(concepts.shape)}")
        if categories.shape != concepts.shape[:1]:
            raise AgainError(f"categories: expected shape ({concepts.shape[0]},), got {tuple(categories.shape)}")
        if len(categories) and (categories.min() < 0 or categories.max() >= self.num_categories):
            raise AgainError(f"categories: ids must lie in 0..{self.num_categories - 1}")
        return concepts.long(), categories

    # The hot paths below work concept-major (methods ending in ``_cm``, used by the rectification
    # strategies): concepts as (M, N) and factors as (F+1, N), so every lookup is a row gather
    # (``index_select``/``gather`` along rows), many times faster on a CPU than indexing (N, M)
    # columns.
    def factor_codes(self, cT: torch.Tensor) -> torch.Tensor:
        """(F+1, N) column of each factor's table under concepts cT (M, N): bit j = j-th concept."""
        codes = cT.index_select(0, self._factor_variables[:, 0])
        for j in range(1, self.max_arity):
            codes += (cT << j).index_select(0, self._factor_variables[:, j])
        return codes

    def _lookup(self, table: torch.Tensor, columns: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """table[k(y_n), rows[f], columns[f, n]] for factor tables (Kf, F+1, W): (len(rows), N).

        ``rows`` defaults to every factor; k(y) is y when the tables depend on the category."""
        if table.shape[0] == 1:
            return (table[0] if rows is None else table[0].index_select(0, rows)).gather(1, columns)
        rows = self._factor_rows if rows is None else rows
        start = (y[None, :] * table.shape[1] + rows[:, None]) * table.shape[2]
        return table.reshape(-1).take(start + columns)

    def _unary_lookup(self, table: torch.Tensor, cT: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """table[m, 2 y_n + c[m, n]] for per-concept tables (M, 2K): (M, N)."""
        return table.gather(1, 2 * y[None, :] + cT)

    def score(self, concepts: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """S(c, y) = sum_i w_i psi_i(c, y) for binary concepts (N, M) and categories (N,)."""
        c, y = self.validate(concepts, categories)
        return self._score(c, y)

    def _score(self, c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.score_cm(c.T.contiguous(), y)

    def score_cm(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """S for concept-major cT (M, N); ``codes`` are its factor codes when already known."""
        codes = self.factor_codes(cT) if codes is None else codes
        unary = self._unary_lookup(self._unary_by_concept, cT, y).sum(0)
        return self.const[y] + unary + self._lookup(self._factor_value_table, codes, y).sum(0)

    def rule_truth(self, concepts: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """psi_i(c, y) for every rule (N, R), float 0/1; S = rule_truth @ weights."""
        c, y = self.validate(concepts, categories)
        out = torch.empty(len(c), len(self.ruleset.rules), device=self.device)
        out[:, self._const_rules] = self._const_truth[y]
        if len(self._unary_rules):
            value = c[:, self._unary_concept]  # (N, R1)
            out[:, self._unary_rules] = self._unary_truth[y].gather(2, value[..., None]).squeeze(-1)
        truth = self._lookup(self._factor_truth, self.factor_codes(c.T.contiguous()), y)
        out[:, self._multi_rules] = truth[:-1].T
        return out

    # ------------------------------------------------------------------- all-assignment scores
    def score_all_categories(self, assignments: torch.Tensor) -> torch.Tensor:
        """S(c, k) for binary assignments (B, M) and every category k: (B, K)."""
        a = assignments.long()
        unary_on = self.unary[:, :, 1] - self.unary[:, :, 0]  # (K, M)
        scores = self.const + self.unary[:, :, 0].sum(1) + a.to(unary_on.dtype) @ unary_on.T
        codes = self.factor_codes(a.T.contiguous())  # (F+1, B)
        values = self._factor_value_table  # (Kf, F+1, W)
        per_category = values.gather(2, codes[None].expand(len(values), -1, -1)).sum(1)  # (Kf, B)
        return scores + per_category.T

    def _enumerate(self, reduce, chunk: int | None = None) -> torch.Tensor:
        """Reduce S(c, k) over all 2**M assignments, chunk by chunk: (K,). Not for gradients."""
        M, K = self.num_concepts, self.num_categories
        if M > MAX_ENUMERATION_CONCEPTS:
            raise AgainError(f"exact enumeration needs at most {MAX_ENUMERATION_CONCEPTS} concepts, the rules have {M}")
        per_row = K * (self._factor_truth.shape[1] + M) + 1
        chunk = chunk or max(1, min(2**M, 2**24 // per_row))
        bits = 1 << torch.arange(M, device=self.device)
        partial = []
        for start in range(0, 2**M, chunk):
            index = torch.arange(start, min(start + chunk, 2**M), device=self.device)
            partial.append(reduce(self.score_all_categories((index[:, None] & bits) > 0), 0))
        return reduce(torch.stack(partial), 0)

    def log_partition(self) -> torch.Tensor:
        """Exact log Z(y) for every category (K,): variable elimination or enumeration."""
        from again_mln.exact import log_partition

        return log_partition(self)

    def log_prob(self, concepts: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """Exact log P(c | y) (METHOD.md Eq. 1) for binary concepts (N, M)."""
        c, y = self.validate(concepts, categories)
        return self._score(c, y) - self.log_partition()[y].to(self.unary.dtype)

    def elimination_order(self) -> tuple[list[int], int]:
        """A min-fill elimination order of the concepts and the widest table it builds."""
        scopes = [(m,) for m in range(self.num_concepts)] + self.factor_scopes
        order = min_fill_order(scopes, range(self.num_concepts))
        return order, induced_width(scopes, order)

    @functools.cached_property
    def s_max(self) -> torch.Tensor:
        """max_c S(c, y) for every category (K,), exactly: enumeration for small M, max-product
        variable elimination when the concept graph is thin, else an integer program."""
        with torch.no_grad():
            if self.num_concepts <= MAX_ENUMERATION_SMAX:
                return self._enumerate(lambda x, dim: x.max(dim).values)
            order, width = self.elimination_order()
            if self.num_categories * 2**width <= MAX_CONTRACTION_ENTRIES:
                return contract(self.factors(), self.num_concepts, "max", order=order).value
            from again_mln.maxsat import solve_milp

            maxima, _ = solve_milp(self, np.arange(self.num_categories))
            return torch.tensor(maxima, dtype=self.unary.dtype, device=self.device)

    # ---------------------------------------------------------------- intervention switch gains
    def flip_gains(self, c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """S(c xor e_m) - S(c) for every concept: (N, M)."""
        return self.flip_gains_cm(c.T.contiguous(), y)[0].T

    def flip_gains_cm(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Single-flip gains (M, N) and the factor codes (F+1, N) of concepts cT (M, N)."""
        gains = self._unary_lookup(self._unary_by_concept, cT ^ 1, y) - self._unary_lookup(self._unary_by_concept, cT, y)
        codes = self.factor_codes(cT) if codes is None else codes
        before = self._lookup(self._factor_value_table, codes, y)
        for j in range(self.max_arity):
            change = self._lookup(self._factor_value_table, codes ^ (1 << j), y) - before
            gains.index_add_(0, self._factor_variables[:, j], change)
        return gains, codes

    def switch_gains(self, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The candidates of the intervention switch (METHOD.md Eq. 4), as gains s = S(c xor t) - S(c):

        * ``unary`` (N, M): flipping concept m, where a rule over m alone is violated; -inf elsewhere.
        * ``multi`` (N, F, T): flipping subset t of the concepts of rule f, where f is violated;
          -inf where f is satisfied or t does not exist for f's arity.
        """
        unary, gains, violated = self.switch_gains_cm(c.T.contiguous(), y)
        multi = torch.stack(gains, -1).masked_fill(~violated[:, :, None], -math.inf)  # (F, N, T)
        return unary.T, multi.transpose(0, 1)

    def switch_gains_cm(
        self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """Concept-major candidates: unary gains (M, N) (-inf where no violated unary rule), for
        each subset mask t = 1 .. 2**R - 1 the gains of flipping it in every multi-concept rule
        (T x (F, N); -inf where the rule has no such subset), and which of those rules are
        violated (F, N)."""
        single, codes = self.flip_gains_cm(cT, y, codes)
        unary = single.masked_fill(~self._unary_lookup(self._violable_by_concept, cT, y), -math.inf)
        F = len(self._multi_rules)
        violated = self._lookup(self._factor_truth, codes, y)[:F] == 0  # (F, N)
        per_position = [single.index_select(0, self._factor_variables[:F, j]) for j in range(self.max_arity)]
        gains = [sum(per_position[j] for j in range(self.max_arity) if mask >> j & 1) for mask in self._subset_bits.tolist()]
        if self._interaction is not None:
            width = self._factor_truth.shape[2]
            for u, t in enumerate(self._multi_bit_subsets):
                for l in range(self._holder.shape[-1]):
                    holder = self._holder[:, u, l]
                    columns = codes.index_select(0, holder) * width + self._holder_bits[:, u, l, None]
                    gains[t] = gains[t] + self._lookup(self._interaction, columns, y, rows=holder)
        for t in self._partial_subsets:  # subsets that some lower-arity rule does not have
            gains[t] = gains[t] + self._subset_penalty[:, t, None]
        return unary, gains, violated

    def subset_flips_cm(self, chosen: torch.Tensor, subset: torch.Tensor) -> torch.Tensor:
        """(M, N) bool: the concepts flipped when each multi-concept rule f with ``chosen[f, n]``
        flips its subset number ``subset[f, n]`` (the bit mask ``subset + 1`` of its concepts)."""
        F = chosen.shape[0]
        bits = (subset + 1).to(torch.int32)
        flips = torch.zeros(self.num_concepts, chosen.shape[1], dtype=torch.int32, device=self.device)
        for j in range(self.max_arity):
            on = (bits & (1 << j)).bool() & chosen
            flips.index_add_(0, self._factor_variables[:F, j], on.to(torch.int32))
        return flips > 0

    def subset_concepts(self) -> torch.Tensor:
        """(F, T, M) bool: the concepts that subset t of multi-concept rule f flips (for valid t)."""
        F, T = len(self._multi_rules), len(self._subset_bits)
        positions = torch.arange(self.max_arity, device=self.device)
        chosen = ((self._subset_bits[:, None] >> positions) & 1).bool()  # (T, R)
        chosen = chosen[None] & self._subset_valid[:, :, None]  # (F, T, R)
        out = torch.zeros(F, T, self.num_concepts, dtype=torch.long, device=self.device)
        target = self._factor_variables[:F, None, :].expand(-1, T, -1)
        return out.scatter_add_(2, target, chosen.long()) > 0

    # ---------------------------------------------------------------------------- structure
    def concept_dependent(self) -> torch.Tensor:
        """(K, R) bool: whether rule i's truth under category k changes with the concepts, i.e. its
        reduced truth table is not constant. Rules made true (or false) by the category evidence
        alone are False; the logic satisfaction metric leaves them out."""
        out = torch.zeros(self.num_categories, len(self.ruleset.rules), dtype=torch.bool, device=self.device)
        unary = self._unary_truth  # (K, R1, 2)
        out[:, self._unary_rules] = unary[..., 0] != unary[..., 1]
        multi = self._factor_truth[:, :-1]  # (Kf, F, W) without the dummy factor
        out[:, self._multi_rules] = (multi.amax(-1) != multi.amin(-1)).expand(self.num_categories, -1)
        return out

    @functools.cached_property
    def coupled_concepts(self) -> torch.Tensor:
        """(M,) bool: concepts that appear in some multi-concept rule."""
        coupled = torch.zeros(self.num_concepts, dtype=torch.bool, device=self.device)
        for scope in self.factor_scopes:
            coupled[list(scope)] = True
        return coupled

    @property
    def factor_scopes(self) -> list[tuple[int, ...]]:
        """The concepts of each multi-concept rule, in table-bit order (bit j = the j-th concept)."""
        variables = self._factor_variables.tolist()
        return [tuple(variables[f][:r]) for f, r in enumerate(self._factor_arity)]

    @property
    def factor_tables(self) -> torch.Tensor:
        """Weighted truth tables of the multi-concept rules, (K or 1, F, 2**R); entry [k, f, a] is
        w_f psi_f under category k and the assignment whose bit j is the j-th concept of f."""
        return self._factor_value_table[:, :-1]

    def factors(
        self,
        unary: torch.Tensor | None = None,
        categories: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> list[Factor]:
        """The graph's log-potentials as factors for :func:`again_mln.contract.contract`.

        Batched over all categories (K,) by default, or over the rows of ``categories`` (B,).
        ``unary`` (batch, M, 2) replaces the unary tables, e.g. to add evidence or a handle for
        marginals. The per-category constant is the scope-free first factor.
        """
        dtype = dtype or self.unary.dtype
        pick = (lambda table: table) if categories is None else (lambda table: table[categories])
        unary = (pick(self.unary) if unary is None else unary).to(dtype)
        factors = [Factor((), pick(self.const).to(dtype))]
        factors += [Factor((m,), unary[:, m]) for m in range(self.num_concepts)]
        values = self.factor_tables.to(dtype)  # (Kf, F, W)
        if values.shape[0] > 1:
            values = pick(values)
        for f, scope in enumerate(self.factor_scopes):
            table = values[:, f, : 2 ** len(scope)].reshape(-1, *(2,) * len(scope))  # C order: last axis = bit 0
            factors.append(Factor(scope[::-1], table))
        return factors

    def __repr__(self) -> str:
        return (
            f"FactorGraph(concepts={self.num_concepts}, categories={self.num_categories}, "
            f"rules={len(self.ruleset.rules)} [{len(self._const_rules)} constant, {len(self._unary_rules)} unary, "
            f"{len(self._multi_rules)} multi-concept], device={self.device})"
        )


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
