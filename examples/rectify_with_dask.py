"""Rectify predictions with Dask: the same pure function, one partition per task.

Rectifying an explanation depends on that explanation alone, so ``again_mln.again.streaming.rectify_batch``
(the function ``again-mln rectify`` applies to each chunk) runs unchanged on the partitions of a
Dask array, on the local machine (threads or processes) or on a Dask cluster: the compiled
``FactorGraph`` is a torch module that pickles, so it travels to the workers once per task.

Install the extra and run (local processes; point ``--scheduler`` at a cluster's address to scale out)::

    pip install "again-mln[distributed]"
    python examples/rectify_with_dask.py preds.npy cats.npy rules.mln out/ --chunk-rows 65536

Each worker writes its chunk's results as ``out/part-NNNNN.npz`` (the arrays ``again-mln rectify``
writes, for the rows of that chunk, in order), as distributed engines write part files.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed

from again_mln.again.rectifier import Rectifier
from again_mln.again.streaming import rectify_batch


def rectify_with_dask(rectifier: Rectifier, concept_probs: np.ndarray, categories: np.ndarray,
                      chunk_rows: int = 65_536) -> list[Delayed]:
    """One lazy task per chunk of rows, each giving the result arrays (``result_layout``) of its rows."""
    probs = da.from_array(concept_probs, chunks=(chunk_rows, -1))
    cats = da.from_array(categories, chunks=(chunk_rows,))
    rectifier_in_dask = dask.delayed(rectifier)  # stored once in the task graph, shared by every task
    return [dask.delayed(rectify_batch)(rectifier_in_dask, p, c)
            for p, c in zip(probs.to_delayed().ravel(), cats.to_delayed().ravel())]


def save_part(result: dict[str, np.ndarray], path: Path) -> int:
    """Write one chunk's results as an .npz part file (on the worker); the number of rows."""
    np.savez(path, **result)
    return len(result["flagged"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preds", help="concept probabilities (N, M), .npy in the rules' concept order")
    parser.add_argument("categories", help="category ids (N,), .npy")
    parser.add_argument("mln", help="rule file")
    parser.add_argument("output", help="folder for the part files")
    parser.add_argument("--chunk-rows", type=int, default=65_536)
    parser.add_argument("--strategy", default="switch")
    parser.add_argument("--scheduler", default="processes", help="threads, processes, or a dask.distributed address")
    args = parser.parse_args()

    from again_mln.io.cache import compiled_rules

    compiled, _ = compiled_rules(args.mln, "cpu")
    probs = np.load(args.preds, mmap_mode="r")
    categories = np.load(args.categories, mmap_mode="r")
    parts = rectify_with_dask(Rectifier(compiled, args.strategy), probs, categories, args.chunk_rows)
    if args.scheduler in ("threads", "processes", "sync"):
        dask.config.set(scheduler=args.scheduler)
    else:
        from dask.distributed import Client

        Client(args.scheduler)  # becomes the default scheduler
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    rows = dask.compute(*[dask.delayed(save_part)(part, folder / f"part-{i:05d}.npz") for i, part in enumerate(parts)])
    print(f"wrote {len(parts)} part files under {folder}/ ({sum(rows):,} explanations)")


if __name__ == "__main__":
    main()
