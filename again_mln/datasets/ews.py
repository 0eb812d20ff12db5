"""The NEWS early warning score as concepts, and the EWS input columns.

The 22 concepts are the non-zero bins of the NEWS (2012) table shipped with the package
(``again_mln/rules/ews_scoring_tables.json``, NEWS and NEWS2 from the Royal College of Physicians'
charts); the category is the NEWS total clipped to 15 (``ews_0`` ..
``ews_15``). This module is the single place that reads the table: the simulator, the loader for
a user's own table and the rule builder all go through it.

Concept names are derived from the table, never written by hand:
- numeric bin ``[lo, hi]``: ``<variable>_between_<lo>_<hi>``, open below ``<variable>_le_<hi>``,
  open above ``<variable>_ge_<lo>``; a decimal point is written ``p`` (``temperature_c_le_35p0``);
- categorical value: ``<variable>_is_<value>`` lower-cased (``consciousness_is_c_or_v_or_p_or_u``).
``<variable>`` is the table's key (``spo2_scale1``, ``temperature_c``, ...).

Bins are inclusive at charting resolution (whole numbers, tenths of a degree). A value between two
bins (40.5 bpm) falls in the lower one: a numeric bin is ``lo <= v < next lo``.
"""
from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np
import torch

from again_mln.datasets.base import ConceptDataset, check_split
from again_mln.errors import AgainError, located
from again_mln.resources import rules_file

MAX_CATEGORY = 15
CATEGORY_NAMES = [f"ews_{k}" for k in range(MAX_CATEGORY + 1)]

#: The 15 input columns of the simulator and of a user's table (units: bpm, breaths/min, %, deg C,
#: mmHg, 0/1, fraction, GCS points, mg/dL, pH).
INPUT_COLUMNS = (
    "heart_rate", "respiratory_rate", "spo2", "temperature", "systolic_bp", "diastolic_bp",
    "mean_bp", "supplemental_oxygen", "fio2", "gcs_eye", "gcs_verbal", "gcs_motor", "gcs_total",
    "glucose", "ph",
)


_TOLERANCE = 1e-4  # far below charting resolution; makes float32 copies of 36.1 land in 36.1's bin
_TABLE_METADATA = {"max_total", "n_nonzero_bins", "risk_bands"}


@dataclass(frozen=True)
class NewsBin:
    """One non-zero NEWS bin: the concept it defines and how to test it."""

    name: str
    variable: str
    points: int
    low: float  # numeric: lower edge (inclusive, -inf when open); categorical: the value's index
    high: float  # numeric: next bin's lower edge (exclusive, inf when last); categorical: unused
    categorical: bool


def _number(value: float | int) -> str:
    return str(value).replace(".", "p")


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def scoring_table_path() -> Path:
    """The NEWS/NEWS2 scoring tables shipped with the package."""
    return rules_file("ews_scoring_tables.json")


@lru_cache(maxsize=None)
def news_bins(path: str | None = None) -> tuple[NewsBin, ...]:
    """The non-zero NEWS bins in table order (the concept order)."""
    source = Path(path) if path else scoring_table_path()
    try:
        table = json.loads(source.read_text(encoding="utf-8"))["NEWS"]
    except (OSError, ValueError, KeyError) as err:
        raise located(source, None, f"cannot read the NEWS table ({err})") from None
    bins: list[NewsBin] = []
    for variable, spec in table.items():
        if variable in _TABLE_METADATA or variable.startswith("_"):
            continue
        if isinstance(spec, dict):
            for index, (value, points) in enumerate(spec.items()):
                if points:
                    bins.append(NewsBin(f"{variable}_is_{_slug(value)}", variable, int(points),
                                        float(index), float("nan"), True))
        elif isinstance(spec, list):
            for i, (low, high, points) in enumerate(spec):
                if i + 1 < len(spec) and not high < spec[i + 1][0]:
                    raise located(source, None, f"NEWS {variable}: bins overlap or are out of order")
                if not points:
                    continue
                if low is None:
                    name = f"{variable}_le_{_number(high)}"
                elif high is None:
                    name = f"{variable}_ge_{_number(low)}"
                else:
                    name = f"{variable}_between_{_number(low)}_{_number(high)}"
                upper = spec[i + 1][0] if i + 1 < len(spec) else None
                bins.append(NewsBin(name, variable, int(points),
                                    -np.inf if low is None else float(low),
                                    np.inf if upper is None else float(upper), False))
    expected = table.get("n_nonzero_bins")
    if expected is not None and len(bins) != expected:
        raise located(source, None, f"found {len(bins)} non-zero NEWS bins, the table says {expected}")
    return tuple(bins)


