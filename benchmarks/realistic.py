"""CBM-like inputs for the benchmarks: explanations that mostly agree with their category's rules.

Each explanation starts from its category's most likely concepts under the unary (category-
concept) rules, a fraction ``wrong`` of its concepts is flipped, and the probabilities are
confident (0.6-1.0 on the chosen side). Shared by bench_end_to_end.py and bench_scale.py.
"""
from __future__ import annotations

import numpy as np

from again_mln.again.graph import FactorGraph

#: Share of concepts a realistic explanation gets wrong.
WRONG = 0.03


def likely_concepts(graph: FactorGraph) -> np.ndarray:
    """(K, M) bool: the value of each concept that the unary rules of each category prefer."""
    unary = graph.unary.detach().cpu()
    return (unary[:, :, 1] > unary[:, :, 0]).numpy()


def realistic_batch(likely: np.ndarray, n: int, rng: np.random.Generator, wrong: float = WRONG) -> tuple[np.ndarray, np.ndarray]:
    """Concept probabilities (n, M) float32 and category ids (n,) int64."""
    K, M = likely.shape
    categories = rng.integers(0, K, n)
    concepts = likely[categories] ^ (rng.random((n, M)) < wrong)
    confidence = rng.uniform(0.6, 1.0, (n, M))
    return np.where(concepts, confidence, 1.0 - confidence).astype(np.float32), categories.astype(np.int64)
