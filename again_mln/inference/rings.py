"""The two semirings of one contraction (docs/method.md, "Inference").

log Z(y) sums exp S over assignments: the log-sum-exp ring. S_max(y) and the MAP assignment
maximise S: the max-plus ring, which also returns the winner of each reduction so that the
maximiser can be read back. In both rings "product" is +, so only the reduction differs. A
reduction takes a pair: the joint table with the eliminated variable's two values on axis 0.
"""
from __future__ import annotations

import torch


class LogRing:
    """(logsumexp, +): contraction gives log sum_c exp S(c)."""

    name = "log"

    @staticmethod
    def reduce(pair: torch.Tensor) -> tuple[torch.Tensor, None]:
        return torch.logsumexp(pair, 0), None


class MaxRing:
    """(max, +) with backpointers: contraction gives max_c S(c) and a maximiser."""

    name = "max"

    @staticmethod
    def reduce(pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The larger half and where value 1 won (bool; ties go to 0)."""
        return torch.maximum(pair[0], pair[1]), pair[1] > pair[0]


Ring = type[LogRing] | type[MaxRing]
