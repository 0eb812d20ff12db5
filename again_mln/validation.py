"""Validation at the boundary: every public entry checks its inputs here, once, and the inner
code trusts them. Errors are one-line :class:`AgainError` messages naming what was expected."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from again_mln.errors import AgainError


def binarize(concept_probs: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Hard concepts from probabilities, the one threshold of the toolkit: c_hat = p > 0.5
    (docs/method.md, "Detection"). Tensors stay tensors, arrays stay arrays."""
    return concept_probs > 0.5


def check_choice(value: str, choices: Sequence[str], name: str) -> str:
    """``value`` if it is one of ``choices``, else an error listing them."""
    if value not in choices:
        raise AgainError(f"unknown {name} {value!r}; expected one of {', '.join(choices)}")
    return value


def check_probabilities(probs: torch.Tensor, num_concepts: int, name: str = "concept probabilities") -> torch.Tensor:
    """Validate an (N, M) array of probabilities as a float tensor; one clear error per problem."""
    probs = torch.as_tensor(probs)
    if probs.ndim != 2 or probs.shape[1] != num_concepts:
        raise AgainError(f"{name}: expected shape (N, {num_concepts}), got {tuple(probs.shape)}")
    if not torch.is_floating_point(probs):
        probs = probs.float()
    if not torch.isfinite(probs).all():
        raise AgainError(f"{name}: contains NaN or infinite values")
    if len(probs) and (probs.min() < 0 or probs.max() > 1):
        raise AgainError(f"{name}: values must lie in [0, 1] (pass logits with --logits)")
    return probs
