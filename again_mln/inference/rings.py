"""The two semirings of one contraction (docs/method.md, "Inference").

log Z(y) sums exp S over assignments: the log-sum-exp ring. S_max(y) and the MAP assignment
maximise S: the max-plus ring, whose joint tables the contraction keeps so that the maximiser
can be read back. In both rings "product" is +, so only the reduction differs. A reduction takes
a pair: the joint table with the eliminated variable's two values on axis 0.
"""
from __future__ import annotations

import torch


class LogRing:
    """(logsumexp, +): contraction gives log sum_c exp S(c)."""

    name = "log"
    maximises = False  # nothing to read back: the contraction's value is all

    @staticmethod
    def reduce(pair: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(pair, 0)


class MaxRing:
    """(max, +): contraction gives max_c S(c) and, read back from its joint tables, a maximiser."""

    name = "max"
    maximises = True  # the contraction also reads back a maximiser (and the MILP can stand in)

    @staticmethod
    def reduce(pair: torch.Tensor) -> torch.Tensor:
        return torch.maximum(pair[0], pair[1])


Ring = type[LogRing] | type[MaxRing]
