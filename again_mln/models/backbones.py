"""Concept predictors' bodies: the paper's small CNN for Synthetic-MNIST and an MLP for tabular or
simulated features. Each maps an input batch to ``out_features`` values (concept logits in a CBM,
a hidden representation in a CEM); any user ``nn.Module`` with that contract works too."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


class SmallCNN(nn.Module):
    """The paper's small CNN for Synthetic-MNIST: two convolutions with batch normalisation, then
    a perceptron applied to every ``window`` x ``window`` pixel tile (a strided convolution) and a
    max over tiles.

    The first convolution has stride 2 and is max-pooled, so the two convolutions run at a
    quarter of the resolution (fast on a CPU). Sharing the perceptron over the tiles of a grid
    image (28 px = one MNIST digit) makes it a digit detector that every tile trains, and the max
    says "present anywhere", which is what a concept of Synthetic-MNIST means.
    """

    def __init__(self, input_shape: Sequence[int], out_features: int, channels: tuple[int, int] = (16, 32),
                 hidden: int = 128, window: int = 28) -> None:
        super().__init__()
        in_channels = input_shape[0]
        c1, c2 = channels
        tile = max(1, window // 4)  # the window at the features' resolution
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, stride=2, padding=2), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(),
        )
        self.detector = nn.Sequential(
            nn.Conv2d(c2, hidden, tile, stride=tile), nn.ReLU(), nn.Conv2d(hidden, out_features, 1),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.detector(self.features(x))


class Standardize(nn.Module):
    """Feature-wise ``(x - mean) / std`` with the training split's statistics kept as buffers, so
    a checkpoint carries its own preprocessing."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))

    def fit(self, x: Tensor) -> "Standardize":
        """Set the statistics from a ``(N, n_features)`` training batch (constant columns keep std 1)."""
        self.mean.copy_(x.mean(0))
        std = x.std(0)
        self.std.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        return self

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class MLP(nn.Module):
    """Standardised input, ``layers`` hidden ReLU layers of width ``hidden``, linear output."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 128, layers: int = 2) -> None:
        super().__init__()
        self.standardize = Standardize(in_features)
        blocks: list[nn.Module] = []
        width = in_features
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.body = nn.Sequential(*blocks, nn.Linear(width, out_features))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(self.standardize(x))


def category_head(in_features: int, n_categories: int, kind: str = "linear", hidden: int = 64) -> nn.Module:
    """The category predictor: a linear layer (the paper) or a one-hidden-layer MLP."""
    if kind == "linear":
        return nn.Linear(in_features, n_categories)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, n_categories))
    raise ValueError(f"unknown category head {kind!r}; expected 'linear' or 'mlp'")
