"""Weight learning (docs/method.md, "Weight learning"; the paper's Eq. 22).

* ``cll``: maximum conditional likelihood, min_w -sum_n log P(c_n | y_n, w), exact: the data term
  is linear in w (rule truth counts) and log Z(y) comes from :mod:`again_mln.mln.inference`;
* ``pll``: pseudo-likelihood, min_w -sum_n sum_m log P(c_nm | c_n,-m, y_n, w), for graphs whose
  exact log Z is out of reach (pracmln's PLL/BPLL objective, conditional on the category);
* ``auto``: ``cll`` whenever it is exact, else ``pll``.

One entry, :func:`learn_weights`, serves both engines (``engine="native"`` or ``"pracmln"``) and
returns one :class:`LearningResult`. An optional Gaussian prior adds sum_i w_i^2 / (2 stdev^2) over the learned weights, once, as
pracmln does. Hard rules and ``#fixweight`` rules keep their weights; the other soft weights
start at 0 (pracmln's default) and are optimised by L-BFGS on the torch graph's device.
Identical (concepts, category) rows are merged into counts first, so the cost grows with the
number of distinct rows rather than samples.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import torch
from scipy.optimize import minimize
from tqdm import tqdm

from again_mln.mln import inference
from again_mln.errors import AgainError
from again_mln.again.graph import PROBABILITY_HARD_FLOOR, FactorGraph, hard_rule_weight
from again_mln.mln.inference.rings import LogRing
from again_mln.io.inputs import NAMES, NUMBERS, align_columns, load_array, names_of_ids, saved_names
from again_mln.again.logic import RuleSet

Method = Literal["auto", "cll", "pll"]
Engine = Literal["native", "pracmln"]
ExactMethod = Literal["auto", "eliminate", "enumerate"]
#: Largest per-sample gradient entry accepted when the line search stalls at float32 precision.
FLOAT32_GTOL = 1e-4


@dataclass(frozen=True)
class LearningResult:
    """The learned rule set and how the optimisation went."""

    ruleset: RuleSet
    method: str  # "cll (eliminate)", "cll (enumerate)", "pll", or "pracmln cll" / "pracmln pll"
    objective: float | None  # final objective per sample (negative mean log-likelihood + prior / N); None: pracmln
    iterations: int | None  # L-BFGS iterations; None: pracmln
    converged: bool
    message: str
    seconds: float


# ------------------------------------------------------------------------------------- data
def check_data(ruleset: RuleSet, concepts: np.ndarray, categories: np.ndarray, source: str = "data") -> tuple[np.ndarray, np.ndarray]:
    """Validate training data against the rules: concepts (N, M) in {0, 1}, categories (N,).

    Categories may be integer ids or category names; returns (uint8 concepts, int64 ids).
    """
    concepts, categories = np.asarray(concepts), np.asarray(categories)
    M, K = len(ruleset.concepts), len(ruleset.categories)
    if concepts.ndim != 2 or concepts.shape[1] != M:
        raise AgainError(f"{source}: concepts must have shape (N, {M}) for the rules' {M} concepts, got {concepts.shape}")
    if len(concepts) == 0:
        raise AgainError(f"{source}: no samples")
    if not np.isin(concepts, (0, 1)).all():
        raise AgainError(f"{source}: concepts must be 0/1, found values such as {concepts[~np.isin(concepts, (0, 1))][0].item()!r}")
    if categories.shape != (len(concepts),):
        raise AgainError(f"{source}: categories must have shape ({len(concepts)},), got {categories.shape}")
    if categories.dtype.kind in "US":
        index = ruleset.category_index
        unknown = sorted({str(c) for c in categories} - set(index))
        if unknown:
            raise AgainError(f"{source}: unknown category name(s) {', '.join(unknown[:5])}; the rules know {', '.join(ruleset.categories[:5])}, ...")
        categories = np.array([index[str(c)] for c in categories])
    elif categories.dtype.kind not in "iu" or (categories.size and (categories.min() < 0 or categories.max() >= K)):
        raise AgainError(f"{source}: categories must be integer ids in 0..{K - 1} or category names")
    return concepts.astype(np.uint8), categories.astype(np.int64)


def read_data(path: str | os.PathLike, ruleset: RuleSet) -> tuple[np.ndarray, np.ndarray]:
    """Read ``concepts`` (N, M) and ``categories`` (N,) from an ``.npz`` and check them.

    Optional ``concept_names`` put the columns into the rules' order (as for ``rectify``);
    optional ``category_names`` say what the category ids mean.
    """
    concepts, categories = load_array(path, "concepts"), load_array(path, "categories", kinds=NUMBERS + NAMES)
    concept_names = saved_names(path, "concept_names")
    if concept_names is not None and concepts.ndim == 2:
        concepts = align_columns(concepts, concept_names, ruleset.concepts, f"{path}[concept_names]", "concept")
    category_names = saved_names(path, "category_names")
    if category_names is not None and categories.dtype.kind not in "US":
        categories = names_of_ids(categories, category_names, f"{path}[categories]")
    return check_data(ruleset, concepts, categories, source=str(path))


# ------------------------------------------------------------------------------- objectives
def _distinct_rows(graph: FactorGraph, concepts: np.ndarray, categories: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distinct (concepts, category) rows with their counts, as tensors on the graph's device;
    raises when a row breaks a hard rule (its likelihood would be zero)."""
    rows, counts = np.unique(np.column_stack([concepts, categories]), axis=0, return_counts=True)
    to = dict(device=graph.device)
    c, y = torch.as_tensor(rows[:, :-1], **to).long(), torch.as_tensor(rows[:, -1], **to).long()
    hard = [i for i, rule in enumerate(graph.ruleset.rules) if rule.hard]
    broken = (graph.rule_truth(c, y)[:, hard] == 0).nonzero()
    if len(broken):
        row, rule = broken[0].tolist()
        raise AgainError(f"the data break the hard rule {graph.ruleset.rules[hard[rule]].formula} "
                         f"(e.g. a sample of category {graph.ruleset.categories[y[row]]!r})")
    return c, y, torch.as_tensor(counts, **to, dtype=torch.float64)


