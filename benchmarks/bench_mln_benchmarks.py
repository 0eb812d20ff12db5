"""The standard Markov logic benchmarks, UW-CSE and Kinship (ExpressGNN's copies), end to end.

UW-CSE: learn the rule weights (BPLL) on four areas, predict the query atoms (advisedBy) of the
fifth given its facts, for each of the five areas (leave-one-area-out, as in the literature).
Kinship: the same over S1..S5 (learn on four, predict the fifth). Prediction: exact marginals
where every component fits, else the sampler the engine picks (``--method``). Each fold runs in
its own process, so that its peak memory (VmHWM) is its own.

Run: ``AGAIN_DATA=../shared/data python benchmarks/bench_mln_benchmarks.py [--sets kinship uw_cse]
[--unit-clauses] [--prior-sd 2] [--max-iter 3000] [--samples 500 --burn-in 100] [--exclude ai --held-out language]
[--markdown out.md]``; benchmarks/results/mln_benchmarks.md gives the settings used and how they were chosen.
Prints a Markdown table of AUC-PR and AUC-ROC of the query atoms, learning and inference time,
peak memory per fold (after learning, and overall), whether L-BFGS converged, and for sampled
folds the largest split R-hat and MC-SAT's share of rejected slice moves.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from again_mln.errors import AgainWarning


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


def _peak_mib() -> float:
    """This process's peak resident memory so far (VmHWM), in MiB."""
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmHWM")) / 1024


def with_unit_clauses(mln):
    """``mln`` plus a weight-0 unit clause P(a0, ..., an) for every predicate, as Alchemy's
    ``learnwts`` adds by default (``-noAddUnitClauses`` turns it off): their weights learn each
    predicate's base rate (advisedBy is true for about 1% of pairs), which the rules alone leave
    free, so that the joint model does not favour worlds the conditionals never saw."""
    from again_mln.mln.files import format_mln, parse_mln

    units = [f"0 {p.name}({', '.join(f'a{i}' for i in range(p.arity))})" for p in mln.predicates.values()]
    return parse_mln(format_mln(mln) + "\n".join(units) + "\n", "unit clauses", grammar="standard")


def fold(root: Path, family: str, held_out: str, method: str, prior_sd: float | None = None, max_iter: int = 1000,
         samples: int = 500, burn_in: int = 100, chains: int = 4, exclude: tuple[str, ...] = (),
         unit_clauses: bool = False) -> dict:
    """Learn on every folder of ``family`` but ``held_out`` and ``exclude``, answer ``held_out``'s queries.
    ``exclude`` keeps a test area out of a validation run that picks a setting (e.g. the prior)."""
    from again_mln.mln import query
    from again_mln.mln.benchmark_data import read_benchmark_folder
    from again_mln.mln.learning import learn_weights

    folders = [p.name for p in sorted((root / family).iterdir()) if p.is_dir() and p.name not in exclude]
    train = [read_benchmark_folder(root / family / name) for name in folders if name != held_out]
    test = read_benchmark_folder(root / family / held_out)
    start = time.perf_counter()
    mln = with_unit_clauses(test.mln) if unit_clauses else test.mln
    learned = learn_weights(mln, [t.training_database() for t in train], "bpll", prior_sd=prior_sd, max_iter=max_iter)
    learn_seconds = time.perf_counter() - start
    learn_peak = _peak_mib()
    start = time.perf_counter()
    with warnings.catch_warnings():  # the R-hat is in the table
        warnings.simplefilter("ignore", AgainWarning)
        answer = query(learned.mln, [test.evidence], test.query_predicates, ["*"], method=method, samples=samples,
                       burn_in=burn_in, chains=chains)[0]
    infer_seconds = time.perf_counter() - start
    values = answer.to_dict()
    atoms = sorted(test.queries)
    scores = np.array([values[a] for a in atoms])
    labels = np.array([test.queries[a] for a in atoms])
    report = answer.stats.get("convergence")
    sampled = {} if report is None else {"max_rhat": report.max_rhat, "over_1_1": int((report.rhat > 1.1).sum()),
                                         "rejected": report.rejected, "sampled_atoms": len(report.atoms)}
    return {"family": family, "held_out": held_out, "train": [f for f in folders if f != held_out],
            "queries": len(atoms), "true": int(labels.sum()), "auc_pr": auc_pr(scores, labels), "auc_roc": auc_roc(scores, labels),
            "learn_s": learn_seconds, "grounding_s": learned.seconds["grounding"],
            "optimisation_s": learned.seconds["optimisation"], "infer_s": infer_seconds, "iterations": learned.iterations,
            "converged": learned.converged, "max_weight": max(abs(f.weight) for f in learned.mln.formulas if f.weight is not None),
            "learn_peak_mib": learn_peak, "peak_mib": _peak_mib(), "routes": answer.stats.get("routes", {}), **sampled}


