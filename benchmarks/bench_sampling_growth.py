"""How sampling grows with the network (issue 22): smokers on a random friendship graph (average
degree 4, a quarter of the people with Smokes evidence; ``bench_sampling.smokers_graph``) of N
people, one giant component exact inference cannot reach. For each N and sampler, ONE query (its
own process, so VmHWM is its own peak memory) with 4 chains, ``--burn-in`` steps, then the same
chains run on (``query(..., until_rhat=...)``): at 50, 100, 200, ... kept samples per chain it
stops once the largest split R-hat over all kept samples of the component is below ``--target``,
or before the next doubling would (projected from the time so far) pass the ``--budget`` seconds
of that size. The time to the target is the query's wall time (grounding included).

Run: ``python benchmarks/bench_sampling_growth.py [--sizes 1000 10000 100000] [--budget 60 120 480]
[--markdown out.md] [--plot out.png]``. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path


def run_once(people: int, method: str, first: int, burn_in: int, target: float, budget: float, threads: int) -> dict:
    """One query of the smokers graph of ``people``, run until ``target`` R-hat or ``budget``
    seconds: times, samples kept, R-hat and this process's peak memory."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_sampling import smokers_graph

    from again_mln.errors import AgainWarning
    from again_mln.mln import parse_db, parse_mln, query

    mln_text, db_text, queries, closed = smokers_graph(people)
    mln = parse_mln(mln_text, "graph.mln")
    dbs = parse_db(db_text, mln, "graph.db")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgainWarning)
        answer = query(mln, dbs, queries, closed, method=method, samples=first, chains=4, burn_in=burn_in, seed=0,
                       until_rhat=target, max_seconds=budget)[0]
    seconds = time.perf_counter() - start
    report = answer.stats["convergence"]
    with open("/proc/self/status") as handle:
        peak = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM")) / 1024
    rhat = report.rhat
    return {"people": people, "method": method, "samples": report.samples, "burn_in": burn_in, "budget_s": budget,
            "query_s": seconds, "sampler_s": report.seconds,
            "max_rhat": report.max_rhat, "under_1_1": float(np.mean(rhat < 1.1)), "median_rhat": float(np.median(rhat)),
            "ground_formulas": answer.stats["ground_formulas"], "sampled_atoms": len(report.atoms),
            "rejected": report.rejected, "peak_mib": peak}


def grow(people: int, method: str, target: float, budget: float, first: int, burn_in: int, threads: int) -> dict:
    """The one run of ``people`` and ``method`` in its own process (its peak memory is its own)."""
    done = subprocess.run([sys.executable, __file__, "--child", str(people), method, str(budget), "--first", str(first),
                           "--burn-in", str(burn_in), "--target", str(target), "--threads", str(threads)],
                          capture_output=True, text=True)
    if done.returncode:
        return {"people": people, "method": method, "samples": 0, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    run = json.loads(done.stdout.strip().splitlines()[-1])
    print(run, file=sys.stderr)
    return run


def plot(best: list[dict], target: float, path: Path) -> None:
    """Time to the target R-hat (or of the last run, hollow where it was not reached) and peak
    memory against the number of people, log-log, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from again_mln.io.atomic import atomic_path

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for method, colour in (("mc-sat", "tab:blue"), ("gibbs", "tab:orange")):
        rows = [r for r in best if r["method"] == method and "error" not in r]
        if not rows:
            continue
        x = [r["people"] for r in rows]
        left.plot(x, [r["query_s"] for r in rows], "-", color=colour, label=method)
        for r in rows:
            reached = r["max_rhat"] < target
            left.scatter(r["people"], r["query_s"], color=colour if reached else "white", edgecolors=colour, zorder=3)
        right.plot(x, [r["peak_mib"] for r in rows], "o-", color=colour, label=method)
    left.set(xscale="log", yscale="log", xlabel="people", ylabel="query wall time (s)",
             title=f"time to max R-hat < {target} (hollow: not reached)")
    right.set(xscale="log", yscale="log", xlabel="people", ylabel="peak memory (MiB)", title="peak memory of that run")
    left.legend()
    right.legend()
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000, 30000, 100000])
    parser.add_argument("--methods", nargs="+", default=["mc-sat", "gibbs"])
    parser.add_argument("--target", type=float, default=1.1, help="max split R-hat over the query atoms to reach")
    parser.add_argument("--budget", type=float, nargs="+", default=[120.0],
                        help="sampler seconds per run: one for every size, or one per size")
    parser.add_argument("--first", type=int, default=50, help="samples per chain at the first R-hat checkpoint")
    parser.add_argument("--burn-in", type=int, default=100, help="steps per chain before the kept samples")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=3, metavar=("PEOPLE", "METHOD", "BUDGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(int(args.child[0]), args.child[1], args.first, args.burn_in, args.target,
                                  float(args.child[2]), args.threads)))
        return
    if len(args.budget) not in (1, len(args.sizes)):
        parser.error(f"--budget takes one value or one per size ({len(args.sizes)}), got {len(args.budget)}")
    budgets = args.budget * len(args.sizes) if len(args.budget) == 1 else args.budget
    import torch

    torch.set_num_threads(args.threads)
    from again_mln.devices import describe_machine
    from again_mln.io.atomic import write_text

    best = [grow(people, method, args.target, budget, args.first, args.burn_in, args.threads)
            for people, budget in zip(args.sizes, budgets) for method in args.methods]
    lines = [f"Machine: {describe_machine()}. Command: `python benchmarks/bench_sampling_growth.py {' '.join(sys.argv[1:])}`.\n",
             f"| people | ground formulas | sampler | budget (s) | samples per chain (4 chains) | max R-hat < {args.target}? | "
             "max R-hat | atoms with R-hat < 1.1 | query wall time (s) | sampler time (s) | peak memory (MiB) |",
             "| ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in best:
        if "error" in r:
            lines.append(f"| {r['people']:,} | | {r['method']} | | | failed: {r['error'][:120]} | | | | | |")
            continue
        lines.append(f"| {r['people']:,} | {r['ground_formulas']:,} | {r['method']} | {r['budget_s']:.0f} | {r['samples']} | "
                     f"{'yes' if r['max_rhat'] < args.target else 'no (budget)'} | {r['max_rhat']:.3f} | "
                     f"{100 * r['under_1_1']:.1f}% | {r['query_s']:.1f} | {r['sampler_s']:.1f} | {r['peak_mib']:.0f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.markdown:
        write_text(args.markdown, report)
    if args.json:
        write_text(args.json, json.dumps(best, indent=1))
    if args.plot:
        plot(best, args.target, args.plot)


if __name__ == "__main__":
    main()
