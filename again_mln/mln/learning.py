"""Weight learning for first-order MLNs: pseudo-likelihood (pracmln's PLL and BPLL) here, and
the entry point :func:`learn_weights` for every method (LL and CLL: :mod:`again_mln.mln.likelihood`).

Training databases are closed world, as in pracmln: every ground atom is known. The objective is
the sum over databases and over the ground atoms of every predicate the formulas use of
log P(atom's value | all other atoms); BPLL takes the values of a functional block together
(log P(block's value | the rest)). Both need, for each block b, each alternative value j and each
formula i, the change Delta_i(b, j) in the number of true groundings of formula i when block b
takes value j. Those are counted once, before optimisation, by evaluating each grounding with each
of its blocks set to each value, as one vectorised array operation per formula; L-BFGS (scipy)
then optimises the weights over the dense (formulas, blocks, values) array. A Gaussian prior
N(M, S^2) adds -sum (w - M)^2 / (2 S^2).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Iterator, Literal

import numpy as np
import torch
from tqdm import tqdm

from again_mln.errors import AgainError
from again_mln.mln.grounding import FALSE, TRUE, World, check_size, distinct_unknowns, Evaluator, bindings
from again_mln.mln.syntax import And, Atom, Formula, Implies, Not, Or, variables
from again_mln.mln.model import MLN, Database
from again_mln.mln.likelihood import Likelihood, Route
from again_mln.mln.sampling import Sampling
from again_mln.mln.weights import LearnableWeights

Method = Literal["pll", "bpll", "ll", "cll"]
METHODS = ("pll", "bpll", "ll", "cll")
#: Entries of the per-atom (atoms, formulas x values) int32 count array learning may hold (2 GiB).
COUNT_LIMIT = 2**29
#: Groundings of one formula enumerated chunk by chunk (memory stays bounded; the counts are int32).
STREAMED_LIMIT = 2**31 - 1
#: Block rows made unique at a time when compressing the counts.
_UNIQUE_ROWS = 2**23
#: Groundings times alternatives evaluated at once.
_CHUNK = 2**21


@dataclass(frozen=True)
class Learned:
    """The MLN with learned weights and how the optimisation went."""

    mln: MLN
    objective: float  # the penalised objective at the optimum (up to a constant where sampled)
    iterations: int
    converged: bool
    message: str
    size: str  # what the objective sums over ("120 ground blocks", "64 query atoms")
    curve: list[tuple[float, float]] = field(default_factory=list)  # (objective, gradient norm) per iteration
    samples: str | None = None  # how the sampled components were sampled, if any
    #: wall seconds of the two stages, so that a report can tell grounding from optimisation:
    #: "grounding" (evidence-pruned groundings and their counts) and "optimisation" (L-BFGS, resampling included)
    seconds: dict[str, float] = field(default_factory=dict)


class _Blocks:
    """Numbering of the blocks of one world: a block key per atom and the atom's value index in it."""

    def __init__(self, world: World, method: Method):
        self.world, self.method = world, method

    def values(self) -> int:
        """The most values any block of this world takes (2 for single atoms)."""
        sizes = [len(self.world.domains[p.types[p.functional]]) for p in self.world.mln.predicates.values()
                 if self.method == "bpll" and p.functional is not None]
        return max([2] + sizes)

    def of(self, predicate, keys: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Block keys, the value index each atom stands for in its block, and the block size."""
        if self.method == "bpll" and predicate.functional is not None:
            f = predicate.functional
            stride = self.world.strides[predicate.name][f]
            size = len(self.world.domains[predicate.types[f]])
            index = (keys - self.world.offset[predicate.name]) // stride % size
            return keys - index * stride, index, size
        if predicate.functional is not None:  # pll: a single flip breaks the block, so its value is certain
            return np.full_like(keys, -1), np.ones_like(keys), 2
        return keys, np.ones_like(keys), 2  # a single atom: value 1 means "true"


def _counts(world: World, method: Method, limit: int) -> Iterator[tuple[np.ndarray, ...]]:
    """The non-zero Delta_i(b, j) of every formula i, as (formula, block key, value, change, block
    size) arrays, chunk by chunk. Groundings are enumerated chunk by chunk (memory stays bounded
    whatever the domain product, so the product is held to :data:`STREAMED_LIMIT`, not ``limit``);
    only changes that are not zero are kept, which for clauses is the few groundings with at most
    one true literal (joined over the evidence, under ``limit``)."""
    blocks = _Blocks(world, method)
    for index, entry in enumerate(world.mln.formulas):
        free = list(variables(entry.formula))
        evaluator = Evaluator(world, entry.types)
        negative = _clause_negatives(entry.formula)
        repeats = max([sum(a.predicate == b.predicate for b in negative) for a in negative], default=0) if negative else 0
        if negative is not None and len(negative) >= 2 and repeats <= 2 and not entry.hard:
            # one block's change falsifies a true clause only if every true negative literal reads
            # the atom it makes true: all negative literals are false (their atoms true, a join over
            # the evidence) but one, or but two of one predicate that may name the same atom
            spared = [(k,) for k in range(len(negative))] + [
                (k, m) for k in range(len(negative)) for m in range(k + 1, len(negative))
                if negative[k].predicate == negative[m].predicate]
            rows = np.unique(np.concatenate([bindings(world, entry, [a for i, a in enumerate(negative) if i not in keep],
                                                      free, limit) for keep in spared]), axis=0)
            total = len(rows)
            chunk = lambda start, stop: tuple(rows[start:stop].T)  # noqa: E731
        else:
            sizes = [len(world.domains.get(entry.types[name], ())) for name in free]
            total = math.prod(sizes)
            check_size(total, STREAMED_LIMIT, f"{entry.source}: formula {entry.formula.text()!r} in {world.db.source}")
            chunk = lambda start, stop: np.unravel_index(np.arange(start, stop, dtype=np.int64), sizes) if free else ()  # noqa: E731
        for start in range(0, total, _ROWS):
            stop = min(total, start + _ROWS)
            piece = _chunk_counts(world, blocks, entry, evaluator, dict(zip(free, chunk(start, stop))), stop - start)
            if piece is not None:
                yield (np.full(len(piece[0]), index),) + piece


def _clause_negatives(formula: Formula) -> list[Atom] | None:
    """The atoms of the negative literals of a clause (a disjunction of literals, or an
    implication from a conjunction of atoms to a disjunction of literals); None otherwise."""
    if isinstance(formula, Implies):
        body, head = formula.children
        body_atoms = list(body.children) if isinstance(body, And) else [body]
        head_negatives = _clause_negatives(head)
        if not all(isinstance(a, Atom) for a in body_atoms) or head_negatives is None:
            return None
        return body_atoms + head_negatives
    literals = list(formula.children) if isinstance(formula, Or) else [formula]
    negatives = []
    for literal in literals:
        if isinstance(literal, Not) and isinstance(literal.child, Atom):
            negatives.append(literal.child)
        elif not isinstance(literal, Atom):
            return None
    return negatives


#: Groundings enumerated at once when counting.
_ROWS = 2**18


def _chunk_counts(world: World, blocks: _Blocks, entry, evaluator: Evaluator, env: dict, n: int):
    """(block key, value, change, block size) of the non-zero changes in ``n`` groundings."""
    recorded = []

    def record(predicate, keys):
        state = world.state(predicate, keys)
        recorded.append((predicate, keys, state))
        return state

    truth = evaluator.run(entry.formula, env, (n,), record) == TRUE
    if entry.hard and not truth.all():
        raise AgainError(f"{world.db.source}: the training data violates the hard formula {entry.formula.text()!r} ({entry.source})")
    block_keys, value_index, sizes, states = [], [], [], []
    for predicate, keys, state in recorded:
        b, v, size = blocks.of(predicate, keys.reshape(n, -1), state.reshape(n, -1))
        block_keys.append(b)
        value_index.append(v)
        sizes.append(np.full(b.shape, size))
        states.append(state.reshape(n, -1))
    bkeys = np.concatenate(block_keys, 1) if recorded else np.zeros((n, 0), np.int64)
    if not (bkeys >= 0).any():
        return None
    distinct, local = distinct_unknowns(bkeys, bkeys >= 0)
    size_of = np.concatenate(sizes, 1)
    D, Kb = int(size_of.max()), distinct.shape[1]
    widths = np.cumsum([0] + [k.shape[1] for k in block_keys])
    delta = np.zeros((n, Kb, D), np.int8)
    step = max(1, _CHUNK // max(1, Kb * D * bkeys.shape[1]))
    for start in range(0, n, step):
        stop = min(n, start + step)
        part = iter(range(len(recorded)))

        def leaf(predicate, shaped, start=start, stop=stop, part=part):
            i = next(part)
            mine = local[start:stop, widths[i]:widths[i + 1]][:, None, None, :] == np.arange(Kb)[None, :, None, None]
            alternative = value_index[i][start:stop][:, None, None, :] == np.arange(D)[None, None, :, None]
            original = states[i][start:stop][:, None, None, :]
            return np.where(mine, np.where(alternative, TRUE, FALSE), original).astype(np.int8).reshape(shaped.shape)

        sub_env = {name: value[start:stop][:, None, None] for name, value in env.items()}
        changed = evaluator.run(entry.formula, sub_env, (stop - start, Kb, D), leaf) == TRUE
        delta[start:stop] = changed.astype(np.int8) - truth[start:stop, None, None]
    block_size = np.zeros((n, Kb), np.int64)  # a padded block slot (-1) has none
    r, c = np.nonzero(local >= 0)
    block_size[r, local[r, c]] = size_of[r, c]
    # every block a grounding reads, even with no change, so that it counts in the objective
    read, first = np.unique(distinct.reshape(-1), return_index=True)
    read_size = block_size.reshape(-1)[first][read >= 0]
    read = read[read >= 0]
    keep_r, keep_l, keep_j = np.nonzero(delta)
    return (np.concatenate([read, distinct[keep_r, keep_l]]),
            np.concatenate([np.zeros(len(read), np.int64), keep_j]),
            np.concatenate([np.zeros(len(read), np.int8), delta[keep_r, keep_l, keep_j]]),
            np.concatenate([read_size, block_size[keep_r, keep_l]]))


class PseudoLikelihood:
    """The (blocked) log pseudo-likelihood of closed-world ``databases`` as a function of the
    weights of the learnable formulas (soft, not ``#fixweight``), with its gradient; the counts
    behind it are taken once, here."""

    sampled = False  # exact: nothing to sample again between rounds

    def __init__(self, mln: MLN, databases: list[Database], method: Method = "bpll", prior_sd: float | None = None,
                 prior_mean: float = 0.0, limit: int = 2**26, progress: bool = False):
        if method not in ("pll", "bpll"):
            raise AgainError(f"unknown pseudo-likelihood method {method!r}; expected pll or bpll")
        self.weights = LearnableWeights(mln, databases, prior_sd, prior_mean)
        self.mln, self.learnable = self.weights.mln, self.weights.learnable
        formulas = self.mln.formulas
        fixed = np.array([e.weight if e.fixed and not e.hard else 0.0 for e in formulas])  # hard ones: a mask
        closed = frozenset(self.mln.predicates)
        worlds = [World(self.mln, db, closed) for db in databases]
        D = max(_Blocks(world, method).values() for world in worlds)
        rows = _merge([_block_rows(world, method, len(formulas), D, limit)
                       for world in tqdm(worlds, desc="counting", disable=None if progress else True, leave=False)])
        delta, size, count = _split(rows, len(formulas), D)
        hard = np.array([e.hard for e in formulas])
        allowed = torch.from_numpy((np.arange(D)[None, :] < size[:, None]) & ~(delta[hard] < 0).any(0))
        self.size = f"{int(count.sum()):,} ground {'blocks' if method == 'bpll' else 'atoms'} ({len(count):,} distinct)"
        self.count = torch.from_numpy(count)  # (blocks,): how many ground blocks share each row
        self.delta = torch.from_numpy(delta[self.learnable])  # (L, blocks, values)
        base = torch.from_numpy(np.einsum("f,fbd->bd", fixed, delta))
        self.base = base.masked_fill(~allowed, -math.inf)

    def __call__(self, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """The penalised log pseudo-likelihood at ``weights`` (one per learnable formula) and its gradient."""
        w = torch.as_tensor(np.asarray(weights, np.float64))
        scores = self.base + torch.einsum("l,lbd->bd", w, self.delta)
        log_norm = torch.logsumexp(scores, 1)  # the observed value scores 0
        value = -self.count @ log_norm
        grad = -torch.einsum("b,bd,lbd->l", self.count, torch.exp(scores - log_norm[:, None]), self.delta)
        prior, prior_grad = self.weights.log_prior(weights)
        return float(value) + prior, grad.numpy() + prior_grad

    def with_weights(self, weights: np.ndarray) -> MLN:
        """The materialised MLN with ``weights`` on its learnable formulas."""
        return self.weights.with_weights(weights)


def learn_weights(mln: MLN, databases: list[Database], method: Method = "bpll", prior_sd: float | None = None,
                  prior_mean: float = 0.0, tolerance: float = 1e-10, max_iter: int = 1000, limit: int = 2**26,
                  progress: bool = False, queries: list[str] | None = None, route: Route = "auto",
                  sampling: Sampling | None = None, rounds: int = 5, verbose: bool = False) -> Learned:
    """Weights of the soft, non-``#fixweight`` formulas of ``mln`` maximising, over the
    closed-world ``databases``, the (blocked) pseudo-likelihood (``pll``, ``bpll``), the
    likelihood (``ll``) or the conditional likelihood of the ``queries`` predicates given the
    others (``cll``), with a Gaussian prior when ``prior_sd``, by L-BFGS from zero; ``tolerance``
    is scipy's relative change of the objective per step. ``cll`` samples by MC-SAT (``sampling``)
    the components exact inference cannot reach (``route``: :class:`Likelihood`) and then runs
    L-BFGS ``rounds`` times, sampling again at each round's weights. ``verbose`` prints the
    objective and gradient norm of every iteration (also kept in :attr:`Learned.curve`)."""
    if method not in METHODS:
        raise AgainError(f"unknown learning method {method!r}; expected one of {', '.join(METHODS)}")
    if method == "cll" and not queries:
        raise AgainError("cll needs query predicates (--query-preds P,Q); the others are evidence")
    start = time.perf_counter()
    if method in ("ll", "cll"):
        objective = Likelihood(mln, databases, queries if method == "cll" else None, prior_sd, prior_mean, route,
                               sampling, limit, progress)
    else:
        objective = PseudoLikelihood(mln, databases, method, prior_sd, prior_mean, limit, progress)
    grounded = time.perf_counter()
    weights = np.zeros(int(objective.learnable.sum()))
    curve: list[tuple[float, float]] = []
    iterations = 0
    for round_ in range(rounds if objective.sampled else 1):
        if objective.sampled:
            objective.resample(weights, stream=round_)
        result = _lbfgs(objective, weights, tolerance, max_iter, curve, verbose)
        iterations += int(result.nit)
        moved = float(np.abs(result.x - weights).max(initial=0.0))
        weights = result.x
        if verbose and objective.sampled:
            print(f"round {round_ + 1}: weights moved by at most {moved:.4g}")
    seconds = {"grounding": grounded - start, "optimisation": time.perf_counter() - grounded}
    learned = objective.with_weights(weights)
    samples = (f"MC-SAT, {objective.sampling.chains} chains x {objective.sampling.samples} samples after "
               f"{objective.sampling.burn_in} burn-in per round, {rounds} rounds, seed {objective.sampling.seed}"
               if objective.sampled else None)
    return Learned(replace(learned, domains=mln.domains), -float(result.fun), iterations, bool(result.success),
                   str(result.message), objective.size, curve, samples, seconds)


def _lbfgs(objective, start: np.ndarray, tolerance: float, max_iter: int, curve: list, verbose: bool):
    """scipy's L-BFGS-B maximising ``objective`` from ``start``; each iteration's objective and
    gradient norm go to ``curve`` (and are printed when ``verbose``)."""
    from scipy.optimize import minimize

    last: dict = {}

    def negated(weights):
        value, grad = objective(weights)
        last.update(value=value, grad=float(np.linalg.norm(grad)))
        return -value, -grad

    def record(_):
        curve.append((last["value"], last["grad"]))
        if verbose:
            print(f"iteration {len(curve)}: objective {last['value']:.6f}, gradient norm {last['grad']:.3g}")

    return minimize(negated, start, jac=True, method="L-BFGS-B", callback=record,
                    options={"maxiter": max_iter, "ftol": tolerance, "gtol": 1e-9})


def _block_rows(world: World, method: Method, num_formulas: int, D: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows (Delta_i(b, j) for every formula i and value j, block size) of the ground
    blocks any grounding reads, as int32 (U, F * D + 1), with how many blocks share each. Blocks
    with the same row contribute the same term to the objective and its gradient, so learning
    works on the few distinct rows (smokers: tens) however many blocks there are. The counts are
    added up per atom key, in one int32 array sized before it is allocated."""
    width = num_formulas * D
    check_size(world.num_atoms * width, COUNT_LIMIT, f"{world.db.source}: the pseudo-likelihood's per-atom counts")
    counts = torch.zeros(world.num_atoms * width, dtype=torch.int32)
    size = np.zeros(world.num_atoms, np.int32)  # 0: no grounding reads the block
    for formula, key, value, change, block_size in _counts(world, method, limit):
        size[key] = block_size
        moved = change != 0
        where = (key[moved] * num_formulas + formula[moved]) * D + value[moved]
        counts.index_add_(0, torch.from_numpy(where), torch.from_numpy(change[moved].astype(np.int32)))
    table, parts = counts.view(-1, width).numpy(), []
    for start in range(0, max(1, world.num_atoms), _UNIQUE_ROWS):  # a slice of keys at a time: memory stays flat
        read = start + np.flatnonzero(size[start:start + _UNIQUE_ROWS])
        parts.append(_distinct(np.concatenate([table[read], size[read, None]], 1)))
    return _merge(parts)


def _distinct(rows: np.ndarray, count: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of an int32 (n, w) array and how many times each occurs (or the sum of
    ``count`` over its copies); rows compared as raw bytes, which sorts far faster than row-wise."""
    rows = np.ascontiguousarray(rows, dtype=np.int32)
    as_bytes = rows.view(np.dtype((np.void, rows.shape[1] * 4))).ravel()
    _, first, inverse = np.unique(as_bytes, return_index=True, return_inverse=True)
    weights = np.ones(len(rows)) if count is None else count
    return rows[first], np.bincount(inverse.ravel(), weights=weights, minlength=len(first))


def _merge(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of one or more (rows, count) parts of equal width, counts summed."""
    return _distinct(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))


def _split(rows: tuple[np.ndarray, np.ndarray], num_formulas: int, D: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, U, D) Delta as float64, (U,) block sizes and (U,) counts from distinct block rows."""
    table, count = rows
    delta = table[:, :-1].reshape(len(table), num_formulas, D).transpose(1, 0, 2).astype(np.float64)
    return np.ascontiguousarray(delta), table[:, -1], count.astype(np.float64)
