"""Label-free-CBM scale: compile, S_max, memory and rectification rates on generated rules, and
growth curves of those times against concepts, categories and rules.

The main point is 2,000 concepts, 1,000 categories, 200,000 category-concept and 5,000
concept-concept rules (``again_mln.again.synthetic.random_ruleset``: ``label(Y) => [!]active(C)`` and
pairs ``active(A) <=> active(B)`` / ``!(active(A) ^ active(B))``). Inputs are CBM-like
(realistic.py: 3% of concepts wrong). S_max and ``map`` are exact: the planner picks enumeration,
variable elimination or, where the concept graph is too wide for the memory budget, the integer
program (its route, the time it took to decide and the elimination width are printed).

Run: ``python benchmarks/bench_scale.py --threads 2 --s-max-categories 10
[--curves benchmarks/results/scale_growth.png]``.
Prints Markdown tables.
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import torch

from again_mln.again.compiled import CompiledRules
from again_mln.devices import describe_machine
from again_mln.again.graph import FactorGraph
from again_mln.mln.inference import max_score, plan
from again_mln.mln.inference.rings import MaxRing
from again_mln.again.rectifier import Rectifier
from again_mln.again.synthetic import random_ruleset
from realistic import likely_concepts, realistic_batch

#: Explanations per timed batch: map solves an integer program per sample on wide graphs.
BATCHES = {"detection only": 4096, "switch": 4096, "iterate": 1024, "map": 8}


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(concepts: int, categories: int, category_rules: int, concept_rules: int, strategies: tuple[str, ...],
            s_max_categories: int | None = None) -> dict:
    """Times (s), rates (explanations/s) and peak memory of one generated rule set.

    With ``s_max_categories`` = k, S_max is solved exactly for the first k categories only (the
    time for all is extrapolated) and the inputs are drawn from those k categories."""
    out: dict = {}
    start = time.perf_counter()
    ruleset = random_ruleset(concepts, categories, category_rules, concept_rules, seed=0)
    out["generate"] = time.perf_counter() - start
    start = time.perf_counter()
    graph = FactorGraph(ruleset, device="cpu")
    out["compile"] = time.perf_counter() - start
    out["compile_peak_mib"] = _peak_mib()
    start = time.perf_counter()
    view = graph.factor_view()  # the first call derives the weighted tables from the weights
    out["tables"] = time.perf_counter() - start
    start = time.perf_counter()
    chosen = plan(view, MaxRing())
    out["plan"] = time.perf_counter() - start
    out["route"], out["width"] = chosen.route, f"{chosen.width}" if chosen.order is not None else f"> {chosen.width - 1}"
    k = categories if s_max_categories is None else min(s_max_categories, categories)
    if k == categories:
        compiled = CompiledRules(graph)
        out["s_max"] = _timed(lambda: CompiledRules(graph).s_max)
    else:  # the other categories' entries stay NaN: no input below is of those categories
        start = time.perf_counter()
        solved = max_score(graph.factor_view(torch.arange(k))).to(graph.unary.dtype)
        out["s_max"] = (time.perf_counter() - start) * categories / k
        compiled = CompiledRules(graph, torch.cat([solved, solved.new_full((categories - k,), float("nan"))]))
    out["s_max_categories"] = k
    out["peak_mib"] = _peak_mib()
    rng = np.random.default_rng(0)
    likely = likely_concepts(graph)[:k]
    for name in ("detection only", *strategies):
        probs, cats = (torch.from_numpy(a) for a in realistic_batch(likely, BATCHES[name], rng))
        if name == "detection only":
            call = lambda: Rectifier(compiled, "map", threshold=0.9).detect(probs, cats)  # noqa: E731
        else:
            rectifier = Rectifier(compiled, name, threshold=0.9)
            call = lambda: rectifier.rectify(probs, cats)  # noqa: E731  (bound per loop turn)
        call()  # warm-up: derived tables, switch tables
        seconds = _timed(call)
        out[name] = BATCHES[name] / seconds
        if name == "switch":
            out["flagged"] = float(rectifier.rectify(probs, cats).flagged.float().mean())
    out["peak_mib"] = _peak_mib()
    return out


def growth_curves(path: str, s_max_categories: int | None) -> list[tuple[str, int, dict]]:
    """Scale one dimension at a time around a smaller base; plot compile, S_max and switch times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = {"concepts": 500, "categories": 250, "category_rules": 25_000, "concept_rules": 1_250}
    axes = {
        "concepts": [250, 500, 1000, 2000],
        "categories": [125, 250, 500, 1000],
        "category_rules": [12_500, 25_000, 50_000, 100_000],
        "concept_rules": [625, 1_250, 2_500, 5_000],
    }
    points = []
    for axis, values in axes.items():
        for value in values:
            sizes = dict(base, **{axis: value})
            if axis == "concepts":  # keep rule densities: rules grow with the concepts they read
                sizes["category_rules"] = base["category_rules"] * value // base["concepts"]
                sizes["concept_rules"] = base["concept_rules"] * value // base["concepts"]
            points.append((axis, value, sizes | measure(**sizes, strategies=("switch",), s_max_categories=s_max_categories)))
    figure, panels = plt.subplots(1, 4, figsize=(16, 3.6), sharey=True)
    for panel, axis in zip(panels, axes):
        rows = [p for a, _, p in points if a == axis]
        x = [p[axis] for p in rows]
        panel.loglog(x, [p["compile"] for p in rows], "o-", label="compile")
        panel.loglog(x, [p["s_max"] for p in rows], "s-", label="S_max (exact)")
        panel.loglog(x, [4096 / p["switch"] for p in rows], "^-", label="detection + switch, 4096 expl.")
        panel.set_xlabel(axis.replace("_", "-"))
        panel.grid(True, which="both", alpha=0.3)
    panels[0].set_ylabel("seconds")
    panels[0].legend(fontsize=8)
    figure.suptitle(f"Growth around {base['concepts']} concepts, {base['categories']} categories, "
                    f"{base['category_rules']:,} + {base['concept_rules']:,} rules (2-core CPU)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concepts", type=int, default=2000)
    parser.add_argument("--categories", type=int, default=1000)
    parser.add_argument("--category-rules", type=int, default=200_000)
    parser.add_argument("--concept-rules", type=int, default=5_000)
    parser.add_argument("--strategies", nargs="*", default=["switch", "iterate", "map"])
    parser.add_argument("--s-max-categories", type=int, default=None,
                        help="solve S_max for this many categories only and extrapolate its time (default: all)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--curves", default=None, help="also run the growth curves and save their plot here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    point = measure(args.concepts, args.categories, args.category_rules, args.concept_rules, tuple(args.strategies),
                    args.s_max_categories)
    print(f"machine: {describe_machine()}, load average {os.getloadavg()[0]:.1f}, no GPU\n")
    print(f"rules: {args.concepts:,} concepts, {args.categories:,} categories, {args.category_rules:,} category-concept "
          f"and {args.concept_rules:,} concept-concept rules (generated in {point['generate']:.1f} s)\n")
    print("| step | value |")
    print("| --- | ---: |")
    print(f"| compile | {point['compile']:.1f} s (peak RSS {point['compile_peak_mib']:,.0f} MiB) |")
    print(f"| weighted tables (first use after compiling) | {point['tables']:.1f} s |")
    print(f"| plan (min-fill order up to the budget's width) | {point['plan']:.2f} s: route {point['route']}, "
          f"elimination width {point['width']} |")
    sampled = "" if point["s_max_categories"] == args.categories else (
        f", extrapolated from {point['s_max_categories']} categories (inputs drawn from those)")
    print(f"| S_max, all categories, exact ({point['route']}{sampled}) | {point['s_max']:.1f} s |")
    print(f"| peak RSS of the whole run | {point['peak_mib']:,.0f} MiB |")
    for name in ("detection only", *args.strategies):
        label = name if name == "detection only" else f"detection + {name}"
        print(f"| {label} (batch {BATCHES[name]}) | {point[name]:,.0f} explanations/s |")
    if "flagged" in point:
        print(f"| flagged at d = 0.9 | {100 * point['flagged']:.0f}% |")
    if args.curves:
        points = growth_curves(args.curves, args.s_max_categories)
        print(f"\ngrowth curves (plot: {args.curves})\n")
        print("| varied | concepts | categories | category rules | concept rules | compile s | S_max s (route) | switch expl./s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for axis, _, p in points:
            print(f"| {axis} | {p['concepts']:,} | {p['categories']:,} | {p['category_rules']:,} | {p['concept_rules']:,} | "
                  f"{p['compile']:.2f} | {p['s_max']:.2f} ({p['route']}) | {p['switch']:,.0f} |")


if __name__ == "__main__":
    main()
