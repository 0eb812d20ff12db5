"""CUB-200-2011 rules from the class-level attribute scores (the paper's appendix, Figure 8).

The score s[y, a] (``attributes/class_attribute_labels_continuous.txt``) is the percentage of
category y's images annotated with attribute a. Category-concept rules: s > 55 -> coexistence,
s < 15 -> exclusion (the thresholds of the authors' code). Concept-concept rules: the Pearson
correlation r of two concepts' score vectors across the 200 categories, r > 0.8 -> coexistence,
r < -0.5 -> exclusion. All comparisons are strict.

Prior weights are the log-odds of each rule's confidence (see
:func:`again_mln.rulegen.kinds.confidence_weights`): q = s / 100 for a coexistence rule and
1 - s / 100 for an exclusion rule; q = (1 + |r|) / 2 for a concept-concept rule, i.e. a weight of
2 artanh |r|, so r = 0.8 gives 2.20 and r = -0.5 gives 1.10.
"""
from __future__ import annotations

import os
from typing import Literal

import numpy as np

from again_mln.choices import CUB_CONCEPTS as CONCEPT_CHOICES
from again_mln.datasets.cub import CBM_CONCEPTS_112, N_ATTRIBUTES, read_cub_scores
from again_mln.errors import AgainError
from again_mln.again.logic import RuleSet
from again_mln.rulegen.assemble import assemble, check_range, file_provenance, select
from again_mln.rulegen.kinds import (
    CATEGORY_COEXISTENCE,
    CATEGORY_EXCLUSION,
    CONCEPT_COEXISTENCE,
    CONCEPT_EXCLUSION,
    Semantics,
    Weighting,
)

ConceptChoice = Literal["cbm", "all"]


def build_cub_rules(root: str | os.PathLike | None = None, *, concepts: ConceptChoice = "cbm",
                    coexist_above: float = 55.0, exclude_below: float = 15.0, corr_above: float = 0.8,
                    corr_below: float = -0.5, weights: Weighting = "prior", semantics: Semantics = "implication",
                    drop_fraction: float = 0.0, seed: int = 0, data_root: str | os.PathLike | None = None
                    ) -> RuleSet:
    """CUB rules from the attribute scores of ``root`` (a ``CUB_200_2011`` folder or its parent).

    ``concepts="cbm"`` keeps the 112 concepts of concept bottleneck work, ``"all"`` the 312.
    """
    check_range("coexist-above", coexist_above, 50.0, 100.0)
    check_range("exclude-below", exclude_below, 0.0, 50.0)
    check_range("corr-above", corr_above, 0.0, 1.0)
    check_range("corr-below", corr_below, -1.0, 0.0)
    if concepts not in CONCEPT_CHOICES:
        raise AgainError(f"unknown concept choice {concepts!r}; expected one of {', '.join(CONCEPT_CHOICES)}")
    data = read_cub_scores(root, data_root)  # after the option checks: a bad option beats a missing folder
    index = np.array(CBM_CONCEPTS_112 if concepts == "cbm" else range(N_ATTRIBUTES))
    scores = data.scores[:, index]
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant column has no correlation
        r = np.corrcoef(scores, rowvar=False)
    pair_confidence = (1.0 + np.abs(r)) / 2.0
    selections = [
        select(CATEGORY_COEXISTENCE, scores > coexist_above, scores, scores / 100.0, "score {:.1f} %"),
        select(CATEGORY_EXCLUSION, scores < exclude_below, scores, 1.0 - scores / 100.0, "score {:.1f} %"),
        select(CONCEPT_COEXISTENCE, r > corr_above, r, pair_confidence, "Pearson r {:+.3f} across categories"),
        select(CONCEPT_EXCLUSION, r < corr_below, r, pair_confidence, "Pearson r {:+.3f} across categories"),
    ]
    what = "the 112 attributes of concept bottleneck work" if concepts == "cbm" else "all 312 attributes"
    provenance = [
        file_provenance(data.source),
        f"concepts: {what}; categories: the {len(data.category_names)} classes of classes.txt",
        f"category-concept: association score > {coexist_above:g} % -> coexistence, "
        f"< {exclude_below:g} % -> exclusion",
        f"concept-concept: Pearson r of score vectors across categories > {corr_above:g} -> coexistence, "
        f"< {corr_below:g} -> exclusion",
    ]
    return assemble([data.attribute_names[i] for i in index], data.category_names, selections,
                    provenance=provenance, semantics=semantics, weights=weights,
                    drop_fraction=drop_fraction, seed=seed)
