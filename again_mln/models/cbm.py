"""Concept bottleneck models: input -> concept probabilities -> category.

:class:`ConceptModel` is the contract that training, prediction and the rectification bridge rely
on: ``encode`` gives the concept logits (plus whatever else the category head needs), and
``classify`` re-predicts the category from any concept probabilities, the network's own or
rectified ones.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn


class Encoding(NamedTuple):
    """What a concept model computes from an input before its category head."""

    concept_logits: Tensor  # (N, M)
    context: Any = None  # model-specific extra input of the head (a CEM's concept embeddings)


class ConceptModel(nn.Module):
    """Base class: ``forward(x) -> (concept_logits, category_logits)``."""

    concept_names: list[str]
    category_names: list[str]

    def encode(self, x: Tensor) -> Encoding:
        raise NotImplementedError

    def classify(self, encoding: Encoding, concept_probs: Tensor) -> Tensor:
        """Category logits ``(N, K)`` from concept probabilities ``(N, M)``."""
        raise NotImplementedError

    def concept_parameters(self) -> list[nn.Parameter]:
        """Parameters trained by the concept loss in the first step of sequential training."""
        raise NotImplementedError

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters of the category predictor (the second step)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        encoding = self.encode(x)
        return encoding.concept_logits, self.classify(encoding, torch.sigmoid(encoding.concept_logits))


class ConceptBottleneckModel(ConceptModel):
    """A concept predictor ``x -> (N, M) logits`` and a category head ``(N, M) probabilities ->
    (N, K) logits`` (Koh et al. 2020): the category sees the input only through the concepts."""

    def __init__(self, concept_predictor: nn.Module, category_head: nn.Module,
                 concept_names: list[str], category_names: list[str]) -> None:
        super().__init__()
        self.concept_predictor = concept_predictor
        self.category_head = category_head
        self.concept_names = list(concept_names)
        self.category_names = list(category_names)

    def encode(self, x: Tensor) -> Encoding:
        return Encoding(self.concept_predictor(x))

    def classify(self, encoding: Encoding, concept_probs: Tensor) -> Tensor:
        return self.category_head(concept_probs)

    def concept_parameters(self) -> list[nn.Parameter]:
        return list(self.concept_predictor.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.category_head.parameters())
