"""What every weight-learning objective shares: which formulas it learns (soft, not
``#fixweight``; hard formulas and fixed weights stay as written), the Gaussian prior N(M, S^2) on
the learned weights, and the MLN written back with learned weights."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from again_mln.errors import AgainError
from again_mln.mln.model import MLN, Database
from again_mln.mln.syntax import variables


class LearnableWeights:
    """The learnable formulas of ``mln`` materialised over the training ``databases`` and the
    prior on their weights. Refused with one line: no database, an empty one (closed world, it
    would say every atom is false), a learnable formula with no grounding (its weight would stay
    wherever the optimiser starts)."""

    def __init__(self, mln: MLN, databases: list[Database], prior_sd: float | None = None, prior_mean: float = 0.0):
        if prior_sd is not None and not (prior_sd > 0 and math.isfinite(prior_sd)):
            raise AgainError(f"the prior's standard deviation must be a positive number, got {prior_sd}")
        if not databases:
            raise AgainError("no training database given")
        empty = [db.source for db in databases if not db.evidence]
        if empty:
            raise AgainError(f"{empty[0]}: the training database is empty (closed world: every atom would be false)")
        self.mln, self.prior_sd, self.prior_mean = mln.materialize(databases), prior_sd, prior_mean
        self.learnable = np.array([not (e.hard or e.fixed) for e in self.mln.formulas], bool)
        domains = self.mln.full_domains(databases)
        for entry, learn in zip(self.mln.formulas, self.learnable):
            empty_types = [entry.types[name] for name in variables(entry.formula) if not domains.get(entry.types[name])]
            if learn and empty_types:
                raise AgainError(f"{entry.source}: the formula {entry.formula.text()!r} has no groundings (the type "
                                 f"{empty_types[0]!r} has no constants in the MLN or the training data); its weight "
                                 f"cannot be learned")

    @property
    def count(self) -> int:
        return int(self.learnable.sum())

    def log_prior(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """-sum (w - M)^2 / (2 S^2) and its gradient (zero without a prior): added to every objective."""
        if self.prior_sd is None:
            return 0.0, np.zeros_like(weights)
        offset = np.asarray(weights, np.float64) - self.prior_mean
        return float(-(offset**2).sum() / (2 * self.prior_sd**2)), -offset / self.prior_sd**2

    def with_weights(self, weights: np.ndarray) -> MLN:
        """The materialised MLN with ``weights`` on its learnable formulas."""
        values = iter(np.asarray(weights, np.float64).tolist())
        formulas = [replace(e, weight=next(values), weight_text=None) if learn else e
                    for e, learn in zip(self.mln.formulas, self.learnable)]
        return replace(self.mln, formulas=formulas)
