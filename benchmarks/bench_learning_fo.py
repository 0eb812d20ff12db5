"""First-order weight learning (issue 23): our learner beside pracmln's, and its growth with the data.

Agreement and speed: pracmln's smokers example (``smoking.mln`` on ``smoking-train.db``) and random
small first-order MLNs (``bench_sampling.random_mln``: unary A, B and binary Rel, 2-3 literal
clauses; closed-world training databases), learned by BPLL and by CLL (pracmln's DCLL with one
partition, the exact conditional likelihood of the query predicates) by our engine and by pracmln
1.2.4, in this process, from the same files (parsing included on both sides), each the best of
``--repeat`` runs after one warm-up; the largest weight difference and the time ratio.

Growth: PLL and BPLL on generated smokers training data of N people (a random friendship graph of
average degree 4; Smokes: a fifth of the people at random, then each non-smoker with a smoking
friend starts with probability 0.3; Cancer with probability 0.5 for smokers, 0.05 for the others),
every ground atom known (closed world, as pracmln trains). Grounding (the evidence-pruned
groundings and their counts) and optimisation (L-BFGS) are timed apart (``Learned.seconds``); each
N runs in its own process, so that its peak memory (VmHWM) is its own.

Run: ``AGAIN_DATA=../shared/data python benchmarks/bench_learning_fo.py [--sizes 100 300 1000 3000 10000]
[--random 5] [--threads 1] [--markdown out.md] [--plot out.png] [--json out.json]``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMOKERS_MLN = """Friends(person, person)
Smokes(person)
Cancer(person)
0 Smokes(x) => Cancer(x)
0 Friends(x, y) => (Smokes(x) <=> Smokes(y))
"""


def smokers_training(people: int, seed: int = 0) -> str:
    """A complete smokers training database (true atoms; the rest false by the closed world) of
    ``people`` on a random friendship graph of average degree 4, drawn by the rule in the module
    docstring, so that both formulas have something to learn."""
    rng = random.Random(seed)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < people * 2:
        a, b = rng.randrange(people), rng.randrange(people)
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    friends: list[list[int]] = [[] for _ in range(people)]
    for a, b in pairs:
        friends[a].append(b)
        friends[b].append(a)
    smokes = [rng.random() < 0.2 for _ in range(people)]
    influenced = [not s and any(smokes[f] for f in friends[i]) and rng.random() < 0.3 for i, s in enumerate(smokes)]
    smokes = [s or t for s, t in zip(smokes, influenced)]
    lines = [f"Friends(P{a},P{b})\nFriends(P{b},P{a})" for a, b in sorted(pairs)]
    lines += [f"Smokes(P{i})" for i in range(people) if smokes[i]]
    lines += [f"Cancer(P{i})" for i in range(people) if rng.random() < (0.5 if smokes[i] else 0.05)]
    return "\n".join(lines) + "\n"


def _best(run, repeat: int) -> tuple[float, object]:
    """The fastest of ``repeat`` timed calls of ``run`` after one untimed warm-up, and its result."""
    result = run()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare(name: str, mln_path: Path, db_path: Path, method: str, queries: list[str], prior_sd: float | None,
            repeat: int) -> dict:
    """Ours and pracmln's weights and times for one case."""
    from again_mln.engines.pracmln_query import pracmln_learn
    from again_mln.mln import read_db, read_mln
    from again_mln.mln.learning import learn_weights

    def ours():
        mln = read_mln(mln_path)
        return learn_weights(mln, read_db(db_path, mln), method, prior_sd=prior_sd, queries=queries or None)

    ours_s, learned = _best(ours, repeat)
    theirs_s, theirs = _best(lambda: pracmln_learn(mln_path, [db_path], method, queries, prior_sd), repeat)
    mine = [f.weight for f in learned.mln.formulas]
    difference = max((abs(a - b) for a, b in zip(mine, theirs) if b is not None), default=0.0)
    return {"case": name, "method": method, "queries": queries, "prior_sd": prior_sd, "formulas": len(mine),
            "size": learned.size, "ours_s": ours_s, "pracmln_s": theirs_s, "ratio": theirs_s / ours_s,
            "max_weight_difference": difference, "ours": mine, "pracmln": theirs}


