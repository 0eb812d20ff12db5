"""Synthetic-MNIST rules from the category-to-digits mapping (``again_mln/rules/synthetic_mnist_categories.txt``).

The mapping is the whole truth of this dataset: the digits of a category coexist with it and the
other digits are excluded; two digits that never share a category are exclusive and two that
always appear together (the same set of categories) coexist. Every rule holds without exception
(confidence 1), so the paper drops a random fraction of them to simulate incomplete knowledge
(``drop_fraction``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from again_mln.datasets.mnist import CATEGORY_FILE, CONCEPT_NAMES, load_mnist_categories
from again_mln.errors import AgainError
from again_mln.again.logic import RuleSet
from again_mln.resources import rules_file
from again_mln.rulegen.assemble import assemble, file_provenance, select
from again_mln.rulegen.kinds import (
    CATEGORY_COEXISTENCE,
    CATEGORY_EXCLUSION,
    CONCEPT_COEXISTENCE,
    CONCEPT_EXCLUSION,
    Semantics,
    Weighting,
)


def build_mnist_rules(mapping: str | os.PathLike | None = None, *, semantics: Semantics = "implication",
                      weights: Weighting = "prior", drop_fraction: float = 0.0, seed: int = 0) -> RuleSet:
    """Synthetic-MNIST rules from ``mapping`` (``None``: the file shipped in ``rules/``)."""
    if mapping is not None and not Path(mapping).is_file():
        raise AgainError(f"{mapping}: no such category-to-digits mapping file")
    names, digit_sets = load_mnist_categories(mapping if mapping is not None else rules_file(CATEGORY_FILE))
    member = np.zeros((len(names), len(CONCEPT_NAMES)), dtype=bool)
    member[np.arange(len(names))[:, None], digit_sets] = True
    shared = member.T.astype(np.int64) @ member  # (10, 10) categories two digits share
    appears = np.diag(shared)
    used = (appears[:, None] > 0) & (appears[None, :] > 0)  # a digit in no category has no partners
    always = used & (shared == appears[:, None]) & (shared == appears[None, :])
    certain = np.ones(member.shape)
    selections = [
        select(CATEGORY_COEXISTENCE, member, member, certain, "digit in the category's set"),
        select(CATEGORY_EXCLUSION, ~member, member, certain, "digit not in the category's set"),
        select(CONCEPT_COEXISTENCE, always, shared, np.ones(shared.shape), "always together (in {} categories)"),
        select(CONCEPT_EXCLUSION, used & (shared == 0), shared, np.ones(shared.shape), "never in the same category"),
    ]
    shipped = f"mapping: rules/{CATEGORY_FILE} (shipped with again-mln)"
    provenance = [file_provenance(mapping, label="mapping") if mapping is not None else shipped,
                  f"concepts: digit_0 .. digit_9; categories: {len(names)} sets of 4 digits"]
    return assemble(CONCEPT_NAMES, names, selections, provenance=provenance, semantics=semantics,
                    weights=weights, drop_fraction=drop_fraction, seed=seed)
