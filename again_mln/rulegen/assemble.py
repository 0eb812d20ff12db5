"""From selected (category, concept) and (concept, concept) pairs to a commented :class:`RuleSet`.

Every builder only decides *which* pairs become rules of which kind and how confident each is
(vectorised, on its own statistics); this module turns those selections into rules, weights,
per-rule comments and the provenance header, so all builders write files the same way.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from again_mln import __version__
from again_mln.errors import AgainError
from again_mln.again.logic import Rule, RuleSet
from again_mln.rulegen.kinds import (
    MAX_CONFIDENCE,
    RuleKind,
    Semantics,
    Weighting,
    WEIGHTINGS,
    check_semantics,
    confidence_weights,
    kind_formula,
)
from again_mln.rulegen.summary import summarize, summary_lines


@dataclass(frozen=True)
class Selection:
    """Rules of one kind chosen by a builder.

    ``pairs`` are ``(R, 2)`` indices: (category, concept) for category-concept kinds, (concept A,
    concept B) for concept-concept kinds. ``confidence`` (``(R,)``, in [0, 1]) is the probability
    that each rule holds; ``statistic`` is the value that selected it, shown in the rule's comment
    through ``describe`` (a format string such as ``"score {:.1f} %"``).
    """

    kind: RuleKind
    pairs: np.ndarray
    confidence: np.ndarray
    statistic: np.ndarray
    describe: str


def select(kind: RuleKind, mask: np.ndarray, statistic: np.ndarray, confidence: np.ndarray,
           describe: str) -> Selection:
    """The entries of a ``(rows, concepts)`` matrix where ``mask`` holds, in row-major order.

    For a concept-concept kind the matrices are symmetric and only pairs A < B are taken.
    """
    mask = np.asarray(mask, dtype=bool)
    if not kind.has_category:
        mask = np.triu(mask, k=1)
    pairs = np.argwhere(mask)
    rows, cols = pairs[:, 0], pairs[:, 1]
    return Selection(kind, pairs, np.asarray(confidence)[rows, cols], np.asarray(statistic)[rows, cols], describe)


def assemble(concepts: Sequence[str], categories: Sequence[str], selections: Sequence[Selection], *,
             provenance: Sequence[str], semantics: Semantics = "implication", weights: Weighting = "prior",
             drop_fraction: float = 0.0, seed: int = 0) -> RuleSet:
    """Rules of every selection (in order) with weights and comments, and a provenance header.

    ``provenance`` lines (source, thresholds, ...) open the header; the settings and the rule
    counts follow. ``drop_fraction`` removes that fraction of the rules at random (``seed``) to
    simulate incomplete knowledge, before the counts are written.
    """
    check_semantics(semantics)
    if weights not in WEIGHTINGS:
        raise AgainError(f"unknown weighting {weights!r}; expected one of {', '.join(WEIGHTINGS)}")
    check_range("drop-fraction", drop_fraction, 0.0, 1.0, high_open=True)
    rules = [rule for chosen in selections for rule in _rules(chosen, concepts, categories, semantics, weights)]
    if drop_fraction:
        keep = np.random.default_rng(seed).permutation(len(rules))[round(drop_fraction * len(rules)):]
        rules = [rules[i] for i in np.sort(keep)]
    weighting = (f"log-odds of each rule's confidence, clipped to [0.5, {MAX_CONFIDENCE:g}]" if weights == "prior"
                 else "all 1.0")
    settings = [f"semantics: {semantics}; weights: {weights} ({weighting})"]
    if drop_fraction:
        settings.append(f"dropped at random: {drop_fraction:g} of the rules (seed {seed})")
    ruleset = RuleSet(concepts, categories, rules)
    ruleset.header = (f"written by again-mln {__version__} build-rules", *provenance, *settings,
                      *summary_lines(summarize(ruleset)))
    return ruleset


def _rules(chosen: Selection, concepts: Sequence[str], categories: Sequence[str], semantics: Semantics,
           weights: Weighting) -> list[Rule]:
    """One commented rule per selected pair."""
    first_names = categories if chosen.kind.has_category else concepts
    values = confidence_weights(chosen.confidence) if weights == "prior" else np.ones(len(chosen.pairs))
    return [Rule(kind_formula(chosen.kind, first_names[first], concepts[second], semantics), weight,
                 comments=(f"{chosen.kind.label}: {chosen.describe.format(statistic)}",))
            for (first, second), weight, statistic in zip(chosen.pairs.tolist(), values.tolist(),
                                                          chosen.statistic.tolist())]


def check_range(name: str, value: float, low: float, high: float, high_open: bool = False) -> None:
    """Reject a threshold outside [low, high] (or [low, high)) with a one-line error naming it."""
    inside = low <= value < high if high_open else low <= value <= high
    if not inside or value != value:
        bracket = ")" if high_open else "]"
        raise AgainError(f"{name} = {value:g} is out of range; expected a value in [{low:g}, {high:g}{bracket}")


def file_provenance(path: str | os.PathLike, label: str = "source") -> str:
    """``source: PATH (modified YYYY-MM-DD)``: where the rules came from and how old the data is."""
    path = Path(path)
    date = datetime.date.fromtimestamp(path.stat().st_mtime).isoformat()
    return f"{label}: {path.resolve()} (modified {date})"
