"""Rules from a user's own concept table: the EWS estimator applied to any domain.

A table is one row per sample with 0/1 concept columns and one category column:
- ``.csv`` with a header row; the column named ``category_column`` holds the category (any text),
  every other column is a concept named by its header;
- ``.npz`` with ``concepts`` ``(N, M)`` 0/1 and the array ``category_column`` ``(N,)``, and
  optionally ``concept_names`` ``(M,)`` and ``category_names`` (indexed by integer categories).
Categories are named by their values, sorted (numerically when they are all integers).
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from again_mln.io.atomic import note_input
from again_mln.errors import AgainError, located, short
from again_mln.io.inputs import NAMES, NUMBERS, array_names, load_array, saved_names
from again_mln.again.logic import RuleSet
from again_mln.rulegen.assemble import file_provenance
from again_mln.rulegen.estimate import EstimateThresholds, estimate_rules
from again_mln.rulegen.kinds import Semantics, Weighting
from again_mln.rulegen.textdata import parse_numeric


@dataclass(frozen=True)
class ConceptTable:
    """A binary concept table with categories as indices into ``category_names``."""

    concepts: np.ndarray  # (N, M) uint8
    categories: np.ndarray  # (N,) int64
    concept_names: list[str]
    category_names: list[str]


def read_concept_table(path: str | os.PathLike, category_column: str) -> ConceptTable:
    """Read a ``.csv`` or ``.npz`` concept table (see the module docstring for the layout)."""
    path = Path(path)
    if not path.is_file():
        raise AgainError(f"{path}: no such file")
    if path.suffix == ".csv":
        return _read_csv(path, category_column)
    if path.suffix == ".npz":
        return _read_npz(path, category_column)
    raise AgainError(f"{path}: expected a .csv or .npz concept table")


def _read_csv(path: Path, category_column: str) -> ConceptTable:
    note_input(path)
    try:  # utf-8-sig: a byte-order mark (as spreadsheets write) is not part of the first name
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise AgainError(f"{path}: cannot read as CSV ({short(str(err), 80)[1:-1]})") from None
    rows = [row for row in rows if row]
    if len(rows) < 2:
        raise located(path, None, "expected a header row and at least one data row")
    header, body = rows[0], rows[1:]
    seen: set[str] = set()
    duplicated = next((name for name in header if name in seen or seen.add(name)), None)
    if duplicated is not None:
        raise located(path, 1, f"the column name {short(duplicated)} appears twice in the header")
    if category_column not in header:
        columns = ", ".join(short(name, 20)[1:-1] for name in header[:10]) + (", ..." if len(header) > 10 else "")
        raise located(path, 1, f"no column {short(category_column)}; the columns are {columns}")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise located(path, number, f"expected {len(header)} fields (as in the header), got {len(row)}")
    cells = np.array(body, dtype=str)
    y_column = header.index(category_column)
    concept_columns = [j for j in range(len(header)) if j != y_column]
    if not concept_columns:
        raise located(path, 1, "no concept columns besides the category column")
    names = [header[j] for j in concept_columns]
    lines = range(2, len(body) + 2)
    values = parse_numeric(cells[:, concept_columns], path, lines, names)
    bad = _first_non_binary(values)
    if bad is not None:
        row, col = bad
        raise located(path, lines[row], f"column {names[col]}: expected 0 or 1, got {values[row, col]:g}")
    ids, category_names = _category_ids(cells[:, y_column])
    return ConceptTable(values.astype(np.uint8), ids, names, category_names)


def _read_npz(path: Path, category_column: str) -> ConceptTable:
    keys = set(array_names(path))
    concepts = load_array(path, "concepts")
    raw_categories = load_array(path, category_column, kinds=NUMBERS + NAMES)
    if concepts.ndim != 2 or raw_categories.shape != (concepts.shape[0],):
        raise AgainError(f"{path}: expected 'concepts' (N, M) and {category_column!r} (N,), "
                         f"got {concepts.shape} and {raw_categories.shape}")
    if "concept_names" in keys:
        names = saved_names(path, "concept_names")
        if len(names) != concepts.shape[1]:
            raise AgainError(f"{path}: 'concept_names' has {len(names)} names for {concepts.shape[1]} columns")
    else:
        names = [f"concept_{j}" for j in range(concepts.shape[1])]
    if "category_names" in keys:
        category_names = saved_names(path, "category_names")
        if not np.issubdtype(raw_categories.dtype, np.integer) or raw_categories.min() < 0 \
                or raw_categories.max() >= len(category_names):
            raise AgainError(f"{path}: {category_column!r} must hold indices into 'category_names' "
                             f"(0 .. {len(category_names) - 1})")
        ids = raw_categories.astype(np.int64)
    else:
        ids, category_names = _category_ids(raw_categories)
    if not (np.issubdtype(concepts.dtype, np.number) or concepts.dtype == bool):
        raise AgainError(f"{path}: 'concepts' must be numeric 0/1, got dtype {concepts.dtype}")
    bad = _first_non_binary(concepts)
    if bad is not None:
        row, col = bad
        raise AgainError(f"{path}: 'concepts' row {row}, column {names[col]}: expected 0 or 1, "
                         f"got {concepts[row, col]}")
    return ConceptTable(concepts.astype(np.uint8), ids, names, category_names)


def _first_non_binary(values: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first entry that is neither 0 nor 1."""
    bad = np.argwhere(~np.isin(values, (0, 1)))
    return (int(bad[0, 0]), int(bad[0, 1])) if len(bad) else None


def _category_ids(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Category indices and names of a column of values, names sorted (numerically for integers)."""
    unique, ids = np.unique(np.asarray(values).astype(str), return_inverse=True)
    if all(_is_integer(v) for v in unique):
        order = np.argsort([int(v) for v in unique], kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        unique, ids = unique[order], rank[ids]
    return ids.astype(np.int64), [str(v) for v in unique]


def _is_integer(text: str) -> bool:
    return text.lstrip("-").isdigit()


def build_table_rules(path: str | os.PathLike, category_column: str, *,
                      thresholds: EstimateThresholds = EstimateThresholds(), semantics: Semantics = "implication",
                      weights: Weighting = "prior", drop_fraction: float = 0.0, seed: int = 0) -> RuleSet:
    """Rules estimated from a user's concept table (every row is training data)."""
    table = read_concept_table(path, category_column)
    provenance = [file_provenance(path), f"category column: {category_column}"]
    return estimate_rules(table.concepts, table.categories, table.concept_names, table.category_names,
                          thresholds=thresholds, provenance=provenance, semantics=semantics, weights=weights,
                          drop_fraction=drop_fraction, seed=seed)
