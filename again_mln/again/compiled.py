"""A rule set's factor graph with the state that detection and repair derive from it, as one torch
module: S_max(y) per category (a buffer, solved once by the engine's max ring) and the switch's
tables (a submodule, built on first use). Derived state moves with ``.to`` and is stored in the
``state_dict`` the rule cache keeps, so it is paid once per rule file (docs/architecture.md)."""
from __future__ import annotations

import torch
from torch import nn

from again_mln.again.detection import solve_s_max
from again_mln.again.graph import FactorGraph
from again_mln.again.switch import SwitchTables


class CompiledRules(nn.Module):
    """``graph`` plus S_max (K,) and, on demand, the switch tables. S_max follows the graph's
    weights: it is solved again on the first use after they change."""

    def __init__(self, graph: FactorGraph, s_max: torch.Tensor | None = None) -> None:
        super().__init__()
        self.graph = graph
        self.register_buffer("s_max_table", torch.full((graph.num_categories,), float("nan"), dtype=graph.unary.dtype,
                                                       device=graph.device))
        self._key: tuple | None = None
        if s_max is not None:
            self.s_max_table.copy_(s_max)
            self._key = graph.weights_key()

    @property
    def s_max(self) -> torch.Tensor:
        """S_max(y) = max_c S(c, y) for every category (K,) under the current weights."""
        if self._key != self.graph.weights_key():
            self.s_max_table = solve_s_max(self.graph).to(self.s_max_table.device)
            self._key = self.graph.weights_key()
        return self.s_max_table

    def switch(self) -> SwitchTables:
        """The switch's tables (built, and size-checked, on first use)."""
        if not hasattr(self, "switch_tables") or self.switch_tables.device != self.graph.device:
            self.switch_tables = SwitchTables(self.graph)
        return self.switch_tables

    def _apply(self, fn, *args, **kwargs):
        fresh = self._key == self.graph.weights_key()
        out = super()._apply(fn, *args, **kwargs)
        if fresh:  # the buffer moved with the weights: still S_max of these weights
            self._key = self.graph.weights_key()
        return out