def table(rows: list[dict]) -> str:
    """The Markdown table of the folds."""
    lines = ["| data | held out | query atoms (true) | AUC-PR | AUC-ROC | learning (s): grounding + L-BFGS | L-BFGS iterations (converged) | max abs weight "
             "| inference (s) | routes | max R-hat (atoms > 1.1) | rejected slice moves | peak memory after learning / overall (MiB) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['family']} | {r['held_out']} | failed: {r['error'][:150]} |" + " |" * 10)
            continue
        rhat = f"{r['max_rhat']:.3f} ({r['over_1_1']} of {r['sampled_atoms']})" if "max_rhat" in r else ""
        rejected = f"{r['rejected']:.3f}" if "rejected" in r else ""
        lines.append(f"| {r['family']} | {r['held_out']} | {r['queries']} ({r['true']}) | {r['auc_pr']:.3f} | {r['auc_roc']:.3f} | "
                     f"{r['learn_s']:.1f}: {r['grounding_s']:.1f} + {r['optimisation_s']:.1f} | {r['iterations']} ({'yes' if r['converged'] else 'no'}) | {r['max_weight']:.1f} | "
                     f"{r['infer_s']:.1f} | {r['routes']} | {rhat} | {rejected} | {r['learn_peak_mib']:.0f} / {r['peak_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["kinship", "uw_cse"])
    parser.add_argument("--held-out", nargs="+", default=None, help="only these folds (e.g. ai theory)")
    parser.add_argument("--method", default="auto")
    parser.add_argument("--prior-sd", type=float, default=None, help="Gaussian prior on the weights (BPLL's MAP)")
    parser.add_argument("--max-iter", type=int, default=1000, help="L-BFGS iteration cap")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--burn-in", type=int, default=100)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads per fold")
    parser.add_argument("--unit-clauses", action="store_true", help="add a unit clause per predicate before "
                        "learning (Alchemy's learnwts default)")
    parser.add_argument("--exclude", nargs="+", default=[], help="folders left out of training and testing (a validation "
                        "run: --exclude ai --held-out language picks settings without seeing ai)")
    parser.add_argument("--fold", nargs=2, metavar=("FAMILY", "HELD_OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON of every fold here (atomically)")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the Markdown report here (atomically)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    root = Path(os.environ.get("AGAIN_DATA", "../shared/data")) / "mln-benchmarks"
    settings = dict(prior_sd=args.prior_sd, max_iter=args.max_iter, samples=args.samples, burn_in=args.burn_in,
                    chains=args.chains, exclude=tuple(args.exclude),
                    unit_clauses=args.unit_clauses)
    if args.fold:
        print(json.dumps(fold(root, *args.fold, args.method, **settings)))
        return
    from again_mln.devices import describe_machine
    from again_mln.io.atomic import write_text

    rows = []
    for family in args.sets:
        for held_out in sorted(p.name for p in (root / family).iterdir() if p.is_dir()):
            if (args.held_out and held_out not in args.held_out) or held_out in args.exclude:
                continue
            command = [sys.executable, __file__, "--fold", family, held_out, "--method", args.method,
                       "--max-iter", str(args.max_iter), "--samples", str(args.samples), "--burn-in", str(args.burn_in),
                       "--chains", str(args.chains)]
            command += ["--prior-sd", str(args.prior_sd)] if args.prior_sd else []
            command += ["--threads", str(args.threads)] if args.threads else []
            command += ["--exclude", *args.exclude] if args.exclude else []
            command += ["--unit-clauses"] if args.unit_clauses else []
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                rows.append({"family": family, "held_out": held_out, "error": (done.stderr.strip().splitlines() or ["?"])[-1]})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    report = (f"Machine: {describe_machine()}. Command: `python benchmarks/bench_mln_benchmarks.py {' '.join(sys.argv[1:])}`.\n\n"
              + table(rows))
    print(report)
    if args.markdown:
        write_text(args.markdown, report)
    if args.output:
        write_text(args.output, json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
