"""The ``marginal`` repair as a differentiable layer, so a concept model can be trained through the
rules (docs/method.md, "Rectification")."""
from __future__ import annotations

import torch
from torch import nn

from again_mln.again.compiled import CompiledRules
from again_mln.again.evidence import posterior_marginals
from again_mln.again.graph import FactorGraph
from again_mln.again.rectifier import Rectifier
from again_mln.validation import binarize


class RuleLayer(nn.Module):
    """Concept probabilities (N, M) and categories (N,) in, rectified concept probabilities out.
    Explanations that the paper's detector flags at ``threshold`` = d (d = 1 flags every one) become
    their posterior marginals under the rules and lam times the network's evidence; the others pass
    through unchanged. Gradients flow to the probabilities (and to the rule weights when they
    require them)."""

    def __init__(self, rules: FactorGraph | CompiledRules, lam: float = 1.0, threshold: float = 1.0):
        super().__init__()
        self.rectifier = Rectifier(rules, "marginal", "paper", lam, threshold)

    def forward(self, concept_probs: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
        flagged = self.rectifier.detect(concept_probs.detach(), categories)
        _, y = self.rectifier.graph.validate(binarize(concept_probs.detach()), categories)
        posterior = posterior_marginals(self.rectifier.graph, concept_probs, y, self.rectifier.lam)
        return torch.where(flagged[:, None], posterior.to(concept_probs.dtype), concept_probs)

    def extra_repr(self) -> str:
        return f"lam={self.rectifier.lam}, threshold={self.rectifier.threshold}"
