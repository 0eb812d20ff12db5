"""Did the chains agree? Split R-hat per sampled atom (Gelman et al., BDA3 section 11.4: every
chain's kept samples cut into halves, so that a drifting chain disagrees with itself), the run's
settings, a one-line summary, and a warning when the largest R-hat passes :data:`RHAT_LIMIT`.

Samplers keep, per chain half, only the sum and the sum of squares of what they record per atom
(an indicator, or Gibbs's Rao-Blackwellised conditional probability), which is all R-hat needs.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from again_mln.errors import AgainWarning

#: Chains disagree when an atom's split R-hat is larger than this (the customary 1.1).
RHAT_LIMIT = 1.1
#: Chain halves that do not move agree when their means differ by at most this: far below any
#: probability a marginal is read to.
AGREE = 1e-6


def split_rhat(sums: np.ndarray, squares: np.ndarray, n: int) -> np.ndarray:
    """Split R-hat from per-half sums and sums of squares, each (2 * chains, ...) over ``n``
    samples per half. 1 where no chain half moves and their means agree (within
    :data:`AGREE`); inf where they sit at different values; nan with fewer than two samples per
    half. Whether still chains agree is read from the spread of their means, not from
    n * var(means), which grows with n: Gibbs's conditional probabilities that settle at 1 - 3e-7
    in one chain and 1 - 2e-9 in another were 1 at 10 samples and inf at 250."""
    if n < 2 or sums.shape[0] < 2:
        return np.full(sums.shape[1:], np.nan)
    means = sums / n
    within = np.maximum(squares - n * means**2, 0.0) / (n - 1)
    W = within.mean(0)
    B = n * means.var(0, ddof=1)
    pooled = (n - 1) / n * W + B / n
    with np.errstate(divide="ignore", invalid="ignore"):
        rhat = np.sqrt(pooled / W)
    spread = means.max(0) - means.min(0)
    rhat = np.where(W > 1e-12, rhat, np.where(spread > AGREE, np.inf, 1.0))
    return rhat


@dataclass(frozen=True)
class Convergence:
    """How the sampled components of one database were sampled and whether their chains agree:
    ``atoms`` the sampled query atoms and ``rhat`` their split R-hat; ``samples`` per chain is the
    most any sampled component kept (run until a target R-hat, small components stop first)."""

    method: str
    chains: int
    samples: int
    burn_in: int
    seed: int
    atoms: list[str]
    rhat: np.ndarray
    seconds: float = 0.0
    evaluations: int = 0
    rejected: float = 0.0  # MC-SAT: share of slice moves that found no satisfying world and stayed
    routes: dict = field(default_factory=dict)

    @property
    def max_rhat(self) -> float:
        finite = self.rhat[~np.isnan(self.rhat)]
        return float(finite.max()) if len(finite) else float("nan")

    @property
    def worst(self) -> str | None:
        if not len(self.atoms) or np.isnan(self.rhat).all():
            return None
        return self.atoms[int(np.nanargmax(self.rhat))]

    def summary(self) -> str:
        """One line: the settings, the largest R-hat and where."""
        worst = f" ({self.worst})" if self.worst else ""
        rhat = f"{self.max_rhat:.3f}{worst}" if self.max_rhat == self.max_rhat else "n/a (under 4 samples per chain)"
        line = (f"{self.method}: {self.chains} chains x {self.samples} samples (burn-in {self.burn_in}, seed {self.seed}), "
                f"{len(self.atoms)} sampled query atoms, max R-hat {rhat}, {self.seconds:.2f} s")
        if self.evaluations:
            line += f", {self.evaluations / max(self.seconds, 1e-9):,.0f} factor evaluations/s"
        return line

    def to_json(self) -> dict:
        """The report as JSON-ready values (inf and nan as strings, as JSON has neither)."""
        def number(x: float):
            return float(x) if np.isfinite(x) else str(x)

        return {"method": self.method, "chains": self.chains, "samples_per_chain": self.samples, "burn_in": self.burn_in,
                "seed": self.seed, "routes": dict(self.routes), "max_rhat": number(self.max_rhat), "worst_atom": self.worst,
                "seconds": self.seconds, "factor_evaluations": self.evaluations, "rejected_slice_moves": self.rejected,
                "summary": self.summary(), "rhat": {a: number(r) for a, r in zip(self.atoms, self.rhat.tolist())}}


def warn_if_unconverged(report: Convergence, limit: float = RHAT_LIMIT, where: str = "") -> None:
    """An :class:`AgainWarning` when the largest R-hat passes ``limit``."""
    if report.max_rhat > limit:
        warnings.warn(AgainWarning(
            f"{where + ': ' if where else ''}the {report.method} chains disagree: max R-hat {report.max_rhat:.3f} > {limit} "
            f"at {report.worst}; take more samples (--samples), a longer burn-in (--burn-in)"
            f"{' or MC-SAT' if report.method == 'gibbs' else ''}"), stacklevel=3)


def format_report(answers) -> str:
    """The JSON report of a query: per database its routes and, where it sampled, its convergence."""
    import json

    databases = []
    for index, answer in enumerate(answers):
        entry = {"database": index, "routes": dict(answer.stats.get("routes", {}))}
        report = answer.stats.get("convergence")
        entry["convergence"] = report.to_json() if report is not None else None
        databases.append(entry)
    return json.dumps({"databases": databases}, indent=2) + "\n"
