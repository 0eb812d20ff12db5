"""Rectification of inputs of any length in fixed-size chunks, with flat memory.

Rectifying an explanation depends on that explanation alone (docs/method.md), so a long input is
cut into chunks of rows, each chunk is rectified by :func:`rectify_batch` (a pure function of the
batch, the same one a distributed engine can map over partitions) and the results are written
chunk by chunk into the output ``.npz`` — atomically: a temporary file renamed at the end.
Peak memory is that of one chunk, whatever the input's length.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np
import torch

from again_mln.io.atomic import atomic_path
from again_mln.choices import DEFAULT_CHUNK_ROWS
from again_mln.again.rectification import numpy_result
from again_mln.again.rectifier import Rectifier

#: A reader of rows ``start:stop``: concept probabilities (n, M) float32 and the categories,
#: ids (n,) or log-probabilities (n, K).
RowReader = Callable[[int, int], "tuple[np.ndarray, np.ndarray]"]


def result_layout(num_concepts: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Per-row shape and dtype of each output array, in the order they are written."""
    return {
        "rectified": ((num_concepts,), np.dtype(np.float32)),
        "mask": ((num_concepts,), np.dtype(bool)),
        "flagged": ((), np.dtype(bool)),
        "score_before": ((), np.dtype(np.float32)),
        "score_after": ((), np.dtype(np.float32)),
        "category": ((), np.dtype(np.int64)),
    }


def rectify_batch(rectifier: Rectifier, concept_probs: np.ndarray, categories: np.ndarray) -> dict[str, np.ndarray]:
    """Detect and rectify one batch given as numpy arrays; the arrays of :func:`result_layout`."""
    probs = torch.from_numpy(np.ascontiguousarray(concept_probs, dtype=np.float32))
    result = numpy_result(rectifier.rectify(probs, torch.from_numpy(np.asarray(categories))))
    layout = result_layout(rectifier.graph.num_concepts)
    return {name: result[name].astype(dtype, copy=False) for name, (_, dtype) in layout.items()}


def rectify_chunks(rectifier: Rectifier, read: RowReader, num_rows: int,
                   chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[dict[str, np.ndarray]]:
    """The results of rows 0..num_rows, one chunk of ``chunk_rows`` rows at a time, in order."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    for start in range(0, num_rows, chunk_rows):
        probs, categories = read(start, min(start + chunk_rows, num_rows))
        yield rectify_batch(rectifier, probs, categories)


@dataclass
class StreamSummary:
    """Totals over a streamed input, for the command's report."""

    explanations: int = 0
    flagged: int = 0
    interventions: int = 0  # intervened concepts, summed over flagged explanations
    score_change: float = 0.0  # S after - S before, summed over flagged explanations
    chunks: int = 0

    def add(self, result: dict[str, np.ndarray]) -> None:
        flagged = result["flagged"]
        self.explanations += len(flagged)
        self.flagged += int(flagged.sum())
        self.interventions += int(result["mask"][flagged].sum())
        self.score_change += float((result["score_after"][flagged].astype(np.float64)
                                    - result["score_before"][flagged]).sum())
        self.chunks += 1


def _write_header(handle: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(handle, header)


def write_npz_chunks(
    target: str | os.PathLike,
    num_rows: int,
    layout: dict[str, tuple[tuple[int, ...], np.dtype]],
    chunks: Iterator[dict[str, np.ndarray]],
    on_chunk: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> None:
    """Write an uncompressed ``.npz`` of arrays with ``num_rows`` rows, from chunks of rows.

    The first array goes straight into the archive; the others are spilled to anonymous
    temporary files (gone with the process, whatever ends it) and copied in after the last chunk,
    because a zip archive holds its members one after another. The archive is a temporary file
    beside ``target`` until it is complete.
    """
    names = list(layout)
    target = Path(target)
    with atomic_path(target, suffix=".npz") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        spills = {name: tempfile.TemporaryFile(dir=target.parent) for name in names[1:]}
        try:
            for name, handle in spills.items():
                _write_header(handle, (num_rows, *layout[name][0]), layout[name][1])
            rows = 0
            with archive.open(f"{names[0]}.npy", "w", force_zip64=True) as first:
                _write_header(first, (num_rows, *layout[names[0]][0]), layout[names[0]][1])
                for chunk in chunks:
                    rows += len(chunk[names[0]])
                    first.write(np.ascontiguousarray(chunk[names[0]], layout[names[0]][1]).tobytes())
                    for name, handle in spills.items():
                        handle.write(np.ascontiguousarray(chunk[name], layout[name][1]).tobytes())
                    if on_chunk is not None:
                        on_chunk(chunk)
            if rows != num_rows:
                raise ValueError(f"expected {num_rows} rows, the chunks held {rows}")
            for name, handle in spills.items():
                handle.seek(0)
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    shutil.copyfileobj(handle, member, 1 << 22)
        finally:
            for handle in spills.values():
                handle.close()


def rectify_to_file(rectifier: Rectifier, read: RowReader, num_rows: int, output: str | os.PathLike,
                    chunk_rows: int = DEFAULT_CHUNK_ROWS, progress: bool = False) -> StreamSummary:
    """Rectify rows 0..num_rows read by ``read`` and write the results to ``output`` (``.npz``),
    one chunk in memory at a time; a progress bar on stderr when ``progress``."""
    from tqdm import tqdm

    summary = StreamSummary()
    with tqdm(total=num_rows, unit="expl", unit_scale=True, disable=not progress, leave=False) as bar:
        def on_chunk(result: dict[str, np.ndarray]) -> None:
            summary.add(result)
            bar.update(len(result["flagged"]))

        chunks = rectify_chunks(rectifier, read, num_rows, chunk_rows)
        write_npz_chunks(output, num_rows, result_layout(rectifier.graph.num_concepts), chunks, on_chunk)
    return summary
