"""Synthetic-MNIST invariants: the category file, the grid, concepts and split provenance."""
import gzip
import shutil

import numpy as np
import pytest

from again_mln.datasets.mnist import (compose_grid, find_mnist_raw, load_mnist_categories, read_mnist,
                                      synthetic_mnist)
from again_mln.errors import AgainError


@pytest.fixture(scope="module")
def root(mnist_folder):
    return mnist_folder


def test_category_file_defines_twelve_sets_of_four_distinct_digits():
    names, digit_sets = load_mnist_categories()
    assert len(names) == 12 and digit_sets.shape == (12, 4)
    assert all(len(set(row)) == 4 for row in digit_sets.tolist())
    assert len({frozenset(row) for row in digit_sets.tolist()}) == 12


def test_bad_category_line_names_file_and_line(tmp_path):
    bad = tmp_path / "cats.txt"
    bad.write_text("# header\ncat_a: 0 1 2 3\ncat_b: 0 1 2\n")
    with pytest.raises(AgainError, match=r"cats.txt:3:"):
        load_mnist_categories(bad)


@pytest.mark.parametrize("split", ["train", "test"])
def test_concepts_and_categories_follow_the_mapping(root, split):
    data, sources = synthetic_mnist(root, split, 300, seed=1, return_sources=True)
    _, digit_sets = load_mnist_categories()
    assert data.x.shape == (300, 1, 56, 56) and 0.0 <= data.x.min() and data.x.max() <= 1.0
    expected = np.zeros((300, 10))
    np.put_along_axis(expected, digit_sets[data.categories.numpy()], 1.0, axis=1)
    np.testing.assert_array_equal(data.concepts.numpy(), expected)
    images, labels = read_mnist(root, split)
    # each quadrant holds the MNIST image it was drawn from, and that image's label is a concept
    np.testing.assert_array_equal(data.x.numpy()[:, 0] * 255, compose_grid(images[sources]).astype(np.float32))
    assert np.all(np.take_along_axis(data.concepts.numpy(), labels[sources].astype(np.int64), 1) == 1)


def test_digit_images_never_cross_the_split(root):
    train_images, _ = read_mnist(root, "train")
    test_images, _ = read_mnist(root, "test")
    _, train_sources = synthetic_mnist(root, "train", 500, seed=2, return_sources=True)
    _, test_sources = synthetic_mnist(root, "test", 500, seed=2, return_sources=True)
    assert train_sources.max() < len(train_images) and test_sources.max() < len(test_images)
    test_bytes = {img.tobytes() for img in test_images[np.unique(test_sources)]}
    assert not any(img.tobytes() in test_bytes for img in train_images[np.unique(train_sources)])


def test_same_seed_same_data_and_split_streams_independent(root):
    a = synthetic_mnist(root, "test", 50, seed=3)
    b = synthetic_mnist(root, "test", 50, seed=3)
    assert (a.x == b.x).all() and (a.categories == b.categories).all()
    assert not (synthetic_mnist(root, "test", 50, seed=4).categories == a.categories).all()


def test_root_layouts_and_missing_folder(root, tmp_path):
    raw = find_mnist_raw(root)
    assert find_mnist_raw(raw) == raw  # the .gz files themselves
    plain = tmp_path / "plain"
    plain.mkdir()
    for gz in raw.glob("*.gz"):  # torchvision also keeps uncompressed copies
        with gzip.open(gz) as src, open(plain / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    assert read_mnist(plain, "test")[0].shape == (10000, 28, 28)
    with pytest.raises(AgainError, match="MNIST/raw"):
        find_mnist_raw(tmp_path / "nowhere")
