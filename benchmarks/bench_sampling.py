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

from again_mln.errors import AgainError, AgainWarning
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


def random_mln(seed: int, objects: int = 3, formulas: int = 5, evidence: float = 0.5):
    """A small random first-order MLN: unary A, B and binary Rel over ``objects`` constants, random
    clauses of two or three literals over x and y with weights in [-1.5, 1.5], and a random
    share ``evidence`` of the ground atoms given (true or false)."""
    rng = random.Random(seed)
    names = [f"O{i}" for i in range(objects)]
    pool = ["A(x)", "A(y)", "B(x)", "B(y)", "Rel(x, y)", "Rel(y, x)"]  # (pracmln reads a line "P(...)" as a prior)
    lines = ["obj = {" + ", ".join(names) + "}", "A(obj)", "B(obj)", "Rel(obj, obj)"]
    for _ in range(formulas):
        literals = rng.sample(pool, rng.choice((2, 3)))
        lines.append(f"{rng.uniform(-1.5, 1.5):.2f} " + " v ".join(("!" if rng.random() < 0.5 else "") + a for a in literals))
    atoms = [f"A({a})" for a in names] + [f"B({a})" for a in names] + [f"Rel({a},{b})" for a in names for b in names]
    given = [a for a in atoms if rng.random() < evidence]
    return "\n".join(lines) + "\n", "\n".join(("" if rng.random() < 0.5 else "!") + a for a in given), ["A", "B", "Rel"], []


def smokers_few(n: int = 5, seed: int = 2):
    """Smokers with ``n`` people on a random friendship graph (degree about 2), one smoker known."""
    rng = random.Random(seed)
    people = [f"P{i}" for i in range(n)]
    pairs = {(a, b) for a in range(n) for b in range(a + 1, n) if rng.random() < 2 / (n - 1)}
    lines = [f"Friends({people[a]},{people[b]})\nFriends({people[b]},{people[a]})" for a, b in sorted(pairs)]
    lines.append(f"Smokes({people[0]})")
    mln = "person = {" + ", ".join(people) + "}\n" + SMOKERS
    return mln, "\n".join(lines), ["Smokes", "Cancer"], ["Friends"]


def against_pracmln(name: str, case, samples: list[int], pracmln_samples: list[int], device: str) -> list[str]:
    """Our MC-SAT and Gibbs and pracmln's MC-SAT (4 chains each) against our exact marginals:
    mean and max error over the unknown query atoms, and wall time of the whole query (parsing
    and grounding included, as pracmln cannot be timed without them)."""
    import tempfile
    from pathlib import Path

    from again_mln.engines.pracmln_query import pracmln_query, pracmln_worlds

    mln_text, db_text, queries, closed = case
    mln = parse_mln(mln_text, f"{name}.mln")
    dbs = parse_db(db_text, mln, f"{name}.db")
    exact = query(mln, dbs, queries, closed, method="exact")[0]
    unknown = ~exact.evidence
    truth = dict(zip(exact.atoms, exact.values.tolist()))
    rows = []
    for method in ("mc-sat", "gibbs"):
        for s in samples:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AgainWarning)
                answer = query(mln, dbs, queries, closed, method=method, samples=s, chains=4, burn_in=max(20, s // 10),
                               seed=0, device=device)[0]
            seconds = time.perf_counter() - start
            mean, worst = errors(exact, answer)
            rows.append(f"| {name} | {int(unknown.sum())} | again-mln {method} | 4 x {s} | {mean:.4f} | {worst:.4f} | "
                        f"{answer.stats['convergence'].max_rhat:.3f} | {seconds:.2f} |")
            print(rows[-1], file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        mln_path, db_path = Path(folder) / "model.mln", Path(folder) / "evidence.db"
        mln_path.write_text(mln_text)
        db_path.write_text(db_text + "\n")
        worlds = pracmln_worlds(mln_path, db_path, queries, closed)[0]
        for s in pracmln_samples:  # one chain: pracmln 1.2.4's MC-SAT fails (KeyError 0) with chains > 1
            start = time.perf_counter()
            try:
                theirs = pracmln_query(mln_path, db_path, queries, closed, "MC-SAT", params={"maxsteps": s, "seed": 0})[0]
            except AgainError as err:
                rows.append(f"| {name} | {int(unknown.sum())} | pracmln 1.2.4 MC-SAT | 1 x {s} | failed: "
                            f"{str(err).split('pracmln failed to ')[-1]} | | | {time.perf_counter() - start:.2f} |")
                break
            seconds = time.perf_counter() - start
            diff = np.array([abs(theirs[a] - truth[a]) for a, u in zip(exact.atoms, unknown) if u])
            rows.append(f"| {name} | {int(unknown.sum())} | pracmln 1.2.4 MC-SAT ({worlds:,} worlds per step) | 1 x {s} | "
                        f"{diff.mean():.4f} | {diff.max():.4f} | | {seconds:.2f} |")
            print(rows[-1], file=sys.stderr)
    return rows


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
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--pracmln", action="store_true", help="also pracmln's MC-SAT against ours on small networks")
    parser.add_argument("--pracmln-samples", type=int, nargs="*", default=[100, 400])
    parser.add_argument("--markdown", default=None, help="also write the report here (atomically)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from again_mln.devices import describe_machine

    samples = [100, 300] if args.quick else [100, 300, 1000]
    sizes = args.sizes or ([1000] if args.quick else [1000, 10000])
    out = [f"Machine: {describe_machine(args.device)}.\n\nCommand: `python benchmarks/bench_sampling.py "
           f"{' '.join(sys.argv[1:])}`.\n"]
    if not args.skip_accuracy:
        out.append("## Accuracy against exact marginals (4 chains; burn-in 10% of the samples, at least 20)\n")
        out.append("| network | method | samples per chain | unknown atoms | mean error | max error | max R-hat | "
                   "sampler time (s) | factor evaluations/s |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, case in (("smokers, 200 people in groups of 4", smokers_groups(200)),
                           ("smokers, random graph of 40 people", smokers_graph(40)),
                           ("taxonomy, 10 objects, functional + hard", taxonomy(10))):
            out.append("\n".join(accuracy(name, case, samples, args.device)))
    if args.pracmln:
        out.append("\n## Against pracmln's MC-SAT (4 chains each; ours with burn-in 10% of the samples, at least 20; "
                   "pracmln's without burn-in, as it runs)\n")
        out.append("| network | unknown atoms | sampler | chains x samples | mean error | max error | max R-hat | "
                   "query wall time (s) |\n| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
        for name, case in (("smokers, 5 people", smokers_few(5)), ("random MLN, seed 1", random_mln(1)),
                           ("random MLN, seed 2", random_mln(2)), ("random MLN, seed 3", random_mln(3))):
            out.append("\n".join(against_pracmln(name, case, samples, args.pracmln_samples, args.device)))
    if not args.skip_throughput:
        out.append(f"\n## Throughput: smokers on a random friendship graph (average degree 4), 4 chains, "
                   f"{50 if args.quick else 100} samples + 10 burn-in\n")
        out.append("| people | ground formulas | method | samples | ms per sample (all chains) | factor evaluations/s | "
                   "max R-hat | sampler time (s) | query time (s) | query CPU time (s) |\n"
                   "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        out.append("\n".join(throughput(sizes, 50 if args.quick else 100, args.device)))
    report = "\n".join(out) + "\n"
    print(report)
    if args.markdown:
        from again_mln.io.atomic import write_text

        write_text(args.markdown, report)


if __name__ == "__main__":
    main()
