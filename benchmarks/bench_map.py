"""The `map` strategy on the CUB rules: the exact MAP kernel alone (``inference.map_assignment``
with the network's evidence) and ``Rectifier(..., "map").rectify`` (detection + map + rescoring), per batch
size, random inputs (every explanation flagged at d = 0.9). Reports wall and process CPU time
(the CPU time is the fairer figure on a shared machine).

Run: ``AGAIN_DATA=... python benchmarks/bench_map.py --threads 1 [--repeats 7]``.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from again_mln.devices import describe_machine
from again_mln.again.graph import FactorGraph
from again_mln.mln.inference import map_assignment
from again_mln.again.evidence import network_evidence
from again_mln.again.rectifier import Rectifier
from again_mln.rulegen.cub import build_cub_rules


def _best(fn, repeats: int) -> tuple[float, float]:
    """Fastest (wall s, CPU s) of ``repeats`` calls after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="*", default=[1024, 4096, 16384])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    graph = FactorGraph(build_cub_rules(), device="cpu")
    rectifier = Rectifier(graph, "map", threshold=0.9)  # solves S_max
    view = graph.factor_view()
    generator = torch.Generator().manual_seed(0)
    print(f"CUB rules: {graph}; {describe_machine()}, load average {os.getloadavg()[0]:.1f}\n")
    print("| batch | map kernel ms (CPU ms) | kernel explanations/s | detection + map ms (CPU ms) | detection + map explanations/s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for batch in args.batches:
        probs = torch.rand(batch, graph.num_concepts, generator=generator)
        categories = torch.randint(0, graph.num_categories, (batch,), generator=generator)
        evidence = network_evidence(probs, 1.0)
        kernel = _best(lambda: map_assignment(view, categories, evidence), args.repeats)
        full = _best(lambda: rectifier.rectify(probs, categories), args.repeats)
        print(f"| {batch:,} | {1000 * kernel[0]:.1f} ({1000 * kernel[1]:.1f}) | {batch / kernel[0]:,.0f} | "
              f"{1000 * full[0]:.1f} ({1000 * full[1]:.1f}) | {batch / full[0]:,.0f} |")


if __name__ == "__main__":
    main()
