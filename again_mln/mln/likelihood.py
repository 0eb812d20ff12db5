"""Weight learning by (conditional) likelihood: pracmln's LL and CLL, exact where the ground
network contracts, and by MC-SAT where it does not.

For each closed-world training database the query atoms (``ll``: every atom of the predicates the
formulas use; ``cll``: the atoms of the query predicates) are the variables and the other
predicates are evidence. The objective is the sum over databases of

    log P(query atoms' values | evidence) = S(observed) - log Z(evidence),

S summing the weights of the true groundings. Grounding and the ground network are the engine's
own (:func:`again_mln.mln.grounding.ground`, :func:`again_mln.mln.network.build`), grounded once
with one table *channel* per learnable weight (the formula's truth, 0 or 1) and one for what stays
fixed (``#fixweight`` weights, hard formulas, functional blocks), so the network and its batching
do not depend on the weights: at weights w the view is the channels contracted with (1, w).
log Z comes from the engine's contraction in the log ring, and its gradient, the expected counts,
from autograd through it. S(observed) is linear in w: its counts are read once off the channel
tables at the observed world (auxiliary atoms of long functional blocks set from the block).

Components the planner cannot contract (``cll`` only; ``ll`` refuses them) are sampled by MC-SAT
at the current weights w0, and log Z(w) - log Z(w0) is replaced by its importance-sampling
estimate log mean_s exp((w - w0) . n_s) over the sampled worlds' counts n_s (Geyer's MCMC maximum
likelihood): a smooth surrogate L-BFGS can optimise. :func:`again_mln.mln.learning.learn_weights`
samples again at the new weights for a few rounds.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from again_mln.errors import AgainError
from again_mln.mln import inference
from again_mln.mln.answers import HARD_LOG
from again_mln.mln.factors import FactorView
from again_mln.mln.grounding import GROUNDING_LIMIT, TRUE, GroundFactors, World, ground
from again_mln.mln.inference import LogRing
from again_mln.mln.model import MLN, Database
from again_mln.mln.network import Batch, build
from again_mln.mln.sampling import Sampling, sample
from again_mln.mln.weights import LearnableWeights

Route = Literal["auto", "exact", "mc-sat"]
ROUTES = ("auto", "exact", "mc-sat")


@dataclass
class _Part:
    """One batch of components of one database's network: its channel view (unary (B, M, 2, C),
    tables (B, F, W, C)), how many components each row stands for, its functional blocks and,
    when sampled, the weights of the last sampling and the sampled counts per row (S, B, L)."""

    view: FactorView
    count: torch.Tensor
    batch: Batch
    sampled_at: torch.Tensor | None = None
    counts: torch.Tensor | None = None


def at_weights(view: FactorView, coefficients: torch.Tensor) -> FactorView:
    """The plain view of a channel view at ``coefficients`` (1, w): channels contracted away."""
    return replace(view, unary=view.unary @ coefficients, tables=view.tables @ coefficients)


class Likelihood:
    """The (conditional) log-likelihood of closed-world ``databases`` in the weights of the
    learnable formulas, with its gradient. ``queries``: the query predicates (None: ``ll``, every
    predicate the formulas use); ``route``: ``exact`` refuses components beyond the memory budget,
    ``mc-sat`` samples every component, ``auto`` samples only those (``sampling``: how)."""

    def __init__(self, mln: MLN, databases: list[Database], queries: list[str] | None = None,
                 prior_sd: float | None = None, prior_mean: float = 0.0, route: Route = "auto",
                 sampling: Sampling | None = None, limit: int = GROUNDING_LIMIT, progress: bool = False):
        if route not in ROUTES:
            raise AgainError(f"unknown likelihood route {route!r}; expected one of {', '.join(ROUTES)}")
        self.weights = LearnableWeights(mln, databases, prior_sd, prior_mean)
        self.mln, self.learnable = self.weights.mln, self.weights.learnable
        self.queries = _query_predicates(self.mln, queries)
        self.kind = "ll" if queries is None else "cll"
        self.route, self.sampling = route, (sampling or Sampling()).check()
        channel = np.where(self.learnable, np.cumsum(self.learnable), 0)  # 0: fixed weights, hard, blocks
        unit = replace(self.mln, formulas=[replace(e, weight=1.0) if learn else e
                                           for e, learn in zip(self.mln.formulas, self.learnable)])
        self.parts: list[_Part] = []
        self.observed = np.zeros(self.weights.count)
        self.fixed_score = 0.0
        atoms = 0
        for db in tqdm(databases, desc="grounding", disable=None if progress else True, leave=False):
            atoms += self._add(unit, db, channel, limit)
        sampled = [p for p in self.parts if p.sampled_at is not None]
        self.size = f"{atoms} query atoms" + (f" ({sum(int(p.count.sum()) for p in sampled)} components sampled by "
                                               f"MC-SAT)" if sampled else "")

    @property
    def sampled(self) -> bool:
        """Whether some components are sampled (the objective is then known up to a constant)."""
        return any(p.sampled_at is not None for p in self.parts)

    def _add(self, unit: MLN, db: Database, channel: np.ndarray, limit: int) -> int:
        """Ground ``db`` with the query atoms open, add its batches and its observed counts; the
        number of query atoms."""
        closed = frozenset(self.mln.predicates) - set(self.queries)
        evidence = replace(db, evidence={atom: v for atom, v in db.evidence.items() if atom[0] not in self.queries})
        world = World(unit, evidence, closed)
        groups, blocks = ground(world, limit, set(self.queries))
        C = self.weights.count + 1
        query_atoms = np.concatenate([world.offset[q] + np.arange(world.size(unit.predicates[q]), dtype=np.int64)
                                      for q in self.queries])
        network = build([_channels(g, int(channel[g.formula]) if g.formula >= 0 else 0, C) for g in groups],
                        blocks, query_atoms, (C,))
        observed = World(unit, db, frozenset())
        true_keys = observed.keys[observed.values == TRUE]
        for batch in network.batches:
            view = replace(batch.view, unary=batch.view.unary.clamp(min=HARD_LOG), tables=batch.view.tables.clamp(min=HARD_LOG))
            part = _Part(view, torch.from_numpy(np.bincount(batch.rows, minlength=view.batch)).double(), batch)
            self._observe(part, network.atoms[batch.variables], true_keys, world.num_atoms, db)
            if not self._fits(part, db):
                part.sampled_at = torch.full((self.weights.count,), np.nan, dtype=torch.float64)
            self.parts.append(part)
        return len(query_atoms)

    def _observe(self, part: _Part, keys: np.ndarray, true_keys: np.ndarray, num_atoms: int, db: Database) -> None:
        """Add the part's observed counts, read off its channel tables at the observed world of
        each component; a fixed score at the hard floor means the data break a hard constraint."""
        worlds = torch.from_numpy(_observed_worlds(part.batch, keys, true_keys, num_atoms))
        counts = _counts(part.view, worlds, torch.from_numpy(part.batch.rows)).sum(0)
        if float(counts[0]) < HARD_LOG / 2:
            raise AgainError(f"{db.source}: the training data violates a hard formula or a functional block "
                             f"({'; '.join(part.batch.origins)})")
        self.observed += counts[1:].numpy()
        self.fixed_score += float(counts[0])

    def _fits(self, part: _Part, db: Database) -> bool:
        """Whether the part contracts exactly (``ll`` and ``exact``: or a one-line error)."""
        if self.route == "mc-sat":
            return False
        view = at_weights(part.view, torch.ones(self.weights.count + 1, dtype=torch.float64))
        try:
            inference.plan(view, LogRing())
            return True
        except AgainError as err:
            if self.route == "exact" or self.kind == "ll":
                raise AgainError(f"{db.source}: exact {self.kind} needs log Z of a component of {view.num_variables} "
                                 f"ground atoms, beyond the memory budget ({err}); use --method pll or bpll"
                                 f"{'' if self.kind == 'll' else ', or sample it by MC-SAT'}") from None
            return False

    def resample(self, weights: np.ndarray, stream: int = 0) -> None:
        """Sample the parts beyond exact reach by MC-SAT at ``weights``; their log Z is then
        estimated around ``weights`` from these samples' counts."""
        w = torch.as_tensor(np.asarray(weights, np.float64))
        coefficients = torch.cat([torch.ones(1, dtype=torch.float64), w])
        for index, part in enumerate(self.parts):
            if part.sampled_at is None:
                continue
            view = at_weights(part.view, coefficients)
            run = sample(view, part.batch.blocks, "mc-sat", self.sampling, stream=stream * len(self.parts) + index,
                         statistic=lambda x, part=part: _counts(part.view, x, torch.arange(len(x)) % part.view.batch)[:, 1:])
            S, N, L = run.statistics.shape  # chain n runs on row n % B
            part.counts = torch.from_numpy(run.statistics).reshape(S * N // view.batch, view.batch, L)
            part.sampled_at = w.clone()

    def __call__(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """The penalised (conditional) log-likelihood at ``weights`` and its gradient; where parts
        are sampled, up to a constant (their log Z at the sampled weights)."""
        w = torch.tensor(np.asarray(weights, np.float64), requires_grad=True)
        coefficients = torch.cat([torch.ones(1, dtype=torch.float64), w])
        log_z = w.new_zeros(())
        for part in self.parts:
            if part.sampled_at is None:
                log_z = log_z + (part.count * inference.log_partition(at_weights(part.view, coefficients))).sum()
            else:
                shift = part.counts @ (w - part.sampled_at)  # (S, B)
                log_z = log_z + (part.count * (torch.logsumexp(shift, 0) - np.log(len(shift)))).sum()
        (grad,) = torch.autograd.grad(log_z, w)
        prior, prior_grad = self.weights.log_prior(weights)
        value = self.fixed_score + float(self.observed @ np.asarray(weights, np.float64)) - float(log_z.detach()) + prior
        return value, self.observed - grad.numpy() + prior_grad

    def with_weights(self, weights: np.ndarray) -> MLN:
        """The materialised MLN with ``weights`` on its learnable formulas."""
        return self.weights.with_weights(weights)


def _query_predicates(mln: MLN, queries: list[str] | None) -> list[str]:
    """The query predicates, checked (None: every predicate a formula uses)."""
    used = [p for p in mln.predicates if any(p == a.predicate for e in mln.formulas for a in e.formula.atoms())]
    if queries is None:
        return used
    unknown = [q for q in queries if q not in mln.predicates]
    if unknown:
        raise AgainError(f"unknown query predicate(s): {', '.join(unknown)} (declared: {', '.join(mln.predicates)})")
    if not queries:
        raise AgainError("cll needs query predicates (--query-preds P,Q)")
    return list(dict.fromkeys(queries))


def _channels(group: GroundFactors, channel: int, channels: int) -> GroundFactors:
    """``group`` with its table in channel ``channel`` of ``channels`` (the others zero)."""
    table = np.zeros(group.table.shape + (channels,))
    table[..., channel] = group.table
    return replace(group, table=table)


def _observed_worlds(batch: Batch, keys: np.ndarray, true_keys: np.ndarray, num_atoms: int) -> np.ndarray:
    """(components, M) the observed value of every variable: an atom's from the data, an
    auxiliary chain atom s_i of a long functional block the "or" of the block's values 0..i."""
    worlds = np.isin(keys, true_keys).astype(np.int64)
    for values, prefix in batch.blocks:  # one entry per block of the batch's shape, not per component
        running = np.maximum.accumulate(worlds[:, list(values)], axis=1)
        for i, variable in enumerate(prefix):
            if (keys[:, variable] >= num_atoms).all():
                worlds[:, variable] = running[:, i]
    return worlds


def _counts(view: FactorView, worlds: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Each world's channel sums (N, C): per learnable formula its count of true groundings,
    channel 0 the fixed score; world n is on view row ``rows[n]``. One gather per table kind."""
    N, M = worlds.shape
    device = worlds.device
    rows = rows.to(device)
    total = view.unary.to(device)[rows[:, None], torch.arange(M, device=device)[None, :], worlds].sum(1)
    if view.scopes:
        R = max(len(s) for s in view.scopes)
        scope = torch.tensor([list(s) + [0] * (R - len(s)) for s in view.scopes], device=device)
        bits = torch.tensor([[1 << j if j < len(s) else 0 for j in range(R)] for s in view.scopes], device=device)
        codes = (worlds[:, scope] * bits).sum(-1)  # (N, F)
        total = total + view.tables.to(device)[rows[:, None], torch.arange(len(view.scopes), device=device)[None, :], codes].sum(1)
    return total
