"""The one container every dataset returns, so models, training and the CLI never care which
dataset they are looking at."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from again_mln.choices import SPLITS
from again_mln.errors import AgainError


@dataclass
class ConceptDataset:
    """Inputs, binary concept labels and category labels of one split, with their names.

    ``x`` is ``(N, ...)`` float, ``concepts`` ``(N, M)`` float in {0, 1}, ``categories`` ``(N,)``
    long. Everything stays a tensor so batches are slices, never a loop over samples.
    """

    x: Tensor
    concepts: Tensor
    categories: Tensor
    concept_names: list[str]
    category_names: list[str]

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.concepts.shape != (n, len(self.concept_names)) or self.categories.shape != (n,):
            raise ValueError(
                f"inconsistent shapes: x {tuple(self.x.shape)}, concepts {tuple(self.concepts.shape)} "
                f"for {len(self.concept_names)} names, categories {tuple(self.categories.shape)}"
            )

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def n_concepts(self) -> int:
        return len(self.concept_names)

    @property
    def n_categories(self) -> int:
        return len(self.category_names)

    def subset(self, index: Tensor | np.ndarray | slice) -> "ConceptDataset":
        """The samples at ``index`` (same names)."""
        if isinstance(index, np.ndarray):
            index = torch.as_tensor(index)
        return ConceptDataset(self.x[index], self.concepts[index], self.categories[index],
                              self.concept_names, self.category_names)

    def batches(self, batch_size: int, shuffle: bool = False,
                generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Yield ``(x, concepts, categories)`` mini-batches by slicing (shuffled with ``generator``)."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else None
        for start in range(0, n, batch_size):
            if order is None:
                index: Tensor | slice = slice(start, start + batch_size)
            else:
                index = order[start:start + batch_size]
            yield self.x[index], self.concepts[index], self.categories[index]

    def n_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)




def split_rng(seed: int, split: str) -> np.random.Generator:
    """An independent, reproducible random stream per (seed, split), so the test split does not
    change when the training split's size does."""
    check_split(split)
    return np.random.default_rng([seed, SPLITS.index(split)])


def check_split(split: str) -> None:
    """Reject an unknown split name with a user-facing error."""
    if split not in SPLITS:
        raise AgainError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
