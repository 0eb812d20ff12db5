"""Throughput of detection and each rectification strategy on a CUB-scale rule set, batch 4096.

``--rules cub`` (default): the real CUB rules from the shared annotations (112 concepts, 200
categories, 14,476 category-concept and 203 concept-concept rules). ``--rules random``: the same
sizes with concept pairs drawn at random, a much wider concept graph (the worst case for ``map``).
``--inputs random`` (default): uniform random probabilities, about half of the rules violated;
``--inputs realistic``: CBM-like explanations (realistic.py: each category's likely concepts with
3% flipped), a handful of violated rules each, as a concept model produces.
Run: ``python benchmarks/bench_rectify.py [--rules cub|random] [--inputs random|realistic] [--device cpu] [--repeats 5]``.
Prints a Markdown table; paste it into the README.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from realistic import likely_concepts, realistic_batch

from again_mln.again.compiled import CompiledRules
from again_mln.devices import describe_machine
from again_mln.again.graph import FactorGraph
from again_mln.mln.inference.planner import structure
from again_mln.again.rectifier import Rectifier
from again_mln.choices import STRATEGIES
from again_mln.rulegen.cub import build_cub_rules
from again_mln.again.synthetic import random_ruleset


def _timed(fn, repeats: int, sync) -> float:
    fn()  # warm-up
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", choices=("cub", "random"), default="cub")
    parser.add_argument("--inputs", choices=("random", "realistic"), default="random")
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    start = time.perf_counter()
    if args.rules == "cub":
        ruleset = build_cub_rules()
    else:
        ruleset = random_ruleset(112, 200, category_rules=14_500, concept_rules=200, seed=0)
    build = time.perf_counter() - start
    start = time.perf_counter()
    graph = FactorGraph(ruleset, device=args.device)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled = CompiledRules(graph)
    compiled.s_max
    s_max_s = time.perf_counter() - start

    if args.inputs == "random":
        generator = torch.Generator().manual_seed(0)
        probs = torch.rand(args.batch, graph.num_concepts, generator=generator)
        categories = torch.randint(0, graph.num_categories, (args.batch,), generator=generator)
    else:
        probs, categories = map(torch.from_numpy, realistic_batch(likely_concepts(graph), args.batch, np.random.default_rng(0)))
    probs, categories = probs.to(graph.device), categories.to(graph.device)
    sync = torch.cuda.synchronize if graph.device.type == "cuda" else (lambda: None)

    detector = Rectifier(compiled, "map", threshold=0.9)
    rows = [("detection only", _timed(lambda: detector.detect(probs, categories), args.repeats, sync), None)]
    for strategy in args.strategies:
        repeats = 1 if strategy == "map" else args.repeats
        rectifier = Rectifier(compiled, strategy, threshold=0.9)
        seconds = _timed(lambda: rectifier.rectify(probs, categories), repeats, sync)
        flagged = rectifier.rectify(probs, categories).flagged.float().mean().item()
        rows.append((f"detection + {strategy}", seconds, flagged))

    print(f"inputs: {args.inputs}; rules ({args.rules}): {graph}; elimination width {structure(graph.factor_scopes, graph.num_concepts)[1]}; built in {build:.1f} s, "
          f"compiled in {compile_s:.2f} s, S_max for 200 categories in {s_max_s:.2f} s")
    print(f"machine: {describe_machine(graph.device)}, device {graph.device}, batch {args.batch}\n")
    print("| step | ms per batch | explanations / s | flagged |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds, flagged in rows:
        share = "" if flagged is None else f"{100 * flagged:.0f}%"
        print(f"| {name} | {1000 * seconds:.1f} | {args.batch / seconds:,.0f} | {share} |")


if __name__ == "__main__":
    main()
