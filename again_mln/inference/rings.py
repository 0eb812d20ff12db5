"""The two semirings of one contraction (docs/method.md, "Inference").

log Z(y) sums exp S over assignments: the log-sum-exp ring. S_max(y) and the MAP assignment
maximise S: the max-plus ring, which also returns the argmax of each reduction so that the
maximiser can be read back. In both rings "product" is +, so only the reduction differs.
"""
from __future__ import annotations

import math

import torch


class LogRing:
    """(logsumexp, +): contraction gives log sum_c exp S(c)."""

    name = "log"
    records_argmax = False

    @staticmethod
    def reduce(values: torch.Tensor, dim: int) -> tuple[torch.Tensor, None]:
        return torch.logsumexp(values, dim), None

    @staticmethod
    def free(count: int) -> float:
        """The value of ``count`` variables that no factor touches: each sums two ones."""
        return count * math.log(2.0)


class MaxRing:
    """(max, +) with backpointers: contraction gives max_c S(c) and a maximiser."""

    name = "max"
    records_argmax = True

    @staticmethod
    def reduce(values: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        best = values.max(dim)
        return best.values, best.indices

    @staticmethod
    def free(count: int) -> float:
        """Untouched variables add nothing to the maximum (and are 0 in the argmax)."""
        return 0.0


Ring = type[LogRing] | type[MaxRing]
