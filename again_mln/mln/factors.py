"""The factor view: a compiled rule set as plain tensors, the one interface between the factor
graph (which produces it) and :mod:`again_mln.mln.inference` (which consumes it).

Batch row b is one conditioning: a category, or a sample with its category and the network's
evidence. Variables are the M binary concepts.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True)
class FactorView:
    """Log-potentials over M binary variables, batched over B rows.

    * ``const`` (B,): the part of the score that no variable changes;
    * ``unary`` (B, M, 2): entry [b, m, v] is added when variable m takes value v;
    * ``scopes``: the variables of each higher-order factor f, in table-bit order;
    * ``tables`` (B or 1, F, 2**R): entry [b, f, a] is added when the assignment of scope f has
      bit j equal to the value of its j-th variable (a factor of arity r < R ignores the high bits).
    """

    const: torch.Tensor
    unary: torch.Tensor
    scopes: tuple[tuple[int, ...], ...]
    tables: torch.Tensor

    @property
    def num_variables(self) -> int:
        return self.unary.shape[1]

    @property
    def batch(self) -> int:
        return self.unary.shape[0]

    def condition(self, rows: torch.Tensor | None = None, evidence: torch.Tensor | None = None) -> "FactorView":
        """The view on batch rows ``rows`` (e.g. the category of each sample), plus extra unary
        log-potentials ``evidence`` (len(rows), M, 2), e.g. lam * log p_m(c_m); -inf rules a value out."""
        view = self
        if rows is not None:
            tables = self.tables if self.tables.shape[0] == 1 else self.tables[rows]
            view = replace(self, const=self.const[rows], unary=self.unary[rows], tables=tables)
        if evidence is not None:
            view = replace(view, unary=view.unary + evidence.to(view.unary.dtype))
        return view

    def to(self, dtype: torch.dtype) -> "FactorView":
        """The same view with tables of ``dtype``."""
        return replace(self, const=self.const.to(dtype), unary=self.unary.to(dtype), tables=self.tables.to(dtype))
