"""Measure test-split accuracy and CPU training time of the concept models (issue 5's targets).

    python benchmarks/concept_models.py --dataset mnist --model cbm --mode joint --epochs 8
Prints one JSON line per run; the note in benchmarks/README.md records the figures seen.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from again_mln.datasets import DataConfig
from again_mln.models.factory import ModelConfig
from again_mln.models.training import TrainConfig
from again_mln.models.workflow import train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--model", default="cbm")
    parser.add_argument("--mode", nargs="+", default=["joint"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--head-epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--n-train", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for mode in args.mode:
        cpu_start = time.process_time()
        result = train_model(
            DataConfig(args.dataset, seed=args.seed, n_train=args.n_train),
            ModelConfig(args.model),
            TrainConfig(mode=mode, epochs=args.epochs, head_epochs=args.head_epochs, lr=args.lr, seed=args.seed),
            progress=False, callback=lambda e: print(json.dumps(e), flush=True))
        print(json.dumps({"dataset": args.dataset, "model": args.model, "mode": mode, "epochs": args.epochs,
                          "threads": torch.get_num_threads(), "train_seconds": round(result.seconds, 1),
                          "process_cpu_seconds": round(time.process_time() - cpu_start, 1),
                          **{k: round(v, 4) for k, v in result.metrics.items()}}), flush=True)


if __name__ == "__main__":
    main()
