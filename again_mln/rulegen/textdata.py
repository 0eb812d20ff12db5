"""Numbers from text tables, with errors that name the file, line and column of the first bad cell."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from again_mln.errors import located, short


def parse_numeric(cells: np.ndarray, source: Path, line_numbers: Sequence[int],
                  column_names: Sequence[str] | None = None) -> np.ndarray:
    """``cells`` ``(rows, cols)`` of text as finite floats; ``line_numbers[i]`` is row i's line."""
    try:
        values = cells.astype(np.float64)
    except ValueError:  # only now look cell by cell, to find the culprit
        values = np.array([[_float_or_nan(cell) for cell in row] for row in cells])
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        i, j = bad[0]
        column = f"column {short(column_names[j], 40)[1:-1]}: " if column_names is not None else ""
        raise located(source, line_numbers[i], f"{column}{short(cells[i, j])} is not a finite number")
    return values


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")
