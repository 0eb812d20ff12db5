"""Datasets: every one returns a :class:`ConceptDataset` split from a :class:`DataConfig`, so a
checkpoint that stores its config can regenerate exactly the split it was tested on.

Importing the package loads no loader (nor torch): each is imported when a split is loaded, so
the command line lists the data sets and their options at once."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from again_mln.choices import DATASETS, SPLITS
from again_mln.datasets.store import locate
from again_mln.errors import AgainError

if TYPE_CHECKING:
    from again_mln.datasets.base import ConceptDataset
#: default (train, test) sizes of the generated datasets; CUB uses its real images' count
DEFAULT_SIZES = {"mnist": (20000, 4000), "ews": (20000, 5000)}


@dataclass
class DataConfig:
    """Which dataset, where its files are, and how to generate it."""

    name: str
    seed: int = 0
    n_train: int | None = None  # generated datasets only; None = DEFAULT_SIZES
    n_test: int | None = None
    data_root: str | None = None  # the data folder; None = $AGAIN_DATA, then the per-user folder
    mnist_root: str | None = None  # MNIST's own folder, overriding the data folder's
    cub_root: str | None = None
    ews_table: str | None = None  # a user's CSV instead of the EWS simulator
    noise: float = 1.0  # measurement / feature noise scale of the simulators
    image_size: int = 224  # real CUB images

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise AgainError(f"unknown dataset {self.name!r}; expected one of {', '.join(DATASETS)}")

    def size(self, split: str) -> int:
        default = DEFAULT_SIZES[self.name][SPLITS.index(split)]
        given = self.n_train if split == "train" else self.n_test
        return default if given is None else given

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DataConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def load_dataset(config: DataConfig, split: str) -> ConceptDataset:
    """One split of the configured dataset."""
    if config.name == "mnist":
        from again_mln.datasets.mnist import synthetic_mnist

        root = config.mnist_root if config.mnist_root is not None else locate("mnist", config.data_root)
        return synthetic_mnist(root, split, config.size(split), config.seed)
    if config.name == "ews":
        if config.ews_table is not None:
            from again_mln.datasets.ews import load_ews_table

            return load_ews_table(config.ews_table, split, config.seed)
        from again_mln.datasets.ews_simulator import simulate_ews

        return simulate_ews(split, config.size(split), config.seed, config.noise)
    cub_root = config.cub_root if config.cub_root is not None else locate("cub", config.data_root)
    from again_mln.datasets.cub import load_cub_images, simulate_cub, simulate_cub_koh

    if config.name == "cub-sim":
        return simulate_cub(split, cub_root, config.seed, config.noise)
    if config.name == "cub-koh":
        return simulate_cub_koh(split, cub_root, config.seed, config.noise)
    return load_cub_images(cub_root, split, config.image_size)


def __getattr__(name: str) -> Any:
    if name == "ConceptDataset":  # re-exported on first use: it needs torch
        from again_mln.datasets.base import ConceptDataset

        return ConceptDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConceptDataset", "DataConfig", "DATASETS", "SPLITS", "load_dataset"]
