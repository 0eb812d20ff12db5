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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from again_mln.datasets.cub import cub_category_names, find_cub
from again_mln.errors import AgainError, located
from again_mln.logic import RuleSet
from again_mln.rulegen.assemble import assemble, check_range, file_provenance, select
from again_mln.rulegen.kinds import (
    CATEGORY_COEXISTENCE,
    CATEGORY_EXCLUSION,
    CONCEPT_COEXISTENCE,
    CONCEPT_EXCLUSION,
    Semantics,
    Weighting,
)
from again_mln.rulegen.textdata import parse_numeric

N_ATTRIBUTES = 312
SCORE_FILE = Path("attributes") / "class_attribute_labels_continuous.txt"

#: 0-based indices (among the 312 attributes) of the 112 concepts that concept bottleneck work on
#: CUB uses (Koh et al., 2020: attributes present in at least 10 categories after majority voting).
CBM_CONCEPTS_112: tuple[int, ...] = (
    1, 4, 6, 7, 10, 14, 15, 20, 21, 23, 25, 29, 30, 35, 36, 38, 40, 44, 45, 50, 51, 53, 54, 56,
    57, 59, 63, 64, 69, 70, 72, 75, 80, 84, 90, 91, 93, 99, 101, 106, 110, 111, 116, 117, 119,
    125, 126, 131, 132, 134, 145, 149, 151, 152, 153, 157, 158, 163, 164, 168, 172, 178, 179,
    181, 183, 187, 188, 193, 194, 196, 198, 202, 203, 208, 209, 211, 212, 213, 218, 220, 221,
    225, 235, 236, 238, 239, 240, 242, 243, 244, 249, 253, 254, 259, 260, 262, 268, 274, 277,
    283, 289, 292, 293, 294, 298, 299, 304, 305, 308, 309, 310, 311,
)
ConceptChoice = Literal["cbm", "all"]
CONCEPT_CHOICES: tuple[str, ...] = ("cbm", "all")


@dataclass(frozen=True)
class CubScores:
    """The class-level attribute scores of a CUB folder with their names."""

    scores: np.ndarray  # (200, 312) percent
    attribute_names: list[str]  # 312
    category_names: list[str]  # 200, as in classes.txt (``001.Black_footed_Albatross``)
    source: Path


def read_cub_scores(root: str | os.PathLike | None = None) -> CubScores:
    """Read and validate the scores, attribute names and class names of a ``CUB_200_2011`` folder.

    ``attributes.txt`` is looked for in the folder and beside it (where the original archive
    puts it). ``root`` may be the folder or its parent; ``None`` means the shared data.
    """
    cub = find_cub(root)
    categories = cub_category_names(cub)
    path = cub / SCORE_FILE
    scores = _read_matrix(path, len(categories), N_ATTRIBUTES)
    if scores.min() < 0 or scores.max() > 100:
        row = int(np.argwhere((scores < 0) | (scores > 100))[0, 0])
        raise located(path, row + 1, "expected association scores in [0, 100] (percent)")
    return CubScores(scores, _read_attribute_names(cub), categories, path)


def _read_matrix(path: Path, n_rows: int, n_columns: int) -> np.ndarray:
    """A whitespace-separated numeric table with an exact shape, errors naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise AgainError(f"{path}: file not found (the class-level attribute scores of CUB_200_2011)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise AgainError(f"{path}: cannot read ({err.__class__.__name__})") from None
    numbered = [(number, line.split()) for number, line in enumerate(lines, start=1) if line.strip()]
    for number, fields in numbered:
        if len(fields) != n_columns:
            raise located(path, number, f"expected {n_columns} scores, got {len(fields)}")
    if len(numbered) != n_rows:
        raise located(path, None, f"expected {n_rows} rows (one per category in classes.txt), got {len(numbered)}")
    cells = np.array([fields for _, fields in numbered], dtype=str)
    return parse_numeric(cells, path, [number for number, _ in numbered])


def _read_attribute_names(cub: Path) -> list[str]:
    candidates = (cub / "attributes.txt", cub.parent / "attributes.txt", cub / "attributes" / "attributes.txt")
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise AgainError(f"{candidates[1]}: file not found (the 312 attribute names; also looked in {cub})")
    names = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[0] != str(len(names) + 1):
            raise located(path, number, f"expected '{len(names) + 1} <attribute name>'")
        names.append(fields[1])
    if len(names) != N_ATTRIBUTES:
        raise located(path, None, f"expected {N_ATTRIBUTES} attribute names, got {len(names)}")
    return names


def build_cub_rules(root: str | os.PathLike | None = None, *, concepts: ConceptChoice = "cbm",
                    coexist_above: float = 55.0, exclude_below: float = 15.0, corr_above: float = 0.8,
                    corr_below: float = -0.5, weights: Weighting = "prior", semantics: Semantics = "implication",
                    drop_fraction: float = 0.0, seed: int = 0) -> RuleSet:
    """CUB rules from the attribute scores of ``root`` (a ``CUB_200_2011`` folder or its parent).

    ``concepts="cbm"`` keeps the 112 concepts of concept bottleneck work, ``"all"`` the 312.
    """
    check_range("coexist-above", coexist_above, 50.0, 100.0)
    check_range("exclude-below", exclude_below, 0.0, 50.0)
    check_range("corr-above", corr_above, 0.0, 1.0)
    check_range("corr-below", corr_below, -1.0, 0.0)
    if concepts not in CONCEPT_CHOICES:
        raise AgainError(f"unknown concept choice {concepts!r}; expected one of {', '.join(CONCEPT_CHOICES)}")
    data = read_cub_scores(root)
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
