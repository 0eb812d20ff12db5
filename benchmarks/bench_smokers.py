"""First-order grounding and exact inference at scale: pracmln's smokers with N people.

The two formulas of pracmln's ``smoking.mln`` (weights as pracmln's BPLL learns them on its
training data), N people in friend groups of four (everyone friends with everyone else in the
group, both directions), Friends closed world, Smokes evidence for every other person; query
Smokes and Cancer. Every size runs as a fresh ``again-mln query --quiet`` process timed from
outside (start-up included, reported apart), its peak memory read from /proc every 10 ms.

Run: ``python benchmarks/bench_smokers.py [--sizes 100 1000 10000 20000 100000] [--plot out.png]``.
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MLN = """// pracmln's smokers (smokers/mlns/smoking.mln), with its BPLL weights on smoking-train.db
Friends(person, person)
Smokes(person)
Cancer(person)
0.646696 Smokes(x) => Cancer(x)
1.519900 Friends(x, y) => (Smokes(x) <=> Smokes(y))
"""


def write_case(folder: Path, n: int) -> tuple[Path, Path]:
    people = [f"P{i}" for i in range(n)]
    lines = []
    for start in range(0, n, 4):
        group = people[start:start + 4]
        lines += [f"Friends({a},{b})" for a in group for b in group if a != b]
    lines += [f"{'' if i % 4 else '!'}Smokes({p})" for i, p in enumerate(people) if i % 2 == 0]
    (folder / "smokers.mln").write_text(MLN)
    (folder / "smokers.db").write_text("\n".join(lines) + "\n")
    return folder / "smokers.mln", folder / "smokers.db"


def peak_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return 0


def run(command: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, peak_kib(process.pid))
        time.sleep(0.01)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-500:]}")
    return time.perf_counter() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000, 20000, 100000])
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--pracmln-sizes", type=int, nargs="*", default=[],
                        help="also run pracmln's EnumerationAsk at these sizes (one process each, --timeout)")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    from again_mln.devices import describe_machine

    again = str(Path(sys.executable).with_name("again-mln"))
    startup, _ = run([sys.executable, "-c", "import again_mln.mln.answers"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            mln, db = write_case(Path(tmp), n)
            seconds, peak = run([again, "query", str(mln), "--evidence", str(db), "--queries", "Smokes,Cancer",
                                 "--closed-world", "Friends", "-o", str(Path(tmp) / "out.csv"), "--quiet"])
            rows.append((n, seconds, peak / 1024))
            print(f"N={n}: {seconds:.1f} s, {peak / 1024:.0f} MiB", file=sys.stderr)
    theirs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.pracmln_sizes:
            mln, db = write_case(Path(tmp), n)
            script = ("from again_mln.engines.pracmln_query import pracmln_query; "
                      f"pracmln_query({str(mln)!r}, {str(db)!r}, ['Smokes', 'Cancer'], ['Friends'])")
            start = time.perf_counter()
            try:
                done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=args.timeout)
                theirs[n] = f"{time.perf_counter() - start:.1f}" if done.returncode == 0 else "error"
            except subprocess.TimeoutExpired:
                theirs[n] = f"timeout ({args.timeout:.0f})"
            print(f"pracmln N={n}: {theirs[n]}", file=sys.stderr)
    if theirs:
        print("pracmln 1.2.4, EnumerationAsk, same files: "
              + ", ".join(f"N = {n}: {t} s" for n, t in theirs.items()) + ".\n")
    sizes = " ".join(map(str, args.sizes)) + (f" --pracmln-sizes {' '.join(map(str, args.pracmln_sizes))}" if theirs else "")
    print(f"Machine: {describe_machine()}. Command: `python benchmarks/bench_smokers.py --sizes {sizes}`.")
    print(f"Start-up (importing the engine, torch included): {startup:.2f} s of each run.\n")
    print("| people | ground atoms queried | wall time (s) | peak memory (MiB) |\n| ---: | ---: | ---: | ---: |")
    for n, seconds, mib in rows:
        print(f"| {n:,} | {2 * n:,} | {seconds:.1f} | {mib:.0f} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
        sizes = [r[0] for r in rows]
        left.loglog(sizes, [r[1] for r in rows], "o-")
        left.set(xlabel="people", ylabel="wall time (s)", title="again-mln query, smokers")
        right.loglog(sizes, [r[2] for r in rows], "o-")
        right.set(xlabel="people", ylabel="peak memory (MiB)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
