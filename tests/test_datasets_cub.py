"""CUB: the 112 concepts, the class-level simulator's scale and statistics, and clear errors."""
import numpy as np
import pytest

from again_mln.datasets import DataConfig, load_dataset
from again_mln.datasets.cub import (OFFICIAL_SIZES, class_concept_frequencies, cub_category_names, cub_concepts,
                                    majority_concepts, official_split, simulate_cub, simulate_cub_koh)
from again_mln.errors import AgainError


@pytest.mark.data("cub")
def test_concepts_and_categories(cub_folder):
    index, names = cub_concepts()
    attributes = [line.split(maxsplit=1)[1] for line in (cub_folder / "attributes.txt").read_text().splitlines()]
    assert len(names) == 112 and [attributes[i] for i in index] == names
    categories = cub_category_names()
    assert len(categories) == 200 and categories[0] == "001.Black_footed_Albatross"


@pytest.mark.data("cub")
def test_simulator_at_real_scale_follows_class_frequencies():
    train, test = simulate_cub("train", seed=0), simulate_cub("test", seed=0)
    assert len(train) + len(test) == 11788 and train.n_concepts == 112 and train.n_categories == 200
    frequencies = class_concept_frequencies()
    both = np.concatenate([train.concepts.numpy(), test.concepts.numpy()])
    labels = np.concatenate([train.categories.numpy(), test.categories.numpy()])
    empirical = np.stack([both[labels == k].mean(0) for k in range(200)])
    assert np.abs(empirical - frequencies).mean() < 0.06
    again = simulate_cub("train", seed=0)
    assert (again.x == train.x).all()


@pytest.mark.data("cub")
def test_cub_koh_gives_every_image_its_species_majority_concepts_on_the_official_split():
    species = majority_concepts()
    assert species.shape == (200, 112) and set(np.unique(species)) == {0.0, 1.0}
    assert np.array_equal(species, class_concept_frequencies() >= 0.5)
    train, test = simulate_cub_koh("train", seed=0), simulate_cub_koh("test", seed=0)
    assert (len(train), len(test)) == (OFFICIAL_SIZES["train"], OFFICIAL_SIZES["test"])
    for split in (train, test):
        assert np.array_equal(split.concepts.numpy(), species[split.categories.numpy()])
    assert official_split().sum() == OFFICIAL_SIZES["train"]
    categories = np.concatenate([train.categories.numpy(), test.categories.numpy()])
    share = np.bincount(train.categories.numpy(), minlength=200) / np.bincount(categories, minlength=200)
    assert share.min() > 0.4 and share.max() < 0.8  # about 30 training images per species, as officially
    assert (simulate_cub_koh("train", seed=0).x == train.x).all()
    assert not (simulate_cub_koh("train", seed=1).x == train.x).all()


def test_missing_cub_folder_is_a_clear_error(tmp_path):
    with pytest.raises(AgainError, match="CUB_200_2011"):
        load_dataset(DataConfig("cub-sim", cub_root=str(tmp_path)), "train")
    with pytest.raises(AgainError, match="again-mln data fetch cub"):
        load_dataset(DataConfig("cub", data_root=str(tmp_path)), "train")
