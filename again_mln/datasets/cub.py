"""CUB-200-2011 with the 112 concepts of concept bottleneck work.

Two sources: a class-level simulator that runs the whole pipeline at CUB's real scale without the
images (each image's concepts are drawn from its category's real attribute frequencies, and its
feature vector is a fixed random embedding of those concepts plus noise), and a loader for the
real images and per-image attribute labels when a user has them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from again_mln.datasets.base import ConceptDataset, check_split, split_rng
from again_mln.errors import AgainError, located
from again_mln.resources import data_dir

DOWNLOAD_HINT = ("download CUB_200_2011.tgz from https://www.vision.caltech.edu/datasets/cub_200_2011/, "
                 "unpack it and pass --cub-root to the folder holding CUB_200_2011/")
FEATURE_DIM = 256


def find_cub(root: str | os.PathLike | None = None) -> Path:
    """The ``CUB_200_2011`` folder: ``root/CUB_200_2011``, ``root`` itself, or the shared data's."""
    base = Path(root) if root is not None else data_dir() / "cub"
    for candidate in (base / "CUB_200_2011", base):
        if (candidate / "classes.txt").is_file():
            return candidate
    raise AgainError(f"{base}: CUB_200_2011/classes.txt not found; {DOWNLOAD_HINT}")


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise AgainError(f"{path}: file not found; {DOWNLOAD_HINT}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _concept_file(cub: Path, name: str) -> Path:
    """The 112-concept lists sit beside ``CUB_200_2011/`` in the shared data; fall back to it."""
    for folder in (cub.parent, cub, data_dir() / "cub"):
        if (folder / name).is_file():
            return folder / name
    raise AgainError(f"{cub.parent / name}: file not found (the 112-concept selection of CBM work)")


def cub_concepts(root: str | os.PathLike | None = None) -> tuple[np.ndarray, list[str]]:
    """The 0-based indices (among the 312 attributes) and names of the 112 concepts."""
    cub = find_cub(root)
    path = _concept_file(cub, "cbm_selected_concepts_112.txt")
    try:
        index = np.array([int(tok) for tok in _read_lines(path)], dtype=np.int64)
    except ValueError:
        raise located(path, None, "expected one 0-based attribute index per line") from None
    names = _read_lines(_concept_file(cub, "cbm_concept_names_112.txt"))
    if len(names) != len(index):
        raise AgainError(f"{cub.parent}: {len(index)} concept indices but {len(names)} concept names")
    return index, names


def cub_category_names(root: str | os.PathLike | None = None) -> list[str]:
    """The 200 category names of ``classes.txt`` (``001.Black_footed_Albatross`` ...)."""
    path = find_cub(root) / "classes.txt"
    names = []
    for number, line in enumerate(_read_lines(path), start=1):
        fields = line.split(maxsplit=1)
        if len(fields) != 2:
            raise located(path, number, "expected '<id> <category name>'")
        names.append(fields[1])
    return names


def class_concept_frequencies(root: str | os.PathLike | None = None) -> np.ndarray:
    """``(200, 112)`` fraction of each category's images annotated with each concept."""
    from again_mln.rulegen.cub import read_cub_scores  # the validated reader the rule builder uses

    index, _ = cub_concepts(root)
    return read_cub_scores(root).scores[:, index] / 100.0


def _image_categories(cub: Path) -> np.ndarray:
    """0-based category of every image (``image_class_labels.txt``), in image-id order."""
    rows = np.array([line.split() for line in _read_lines(cub / "image_class_labels.txt")], dtype=np.int64)
    return rows[np.argsort(rows[:, 0]), 1] - 1


def simulate_cub(split: str, root: str | os.PathLike | None = None, seed: int = 0, noise: float = 1.0,
                 feature_dim: int = FEATURE_DIM) -> ConceptDataset:
    """Class-level CUB simulator at the real scale: one sample per real image.

    Images of each category are split in half (train / test) with ``seed``; concept j of an image
    of category y is Bernoulli(frequency[y, j]); the feature vector is ``concepts @ W + noise * e``
    with a fixed random ``W`` (``seed``-determined, the same for both splits) and ``e ~ N(0, I)``.
    """
    check_split(split)
    cub = find_cub(root)
    frequencies = class_concept_frequencies(root)
    _, concept_names = cub_concepts(root)
    categories = _image_categories(cub)
    shared = np.random.default_rng([seed, 99])
    in_test = shared.random(categories.size) < 0.5
    categories = categories[in_test == (split == "test")]
    embedding = shared.standard_normal((len(concept_names), feature_dim)) / np.sqrt(len(concept_names))
    rng = split_rng(seed, split)
    concepts = (rng.random((categories.size, len(concept_names))) < frequencies[categories]).astype(np.float32)
    x = concepts @ embedding + noise * 0.5 * rng.standard_normal((categories.size, feature_dim))
    return ConceptDataset(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(concepts),
                          torch.from_numpy(categories), concept_names, cub_category_names(root))


def load_cub_images(root: str | os.PathLike, split: str, image_size: int = 224) -> ConceptDataset:
    """Real CUB images (resized to ``image_size``, ``(N, 3, s, s)`` in [0, 1]) with per-image labels
    of the 112 concepts and the official train/test split.

    Needs the full archive (``images/``, ``images.txt``, ``train_test_split.txt``,
    ``attributes/image_attribute_labels.txt``). Uses torchvision's image reading where installed,
    Pillow otherwise. All images of the split are held in memory as float (about 7 GB for the
    whole training split at 224 px): pass a smaller ``image_size`` on small machines.
    """
    check_split(split)
    cub = find_cub(root)
    index, concept_names = cub_concepts(root)
    paths = dict(line.split(maxsplit=1) for line in _read_lines(cub / "images.txt"))
    is_train = dict(line.split() for line in _read_lines(cub / "train_test_split.txt"))
    ids = sorted((int(i) for i, flag in is_train.items() if (flag == "1") == (split == "train")))
    categories = _image_categories(cub)[np.array(ids) - 1]
    labels = np.loadtxt(cub / "attributes" / "image_attribute_labels.txt", usecols=(0, 1, 2), dtype=np.int64,
                        ndmin=2)
    attributes = np.zeros((len(is_train) + 1, 312), dtype=np.float32)
    attributes[labels[:, 0], labels[:, 1] - 1] = labels[:, 2]
    concepts = attributes[ids][:, index]
    images = torch.stack([_read_image(cub / "images" / paths[str(i)], image_size) for i in ids])
    return ConceptDataset(images, torch.from_numpy(concepts), torch.from_numpy(categories), concept_names,
                          cub_category_names(root))


def _read_image(path: Path, size: int) -> torch.Tensor:
    """One RGB image as ``(3, size, size)`` floats in [0, 1]."""
    try:
        from torchvision.io import ImageReadMode, read_image
        from torchvision.transforms.functional import resize

        image = read_image(str(path), ImageReadMode.RGB)
        return resize(image, [size, size], antialias=True).float() / 255.0
    except ImportError:
        from PIL import Image

        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB").resize((size, size)), dtype=np.float32) / 255.0
        return torch.from_numpy(array).permute(2, 0, 1)
