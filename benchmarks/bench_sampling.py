"""MC-SAT and Gibbs against exact marginals, and sampler throughput (issue 22).

Accuracy: networks where exact inference runs (smokers in friend groups: many small components
answered as batch rows; smokers on one random friendship graph: one loopy component; a taxonomy
with a functional class predicate, a hard formula and similarity links). Each sampler runs with
4 chains and an increasing number of samples per chain (burn-in 10% of them, at least 20);
the table gives the mean and max absolute error over the unknown query atoms against
``query(method="exact")``, the largest split R-hat, and the sampler's wall time (grounding
excluded).

Throughput: smokers on a random friendship graph (average degree 4, a quarter of the people with
Smokes evidence) of N people, one giant component exact inference cannot reach: wall time per
sample and ground-factor evaluations (table look-ups of factors and unary terms, each factor read
once per state of the unit that moves) per second.

Run: ``python benchmarks/bench_sampling.py [--quick] [--device cpu] [--sizes 1000 10000]``.
Prints a Markdown report.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import warnings

import numpy as np

from again_mln.errors import AgainWarning
from again_mln.mln import parse_db, parse_mln, query

SMOKERS = """Friends(person, person)
Smokes(person)
Cancer(person)
0.646696 Smokes(x) => Cancer(x)
1.519900 Friends(x, y) => (Smokes(x) <=> Smokes(y))
"""

TAXONOMY = """cls = {Animal, Plant, Mineral}
Class(obj, cls!)
Similar(obj, obj)
Same(obj, obj)
Green(obj)
1.2 Similar(x, y) ^ Class(x, c) => Class(y, c)
Same(x, y) => (Class(x, c) <=> Class(y, c)).
0.9 Class(x, Plant) => Green(x)
-0.4 Class(x, Mineral) ^ Green(x)
"""


def smokers_groups(n: int, size: int = 4):
    people = [f"P{i}" for i in range(n)]
    lines = []
    for start in range(0, n, size):
        group = people[start:start + size]
        lines += [f"Friends({a},{b})" for a in group for b in group if a != b]
    lines += [f"{'' if i % 4 else '!'}Smokes({p})" for i, p in enumerate(people) if i % 2 == 0]
    return SMOKERS, "\n".join(lines), ["Smokes", "Cancer"], ["Friends"]


def smokers_graph(n: int, degree: float = 4.0, seed: int = 0):
    """A random friendship graph (n * degree / 2 distinct pairs, both directions), a quarter of
    the people with Smokes evidence."""
    rng = random.Random(seed)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < int(n * degree / 2):
        a, b = rng.randrange(n), rng.randrange(n)
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    lines = [f"Friends(P{a},P{b})\nFriends(P{b},P{a})" for a, b in sorted(pairs)]
    lines += [f"{'' if rng.random() < 0.5 else '!'}Smokes(P{i})" for i in range(0, n, 4)]
    return SMOKERS, "\n".join(lines), ["Smokes", "Cancer"], ["Friends"]


def taxonomy(n: int = 10, seed: int = 1):
    """n objects on a ring of similarity (plus two chords), two Same pairs (hard), some evidence."""
    rng = random.Random(seed)
    objects = [f"O{i}" for i in range(n)]
    lines = [f"Similar({objects[i]},{objects[(i + 1) % n]})" for i in range(n)]
    lines += [f"Similar({objects[0]},{objects[n // 2]})", f"Similar({objects[2]},{objects[n - 2]})"]
    lines += [f"Same({objects[1]},{objects[4]})", f"Same({objects[6]},{objects[7]})"]
    lines += ["Class(O0,Plant)", "Class(O5,Mineral)", "Green(O3)", "!Green(O8)"]
    rng.shuffle(lines)
    mln = "obj = {" + ", ".join(objects) + "}\n" + TAXONOMY
    return mln, "\n".join(lines), ["Class", "Green"], ["Similar", "Same"]


def errors(exact, sampled) -> tuple[float, float]:
    unknown = ~exact.evidence
    diff = np.abs(exact.values[unknown] - sampled.values[unknown])
    return float(diff.mean()), float(diff.max())


def accuracy(name: str, case, samples: list[int], device: str) -> list[str]:
    mln_text, db_text, queries, closed = case
    mln = parse_mln(mln_text, f"{name}.mln")
    dbs = parse_db(db_text, mln, f"{name}.db")
    start = time.perf_counter()
    exact = query(mln, dbs, queries, closed, method="exact")[0]
    exact_seconds = time.perf_counter() - start
    unknown = int((~exact.evidence).sum())
    rows = [f"| {name} | exact ({'/'.join(exact.stats['routes'])}) | | {unknown} | | | | {exact_seconds:.2f} (with grounding) | |"]
    for method in ("mc-sat", "gibbs"):
        for s in samples:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AgainWarning)
                answer = query(mln, dbs, queries, closed, method=method, samples=s, chains=4, burn_in=max(20, s // 10),
                               seed=0, device=device)[0]
            report = answer.stats["convergence"]
            mean, worst = errors(exact, answer)
            rows.append(f"| {name} | {method} | {s} | {unknown} | {mean:.4f} | {worst:.4f} | {report.max_rhat:.3f} | "
                        f"{report.seconds:.2f} | {report.evaluations / report.seconds:,.0f} |")
            print(rows[-1], file=sys.stderr)
    return rows


def throughput(sizes: list[int], samples: int, device: str) -> list[str]:
    rows = []
    for n in sizes:
        mln_text, db_text, queries, closed = smokers_graph(n)
        mln = parse_mln(mln_text, "graph.mln")
        dbs = parse_db(db_text, mln, "graph.db")
        for method in ("mc-sat", "gibbs"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AgainWarning)
                start, cpu = time.perf_counter(), time.process_time()
                answer = query(mln, dbs, queries, closed, method=method, samples=samples, chains=4, burn_in=10, seed=0,
                               device=device)[0]
                total, cpu = time.perf_counter() - start, time.process_time() - cpu
            report = answer.stats["convergence"]
            steps = samples + 10
            rows.append(f"| {n:,} | {answer.stats['ground_formulas']:,} | {method} | {samples} | "
                        f"{1000 * report.seconds / steps:.1f} | {report.evaluations / report.seconds:,.0f} | "
                        f"{report.max_rhat:.3f} | {report.seconds:.1f} | {total:.1f} | {cpu:.1f} |")
            print(rows[-1], file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and sizes")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from again_mln.devices import describe_machine

    samples = [100, 300] if args.quick else [100, 300, 1000]
    sizes = args.sizes or ([1000] if args.quick else [1000, 10000])
    print(f"Machine: {describe_machine(args.device)}.\n\nCommand: `python benchmarks/bench_sampling.py "
          f"{' '.join(sys.argv[1:])}`.\n")
    if not args.skip_accuracy:
        print("## Accuracy against exact marginals (4 chains; burn-in 10% of the samples, at least 20)\n")
        print("| network | method | samples per chain | unknown atoms | mean error | max error | max R-hat | "
              "sampler time (s) | factor evaluations/s |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, case in (("smokers, 200 people in groups of 4", smokers_groups(200)),
                           ("smokers, random graph of 40 people", smokers_graph(40)),
                           ("taxonomy, 10 objects, functional + hard", taxonomy(10))):
            print("\n".join(accuracy(name, case, samples, args.device)))
    print(f"\n## Throughput: smokers on a random friendship graph (average degree 4), 4 chains, "
          f"{50 if args.quick else 100} samples + 10 burn-in\n")
    print("| people | ground formulas | method | samples | ms per sample (all chains) | factor evaluations/s | "
          "max R-hat | sampler time (s) | query time (s) | query CPU time (s) |\n"
          "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(throughput(sizes, 50 if args.quick else 100, args.device)))


if __name__ == "__main__":
    main()
