"""A concept embedding model in the style of AGCM / CEM (Zarlenga et al. 2022).

Each concept has an activated and an inactivated embedding computed from the input; the concept's
probability scores the pair and mixes them, ``p * e_on + (1 - p) * e_off``, and the category head
reads the mixed embeddings. Because the mix is driven by the probability, rectified probabilities
re-predict the category the same way as in a CBM, and each concept's share of a prediction is a
contribution score.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from again_mln.models.cbm import ConceptModel, Encoding


class ConceptEmbeddingModel(ConceptModel):
    """``backbone: x -> (N, hidden)``; per concept two ``embedding_size`` embeddings; a shared
    scorer gives the concept logit; ``category_head`` maps ``(N, M * embedding_size) -> (N, K)``."""

    def __init__(self, backbone: nn.Module, hidden: int, embedding_size: int, category_head: nn.Module,
                 concept_names: list[str], category_names: list[str]) -> None:
        super().__init__()
        self.concept_names = list(concept_names)
        self.category_names = list(category_names)
        self.embedding_size = embedding_size
        n_concepts = len(self.concept_names)
        self.backbone = backbone
        self.embed = nn.Sequential(nn.Linear(hidden, n_concepts * 2 * embedding_size), nn.LeakyReLU())
        self.scorer = nn.Linear(2 * embedding_size, 1)
        self.category_head = category_head

    def encode(self, x: Tensor) -> Encoding:
        n, m = x.shape[0], len(self.concept_names)
        pairs = self.embed(self.backbone(x)).view(n, m, 2, self.embedding_size)
        logits = self.scorer(pairs.flatten(2)).squeeze(-1)
        return Encoding(logits, pairs)

    def mix(self, encoding: Encoding, concept_probs: Tensor) -> Tensor:
        """Mixed concept embeddings ``(N, M, embedding_size)``."""
        p = concept_probs.unsqueeze(-1)
        return p * encoding.context[:, :, 0] + (1 - p) * encoding.context[:, :, 1]

    def classify(self, encoding: Encoding, concept_probs: Tensor) -> Tensor:
        return self.category_head(self.mix(encoding, concept_probs).flatten(1))

    def contributions(self, x: Tensor, categories: Tensor | None = None,
                      concept_probs: Tensor | None = None) -> Tensor:
        """Per-concept contribution ``(N, M)`` to the logit of ``categories`` (default: the
        predicted ones): gradient x input summed over each concept's embedding, which is exactly
        the concept's term of the logit when the head is linear. ``concept_probs`` (default: the
        network's own) mixes the embeddings, e.g. rectified concepts for the contributions after
        rectification."""
        with torch.enable_grad():
            encoding = self.encode(x)
            probs = torch.sigmoid(encoding.concept_logits) if concept_probs is None else concept_probs
            mixed = self.mix(encoding, probs).detach().requires_grad_(True)
            logits = self.category_head(mixed.flatten(1))
            if categories is None:
                categories = logits.argmax(1)
            chosen = logits.gather(1, categories[:, None]).sum()
            (grad,) = torch.autograd.grad(chosen, mixed)
        return (grad * mixed).sum(-1).detach()

    def concept_parameters(self) -> list[nn.Parameter]:
        return [*self.backbone.parameters(), *self.embed.parameters(), *self.scorer.parameters()]

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.category_head.parameters())