def comparisons(root: Path, random_cases: int, repeat: int) -> list[dict]:
    """Smokers by BPLL (no prior, pracmln's published example) and by CLL of Smokes; random MLNs by
    BPLL and CLL of A and B, with a prior (sd 2) so that weights stay finite on random data."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_sampling import random_mln

    smokers = root / "pracmln-examples" / "smokers"
    mln_path, db_path = smokers / "mlns" / "smoking.mln", smokers / "dbs" / "smoking-train.db"
    rows = [compare("smokers", mln_path, db_path, "bpll", [], None, repeat),
            compare("smokers", mln_path, db_path, "cll", ["Smokes"], None, repeat)]
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(random_cases):
            mln_text, db_text, _, _ = random_mln(seed, objects=4, formulas=5, evidence=0.5)
            mln_path, db_path = Path(folder) / f"random{seed}.mln", Path(folder) / f"random{seed}.db"
            mln_path.write_text(mln_text)
            db_path.write_text(db_text)
            for method, queries in (("bpll", []), ("cll", ["A", "B"])):
                rows.append(compare(f"random {seed}", mln_path, db_path, method, queries, 2.0, repeat))
            print(rows[-1], file=sys.stderr)
    return rows


def grow_once(people: int, method: str) -> dict:
    """Learn the smokers weights on ``people`` generated people: times, size, peak memory."""
    from again_mln.mln import parse_db, parse_mln
    from again_mln.mln.learning import learn_weights

    mln = parse_mln(SMOKERS_MLN, "smokers.mln")
    start = time.perf_counter()
    dbs = parse_db(smokers_training(people), mln, f"smokers-{people}.db")
    parse_s = time.perf_counter() - start
    learned = learn_weights(mln, dbs, method)
    with open("/proc/self/status") as handle:
        peak = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM")) / 1024
    return {"people": people, "method": method, "parse_s": parse_s, "grounding_s": learned.seconds["grounding"],
            "optimisation_s": learned.seconds["optimisation"], "iterations": learned.iterations,
            "converged": learned.converged, "size": learned.size, "weights": [f.weight for f in learned.mln.formulas],
            "peak_mib": peak}


def growth(sizes: list[int], methods: list[str], threads: int) -> list[dict]:
    """One child process per size and method; a failure (e.g. over the count limit) is a row."""
    rows = []
    for people in sizes:
        for method in methods:
            done = subprocess.run([sys.executable, __file__, "--child", str(people), method, "--threads", str(threads)],
                                  capture_output=True, text=True)
            if done.returncode:
                rows.append({"people": people, "method": method, "error": (done.stderr.strip().splitlines() or ["?"])[-1]})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    """Grounding, optimisation and total learning time against the number of people, log-log,
    one line style per method, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from again_mln.io.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, style in (("pll", "-"), ("bpll", "--")):
        done = [r for r in rows if r["method"] == method and "error" not in r]
        if not done:
            continue
        x = [r["people"] for r in done]
        for key, colour in (("grounding_s", "tab:blue"), ("optimisation_s", "tab:orange")):
            ax.plot(x, [r[key] for r in done], style, marker="o", color=colour, label=f"{method} {key[:-2]}")
        ax.plot(x, [r["grounding_s"] + r["optimisation_s"] for r in done], style, marker="s", color="black",
                label=f"{method} total")
    ax.set(xscale="log", yscale="log", xlabel="people", ylabel="wall time (s)",
           title="smokers PLL/BPLL learning, closed-world training data")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def report(compared: list[dict], grown: list[dict], machine: str) -> str:
    """The Markdown report: the pracmln table, then the growth table."""
    lines = [f"Machine: {machine}. Command: `python benchmarks/bench_learning_fo.py {' '.join(sys.argv[1:])}`.\n",
             "## Ours beside pracmln (same files, parsing included, best of the repeats)\n",
             "| case | method (query predicates) | prior sd | objective over | ours (s) | pracmln (s) | pracmln / ours "
             "| max weight difference |", "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for r in compared:
        what = f"{r['method']} ({', '.join(r['queries'])})" if r["queries"] else r["method"]
        lines.append(f"| {r['case']} | {what} | {r['prior_sd'] or 'none'} | {r['size']} | {r['ours_s']:.3f} | "
                     f"{r['pracmln_s']:.3f} | {r['ratio']:.1f} | {r['max_weight_difference']:.1e} |")
    lines += ["\n## Growth with the number of people (generated smokers training data)\n",
              "| people | method | objective over | parse (s) | grounding (s) | optimisation (s) | L-BFGS iterations "
              "| weights | peak memory (MiB) |", "| ---: | --- | --- | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in grown:
        if "error" in r:
            lines.append(f"| {r['people']:,} | {r['method']} | failed: {r['error'][:160]} | | | | | | |")
            continue
        weights = ", ".join(f"{w:.3f}" for w in r["weights"])
        lines.append(f"| {r['people']:,} | {r['method']} | {r['size']} | {r['parse_s']:.2f} | {r['grounding_s']:.2f} | "
                     f"{r['optimisation_s']:.2f} | {r['iterations']} ({'converged' if r['converged'] else 'cap'}) | "
                     f"{weights} | {r['peak_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 3000, 10000])
    parser.add_argument("--methods", nargs="+", default=["pll", "bpll"], help="growth: pseudo-likelihood methods")
    parser.add_argument("--random", type=int, default=5, help="random MLNs compared with pracmln")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per comparison (the best is kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=2, metavar=("PEOPLE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(grow_once(int(args.child[0]), args.child[1])))
        return
    from again_mln.devices import describe_machine
    from again_mln.io.atomic import write_text

    root = Path(os.environ.get("AGAIN_DATA", "../shared/data"))
    compared = comparisons(root, args.random, args.repeat)
    grown = growth(args.sizes, args.methods, args.threads)
    text = report(compared, grown, describe_machine())
    print(text)
    if args.markdown:
        write_text(args.markdown, text)
    if args.json:
        write_text(args.json, json.dumps({"pracmln": compared, "growth": grown}, indent=1))
    if args.plot:
        plot(grown, args.plot)


if __name__ == "__main__":
    main()
