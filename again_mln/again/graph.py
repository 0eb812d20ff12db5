"""The factor graph of a rule set, compiled to a torch module: scores, rule truth, single-flip
gains and the factor view that :mod:`again_mln.mln.inference` contracts (docs/method.md, "Objects").

Given the category, every rule reduces to a truth table over its concept atoms. Rules over
one concept are summed into per-category unary tables ``(K, M, 2)``; rules over two or more
concepts stay factors with truth tables ``(K or 1, F, 2**R)`` (R = the largest arity; a smaller
factor's table ignores its unused high bits, which point at concept 0). Rules over no concept only
add a per-category constant. Every batched operation below is a gather on these tables, so the
cost per sample is O(M + F), with no Python loop over samples or rules.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from again_mln.devices import resolve_device
from again_mln.errors import AgainError
from again_mln.mln.factors import FactorView
from again_mln.again.logic import Atom, Rule, RuleSet

#: Largest number of entries of the padded factor truth tables ``(K or 1, F, 2**R)``; one wide rule
#: pads every factor to its width, so the size is checked before anything is allocated.
MAX_FACTOR_TABLE_ENTRIES = 2**27
#: Where probabilities are read (log Z while learning, conditional queries) a hard rule weighs at
#: least this: a world that breaks one keeps e^-40 of its mass, below double round-off of the
#: probabilities (pracmln gives it none).
PROBABILITY_HARD_FLOOR = 40.0


def hard_rule_weight(ruleset: RuleSet, floor: float = 0.0) -> float:
    """The one definition of a hard rule's finite weight: more than all soft weights together
    (1 + sum |w|), so that breaking it is always worse than breaking every soft rule, and at least
    ``floor`` (:data:`PROBABILITY_HARD_FLOOR` where probabilities are read); finite, so log Z is
    well defined."""
    return max(float(floor), 1.0 + sum(abs(r.weight) for r in ruleset.rules if not r.hard))

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



class _Tables(NamedTuple):
    """The weighted tables, functions of the rule weights."""

    const: torch.Tensor  # (K,)
    unary: torch.Tensor  # (K, M, 2)
    unary_by_concept: torch.Tensor  # (M, 2K): column 2k + value
    factor_values: torch.Tensor  # (Kf, F+1, W): weighted truth tables, row F a dummy factor


class FactorGraph(nn.Module):
    """A compiled rule set as a torch module.

    Truth tables are buffers and the rule weights one :class:`~torch.nn.Parameter` (frozen by
    default; ``graph.weight.requires_grad_()`` to learn them), so ``.to(device)``,
    ``state_dict`` and autograd work as for any module. The weighted tables are derived from
    the weights on first use after they change. Concept inputs are ``(N, M)`` tensors (bool or
    0/1) in the rule set's concept order; categories are ``(N,)`` integer ids in its category order.
    """

    def __init__(
        self,
        ruleset: RuleSet,
        device: str | torch.device | None = None,
        hard_weight: float | None = None,
    ):
        super().__init__()
        self.ruleset = ruleset
        self.num_concepts = len(ruleset.concepts)
        self.num_categories = len(ruleset.categories)
        #: the weight of every hard rule (:func:`hard_rule_weight` unless given)
        self.hard_weight = float(hard_rule_weight(ruleset) if hard_weight is None else hard_weight)
        self._compile([_reduce(r, ruleset.concept_index, ruleset.category_index) for r in ruleset.rules])
        weights = torch.tensor([self.hard_weight if r.hard else r.weight for r in ruleset.rules], dtype=torch.float32)
        self.weight = nn.Parameter(weights, requires_grad=False)
        self._cache: tuple[tuple, _Tables] | None = None
        self.to(resolve_device(device))

    @classmethod
    def from_state(cls, ruleset: RuleSet, state: dict[str, torch.Tensor], hard_weight: float,
                   factor_arity: np.ndarray) -> "FactorGraph":
        """The graph of ``ruleset`` rebuilt from its ``state_dict`` without compiling the rules again
        (what the rule cache stores: compiling a CUB-size rule set takes seconds)."""
        graph = cls.__new__(cls)
        nn.Module.__init__(graph)
        graph.ruleset, graph.hard_weight = ruleset, float(hard_weight)
        graph.num_concepts, graph.num_categories = len(ruleset.concepts), len(ruleset.categories)
        graph.factor_arity = np.asarray(factor_arity, dtype=np.int64)
        for name, value in state.items():
            if name != "weight":
                graph.register_buffer(name, value)
        graph.max_arity = int(state["factor_variables"].shape[1])
        graph.weight = nn.Parameter(state["weight"], requires_grad=False)
        graph._cache = None
        return graph

    # ---------------------------------------------------------------------------- compilation
    def _compile(self, reduced: list[_ReducedRule]) -> None:
        K, M = self.num_categories, self.num_concepts
        arity = np.array([len(r.concepts) for r in reduced], dtype=np.int64).reshape(-1)
        const_rules, unary_rules, multi = (np.flatnonzero(arity == 0), np.flatnonzero(arity == 1), np.flatnonzero(arity >= 2))
        self.register_buffer("const_rules", torch.tensor(const_rules, dtype=torch.long))
        self.register_buffer("unary_rules", torch.tensor(unary_rules, dtype=torch.long))
        self.register_buffer("multi_rules", torch.tensor(multi, dtype=torch.long))
        # rules over no concept: a (K, R0) truth matrix
        const_truth = np.stack([reduced[i].truth[:, 0] for i in const_rules], 1) if len(const_rules) else np.zeros((K, 0), bool)
        self.register_buffer("const_truth", torch.tensor(const_truth, dtype=torch.float32))
        # rules over one concept: (K, R1, 2) truth tables and the concept each one reads
        unary_truth = np.stack([reduced[i].truth for i in unary_rules], 1) if len(unary_rules) else np.zeros((K, 0, 2), bool)
        self.register_buffer("unary_concept", torch.tensor([reduced[i].concepts[0] for i in unary_rules], dtype=torch.long))
        self.register_buffer("unary_truth", torch.tensor(unary_truth, dtype=torch.float32))
        # The switch considers a unary rule's concept when that rule is violated (docs/method.md).
        violable = np.zeros((K, M, 2), bool)
        for j, i in enumerate(unary_rules):
            violable[:, reduced[i].concepts[0], :] |= ~unary_truth[:, j, :]
        self.register_buffer("violable_by_concept", torch.tensor(violable.transpose(1, 0, 2).reshape(M, 2 * K)))

        # rules over >= 2 concepts: padded factors
        F = len(multi)
        R = int(arity.max()) if F else 2
        self.max_arity = R
        variables = np.zeros((F + 1, R), dtype=np.int64)  # row F: a dummy factor (weight 0)
        category_dependent = any((reduced[i].truth != reduced[i].truth[:1]).any() for i in multi)
        Kf = K if category_dependent else 1
        entries = Kf * (F + 1) * 2**R
        if entries > MAX_FACTOR_TABLE_ENTRIES:
            raise AgainError(f"the rules' factor tables would need {4 * entries / 2**30:,.1f} GiB: {F:,} rules over "
                             f"two or more concepts are padded to the widest, {R} concepts; split or drop the "
                             f"widest rules (at most {MAX_FACTOR_TABLE_ENTRIES:,} table entries)")
        truth = np.ones((Kf, F + 1, 2**R), bool)
        codes = np.arange(2**R)
        for f, i in enumerate(multi):
            rule = reduced[i]
            r = len(rule.concepts)
            variables[f, :r] = rule.concepts
            truth[:, f] = rule.truth[:Kf][:, codes & (2**r - 1)]
        self.factor_arity = arity[multi]
        self.register_buffer("factor_variables", torch.tensor(variables))
        self.register_buffer("factor_truth", torch.tensor(truth, dtype=torch.float32))
        self.register_buffer("factor_rows", torch.arange(F + 1))

    # ------------------------------------------------------------------------------- weights
    @property
    def device(self) -> torch.device:
        return self.weight.device

    def set_weights(self, weights: torch.Tensor) -> None:
        """Copy rule weights (R,) into the parameter."""
        weights = torch.as_tensor(weights)
        if weights.shape != self.weight.shape:
            raise AgainError(f"expected {len(self.weight)} weights, got shape {tuple(weights.shape)}")
        with torch.no_grad():
            self.weight.copy_(weights)

    def weights_key(self) -> tuple:
        """Changes whenever the weights do (in place, moved or cast): what derived state is keyed on."""
        return (self.weight._version, self.weight.data_ptr(), self.weight.dtype)

    def tables(self) -> _Tables:
        """The weighted tables under the current weights: cached, except while the weights are
        being differentiated (then every call builds them afresh in the autograd graph)."""
        tracking = torch.is_grad_enabled() and self.weight.requires_grad
        key = self.weights_key()
        if not tracking and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        w = self.weight
        K, M = self.num_categories, self.num_concepts
        const = self.const_truth.to(w.dtype) @ w[self.const_rules]
        unary = torch.zeros(K, M, 2, device=w.device, dtype=w.dtype)
        unary = unary.index_add(1, self.unary_concept, self.unary_truth.to(w.dtype) * w[self.unary_rules][None, :, None])
        factor_weight = torch.cat([w[self.multi_rules], w.new_zeros(1)])
        values = self.factor_truth.to(w.dtype) * factor_weight[None, :, None]  # (Kf, F+1, W)
        tables = _Tables(const, unary, unary.transpose(0, 1).reshape(M, 2 * K), values)
        if not tracking:
            self._cache = (key, tables)
        return tables

    @property
    def const(self) -> torch.Tensor:
        """Per-category score of the rules over no concept (K,)."""
        return self.tables().const

    @property
    def unary(self) -> torch.Tensor:
        """Per-category unary log-potentials (K, M, 2)."""
        return self.tables().unary

    def _apply(self, fn, *args, **kwargs):
        self._cache = None  # derived tables follow the weights to the new device
        return super()._apply(fn, *args, **kwargs)

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
        codes = cT.index_select(0, self.factor_variables[:, 0])
        for j in range(1, self.max_arity):
            codes += (cT << j).index_select(0, self.factor_variables[:, j])
        return codes

    def factor_codes_at(self, concepts: torch.Tensor, num_samples: int, factor: torch.Tensor,
                        sample: torch.Tensor) -> torch.Tensor:
        """The codes of factors ``factor`` (P,) in samples ``sample`` (P,) of flat concept-major
        concepts (M*N,): :meth:`factor_codes` for a few (factor, sample) pairs (``iterate``)."""
        scope = self.factor_variables.index_select(0, factor)  # (P, R)
        return sum(concepts.index_select(0, scope[:, j] * num_samples + sample) << j for j in range(self.max_arity))

    def lookup(self, table: torch.Tensor, columns: torch.Tensor, y: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """table[k(y_n), rows[f], columns[f, n]] for factor tables (Kf, F+1, W): (len(rows), N).

        ``rows`` defaults to every factor; k(y) is y when the tables depend on the category."""
        if table.shape[0] == 1:
            return (table[0] if rows is None else table[0].index_select(0, rows)).gather(1, columns)
        rows = self.factor_rows if rows is None else rows
        start = (y[None, :] * table.shape[1] + rows[:, None]) * table.shape[2]
        return table.reshape(-1).take(start + columns)

    @staticmethod
    def unary_lookup(table: torch.Tensor, cT: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """table[m, 2 y_n + c[m, n]] for per-concept tables (M, 2K): (M, N)."""
        return table.gather(1, 2 * y[None, :] + cT)

    def score(self, concepts: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """S(c, y) = sum_i w_i psi_i(c, y) for binary concepts (N, M) and categories (N,)."""
        c, y = self.validate(concepts, categories)
        return self.score_cm(c.T.contiguous(), y)

    forward = score

    def score_cm(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """S for concept-major cT (M, N); ``codes`` are its factor codes when already known."""
        t = self.tables()
        codes = self.factor_codes(cT) if codes is None else codes
        unary = self.unary_lookup(t.unary_by_concept, cT, y).sum(0)
        return t.const[y] + unary + self.lookup(t.factor_values, codes, y).sum(0)

    def rule_truth(self, concepts: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        """psi_i(c, y) for every rule (N, R), float 0/1; S = rule_truth @ weights."""
        c, y = self.validate(concepts, categories)
        out = torch.empty(len(c), len(self.ruleset.rules), device=self.device, dtype=self.const_truth.dtype)
        out[:, self.const_rules] = self.const_truth[y]
        if len(self.unary_rules):
            value = c[:, self.unary_concept]  # (N, R1)
            out[:, self.unary_rules] = self.unary_truth[y].gather(2, value[..., None]).squeeze(-1)
        truth = self.lookup(self.factor_truth, self.factor_codes(c.T.contiguous()), y)
        out[:, self.multi_rules] = truth[:-1].T
        return out

    # --------------------------------------------------------------------------- flip gains
    def flip_gains(self, c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """S(c xor e_m) - S(c) for every concept: (N, M)."""
        return self.flip_gains_cm(c.T.contiguous(), y)[0].T

    def flip_gains_cm(self, cT: torch.Tensor, y: torch.Tensor, codes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Single-flip gains (M, N) and the factor codes (F+1, N) of concepts cT (M, N)."""
        t = self.tables()
        gains = self.unary_lookup(t.unary_by_concept, cT ^ 1, y) - self.unary_lookup(t.unary_by_concept, cT, y)
        codes = self.factor_codes(cT) if codes is None else codes
        before = self.lookup(t.factor_values, codes, y)
        for j in range(self.max_arity):
            change = self.lookup(t.factor_values, codes ^ (1 << j), y) - before
            gains.index_add_(0, self.factor_variables[:, j], change)
        return gains, codes

    # ---------------------------------------------------------------------------- structure
    def concept_dependent(self) -> torch.Tensor:
        """(K, R) bool: whether rule i's truth under category k changes with the concepts, i.e. its
        reduced truth table is not constant. Rules made true (or false) by the category evidence
        alone are False; the logic satisfaction metric leaves them out."""
        out = torch.zeros(self.num_categories, len(self.ruleset.rules), dtype=torch.bool, device=self.device)
        unary = self.unary_truth  # (K, R1, 2)
        out[:, self.unary_rules] = unary[..., 0] != unary[..., 1]
        multi = self.factor_truth[:, :-1]  # (Kf, F, W) without the dummy factor
        out[:, self.multi_rules] = (multi.amax(-1) != multi.amin(-1)).expand(self.num_categories, -1)
        return out

    @property
    def coupled_concepts(self) -> torch.Tensor:
        """(M,) bool: concepts that appear in some multi-concept rule."""
        coupled = torch.zeros(self.num_concepts, dtype=torch.bool, device=self.device)
        for scope in self.factor_scopes:
            coupled[list(scope)] = True
        return coupled

    @functools.cached_property
    def factor_scopes(self) -> tuple[tuple[int, ...], ...]:
        """The concepts of each multi-concept rule, in table-bit order (bit j = the j-th concept)."""
        variables = self.factor_variables.tolist()
        return tuple(tuple(variables[f][:r]) for f, r in enumerate(self.factor_arity))

    def factor_view(self, categories: torch.Tensor | None = None) -> FactorView:
        """The graph's log-potentials as plain tensors for :mod:`again_mln.mln.inference`: one batch
        row per category (default) or per entry of ``categories``."""
        t = self.tables()
        view = FactorView(t.const, t.unary, self.factor_scopes, t.factor_values[:, :-1])
        return view if categories is None else view.condition(categories)

    def extra_repr(self) -> str:
        return (
            f"concepts={self.num_concepts}, categories={self.num_categories}, "
            f"rules={len(self.ruleset.rules)} [{len(self.const_rules)} constant, {len(self.unary_rules)} unary, "
            f"{len(self.multi_rules)} multi-concept], device={self.device}"
        )

    def __repr__(self) -> str:
        return f"FactorGraph({self.extra_repr()})"
