"""Questions to a ground network: marginals or a most probable world of the query atoms, per
database, by exact inference on each batch of components (the planner in
:mod:`again_mln.mln.inference` picks contraction, enumeration or, for MAP, the integer program) and,
for the components exact inference cannot reach, by sampling (:mod:`again_mln.mln.sampling`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from again_mln.mln import inference
from again_mln.errors import AgainError
from again_mln.mln.grounding import GROUNDING_LIMIT, TRUE, UNKNOWN, World, ground
from again_mln.mln.model import MLN, Database
from again_mln.mln.inference import LogRing, MaxRing
from again_mln.mln.network import GroundNetwork, build
from again_mln.mln.convergence import Convergence, warn_if_unconverged
from again_mln.mln.sampling import SAMPLERS, Sampled, Sampling, sample
from again_mln.mln.worlds import WORLD_BUDGET, count_worlds, enumerate_worlds

#: A hard formula's log-potential where it must be finite: no sum of weights makes it up.
HARD_LOG = -1e30
Method = Literal["auto", "exact", "map", "mc-sat", "gibbs"]
METHODS = ("auto", "exact", "map", "mc-sat", "gibbs")


@dataclass(frozen=True)
class Answer:
    """One database's answer: ground query atoms as pracmln prints them, their probability
    (``map``: 0/1 value), and whether each was given as evidence."""

    atoms: list[str]
    values: np.ndarray
    evidence: np.ndarray
    stats: dict

    def to_dict(self) -> dict[str, float]:
        """``{atom: probability}`` (MAP: ``{atom: 0.0 or 1.0}``)."""
        return dict(zip(self.atoms, self.values.tolist()))


def closed_set(mln: MLN, closed_world: list[str] | tuple[str, ...], queries: list[str]) -> frozenset[str]:
    """The closed-world predicates: those named, or with ``*`` every predicate but the queries and
    the functional ones (as pracmln's ``cw``: a block needs its one true value)."""
    names = set(closed_world)
    if "*" in names:
        names = (names - {"*"}) | {p.name for p in mln.predicates.values() if p.name not in queries and p.functional is None}
    unknown = sorted(names - set(mln.predicates))
    if unknown:
        raise AgainError(f"--closed-world names undeclared predicate(s): {', '.join(unknown)}")
    return frozenset(names)


def query(mln: MLN, databases: list[Database], queries: list[str], closed_world: list[str] | tuple[str, ...] = (),
          method: Method = "auto", limit: int = GROUNDING_LIMIT, progress: bool | None = None, samples: int = 500,
          chains: int = 4, burn_in: int = 500, seed: int = 0, device: str | None = None, until_rhat: float = 0.0,
          max_samples: int = 0, max_seconds: float = 0.0) -> list[Answer]:
    """For each database, every ground atom of the ``queries`` predicates with its marginal
    probability or its value in a most probable world (``map``). ``exact`` answers every component
    exactly or refuses; ``auto`` samples by MC-SAT the components exact inference cannot reach;
    ``mc-sat``/``gibbs`` sample every component (``samples`` per chain after ``burn_in``, ``chains``
    per component, ``seed``, ``device``; with ``until_rhat`` the chains run on, doubling the kept
    samples, until that max split R-hat or ``max_samples``/``max_seconds``: :class:`Sampling`).
    Sampled answers carry a :class:`Convergence` report in ``stats["convergence"]``."""
    sampling = Sampling(samples, chains, burn_in, seed, device, until_rhat=until_rhat, max_samples=max_samples,
                        max_seconds=max_seconds).check()
    if method not in METHODS:
        raise AgainError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    missing = [q for q in queries if q not in mln.predicates]
    if missing:
        raise AgainError(f"unknown query predicate(s): {', '.join(missing)} (declared: {', '.join(mln.predicates)})")
    if not queries:
        raise AgainError("no query predicates given")
    closed = closed_set(mln, closed_world, queries)
    answers = []
    for db in tqdm(databases, desc="databases", disable=None if progress else True, leave=False):
        answers.append(_answer(mln.materialize([db]), db, queries, closed, method, limit, bool(progress), sampling))
    return answers


def _answer(mln: MLN, db: Database, queries: list[str], closed: frozenset[str], method: Method, limit: int,
            progress: bool, sampling: Sampling = Sampling()) -> Answer:
    world = World(mln, db, closed)
    for name in queries:
        empty = [t for t in mln.predicates[name].types if not world.domains.get(t)]
        if empty:
            raise AgainError(f"{db.source}: the type {empty[0]!r} of query {name} has no constants: declare its domain "
                             f"in the MLN ({empty[0]} = {{A, B}}) or give evidence that names them")
    names, keys = [], []
    for name in queries:
        predicate = mln.predicates[name]
        size = world.size(predicate)
        if size > limit:
            raise AgainError(f"{db.source}: query {name} has {size:,} ground atoms, over the limit of {limit:,}")
        k = world.offset[name] + np.arange(size, dtype=np.int64)
        ids = world.decode(predicate, k)
        domains = [world.domains[t] for t in predicate.types]
        names += [f"{name}({','.join(d[i] for d, i in zip(domains, row))})" for row in ids.tolist()]
        keys.append(k)
    keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    state = np.concatenate([world.state(mln.predicates[q], world.offset[q] + np.arange(world.size(mln.predicates[q]), dtype=np.int64))
                            for q in queries]) if len(keys) else np.zeros(0, np.int8)
    groups, blocks = ground(world, limit, set(queries), progress)
    network = build(groups, blocks, keys[state == UNKNOWN])
    values = np.where(state == TRUE, 1.0, 0.0)
    solved, routes, rhat, runs = _solve(network, method, db, sampling)  # rhat: -inf where answered exactly
    unknown = state == UNKNOWN
    position = np.searchsorted(network.atoms, keys[unknown])
    values[unknown] = solved[position]
    stats = {"ground_formulas": sum(len(g.atoms) for g in groups), "unknown_atoms": len(network.atoms),
             "components": sum(len(b.rows) for b in network.batches), "distinct_components": sum(b.view.batch for b in network.batches), "routes": routes}
    if runs:
        atom_rhat = np.full(len(names), -np.inf)
        atom_rhat[np.flatnonzero(unknown)] = rhat[position]
        sampled = np.flatnonzero(atom_rhat != -np.inf)
        stats["convergence"] = report = Convergence(
            method if method in SAMPLERS else "mc-sat", sampling.chains, max(r.samples for r in runs), sampling.burn_in, sampling.seed,
            [names[i] for i in sampled], atom_rhat[sampled], sum(r.seconds for r in runs), sum(r.evaluations for r in runs),
            float(np.mean([r.rejected for r in runs])), routes)
        warn_if_unconverged(report, where=db.source)
    return Answer(names, values, ~unknown, stats)


def _solve(network: GroundNetwork, method: Method, db: Database, sampling: Sampling = Sampling()
           ) -> tuple[np.ndarray, dict[str, int], np.ndarray, list[Sampled]]:
    """The marginal (or MAP value) of every unknown atom of ``network``, how many distinct
    components each route answered, each atom's split R-hat (-inf where answered exactly; nan with
    too few samples to tell) and the sampler runs."""
    out = np.full(len(network.atoms), np.nan)
    rhat = np.full(len(network.atoms), -np.inf)
    routes: dict[str, int] = {}
    runs: list[Sampled] = []
    for index, batch in enumerate(network.batches):
        view, route = batch.view, method
        if method not in SAMPLERS:
            try:
                values, log_z, route = _exact(view, method)
            except AgainError as err:
                if "out of reach" not in str(err) and "does not fit" not in str(err):
                    raise
                worlds = count_worlds(view.num_variables, batch.blocks)
                if worlds * view.batch <= WORLD_BUDGET:
                    values, log_z = enumerate_worlds(_finite(view), batch.blocks, method == "map")
                    route = "worlds"
                elif method == "exact":
                    raise AgainError(f"{db.source}: a component of {view.num_variables} unknown atoms is too wide for exact "
                                     f"inference within the memory budget (elimination does not fit; 2^{math.log2(worlds):.0f} "
                                     f"worlds); --method auto samples it by MC-SAT") from None
                else:
                    route = "mc-sat"
        if route in SAMPLERS:
            run = sample(view, batch.blocks, route, sampling, stream=index)
            runs.append(run)
            values = torch.from_numpy(run.marginals)
            rhat[batch.variables] = run.rhat[batch.rows]
        elif (log_z < HARD_LOG / 2).any():
            raise AgainError(f"{db.source}: the evidence leaves no world that satisfies the hard formulas "
                             f"({'; '.join(batch.origins)})")
        routes[route] = routes.get(route, 0) + view.batch
        out[batch.variables] = values.double().numpy()[batch.rows]
    return out, routes, rhat, runs


def _finite(view):
    """The view with hard log-potentials at :data:`HARD_LOG`: finite, so that gradients (the
    marginals) through impossible partial sums are zero, not NaN."""
    return replace(view, unary=view.unary.clamp(min=HARD_LOG), tables=view.tables.clamp(min=HARD_LOG))


def _exact(view, method: Method):
    """Values, log Z (or the best score) and the route the planner took, for a binary view."""
    if method == "map":
        route = inference.plan(view, MaxRing()).route
        return inference.map_assignment(view), inference.max_score(_finite(view)), route
    finite = _finite(view)
    route = inference.plan(finite, LogRing()).route
    return inference.marginals(finite), inference.log_partition(finite), route


def answers_from(marginals: list[dict[str, float]], databases: list[Database]) -> list[Answer]:
    """Answers from marginals another engine gave (one ``{atom: probability}`` per database)."""
    if len(marginals) != len(databases):
        raise AgainError(f"{len(marginals)} answers for {len(databases)} databases")
    out = []
    for values, db in zip(marginals, databases):
        given = {f"{name}({','.join(args)})" for name, args in db.evidence}
        atoms = list(values)
        out.append(Answer(atoms, np.array([values[a] for a in atoms], np.float64), np.array([a in given for a in atoms]), {}))
    return out


def format_table(answers: list[Answer], method: Method) -> str:
    """The answers as pracmln's ``mlnquery`` prints them: one line per atom, value first."""
    lines = []
    for index, answer in enumerate(answers):
        if len(answers) > 1:
            lines.append(f"database {index}:")
        for atom, value, given in zip(answer.atoms, answer.values, answer.evidence):
            shown = f"{int(value)}" if method == "map" else f"{value:.6f}"
            lines.append(f"  {shown:>9}  {atom}{'  (evidence)' if given else ''}")
    return "\n".join(lines)


def format_csv(answers: list[Answer], method: Method) -> str:
    """``database,atom,probability`` (``value`` for MAP) rows; atoms quoted as CSV needs."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["database", "atom", "value" if method == "map" else "probability"])
    for index, answer in enumerate(answers):
        for atom, value in zip(answer.atoms, answer.values):
            writer.writerow([index, atom, int(value) if method == "map" else repr(float(value))])
    return buffer.getvalue()
