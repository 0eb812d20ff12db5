"""Print the detection summary table (AUROC, IR over changed explanations, IR@SR98, E-ACC) of
one or more ``again-mln evaluate`` output folders, e.g.

    python benchmarks/detection_summary.py mnist=benchmarks/results/evaluation/mnist-full \
        ews=benchmarks/results/evaluation/ews-full
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from again_mln.evaluation.reporting import detection_summary


def main(arguments: list[str]) -> None:
    named = {}
    for argument in arguments:
        name, _, folder = argument.rpartition("=")
        named[name or Path(folder).name] = json.loads((Path(folder) / "evaluation.json").read_text())
    print(detection_summary(named))


if __name__ == "__main__":
    main(sys.argv[1:])
