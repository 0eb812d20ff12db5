"""CUB-200-2011: its readers, and the data set with the 112 concepts of concept bottleneck work.

The readers (class names, attribute names, class-level attribute scores) serve both the rule
builder (``again_mln.rulegen.cub``) and the two data sources here: a class-level simulator that
runs the whole pipeline at CUB's real scale without the images (each image's concepts are drawn
from its category's real attribute frequencies, and its feature vector is a fixed random
embedding of those concepts plus noise), and a loader for the real images and per-image attribute
labels when a user has them. The files come from the user's data folder
(:mod:`again_mln.datasets.store`); the 112-concept selection is a constant of the package.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from again_mln.datasets.base import ConceptDataset, check_split, split_rng
from again_mln.datasets.store import locate
from again_mln.errors import AgainError, located
from again_mln.rulegen.textdata import parse_numeric

DOWNLOAD_HINT = "run `again-mln data fetch cub`, or pass --cub-root to the folder holding CUB_200_2011/"
FEATURE_DIM = 256
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


def find_cub(root: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None) -> Path:
    """The ``CUB_200_2011`` folder: ``root/CUB_200_2011`` or ``root`` itself; ``None`` means the
    data folder's copy (see :func:`again_mln.datasets.store.locate`)."""
    base = Path(root) if root is not None else locate("cub", data_root)
    for candidate in (base / "CUB_200_2011", base):
        if (candidate / "classes.txt").is_file():
            return candidate
    raise AgainError(f"{base}: CUB_200_2011/classes.txt not found; {DOWNLOAD_HINT}")


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise AgainError(f"{path}: file not found; {DOWNLOAD_HINT}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def cub_concepts(root: str | os.PathLike | None = None) -> tuple[np.ndarray, list[str]]:
    """The 0-based indices (among the 312 attributes) and names of the 112 concepts."""
    index = np.array(CBM_CONCEPTS_112, dtype=np.int64)
    names = read_attribute_names(find_cub(root))
    return index, [names[i] for i in index]


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


@dataclass(frozen=True)
class CubScores:
    """The class-level attribute scores of a CUB folder with their names."""

    scores: np.ndarray  # (200, 312) percent
    attribute_names: list[str]  # 312
    category_names: list[str]  # 200, as in classes.txt (``001.Black_footed_Albatross``)
    source: Path


def read_cub_scores(root: str | os.PathLike | None = None, data_root: str | os.PathLike | None = None
                    ) -> CubScores:
    """Read and validate the scores, attribute names and class names of a ``CUB_200_2011`` folder.

    ``attributes.txt`` is looked for in the folder and beside it (where the original archive
    puts it). ``root`` may be the folder or its parent; ``None`` means the data folder's copy.
    """
    cub = find_cub(root, data_root)
    categories = cub_category_names(cub)
    path = cub / SCORE_FILE
    scores = _read_matrix(path, len(categories), N_ATTRIBUTES)
    if scores.min() < 0 or scores.max() > 100:
        row = int(np.argwhere((scores < 0) | (scores > 100))[0, 0])
        raise located(path, row + 1, "expected association scores in [0, 100] (percent)")
    return CubScores(scores, read_attribute_names(cub), categories, path)


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


def read_attribute_names(cub: Path) -> list[str]:
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


def class_concept_frequencies(root: str | os.PathLike | None = None) -> np.ndarray:
    """``(200, 112)`` fraction of each category's images annotated with each concept."""
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


#: Koh et al. (2020)'s denoising: a species has a concept when at least this percentage of its
#: images are annotated with it (class_attribute_labels_continuous.txt), and then all its images do
MAJORITY = 50.0
#: the official split's sizes (train_test_split.txt of CUB_200_2011), used when that file is absent
OFFICIAL_SIZES = {"train": 5994, "test": 5794}
#: cub-koh's feature noise at noise = 1, tuned so that the quick preset's CBM lands near the
#: literature's 97% concept / 80% category accuracy: 0.7, 0.75 and 0.8 give 96.8 / 87.5, 96.2 / 84.1
#: and 95.7 / 80.1 (seed 0); no single noise reaches both, and 0.75 misses each by the least
KOH_FEATURE_NOISE = 0.75


def majority_concepts(root: str | os.PathLike | None = None) -> np.ndarray:
    """(200, 112) float32 0/1: the concepts of each species after majority voting (:data:`MAJORITY`)."""
    index, _ = cub_concepts(root)
    return (read_cub_scores(root).scores[:, index] >= MAJORITY).astype(np.float32)


def official_split(root: str | os.PathLike | None = None, seed: int = 0) -> np.ndarray:
    """(11788,) bool, True for the training images: train_test_split.txt when the folder has it,
    else a ``seed``-determined draw of :data:`OFFICIAL_SIZES` ["train"] images, stratified by category."""
    cub = find_cub(root)
    path = cub / "train_test_split.txt"
    if path.is_file():
        rows = np.array([line.split() for line in _read_lines(path)], dtype=np.int64)
        return rows[np.argsort(rows[:, 0]), 1] == 1
    categories = _image_categories(cub)
    rng = np.random.default_rng([seed, 98])
    order = np.lexsort((rng.random(categories.size), categories))  # by category, shuffled within it
    counts = np.bincount(categories)
    ordered = categories[order]
    position = np.empty(categories.size)  # where an image falls within its category, in (0, 1)
    position[order] = (np.arange(categories.size) - (np.cumsum(counts) - counts)[ordered] + 0.5) / counts[ordered]
    train = np.zeros(categories.size, dtype=bool)
    train[np.argsort(position, kind="stable")[:OFFICIAL_SIZES["train"]]] = True
    return train


def simulate_cub_koh(split: str, root: str | os.PathLike | None = None, seed: int = 0, noise: float = 1.0,
                     feature_dim: int = FEATURE_DIM) -> ConceptDataset:
    """CUB as concept bottleneck work prepares it (Koh et al., 2020): one sample per real image of
    the official split, every image's 112 concepts those of its species after majority voting
    (:func:`majority_concepts`), so clean explanations obey the species' rules. The images
    themselves are simulated as cub-sim's are: ``features = concepts @ W + noise * KOH_FEATURE_NOISE
    * e`` with a fixed random ``W`` (``seed``-determined, shared by both splits) and ``e ~ N(0, I)``."""
    check_split(split)
    cub = find_cub(root)
    species = majority_concepts(root)
    _, concept_names = cub_concepts(root)
    categories = _image_categories(cub)[official_split(cub, seed) == (split == "train")]
    shared = np.random.default_rng([seed, 97])
    embedding = shared.standard_normal((len(concept_names), feature_dim)) / np.sqrt(len(concept_names))
    rng = split_rng(seed, split)
    concepts = species[categories]
    x = concepts @ embedding + noise * KOH_FEATURE_NOISE * rng.standard_normal((categories.size, feature_dim))
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
