"""Rules estimated from binary concept data with categories (the EWS and concept-table builders).

- category-concept: P(c | y) > ``p_high`` -> coexistence, P(c | y) < ``p_low`` -> exclusion, for
  categories with at least ``min_support`` samples (fewer gives no rules rather than noise);
- concept-concept: cosine similarity of two concept columns > ``cos_above`` -> coexistence (the
  paper's EWS rule); two concepts that each occur at least ``min_support`` times but never
  together -> exclusion (e.g. two bins of one vital sign).

Prior weights are the log-odds of the rule's confidence: P(c | y) for a coexistence rule,
1 - P(c | y) for an exclusion rule, the cosine for a concept coexistence and 1 (clipped to 0.99)
for a pair never seen together. All statistics are matrix products over the whole table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from again_mln.errors import AgainError
from again_mln.again.logic import RuleSet
from again_mln.rulegen.assemble import Selection, assemble, check_range, select
from again_mln.rulegen.kinds import (
    CATEGORY_COEXISTENCE,
    CATEGORY_EXCLUSION,
    CONCEPT_COEXISTENCE,
    CONCEPT_EXCLUSION,
    Semantics,
    Weighting,
)


@dataclass(frozen=True)
class EstimateThresholds:
    """Where an estimated statistic becomes a rule (defaults: the EWS builder's); checked on creation."""

    p_high: float = 0.95
    p_low: float = 0.05
    cos_above: float = 0.5
    min_support: int = 10

    def __post_init__(self) -> None:
        check_range("p-high", self.p_high, 0.0, 1.0)
        check_range("p-low", self.p_low, 0.0, 1.0)
        check_range("cos-above", self.cos_above, 0.0, 1.0)
        if not self.p_low < self.p_high:
            raise AgainError(f"p-low = {self.p_low:g} must be below p-high = {self.p_high:g}")
        if self.min_support < 1:
            raise AgainError(f"min-support = {self.min_support} is out of range; expected at least 1")

    def describe(self) -> list[str]:
        """Provenance lines stating the thresholds."""
        return [f"category-concept: P(concept | category) > {self.p_high:g} -> coexistence, "
                f"< {self.p_low:g} -> exclusion (categories with >= {self.min_support} samples)",
                f"concept-concept: cosine of concept columns > {self.cos_above:g} -> coexistence; "
                f"never together (each seen >= {self.min_support} times) -> exclusion"]


@dataclass(frozen=True)
class ConceptStatistics:
    """Counts behind the estimated rules."""

    n_samples: int
    category_counts: np.ndarray  # (K,) samples per category
    p_concept: np.ndarray  # (K, M) P(c | y); NaN for a category without samples
    together: np.ndarray  # (M, M) samples in which both concepts are active
    occurrences: np.ndarray  # (M,) samples in which each concept is active


def concept_statistics(concepts: np.ndarray, categories: np.ndarray, n_categories: int) -> ConceptStatistics:
    """Per-category concept frequencies and concept co-occurrence counts of a binary table."""
    x = np.asarray(concepts, dtype=np.float64)
    y = np.asarray(categories)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise AgainError(f"concepts {x.shape} and categories {y.shape}: expected shapes (N, M) and (N,)")
    if x.shape[0] == 0:
        raise AgainError("no samples to estimate rules from")
    if not np.isin(x, (0.0, 1.0)).all():
        raise AgainError("concepts: expected binary values 0/1")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_categories:
        raise AgainError(f"categories: expected integers in [0, {n_categories - 1}]")
    counts = np.bincount(y, minlength=n_categories)
    active = np.zeros((n_categories, x.shape[1]))
    np.add.at(active, y, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_concept = active / counts[:, None]
    together = x.T @ x
    return ConceptStatistics(x.shape[0], counts, p_concept, together, np.diag(together).copy())


def estimate_selections(stats: ConceptStatistics, thresholds: EstimateThresholds) -> list[Selection]:
    """The four rule selections the thresholds pick from the statistics."""
    p = stats.p_concept
    supported_category = (stats.category_counts >= thresholds.min_support)[:, None]
    supported = stats.occurrences >= thresholds.min_support
    supported_pair = supported[:, None] & supported[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = stats.together / np.sqrt(np.outer(stats.occurrences, stats.occurrences))
    expected = np.outer(stats.occurrences, stats.occurrences) / stats.n_samples
    return [
        select(CATEGORY_COEXISTENCE, supported_category & (p > thresholds.p_high), p, p, "P(concept | category) {:.3f}"),
        select(CATEGORY_EXCLUSION, supported_category & (p < thresholds.p_low), p, 1.0 - p,
               "P(concept | category) {:.3f}"),
        select(CONCEPT_COEXISTENCE, supported_pair & (cosine > thresholds.cos_above), cosine, cosine,
               "cosine {:.3f}"),
        select(CONCEPT_EXCLUSION, supported_pair & (stats.together == 0), expected, np.ones_like(expected),
               "never together ({:.1f} expected if independent)"),
    ]


def estimate_rules(concepts: np.ndarray, categories: np.ndarray, concept_names: Sequence[str],
                   category_names: Sequence[str], *, thresholds: EstimateThresholds = EstimateThresholds(),
                   provenance: Sequence[str] = (), semantics: Semantics = "implication",
                   weights: Weighting = "prior", drop_fraction: float = 0.0, seed: int = 0) -> RuleSet:
    """Rules estimated from ``concepts`` ``(N, M)`` 0/1 and ``categories`` ``(N,)`` indices."""
    concepts = np.asarray(concepts)
    if concepts.ndim != 2 or concepts.shape[1] != len(concept_names):
        raise AgainError(f"concepts: expected shape (N, {len(concept_names)}), got {concepts.shape}")
    stats = concept_statistics(concepts, categories, len(category_names))
    unsupported = [name for name, n in zip(category_names, stats.category_counts) if n < thresholds.min_support]
    lines = [*provenance, f"training samples: {stats.n_samples:,}", *thresholds.describe()]
    if unsupported:
        lines.append(f"no category-concept rules (fewer than {thresholds.min_support} samples): "
                     + ", ".join(unsupported))
    return assemble(concept_names, category_names, estimate_selections(stats, thresholds), provenance=lines,
                    semantics=semantics, weights=weights, drop_fraction=drop_fraction, seed=seed)
