"""The standard Markov logic benchmarks, UW-CSE and Kinship (ExpressGNN's copies), end to end.

UW-CSE: learn the rule weights (BPLL) on four areas, predict the query atoms (advisedBy) of the
fifth given its facts, for each of the five areas (leave-one-area-out, as in the literature).
Kinship: the same over S1..S5 (learn on four, predict the fifth). Prediction: exact marginals
where every component fits, else the sampler the engine picks (``--method``). Each fold runs in
its own process, so that its peak memory (VmHWM) is its own.

Run: ``AGAIN_DATA=../shared/data python benchmarks/bench_mln_benchmarks.py [--sets kinship uw_cse]``.
Prints a Markdown table of AUC-PR and AUC-ROC of the query atoms, learning and inference time
and peak memory per fold.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def auc_roc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(a true atom scores above a false one), ties counted half."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    positives = labels.sum()
    negatives = len(labels) - positives
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def auc_pr(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision: the mean over true atoms of the precision at its score."""
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def fold(root: Path, family: str, held_out: str, method: str) -> dict:
    from again_mln.mln import query
    from again_mln.mln.benchmark_data import read_benchmark_folder
    from again_mln.mln.learning import learn_weights

    folders = sorted(p.name for p in (root / family).iterdir() if p.is_dir())
    train = [read_benchmark_folder(root / family / name) for name in folders if name != held_out]
    test = read_benchmark_folder(root / family / held_out)
    start = time.perf_counter()
    learned = learn_weights(test.mln, [t.training_database() for t in train], "bpll")
    learn_seconds = time.perf_counter() - start
    start = time.perf_counter()
    answer = query(learned.mln, [test.evidence], test.query_predicates, ["*"], method=method)[0]
    infer_seconds = time.perf_counter() - start
    values = answer.to_dict()
    atoms = sorted(test.queries)
    scores = np.array([values[a] for a in atoms])
    labels = np.array([test.queries[a] for a in atoms])
    with open("/proc/self/status") as handle:
        peak = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM")) / 1024
    return {"family": family, "held_out": held_out, "train": [f for f in folders if f != held_out],
            "queries": len(atoms), "true": int(labels.sum()), "auc_pr": auc_pr(scores, labels), "auc_roc": auc_roc(scores, labels),
            "learn_s": learn_seconds, "infer_s": infer_seconds, "iterations": learned.iterations, "peak_mib": peak,
            "routes": answer.stats.get("routes", {})}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="+", default=["kinship", "uw_cse"])
    parser.add_argument("--method", default="auto")
    parser.add_argument("--fold", nargs=2, metavar=("FAMILY", "HELD_OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON of every fold here")
    args = parser.parse_args()
    root = Path(os.environ.get("AGAIN_DATA", "../shared/data")) / "mln-benchmarks"
    if args.fold:
        print(json.dumps(fold(root, *args.fold, args.method)))
        return
    from again_mln.devices import describe_machine

    rows = []
    for family in args.sets:
        for held_out in sorted(p.name for p in (root / family).iterdir() if p.is_dir()):
            done = subprocess.run([sys.executable, __file__, "--fold", family, held_out, "--method", args.method],
                                  capture_output=True, text=True)
            if done.returncode:
                rows.append({"family": family, "held_out": held_out, "error": (done.stderr.strip().splitlines() or ["?"])[-1]})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    print(f"Machine: {describe_machine()}. Command: `python benchmarks/bench_mln_benchmarks.py --sets {' '.join(args.sets)}"
          f" --method {args.method}`.\n")
    print("| data | held out | query atoms (true) | AUC-PR | AUC-ROC | learning (s) | inference (s) | peak memory (MiB) | routes |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        if "error" in r:
            print(f"| {r['family']} | {r['held_out']} | | | | | | | failed: {r['error'][:150]} |")
        else:
            print(f"| {r['family']} | {r['held_out']} | {r['queries']} ({r['true']}) | {r['auc_pr']:.3f} | {r['auc_roc']:.3f} | "
                  f"{r['learn_s']:.1f} | {r['infer_s']:.1f} | {r['peak_mib']:.0f} | {r['routes']} |")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
