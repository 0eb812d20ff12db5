"""Which clean explanations still look attacked, and why (issue 12, "results with a reading").

Trains one repeat of an evaluation preset (the same code path as ``again-mln evaluate``), calibrates
every detector on clean validation explanations, and reads the clean *test* explanations each
detector flags (its false alarms, about 1 - SR of them):

* did the network get a concept wrong (c_hat differs from the annotation), or the category?
* how confident was the network (the smallest |p - 0.5| over the concepts)?
* which rules do they break most often, and do the same rules break in the passed explanations?

    python benchmarks/false_alarms.py --dataset mnist --quick -o benchmarks/results/false_alarms_mnist.md
"""
from __future__ import annotations

import argparse
import time
import numpy as np
import torch

from again_mln.io.atomic import write_text
from again_mln.choices import AUTO, DETECTORS
from again_mln.devices import resolve_device
from again_mln.evaluation.experiments import evaluation_config, prepare
from again_mln.models.training import predict
from again_mln.validation import binarize


def broken_rules(graph, concepts: torch.Tensor, categories: torch.Tensor) -> torch.Tensor:
    """(N, R) bool: rules that cost their weight, psi = 0 under a positive weight or 1 under a negative one."""
    truth = graph.rule_truth(concepts, categories).bool()
    positive = graph.weight.to(truth.device) > 0
    return torch.where(positive, ~truth, truth)


def share(mask: np.ndarray) -> str:
    return f"{100 * mask.mean():.1f}%" if len(mask) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mnist", "ews", "cub-sim"), default="mnist")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-sr", type=float, default=0.98)
    parser.add_argument("--top", type=int, default=5, help="most often broken rules listed per detector")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    config = evaluation_config(args.dataset, args.quick, target_sr=args.target_sr, repeats=1,
                               detectors=(AUTO, *DETECTORS))
    device = resolve_device("auto")
    setup = prepare(config, args.seed, device, log=print)
    arrays = predict(setup.models["cbm"], setup.test, device=device)
    probs = arrays["concepts"]
    c_hat = binarize(torch.from_numpy(probs))
    y_hat = torch.from_numpy(arrays["categories"].argmax(1))
    concept_errors = (c_hat != setup.test.concepts.bool()).sum(1).numpy()
    category_wrong = (y_hat != setup.test.categories).numpy()
    margin = np.abs(probs - 0.5).min(1)
    broken = broken_rules(setup.compiled.graph, c_hat, y_hat).cpu().numpy()
    rules = setup.compiled.graph.ruleset.rules
    weights = setup.compiled.graph.weights.cpu().numpy()

    lines = [f"## Clean test explanations that look attacked: {args.dataset}{' (quick preset)' if args.quick else ''}", "",
             f"Command: `python benchmarks/false_alarms.py --dataset {args.dataset}{' --quick' if args.quick else ''} "
             f"--seed {args.seed} --target-sr {args.target_sr:g} -o {args.output}`", "",
             f"One repeat (seed {args.seed}): CBM on {len(setup.train)} training samples; detectors calibrated on "
             f"{len(setup.val)} clean validation explanations for SR >= {args.target_sr:g}; read on the "
             f"{len(setup.test)} clean test explanations. Auto picked `{setup.info.get('auto')}`.", "",
             "| detector | flagged clean | with a concept error | mean concept errors | category wrong | "
             "median min abs(p - 0.5) | passed: with a concept error | passed: median min abs(p - 0.5) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    readings = []
    for name, detector in setup.detectors.items():
        flagged = detector.detect(torch.from_numpy(probs), y_hat).cpu().numpy()
        passed = ~flagged
        lines.append(
            f"| {name} | {flagged.sum()} ({share(flagged)}) | {share(concept_errors[flagged] > 0)} | "
            f"{concept_errors[flagged].mean() if flagged.any() else float('nan'):.2f} | {share(category_wrong[flagged])} | "
            f"{np.median(margin[flagged]) if flagged.any() else float('nan'):.3f} | {share(concept_errors[passed] > 0)} | "
            f"{np.median(margin[passed]):.3f} |")
        excess = broken[flagged].mean(0) - broken[passed].mean(0)  # how much more often than in passed ones
        top = [f"  - `{rules[r].formula.to_mln()}` (weight {weights[r]:.2f}, {rules[r].comments[0] if rules[r].comments else ''}): "
               f"broken in {share(broken[flagged, r])} of the flagged, {share(broken[passed, r])} of the passed"
               for r in np.argsort(-excess, kind="stable")[:args.top] if flagged.any()]
        readings.append(f"- **{name}**: rules broken more often by its false alarms than by passed explanations:\n"
                        + "\n".join(top))
    lines += ["", "Rules behind the false alarms (a rule 'breaks' when it costs its weight):", "", *readings, "",
              f"Run time: {time.perf_counter() - start:.0f} s.", ""]
    write_text(args.output, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
