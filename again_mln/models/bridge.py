"""The model bridge: a trained concept model and a factor graph as one torch module.

input -> concept probabilities -> detection -> rectification -> the category head re-predicts
from the rectified concepts (docs/method.md: ``y_re = h_y(c_re)``), batched and on one device.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from again_mln.datasets.base import ConceptDataset
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.again.rectifier import Rectifier
from again_mln.models.cbm import ConceptModel, Encoding


class RectifiedOutput(NamedTuple):
    """One batch through the bridge."""

    concept_probs: Tensor  # (N, M) the network's concept probabilities
    category_logits: Tensor  # (N, K) the network's category logits
    rectified: Tensor  # (N, M) rectified concepts: intervened ones 0/1, the others unchanged
    mask: Tensor  # (N, M) bool, the intervened concepts
    flagged: Tensor  # (N,) bool, explanations that failed detection
    rectified_logits: Tensor  # (N, K) the category head on the rectified concepts


@torch.no_grad()
def encode_batches(model: ConceptModel, data: ConceptDataset, batch_size: int, device: torch.device) -> list[Encoding]:
    """``model``'s encodings of ``data``, batch by batch: what several rectifiers of one input share."""
    return [model.encode(x.to(device)) for x, _, _ in data.batches(batch_size)]


class RectifiedConceptModel(nn.Module):
    """Wrap ``model`` and a :class:`~again_mln.again.rectifier.Rectifier` (same concept and category
    order) so that ``forward(x)`` returns a :class:`RectifiedOutput`. The rectifier reads the
    model's category logits (its argmax, or for ``mixture`` the whole distribution), detects and
    repairs; the category head then re-predicts from the rectified concepts."""

    def __init__(self, model: ConceptModel, rectifier: Rectifier) -> None:
        super().__init__()
        ruleset = rectifier.graph.ruleset
        for kind, ours, theirs in (("concept", model.concept_names, ruleset.concepts),
                                   ("category", model.category_names, ruleset.categories)):
            if list(ours) != list(theirs):
                raise AgainError(f"the model's {kind} names differ from the rule set's "
                                 f"(model: {', '.join(ours[:3])}, ...; rules: {', '.join(theirs[:3])}, ...)")
        self.model = model.to(rectifier.graph.device).eval()
        self.rectifier = rectifier

    @property
    def graph(self) -> FactorGraph:
        return self.rectifier.graph

    @torch.no_grad()
    def forward(self, x: Tensor) -> RectifiedOutput:
        return self.rectify_encoding(self.model.encode(x.to(self.graph.device)))

    @torch.no_grad()
    def rectify_encoding(self, encoding: Encoding) -> RectifiedOutput:
        """The bridge after the network's encoder: detection, rectification, re-prediction."""
        probs = torch.sigmoid(encoding.concept_logits)
        logits = self.model.classify(encoding, probs)
        result = self.rectifier.rectify(probs, logits)
        return RectifiedOutput(probs, logits, result.rectified, result.mask, result.flagged,
                               self.model.classify(encoding, result.rectified))

    def predict(self, data: ConceptDataset, batch_size: int = 512,
                encodings: list[Encoding] | None = None) -> dict[str, np.ndarray]:
        """The bridge over a whole split, as numpy arrays for the evaluation: the keys of
        :func:`again_mln.models.training.predict` plus ``rectified_concepts``,
        ``rectified_categories`` (probabilities), ``mask`` and ``flagged``. ``encodings`` (of
        :func:`encode_batches`) spare the network when several strategies or detectors see one input."""
        parts = ([self(x) for x, _, _ in data.batches(batch_size)] if encodings is None
                 else [self.rectify_encoding(e) for e in encodings])

        def cat(field: str) -> np.ndarray:
            return torch.cat([getattr(p, field) for p in parts]).cpu().numpy()

        return {
            "concepts": cat("concept_probs").astype(np.float32),
            "categories": torch.softmax(torch.from_numpy(cat("category_logits")), 1).numpy(),
            "rectified_concepts": cat("rectified").astype(np.float32),
            "rectified_categories": torch.softmax(torch.from_numpy(cat("rectified_logits")), 1).numpy(),
            "mask": cat("mask"),
            "flagged": cat("flagged"),
            "true_concepts": data.concepts.numpy().astype(np.uint8),
            "true_categories": data.categories.numpy().astype(np.int64),
        }