def exact_route(graph: FactorGraph, exact: ExactMethod = "auto") -> str | None:
    """The route :mod:`again_mln.mln.inference` takes to log Z(y) for this graph, or ``None`` when
    exact log Z is out of its memory budget."""
    if exact not in ("auto", "eliminate", "enumerate"):
        raise AgainError(f"unknown exact method {exact!r}; expected auto, eliminate or enumerate")
    try:
        return inference.plan(graph.factor_view(), LogRing(), exact).route
    except AgainError:
        return None


def _cll_objective(graph: FactorGraph, concepts: np.ndarray, categories: np.ndarray, route: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """w -> -(1/N) sum_n log P(c_n | y_n, w): rule-truth counts . w - category counts . log Z(w)."""
    c, y, counts = _distinct_rows(graph, concepts, categories)
    n = counts.sum()
    truth_counts = (counts[:, None] * graph.rule_truth(c, y).double()).sum(0) / n  # (R,)
    category_freq = torch.bincount(y, weights=counts, minlength=graph.num_categories) / n  # (K,)

    def objective(weights: torch.Tensor) -> torch.Tensor:
        log_z = inference.log_partition(graph.factor_view().to(torch.float64), route=route)
        return category_freq @ log_z - truth_counts @ weights

    return objective


def _pll_objective(graph: FactorGraph, concepts: np.ndarray, categories: np.ndarray) -> Callable[[torch.Tensor], torch.Tensor]:
    """w -> -(1/N) sum_n sum_m log P(c_nm | rest): softplus of the single-flip score gains."""
    c, y, counts = _distinct_rows(graph, concepts, categories)
    share = counts / counts.sum()

    def objective(weights: torch.Tensor) -> torch.Tensor:
        gains = graph.flip_gains(c, y)  # S(c xor e_m) - S(c), (N', M)
        return share @ torch.nn.functional.softplus(gains.double()).sum(1)

    return objective


# -------------------------------------------------------------------------------- learning
def learn_weights(
    ruleset: RuleSet,
    concepts: np.ndarray,
    categories: np.ndarray,
    method: Method = "auto",
    prior_stdev: float | None = None,
    exact: ExactMethod = "auto",
    device: str | torch.device | None = None,
    max_iter: int = 500,
    tol: float = 1e-6,
    progress: bool | None = None,
    engine: Engine = "native",
) -> LearningResult:
    """Learn the soft, non-fixed rule weights from ground-truth concepts and categories.

    ``engine`` is ``native`` (torch, L-BFGS) or ``pracmln`` (its DCLL / DPLL learners, the
    reference); ``auto`` is ``cll`` whenever exact log Z fits the inference budget. ``exact``
    picks the native route to log Z (elimination or enumeration); ``tol`` bounds the largest
    gradient entry of the per-sample objective at convergence; ``progress`` shows a bar
    (``None``: only on a terminal).
    """
    start = time.perf_counter()
    if engine not in ("native", "pracmln"):
        raise AgainError(f"unknown learning engine {engine!r}; expected native or pracmln")
    if method not in ("auto", "cll", "pll"):
        raise AgainError(f"unknown learning method {method!r}; expected auto, cll or pll")
    concepts, categories = check_data(ruleset, concepts, categories)
    if all(rule.hard or rule.fixed for rule in ruleset.rules):
        raise AgainError("the rules have no soft, non-fixed weight to learn")
    if prior_stdev is not None and not prior_stdev > 0:
        raise AgainError(f"the prior standard deviation must be positive, got {prior_stdev}")
    graph = FactorGraph(ruleset, device=device, hard_weight=hard_rule_weight(ruleset, PROBABILITY_HARD_FLOOR)).double()
    route = exact_route(graph, exact) if method in ("auto", "cll") else None
    if method == "cll" and route is None:
        raise AgainError(f"exact conditional likelihood is out of reach for these {len(ruleset.concepts)} concepts; use --method pll")
    if engine == "pracmln":
        from again_mln.again import pracmln

        chosen = "cll" if route is not None else "pll"
        learned_rules = pracmln.learn_weights(ruleset, concepts, categories, chosen, prior_stdev)
        return LearningResult(learned_rules, f"pracmln {chosen}", None, None, True, "pracmln finished",
                              time.perf_counter() - start)

    free = torch.tensor([not (r.hard or r.fixed) for r in ruleset.rules], device=graph.device)
    # fixed weights exactly as written; hard rules at the graph's finite hard weight
    base = torch.tensor([0.0 if r.hard or not r.fixed else r.weight for r in ruleset.rules], dtype=torch.float64, device=graph.device)
    base = torch.where(torch.tensor([r.hard for r in ruleset.rules], device=graph.device), graph.hard_weight, base)
    if route is not None:
        objective, name = _cll_objective(graph, concepts, categories, route), f"cll ({route})"
    else:
        objective, name = _pll_objective(graph, concepts, categories), "pll"
    prior_scale = 0.0 if prior_stdev is None else 1.0 / (2.0 * prior_stdev**2 * len(concepts))
    graph.weight.requires_grad_(True)

    def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        graph.set_weights(base.masked_scatter(free, torch.as_tensor(x, device=graph.device)))
        loss = objective(graph.weight) + prior_scale * (graph.weight[free] ** 2).sum()
        (grad,) = torch.autograd.grad(loss, graph.weight)
        return loss.item(), grad[free].cpu().numpy()

    x0 = np.zeros(int(free.sum()))
    with tqdm(total=max_iter, desc=f"learn-weights {name}", disable=None if progress is None else not progress) as bar:
        def step(intermediate_result) -> None:
            bar.set_postfix(objective=f"{intermediate_result.fun:.6f}")
            bar.update()

        result = minimize(
            value_and_grad, x0, jac=True, method="L-BFGS-B", callback=step,
            options={"maxiter": max_iter, "gtol": tol, "ftol": 0.0},
        )
    # L-BFGS-B's line search can stall at round-off with the gradient already negligible,
    # which counts as converged.
    gradient = float(np.abs(result.jac).max(initial=0.0))
    converged = bool(result.success) or gradient <= FLOAT32_GTOL
    message = str(result.message) if result.success else f"{result.message} (max |gradient| {gradient:.1e})"
    learned = base.masked_scatter(free, torch.as_tensor(result.x, device=graph.device))
    soft = [float(w) for w, rule in zip(learned.tolist(), ruleset.rules) if not rule.hard]
    return LearningResult(
        ruleset=ruleset.with_weights(soft),
        method=name,
        objective=float(result.fun),
        iterations=int(result.nit),
        converged=converged,
        message=message,
        seconds=time.perf_counter() - start,
    )
