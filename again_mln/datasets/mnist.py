"""Synthetic-MNIST: four distinct real MNIST digits in a 2x2 grid; the digit set is the category.

Concept ``digit_m`` is active when digit m is one of the four. The category-to-digits mapping is
``again_mln/rules/synthetic_mnist_categories.txt``, shared with the rule builder. Training samples use only
MNIST's training images and test samples only its test images, so a digit image never crosses
the split.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from again_mln.datasets.base import ConceptDataset, split_rng
from again_mln.errors import AgainError, located
from again_mln.resources import rules_file

CONCEPT_NAMES = [f"digit_{d}" for d in range(10)]
CATEGORY_FILE = "synthetic_mnist_categories.txt"
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DOWNLOAD_HINT = ("run `again-mln data fetch mnist`, or put the four idx .gz files in DIR/MNIST/raw/ "
                 "(torchvision's layout) and pass --data-root DIR")


def load_mnist_categories(path: str | os.PathLike | None = None) -> tuple[list[str], np.ndarray]:
    """Category names and their digit sets, ``(K,)`` names and a ``(K, 4)`` int array.

    Lines are ``<name>: <digit> <digit> <digit> <digit>``; ``#`` starts a comment.
    """
    path = Path(path) if path is not None else rules_file(CATEGORY_FILE)
    if not path.is_file():
        raise AgainError(f"{path}: no such category mapping file")
    names: list[str] = []
    digit_sets: list[list[int]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, rest = line.partition(":")
        try:
            digits = [int(tok) for tok in rest.split()]
        except ValueError:
            digits = []
        if not sep or not name.strip() or len(digits) != 4 or len(set(digits)) != 4 \
                or not all(0 <= d <= 9 for d in digits):
            raise located(path, number, "expected '<name>: d1 d2 d3 d4' with four distinct digits 0-9")
        if name.strip() in names:
            raise located(path, number, f"category {name.strip()!r} defined twice")
        names.append(name.strip())
        digit_sets.append(digits)
    if not names:
        raise located(path, None, "no categories defined")
    return names, np.asarray(digit_sets, dtype=np.int64)


def find_mnist_raw(root: str | os.PathLike) -> Path:
    """The folder holding the idx files: ``root/MNIST/raw``, ``root/raw`` or ``root`` itself."""
    root = Path(root)
    for candidate in (root / "MNIST" / "raw", root / "raw", root):
        if all(_idx_path(candidate, name) is not None for pair in _IDX_FILES.values() for name in pair):
            return candidate
    raise AgainError(f"{root}: MNIST idx files not found; {DOWNLOAD_HINT}")


def _idx_path(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (gzip-compressed or not) as a uint8 array of its declared shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise located(path, None, "not an unsigned-byte idx file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise located(path, None, f"truncated: header says {shape}, found {body.size} bytes")
    return body.reshape(shape)


def read_mnist(root: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images ``(N, 28, 28)`` uint8 and labels ``(N,)`` of one split."""
    folder = find_mnist_raw(root)
    image_stem, label_stem = _IDX_FILES[split]
    images = read_idx(_idx_path(folder, image_stem))
    labels = read_idx(_idx_path(folder, label_stem))
    if images.shape[0] != labels.shape[0]:
        raise located(folder, None, f"{split} images and labels differ in count")
    return images, labels


def compose_grid(digits: np.ndarray) -> np.ndarray:
    """Tile ``(N, 4, h, w)`` images into ``(N, 2h, 2w)`` 2x2 grids (row-major quadrants)."""
    n, _, h, w = digits.shape
    return digits.reshape(n, 2, 2, h, w).transpose(0, 1, 3, 2, 4).reshape(n, 2 * h, 2 * w)


def synthetic_mnist(root: str | os.PathLike, split: str, n_samples: int, seed: int = 0,
                    return_sources: bool = False) -> ConceptDataset | tuple[ConceptDataset, np.ndarray]:
    """Generate ``n_samples`` Synthetic-MNIST images of one split.

    Categories are drawn uniformly; each of the category's four digits is a random image of that
    digit from the same MNIST split, and the four are placed in random quadrants. Inputs are
    ``(N, 1, 56, 56)`` floats in [0, 1]. With ``return_sources`` the ``(N, 4)`` MNIST indices used
    per sample (in quadrant order) come back too, for provenance checks.
    """
    rng = split_rng(seed, split)
    images, labels = read_mnist(root, split)
    category_names, digit_sets = load_mnist_categories()
    categories = rng.integers(0, len(category_names), size=n_samples)
    order = np.argsort(rng.random((n_samples, 4)), axis=1)  # random quadrant per digit
    digits = np.take_along_axis(digit_sets[categories], order, axis=1)
    sources = np.empty_like(digits)
    for d in range(10):  # one draw per digit class, vectorised over samples
        pool = np.flatnonzero(labels == d)
        where = digits == d
        sources[where] = pool[rng.integers(0, pool.size, size=int(where.sum()))]
    x = compose_grid(images[sources]).astype(np.float32)[:, None] / 255.0
    concepts = np.zeros((n_samples, 10), dtype=np.float32)
    np.put_along_axis(concepts, digits, 1.0, axis=1)
    data = ConceptDataset(torch.from_numpy(x), torch.from_numpy(concepts), torch.from_numpy(categories),
                          list(CONCEPT_NAMES), category_names)
    return (data, sources) if return_sources else data
