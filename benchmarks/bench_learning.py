"""Weight learning and one conditional query: native torch engine vs pracmln.

Rule sets have the shapes of the paper's data sets (Synthetic-MNIST: 10 concepts, 12 categories,
33 category-concept + 13 concept-concept rules; EWS: 22 concepts, 16 categories, 144 + 35), random
weights, and training data drawn exactly from them. pracmln runs in a child process with a time
limit, on growing numbers of samples; its cost is linear in the samples (one grounded MRF each),
so the largest sample count it finishes in 10 minutes is extrapolated from the measured points.

    python benchmarks/bench_learning.py [--samples 5000] [--limit 600] [--out benchmarks/results/learning.md]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import torch

from again_mln.again.rectifier import Rectifier
from again_mln.devices import describe_machine
from again_mln.again.graph import FactorGraph
from again_mln.again.learning import learn_weights
from again_mln.again.logic import And, Equiv, Implies, Not, RuleSet, category, concept

SCALES = {"Synthetic-MNIST": (10, 12, 33, 13), "EWS": (22, 16, 144, 35)}


def make_rules(num_concepts: int, num_categories: int, category_rules: int, concept_rules: int, seed: int = 0) -> RuleSet:
    """Random rules of the four kinds in docs/method.md with weights in [0.2, 2]."""
    rng = np.random.default_rng(seed)
    ruleset = RuleSet([f"C{m}" for m in range(num_concepts)], [f"Y{k}" for k in range(num_categories)])
    pairs = [(k, m) for k in range(num_categories) for m in range(num_concepts)]
    for i in rng.choice(len(pairs), category_rules, replace=False):
        k, m = pairs[i]
        head = concept(f"C{m}") if rng.random() < 0.5 else Not(concept(f"C{m}"))
        ruleset.add(Implies(category(f"Y{k}"), head), float(rng.uniform(0.2, 2.0)))
    couples = [(a, b) for a in range(num_concepts) for b in range(a + 1, num_concepts)]
    for i in rng.choice(len(couples), concept_rules, replace=False):
        a, b = (concept(f"C{j}") for j in couples[i])
        ruleset.add(Equiv(a, b) if rng.random() < 0.5 else Not(And((a, b))), float(rng.uniform(0.2, 2.0)))
    return ruleset


def exact_sample(ruleset: RuleSet, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Categories uniform, concepts drawn exactly from P(c | y) over all 2^M assignments."""
    graph = FactorGraph(ruleset)
    M, K = len(ruleset.concepts), len(ruleset.categories)
    assignments = (torch.arange(2**M)[:, None] >> torch.arange(M)) & 1
    with torch.no_grad():
        scores = torch.stack([graph.score(assignments, torch.full((len(assignments),), k)) for k in range(K)], 1)  # (2^M, K)
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(K, (n,), generator=generator)
    counts = torch.bincount(y, minlength=K)
    rows = torch.cat([torch.multinomial(torch.softmax(scores[:, k].double(), 0), int(counts[k]), True, generator=generator) for k in range(K)])
    return assignments[rows].numpy(), torch.repeat_interleave(torch.arange(K), counts).numpy()


def _pracmln_child(queue, task, ruleset, concepts, categories, method) -> None:
    from again_mln.again import pracmln

    start = time.perf_counter()
    if task == "learn":
        pracmln.learn_weights(ruleset, concepts, categories, method)
    else:
        pracmln.explanation_probability(ruleset, concepts[0], int(categories[0]))
    queue.put(time.perf_counter() - start)


def pracmln_seconds(task: str, ruleset: RuleSet, concepts, categories, method: str, limit: float) -> float | None:
    """Wall time of one pracmln run in a child process, or None when it passes ``limit`` seconds."""
    queue = mp.get_context("fork").Queue()
    child = mp.get_context("fork").Process(target=_pracmln_child, args=(queue, task, ruleset, concepts, categories, method))
    child.start()
    child.join(limit)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return queue.get() if child.exitcode == 0 else None


def bench_scale(name: str, samples: int, limit: float, lines: list[str]) -> None:
    ruleset = make_rules(*SCALES[name])
    concepts, categories = exact_sample(ruleset, samples)
    M, K, R = len(ruleset.concepts), len(ruleset.categories), len(ruleset.rules)
    print(f"== {name}: {M} concepts, {K} categories, {R} rules, {samples} samples", flush=True)
    lines += [f"### {name} scale: {M} concepts, {K} categories, {R} rules", ""]
    lines += ["| engine | method | samples | wall time (s) | note |", "| --- | --- | ---: | ---: | --- |"]
    native = {}
    for method in ("cll", "pll"):
        result = learn_weights(ruleset, concepts, categories, method, progress=False)
        native[method] = result.seconds
        error = np.abs(np.subtract([r.weight for r in result.ruleset.rules], [r.weight for r in ruleset.rules]))
        note = f"{result.method}, {result.iterations} iterations; max / mean abs. error vs generating weights {error.max():.3f} / {error.mean():.3f}"
        lines.append(f"| native (cpu) | {method} | {samples} | {result.seconds:.2f} | {note} |")
        print(lines[-1], flush=True)
    for method in ("cll", "pll"):
        measured: list[tuple[int, float]] = []
        n = 1
        while n <= samples:
            seconds = pracmln_seconds("learn", ruleset, concepts[:n], categories[:n], method, limit)
            if seconds is None:
                lines.append(f"| pracmln | {method} | {n} | > {limit:.0f} | stopped at the time limit |")
                print(lines[-1], flush=True)
                break
            measured.append((n, seconds))
            lines.append(f"| pracmln | {method} | {n} | {seconds:.2f} | |")
            print(lines[-1], flush=True)
            if seconds * 4 > limit:
                break
            n *= 4
        if measured:
            # linear fit through the last two points: a fixed cost plus a cost per sample
            (n0, t0), (n1, t1) = measured[-2:] if len(measured) > 1 else ((0, 0.0), measured[-1])
            per_sample = (t1 - t0) / (n1 - n0)
            full = t1 + per_sample * (samples - n1)
            lines.append(f"| pracmln | {method} | {samples} | ~{full:.0f} (extrapolated) | "
                         f"native is ~{full / native[method]:.0f}x faster; pracmln finishes ~{int(n1 + (600 - t1) / per_sample)} samples in 10 min |")
            print(lines[-1], flush=True)
    # one conditional query: P(c | y) of one explanation
    rectifier = Rectifier(FactorGraph(ruleset), "map")  # solves S_max
    start = time.perf_counter()
    rectifier.detect(torch.as_tensor(concepts, dtype=torch.float32), torch.as_tensor(categories))
    batch = time.perf_counter() - start
    query = pracmln_seconds("query", ruleset, concepts[:1], categories[:1], "cll", limit)
    query_text = f"{query:.2f} s" if query is not None else f"> {limit:.0f} s"
    ratio = f"{query / (batch / samples):,.0f}x" if query is not None else "n/a"
    lines += ["", f"Detection of one explanation: pracmln EnumerationAsk P(c | y) {query_text}; native batch "
              f"detection of {samples} explanations {batch * 1e3:.1f} ms ({batch / samples * 1e6:.2f} us each), ratio {ratio}.", ""]
    print(lines[-2], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--limit", type=float, default=600.0, help="seconds allowed per pracmln run")
    parser.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "learning.md"))
    args = parser.parse_args()
    lines = ["## Weight learning: native vs pracmln", "",
             f"Machine: {describe_machine()}. pracmln per-run limit {args.limit:.0f} s.", ""]
    for name in args.scales:
        bench_scale(name, args.samples, args.limit, lines)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