def news_concept_names() -> list[str]:
    """The 22 NEWS concept names, in concept order."""
    return [b.name for b in news_bins()]


def news_points() -> np.ndarray:
    """Points of each concept, ``(22,)`` int: a sample's NEWS total is ``concepts @ points``."""
    return np.array([b.points for b in news_bins()], dtype=np.int64)


def news_inputs(columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The NEWS variables from the input columns.

    Consciousness is scored "not alert" (C, V, P or U) when the GCS total is below 15; the
    categorical variables hold the index of their value in the table (0 = no / A).
    """
    return {
        "respiratory_rate": columns["respiratory_rate"],
        "spo2_scale1": columns["spo2"],
        "supplemental_oxygen": (np.asarray(columns["supplemental_oxygen"]) > 0.5).astype(np.float64),
        "temperature_c": columns["temperature"],
        "systolic_bp": columns["systolic_bp"],
        "heart_rate": columns["heart_rate"],
        "consciousness": (np.asarray(columns["gcs_total"]) < 15).astype(np.float64),
    }


def news_concepts(vitals: Mapping[str, np.ndarray]) -> np.ndarray:
    """Binary NEWS concepts ``(N, 22)`` from the NEWS variables (keys as in the table)."""
    out = []
    for b in news_bins():
        value = np.asarray(vitals[b.variable], dtype=np.float64)
        if b.categorical:
            out.append(np.abs(value - b.low) < _TOLERANCE)
        else:
            out.append((value >= b.low - _TOLERANCE) & (value < b.high - _TOLERANCE))
    return np.stack(out, axis=1)


def news_category(concepts: np.ndarray) -> np.ndarray:
    """The category index: the NEWS total of each row, clipped to 15."""
    return np.minimum(np.asarray(concepts, dtype=np.int64) @ news_points(), MAX_CATEGORY)


def ews_dataset(columns: Mapping[str, np.ndarray], true_columns: Mapping[str, np.ndarray] | None = None
                ) -> ConceptDataset:
    """An EWS split: inputs are ``columns`` (observed), concepts and category come from
    ``true_columns`` (the noise-free vitals; the observed ones when not given)."""
    concepts = news_concepts(news_inputs(true_columns if true_columns is not None else columns))
    x = np.stack([np.asarray(columns[c], dtype=np.float32) for c in INPUT_COLUMNS], axis=1)
    return ConceptDataset(torch.from_numpy(x), torch.from_numpy(concepts.astype(np.float32)),
                          torch.from_numpy(news_category(concepts)), news_concept_names(), list(CATEGORY_NAMES))


def read_ews_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a user's CSV table with (at least) the 15 ``INPUT_COLUMNS`` as float arrays."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in INPUT_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise located(path, 1, f"missing column(s) {', '.join(missing)}")
            rows = list(reader)
    except OSError as err:
        raise AgainError(f"{path}: cannot read ({err.strerror})") from None
    columns = {}
    for name in INPUT_COLUMNS:
        try:
            columns[name] = np.array([float(row[name]) for row in rows], dtype=np.float64)
        except (TypeError, ValueError):
            bad = next(i for i, row in enumerate(rows) if not _is_number(row[name]))
            raise located(path, bad + 2, f"column {name}: {rows[bad][name]!r} is not a number") from None
    if not rows:
        raise located(path, None, "no data rows")
    return columns


def _is_number(text: str | None) -> bool:
    try:
        float(text)  # type: ignore[arg-type]
        return True
    except (TypeError, ValueError):
        return False


def load_ews_table(path: str | os.PathLike, split: str, seed: int = 0, test_fraction: float = 0.2
                   ) -> ConceptDataset:
    """A user's table as an EWS split: rows are shuffled with ``seed`` and the last
    ``test_fraction`` form the test split; concepts are scored from the table's own values."""
    check_split(split)
    columns = read_ews_table(path)
    n = len(columns[INPUT_COLUMNS[0]])
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    rows = order[n - n_test:] if split == "test" else order[:n - n_test]
    return ews_dataset({c: v[rows] for c, v in columns.items()})
