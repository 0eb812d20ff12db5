"""pracmln's eight example projects: our answers and times against pracmln's on the same files.

Reads pracmln's results (``benchmarks/pracmln_examples.py`` writes them:
``benchmarks/results/pracmln_examples.json``), runs ``again-mln query`` as a user would (one fresh
process per pair, timed from outside, start-up included) with the same queries, closed-world
predicates and grammar, and compares every marginal with pracmln's EnumerationAsk where that ran.

Run: ``AGAIN_DATA=../shared/data python benchmarks/bench_pracmln_examples.py [--results FILE]``.
Prints a Markdown table (and writes it with ``--output``).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRAMMARS = {"StandardGrammar": "standard", "PRACGrammar": "prac"}


def ours(folder: Path, run: dict, out: Path) -> tuple[str, float, list[dict[str, float]] | None, str]:
    again = str(Path(sys.executable).with_name("again-mln"))
    closed = ["*"] if run.get("cw") else run.get("closed_world") or []
    command = [again, "query", str(folder / "mlns" / run["mln"]), "--evidence", str(folder / "dbs" / run["db"]),
               "-o", str(out), "--quiet", "--grammar", GRAMMARS.get(run.get("grammar"), "auto")]
    if run.get("queries"):
        command += ["--queries", ",".join(run["queries"])]
    if closed:
        command += ["--closed-world", ",".join(closed)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        return "error", seconds, None, (done.stderr or done.stdout).strip().splitlines()[-1]
    answers: list[dict[str, float]] = []
    with out.open() as handle:
        for row in csv.DictReader(handle):
            index = int(row["database"])
            while len(answers) <= index:
                answers.append({})
            answers[index][row["atom"]] = float(row["probability"])
    return "ok", seconds, answers, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def in_process(folder: Path, run: dict) -> float | None:
    """Seconds to read, ground and answer in this process (no start-up), or None on refusal."""
    from again_mln.errors import AgainError
    from again_mln.mln import query, read_db, read_mln

    start = time.perf_counter()
    try:
        mln = read_mln(folder / "mlns" / run["mln"], GRAMMARS.get(run.get("grammar"), "auto"))
        databases = read_db(folder / "dbs" / run["db"], mln)
        queries = run.get("queries") or list(mln.predicates)
        query(mln, databases, queries, ["*"] if run.get("cw") else run.get("closed_world") or [])
    except AgainError:
        return None
    return time.perf_counter() - start


def max_difference(mine: list[dict[str, float]], theirs: list[dict[str, float]]) -> float | str:
    if len(mine) != len(theirs):
        return f"{len(mine)} vs {len(theirs)} databases"
    worst = 0.0
    for a, b in zip(mine, theirs):
        if set(a) != set(b):
            return f"atoms differ: {sorted(set(a) ^ set(b))[:3]}"
        worst = max(worst, max((abs(a[k] - b[k]) for k in a), default=0.0))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "pracmln_examples.json")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    from again_mln.devices import describe_machine

    theirs = json.loads(args.results.read_text())
    root = Path(os.environ.get("AGAIN_DATA", "../shared/data")) / "pracmln-examples"
    pairs: dict[tuple, dict] = {}
    for run in theirs["runs"]:
        key = (run["example"], run["mln"], run["db"])
        entry = pairs.setdefault(key, {"run": run})
        entry[run["method"]] = run
    lines = [f"Machine: {describe_machine()}. Command: `python benchmarks/bench_pracmln_examples.py`; pracmln's side: "
             f"`{theirs.get('command', 'python benchmarks/pracmln_examples.py')}` (limit {theirs.get('timeout_s')} s). "
             "Our time: wall clock of one fresh `again-mln query` process (start-up, reading, grounding, inference, "
             "writing); answering: reading, grounding and inference inside one process. pracmln's: its subprocess. "
             "Max difference: largest |ours - pracmln EnumerationAsk| over every query atom of every database.", "",
             "| example | mln | db | ours | our time (s) | of which answering (s) | pracmln EnumerationAsk (s) | pracmln MC-SAT (s) | max difference |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    with tempfile.TemporaryDirectory() as tmp:
        for (example, mln, db), entry in pairs.items():
            status, seconds, answers, note = ours(root / example, entry["run"], Path(tmp) / "out.csv")
            exact = entry.get("EnumerationAsk", {})
            sampled = entry.get("MC-SAT", {})
            if status == "ok" and exact.get("status") == "ok":
                diff = max_difference(answers, exact["marginals"])
                shown = f"{diff:.1e}" if isinstance(diff, float) else diff
            else:
                shown = "n/a"
            def theirs_cell(run: dict) -> str:
                if not run:
                    return "not run"
                return f"{run['seconds']:.1f}" if run["status"] == "ok" else f"{run['status'].split(':')[0]} ({run['seconds']:.0f})"
            mine = "exact" if status == "ok" else f"refused: {note[:120]}"
            inside = in_process(root / example, entry["run"]) if status == "ok" else None
            lines.append(f"| {example} | {mln} | {db} | {mine} | {seconds:.1f} | {'' if inside is None else f'{inside:.2f}'} | "
                         f"{theirs_cell(exact)} | {theirs_cell(sampled)} | {shown} |")
            print(lines[-1], file=sys.stderr)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
