"""Marginals by sampling, for components that exact inference cannot reach: MC-SAT with SampleSAT
(Poon & Domingos 2006) and block Gibbs sampling, both over a :class:`FactorView` and its
functional blocks, as C independent chains for each of the view's B rows at once (N = C * B rows
of state), on CPU or CUDA with the same torch code, seeded and reproducible.

Both samplers move *units* (an atom, or a whole functional block) and update one group of
conditionally independent units per step (:mod:`again_mln.mln.sweeps`), so a step is a handful
of dense tensor operations whatever the number of factors; Python loops only over sweeps and
groups.

**Gibbs** draws each unit from its exact conditional given the rest (a block picks one of its
values; hard factors give -inf, so it never leaves the worlds they allow) and records the
conditional probabilities themselves (Rao-Blackwellised marginals). Single-unit moves cannot
cross a hard barrier (two atoms tied by a hard equivalence never change); the R-hat report shows it.

**MC-SAT on table factors.** Each step draws, for every factor f (tables and the unary terms),
a threshold tau_f = t_f(x) + log u with u ~ U(0, 1), and then a world x' uniformly among those
with t_f(x') >= tau_f for all f. This is slice sampling with the auxiliary variable
u_f * exp(t_f(x)), exact for any log-potential table. For a ground clause of weight w > 0
(table w where true, 0 where false) it *is* MC-SAT: if the clause is true now, tau > 0 with
probability 1 - exp(-w) and then the clause must stay true; if it is false, tau < 0 and no
constraint is kept. For w < 0 the table's larger entry (0) is where the formula is false, so
the same rule keeps "the formula stays false" with probability 1 - exp(-|w|): pracmln's and
Alchemy's handling of a negative weight as the positive-weight negation. A hard factor's -inf
entries are always below tau: hard factors are always constraints. The current world always
satisfies its own thresholds.

**SampleSAT** draws the world in the slice: starting from the current world, each step takes
one group; a unit in a violated constraint makes, with probability ``walk``, a WalkSAT move (to
its state that leaves fewest violated constraints, ties at random; taken always when that
violates no more, with probability ``noise ** d`` when it violates d more: WalkSAT's random
walk, damped because a whole class moves at once); every other unit makes a simulated-annealing
move at ``temperature``: a heat-bath draw of its state with weight exp(-energy / temperature),
the energy counting each violated hard constraint 1 and each violated kept soft constraint
max(1, temperature * ln(units)): a unit no constraint holds is drawn uniformly, and a sweep
breaks about one kept soft constraint however large the network (breaking them freely cuts
domain walls into clusters of friends that greedy repair cannot remove: every step on a
10,000-person smokers network was rejected). Heat-bath rather than Metropolis moves because a
whole class moves at once: a Metropolis flip of every free unit would flip all of them,
deterministically. After ``sweeps`` sweeps, a chain still outside the slice makes repair sweeps
(WalkSAT moves as before, annealing at temperature ~0) until it is in; a chain that cannot reach
the slice in ``repair`` sweeps keeps its world for this step (counted as rejected in the report).

Starting SampleSAT from the current world keeps each MC-SAT step close to exact (a heat-bath
sweep leaves the uniform distribution on the slice nearly invariant) but cannot jump between
modes that only multi-unit moves connect: a cluster of friends who all smoke or all do not
(equivalences kept with probability 1 - exp(-2w)). The standard SampleSAT restarts from a random
world, which jumps modes but finds some solutions more often than others (WalkSAT's basins: on
a puzzle of hard formulas alone we measured marginals 0.2 off). So restarts serve the burn-in
only: each burn-in step restarts a chain with probability ``restart`` (``restart_sweeps``
SampleSAT sweeps from a random world, then repair); the kept samples use the local steps, and
R-hat says when the chains still disagree.

**Strongly coupled soft components** (smokers on a random friendship graph, weight 1.52 on both
directions of an edge; UW-CSE's advisedBy) defeated both samplers: chains froze within a few
steps into the domains of friends (all smoke, or none) that their random start made, and stayed
there (split R-hat inf from 40 to 10,000 people: atoms constant in each chain, different across
chains; at 100 people all four MC-SAT chains sat in a mode exact inference gives 1e-5, error
0.93). Restarts do not help: they are repaired into the current slice, whose kept equivalences
(probability 0.95 per edge) rebuild the same domains. Two changes fix it:

* an **annealed burn-in**: over the first ``anneal`` share of the burn-in steps every soft
  weight is scaled by beta, rising geometrically from ``start_beta`` to 1 (Gibbs: conditionals
  of beta * t; MC-SAT: the slice of beta * t, thresholds t_f(x) + log(u) / beta), so that domains
  form while the evidence and unary weights can still turn them; any start is a valid start
  for MCMC, and this one starts the chains where the mass is (hard factors stay hard);
* **a Gibbs sweep after every MC-SAT step** (``gibbs_sweeps``): both kernels leave the target
  distribution invariant, so their alternation does too. Even an exact uniform draw from the
  slice cannot move a domain wall: an atom at the wall keeps its agreeing neighbours through
  their kept equivalences, while Gibbs flips it with its conditional probability. MC-SAT keeps
  what only it does, crossing hard and near-deterministic barriers (a Swendsen-Wang cluster flip
  inside the slice was tried and gained nothing here: the domains touch evidence of both signs,
  which pins them).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import torch

from again_mln.devices import resolve_device
from again_mln.errors import AgainError
from again_mln.mln.factors import FactorView
from again_mln.mln.convergence import split_rhat
from again_mln.mln.sweeps import Blocks, Group, SweepPlan, plan_sweeps

Sampler = Literal["mc-sat", "gibbs"]
SAMPLERS = ("mc-sat", "gibbs")
#: The floor of every threshold: a hard factor's -inf entries always fall below it.
_LOWEST = -1e300
#: Annealing temperature of the repair sweeps: no move that violates one more constraint.
_REPAIR_TEMPERATURE = 1e-6


@dataclass(frozen=True)
class Sampling:
    """How to sample: ``samples`` kept per chain after ``burn_in`` steps, ``chains`` per
    component, the ``seed``, the ``device`` (None: cuda when present) and SampleSAT's knobs
    (module docstring): ``walk``, ``noise``, ``temperature``, ``sweeps`` per MC-SAT step,
    ``repair`` sweeps before a step is rejected, ``init_sweeps`` to satisfy the hard formulas,
    the burn-in's ``restart`` probability with its ``restart_sweeps``, the share of the burn-in
    that is ``anneal``-ed (soft weights scaled by a beta rising from ``start_beta`` to 1), and
    the ``gibbs_sweeps`` after each MC-SAT step (module docstring).

    ``until_rhat`` > 0 runs the same chains on past ``samples``: at ``samples``, 2 * ``samples``,
    4 * ``samples``, ... kept samples it stops once the largest split R-hat (over all kept samples)
    is below ``until_rhat``, or before the next doubling would pass ``max_samples`` or (projected
    from the time so far) ``max_seconds`` (0: no limit, for either). Why doubling: each checkpoint's halves are
    then the earlier run and the samples since, so R-hat needs only running sums."""

    samples: int = 500
    chains: int = 4
    #: long enough for the annealing (its first half) to settle a strongly coupled component: on
    #: a 100-person friendship graph MC-SAT reached exact for 8 of 8 seeds at 500, 4 of 8 at 100
    burn_in: int = 500
    seed: int = 0
    device: str | None = None
    walk: float = 0.5
    noise: float = 0.5
    temperature: float = 0.5
    sweeps: int = 1
    repair: int = 10
    init_sweeps: int = 100
    restart: float = 0.5
    restart_sweeps: int = 3
    anneal: float = 0.5
    start_beta: float = 0.05
    gibbs_sweeps: int = 1
    until_rhat: float = 0.0
    max_samples: int = 0
    max_seconds: float = 0.0

    def check(self) -> "Sampling":
        """Itself, or a one-line :class:`AgainError` naming the bad setting."""
        for name, low in (("samples", 1), ("chains", 1), ("burn_in", 0), ("sweeps", 0), ("repair", 0), ("init_sweeps", 1),
                          ("restart_sweeps", 0), ("gibbs_sweeps", 0)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise AgainError(f"{name.replace('_', '-')} must be an integer >= {low}, got {value!r}")
        for name in ("walk", "noise", "restart"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise AgainError(f"SampleSAT's {name} probability must lie in [0, 1], got {getattr(self, name)!r}")
        if not 0.0 <= self.anneal <= 1.0:
            raise AgainError(f"the annealed share of the burn-in must lie in [0, 1], got {self.anneal!r}")
        if not 0.0 < self.start_beta <= 1.0:
            raise AgainError(f"the annealing's start-beta must lie in (0, 1], got {self.start_beta!r}")
        if not self.temperature > 0:
            raise AgainError(f"SampleSAT's temperature must be > 0, got {self.temperature!r}")
        if self.until_rhat and not self.until_rhat > 1.0:
            raise AgainError(f"the target R-hat must be > 1 (or 0: off), got {self.until_rhat!r}")
        if self.until_rhat and 0 < self.max_samples < self.samples:
            raise AgainError(f"max-samples ({self.max_samples}) must be at least samples ({self.samples}) with a target R-hat")
        if not (isinstance(self.max_samples, (int, np.integer)) and self.max_samples >= 0):
            raise AgainError(f"max-samples must be an integer >= 0 (0: no limit), got {self.max_samples!r}")
        if not self.max_seconds >= 0:
            raise AgainError(f"max-seconds must be >= 0 (0: no limit), got {self.max_seconds!r}")
        return self


@dataclass(frozen=True)
class Sampled:
    """Per view row: ``marginals`` (B, M) and split R-hat ``rhat`` (B, M); the work done
    (factor table look-ups), the wall time, MC-SAT's share of rejected slice moves, when a
    statistic was asked for its value in every kept world (samples, C * B, S; chain n on row n % B),
    and the ``samples`` kept per chain (more than asked when run until a target R-hat)."""

    marginals: np.ndarray
    rhat: np.ndarray
    evaluations: int
    seconds: float
    rejected: float = 0.0
    statistics: np.ndarray | None = None
    samples: int = 0


def _segment_sum(values: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    """(N, S, K): sums of float ``values`` (N, L, K) over the segments [bounds[s], bounds[s + 1]),
    by differences of a cumulative sum (deterministic on every device, unlike a float scatter-add)."""
    cumulative = values.new_zeros(values.shape[0], values.shape[1] + 1, values.shape[2])
    torch.cumsum(values, 1, out=cumulative[:, 1:])
    at_bounds = cumulative[:, bounds]
    return at_bounds[:, 1:] - at_bounds[:, :-1]


def _count(hits: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    """(N, S, K): how many of ``hits`` (N, L, K, bool) fall in each segment, by differences of an
    int32 cumulative sum (exact; ten times faster than an index_add_ on a CPU)."""
    cumulative = torch.zeros(hits.shape[0], hits.shape[1] + 1, hits.shape[2], dtype=torch.int32, device=hits.device)
    torch.cumsum(hits, 1, dtype=torch.int32, out=cumulative[:, 1:])
    at_bounds = cumulative[:, bounds]
    return at_bounds[:, 1:] - at_bounds[:, :-1]


class _Chains:
    """The state of N = C * B chains (chain n runs on view row n % B) and look-ups into the
    view's tables, flattened so that one ``take`` reads any chain's entries; per group, the flat
    positions of its factors' and members' entries for every chain are computed once."""

    def __init__(self, view: FactorView, plan: SweepPlan, chains: int, device: torch.device,
                 generator: torch.Generator, temperature: float = 1.0):
        B, M, F = view.batch, view.num_variables, len(view.scopes)
        self.N, self.M, self.F, self.plan, self.generator, self.device = chains * B, M, F, plan, generator, device
        W = view.tables.shape[-1]
        row = torch.arange(self.N, device=device) % B
        self.tables = view.tables.to(device=device, dtype=torch.float64).reshape(-1)
        self.table_at = (row * F * W if view.tables.shape[0] > 1 else torch.zeros_like(row))[:, None] \
            + torch.arange(F, device=device)[None, :] * W
        self.unary = view.unary.to(device=device, dtype=torch.float64).reshape(-1)
        unary_row = row * M * 2
        self.unary_at = unary_row[:, None] + torch.arange(M, device=device)[None, :] * 2
        # per group, computed once: each factor entry's flat position under each owner state but
        # for the code of the non-owner atoms (``at``), the bits of those atoms, and whether any
        # entry the group reads is hard (-inf): most groups of a soft network skip the hard masks
        self.group_at = [(self.table_at[:, g.factors][:, :, None] + g.add, unary_row[:, None, None, None] + g.unary,
                          g.factors.expand(self.N, -1)) for g in plan.groups]
        self.rest_bits = [g.bits & g.keep[:, None] for g in plan.groups]
        tables, unary = view.tables.to(device), view.unary.to(device)
        self.hard = [bool(torch.isneginf(tables[:, g.factors]).any() or torch.isneginf(unary[:, g.members.reshape(-1)]).any())
                     for g in plan.groups]
        self.x = torch.zeros(self.N, M, dtype=torch.long, device=device)
        self.evaluations = 0
        # what an annealing move pays for breaking a kept soft constraint (1 for a hard one): at
        # least T * ln(units), so that a sweep breaks about one of them however large the network
        self.soft_cost = max(1.0, temperature * math.log(max(sum(g.size for g in plan.groups), 1)))

    def rand(self, *shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator, device=self.device, dtype=torch.float64)

    def factor_values(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every factor's and every unary term's value in the current worlds: (N, F), (N, M)."""
        codes = (self.x[:, self.plan.scope] * self.plan.bits).sum(-1)
        self.evaluations += self.N * (self.F + self.M)
        return torch.take(self.tables, self.table_at + codes), torch.take(self.unary, self.unary_at + self.x)

    def group_values(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each factor touching group ``i``: its value under each state of its owner unit
        (N, L, K); each member's unary value in each state (N, S, K, R)."""
        g, (at, unary_at, _) = self.plan.groups[i], self.group_at[i]
        rest = (self.x[:, g.scope] * self.rest_bits[i]).sum(-1)  # (code & keep) | add == (code & keep) + add
        self.evaluations += self.N * (int(g.add.numel()) + int(g.unary.numel()))
        return torch.take(self.tables, at + rest[:, :, None]), torch.take(self.unary, unary_at)

    def current(self, g: Group) -> torch.Tensor:
        """(N, S): the state each unit of ``g`` is in."""
        if g.binary:
            return self.x[:, g.members[:, 0]]
        return (self.x[:, g.members][:, :, None, :] == g.conf).all(-1).to(torch.uint8).argmax(-1)

    def set(self, g: Group, state: torch.Tensor) -> None:
        if g.binary:
            self.x[:, g.members[:, 0]] = state
        else:
            self.x[:, g.members.reshape(-1)] = g.conf[state].reshape(self.N, -1)

    def randomise(self, chains: torch.Tensor | None = None) -> None:
        """Every unit of the ``chains`` (a mask; default all) in a uniformly random state (blocks
        stay exactly-one; hard factors may break)."""
        self.x[:, self.plan.fixed] = self.plan.fixed_values
        for g in self.plan.groups:
            state = (self.rand(self.N, g.size) * g.states).long().clamp(max=g.states - 1)
            self.set(g, state if chains is None else torch.where(chains[:, None], state, self.current(g)))


class _Record:
    """Running sums for the marginals and, per chain half of the first ``samples``, for split
    R-hat; :meth:`double` extends the run to twice the samples seen."""

    def __init__(self, chains: _Chains, samples: int):
        shape = (chains.N, chains.M)
        self.total = chains.x.new_zeros(shape, dtype=torch.float64)
        self.total_squares = torch.zeros_like(self.total)
        self.sums = chains.x.new_zeros((2,) + shape, dtype=torch.float64)
        self.squares = torch.zeros_like(self.sums)
        self.samples, self.half, self.seen = samples, samples // 2, 0

    def add(self, value: torch.Tensor) -> None:
        square = value * value
        self.total += value
        self.total_squares += square
        half = 0 if self.seen < self.half else 1 if self.seen >= self.samples - self.half else None
        if half is not None:
            self.sums[half] += value
            self.squares[half] += square
        self.seen += 1

    def double(self) -> None:
        """Run on to 2 * seen samples: every sample so far is the first half, the next ones the second."""
        self.sums[0], self.squares[0] = self.total, self.total_squares
        self.sums[1], self.squares[1] = 0.0, 0.0
        self.samples, self.half = 2 * self.seen, self.seen

    def result(self, chains: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        M = self.total.shape[1]
        marginals = (self.total.view(chains, rows, M).sum(0) / (chains * self.seen)).clamp(0.0, 1.0)
        sums = self.sums.view(2 * chains, rows, M).cpu().numpy()
        squares = self.squares.view(2 * chains, rows, M).cpu().numpy()
        return marginals.cpu().numpy(), split_rhat(sums, squares, self.half)


def _gumbel(chains: _Chains, shape: torch.Size) -> torch.Tensor:
    return -torch.log(-torch.log(chains.rand(*shape).clamp(1e-300, 1.0 - 1e-16)))


def _gibbs_step(chains: _Chains, i: int, record: torch.Tensor | None, beta: float = 1.0) -> None:
    """Draw every unit of group ``i`` from its conditional given the rest, the soft weights
    scaled by ``beta`` (the annealed burn-in; hard factors stay hard)."""
    g = chains.plan.groups[i]
    values, unary = chains.group_values(i)
    if chains.hard[i]:
        hard = torch.isneginf(values)
        score = beta * (_segment_sum(values.masked_fill(hard, 0.0), g.bounds) + unary.sum(-1))
        score = score.masked_fill(_count(hard, g.bounds) > 0, -math.inf)
    else:
        score = beta * (_segment_sum(values, g.bounds) + unary.sum(-1))
    if g.binary:  # P(1) = sigmoid(score_1 - score_0); -inf - finite gives 0, finite - (-inf) gives 1
        probability = torch.sigmoid(score[..., 1] - score[..., 0])
        chains.set(g, (chains.rand(*probability.shape) < probability).long())
        if record is not None:
            record[:, g.members[:, 0]] = probability
        return
    chains.set(g, (score + _gumbel(chains, score.shape)).argmax(-1))
    if record is not None:
        weights = torch.exp(score - score.amax(-1, keepdim=True))  # torch.softmax is ~1000x slower on -inf entries
        probabilities = weights / weights.sum(-1, keepdim=True)
        record[:, g.members.reshape(-1)] = (probabilities @ g.conf.to(torch.float64)).reshape(chains.N, -1)


def _violations(chains: _Chains, tau: torch.Tensor, tau_unary: torch.Tensor) -> torch.Tensor:
    """(N,): constraints the current worlds violate."""
    values, unary = chains.factor_values()
    return (values < tau).sum(1) + (unary < tau_unary).sum(1)


def _samplesat_step(chains: _Chains, i: int, tau: torch.Tensor, tau_unary: torch.Tensor, options: "Sampling",
                    T: float, active: torch.Tensor | None = None) -> None:
    """One SampleSAT step on the units of group ``i`` (module docstring): WalkSAT moves for units
    in a violated constraint (with probability ``walk``), heat-bath annealing moves for the
    others at temperature ``T``; only the ``active`` chains (a mask) move."""
    g = chains.plan.groups[i]
    values, unary = chains.group_values(i)
    below = values < tau.gather(1, chains.group_at[i][2])[:, :, None]
    unary_below = unary < tau_unary[:, g.members][:, :, None, :]
    violated = _count(below, g.bounds) + unary_below.sum(-1)
    # the annealing energy: a violated hard constraint costs 1, a kept soft one chains.soft_cost
    if chains.hard[i]:
        broken = _count(torch.isneginf(values), g.bounds) + torch.isneginf(unary).sum(-1)
        energy = (violated - broken).to(torch.float64) * chains.soft_cost + broken.to(torch.float64)
    else:
        energy = violated.to(torch.float64) * chains.soft_cost
    current = chains.current(g)
    if g.binary:  # heat bath: P(1) = sigmoid((energy at 0 - energy at 1) / T); WalkSAT: the flip
        draw = chains.rand(3, *current.shape)
        now = torch.where(current == 1, violated[..., 1], violated[..., 0])
        new = (draw[0] < torch.sigmoid((energy[..., 0] - energy[..., 1]) / T)).long()
        target, change = 1 - current, torch.where(current == 1, violated[..., 0], violated[..., 1]) - now
    else:
        K = g.states
        now = violated.gather(-1, current[..., None])[..., 0]
        count = violated.to(torch.float64)
        draw = chains.rand(2 * K + 2, *current.shape)
        gumbel = -torch.log(-torch.log(draw[2:K + 2].clamp(1e-300, 1.0 - 1e-16))).movedim(0, -1)
        new = (gumbel - energy / T).argmax(-1)
        stay = torch.arange(K, device=current.device) == current[..., None]
        target = (count + 0.5 * draw[K + 2:].movedim(0, -1)).masked_fill(stay, math.inf).argmin(-1)
        change = violated.gather(-1, target[..., None])[..., 0] - now
    # WalkSAT: a unit in a violated constraint takes its best other state when that violates no
    # more; one that violates d more with probability noise**d (the random walk that escapes)
    walking = (now > 0) & (draw[1] < options.walk) & (draw[2 if g.binary else 0] < options.noise ** change.clamp(min=0))
    new = torch.where(walking, target, new)
    chains.set(g, new if active is None else torch.where(active[:, None], new, current))


def _samplesat(chains: _Chains, tau: torch.Tensor, tau_unary: torch.Tensor, options: Sampling, order, sweeps: int,
               repair: int, restart: torch.Tensor | None = None) -> torch.Tensor:
    """Move every chain into the slice {t_f >= tau_f}: the ``restart`` chains (a mask) from a
    random world, repaired into the slice first; then ``sweeps`` SampleSAT sweeps, then up to
    ``repair`` more until no constraint is violated; (N,) True where a chain did not get there."""
    if restart is not None and bool(restart.any()):
        chains.randomise(restart)
        _samplesat(chains, tau, tau_unary, options, order, options.restart_sweeps, repair)
    active = None
    for done in range(sweeps + repair):
        if done >= sweeps:  # a chain in the slice stops there
            active = _violations(chains, tau, tau_unary) > 0
            if not bool(active.any()):
                return active
        temperature = options.temperature if active is None else _REPAIR_TEMPERATURE
        for i in order():
            _samplesat_step(chains, i, tau, tau_unary, options, temperature, active)
    return _violations(chains, tau, tau_unary) > 0


def _schedule(options: Sampling) -> list[float]:
    """The inverse temperatures of the annealed burn-in: the first ``anneal`` share of the burn-in
    steps rises geometrically from ``start_beta`` to 1. Why: from a random world, a strongly
    coupled loopy component (smokers on a friendship graph) freezes within a few steps into
    whichever domains the start and the first moves made, and local moves (Gibbs's, and
    SampleSAT's from the current world) never undo them; at small beta the chains move freely and
    the evidence and unary weights decide which way each domain sets while the coupling grows.
    Empty (no annealing) when fewer than two steps would anneal."""
    steps = int(options.burn_in * options.anneal)
    return np.geomspace(options.start_beta, 1.0, steps).tolist() if steps > 1 else []


def sample(view: FactorView, blocks: Blocks, method: Sampler, options: Sampling | None = None, stream: int = 0,
           statistic: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Sampled:
    """Marginals (B, M) of every row of ``view`` by ``method`` ("mc-sat" or "gibbs"), with split
    R-hat per variable. ``stream`` separates the random streams of several calls under one seed.
    ``statistic`` maps the worlds of all chains (C * B, M) to (C * B, S) values kept per sample
    (learning's expected formula counts need more than marginals)."""
    options = (options or Sampling()).check()
    if method not in SAMPLERS:
        raise AgainError(f"unknown sampler {method!r}; expected one of {', '.join(SAMPLERS)}")
    device = resolve_device(options.device)
    start = time.perf_counter()
    plan = plan_sweeps(view, blocks, device)
    generator = torch.Generator(device=device)
    generator.manual_seed((options.seed * 1_000_003 + stream) % 2**63)
    rng = np.random.default_rng([options.seed, stream])
    chains = _Chains(view, plan, options.chains, device, generator, options.temperature)
    groups = plan.groups

    def order():
        return rng.permutation(len(groups)).tolist()

    # a random world of every chain, then SampleSAT on the hard factors alone
    chains.randomise()
    lowest = torch.full((chains.N, chains.F), _LOWEST, dtype=torch.float64, device=device)
    lowest_unary = torch.full((chains.N, chains.M), _LOWEST, dtype=torch.float64, device=device)
    if bool((_samplesat(chains, lowest, lowest_unary, options, order, 1, options.init_sweeps)).any()):
        raise AgainError(f"SampleSAT found no world that satisfies the hard formulas in {options.init_sweeps} sweeps "
                         f"({view.num_variables} unknown atoms); the evidence may leave none")
    record = _Record(chains, options.samples)
    kept: list[torch.Tensor] = []
    rejected = 0
    betas = _schedule(options)
    step, sampling_from = 0, start
    while True:
        if step == options.burn_in + record.samples:
            marginals, rhat = record.result(options.chains, view.batch)
            if not _run_on(options, rhat, record.seen, time.perf_counter() - start, time.perf_counter() - sampling_from):
                break
            record.double()
        keep = step >= options.burn_in
        if step == options.burn_in:
            sampling_from = time.perf_counter()
        beta = betas[step] if step < len(betas) else 1.0
        if method == "gibbs":
            probabilities = chains.x.to(torch.float64) if keep else None
            for i in order():
                _gibbs_step(chains, i, probabilities, beta)
        else:  # the slice of the tempered potentials beta * t_f: t_f(x') >= t_f(x) + log(u) / beta
            values, unary = chains.factor_values()
            tau = (values + torch.log(chains.rand(*values.shape)) / beta).clamp(min=_LOWEST)
            tau_unary = (unary + torch.log(chains.rand(*unary.shape)) / beta).clamp(min=_LOWEST)
            previous = chains.x.clone()
            restart = None if keep or options.restart == 0 else chains.rand(chains.N) < options.restart
            bad = _samplesat(chains, tau, tau_unary, options, order, options.sweeps, options.repair, restart)
            chains.x = torch.where(bad[:, None], previous, chains.x)
            rejected += int(bad.sum())
            for _ in range(options.gibbs_sweeps):
                for i in order():
                    _gibbs_step(chains, i, None, beta)
            probabilities = chains.x.to(torch.float64) if keep else None
        if keep:
            record.add(probabilities)
            if statistic is not None:
                kept.append(statistic(chains.x))
        step += 1
    steps = (options.burn_in + record.seen) * chains.N
    return Sampled(marginals, rhat, chains.evaluations, time.perf_counter() - start,
                   rejected / steps if method == "mc-sat" else 0.0,
                   torch.stack(kept).cpu().numpy() if kept else None, record.seen)


def _run_on(options: Sampling, rhat: np.ndarray, seen: int, elapsed: float, sampled: float) -> bool:
    """Whether to double the kept samples (``Sampling.until_rhat``): the largest split R-hat is
    not yet under the target and the doubling fits ``max_samples`` and, as the next ``seen``
    samples take about the ``sampled`` seconds the last did, ``max_seconds``."""
    if not options.until_rhat or (options.max_samples and 2 * seen > options.max_samples):
        return False
    if options.max_seconds and elapsed + sampled > options.max_seconds:
        return False
    return not (rhat.size and np.nanmax(rhat, initial=-np.inf) < options.until_rhat)
