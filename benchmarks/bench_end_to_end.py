"""`again-mln rectify` end to end on CUB rules: start-up, throughput and peak memory.

The rules are the real CUB rules (`again-mln build-rules --dataset cub`, shared annotations via
``AGAIN_DATA``). Inputs are CBM-like (see realistic.py): 3% of each explanation's concepts are wrong.
Every run is a fresh `again-mln rectify ... --quiet` process, timed from outside; its peak memory
is read from /proc every 10 ms (VmHWM: all resident pages, file-backed ones of the memory-mapped
input included; RssAnon: the process's own memory).

Run: ``AGAIN_DATA=/work/shared/data python benchmarks/bench_end_to_end.py [--sizes 100000 2000000]``.
Prints a Markdown report.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from realistic import WRONG, likely_concepts, realistic_batch


def _status(pid: int) -> dict[str, int]:
    fields = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "RssAnon"):
                fields[key] = int(value.split()[0]) * 1024
    return fields


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall seconds, peak resident bytes (VmHWM) and peak anonymous resident bytes of a command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    hwm = anon = 0
    while process.poll() is None:
        try:
            fields = _status(process.pid)
            hwm, anon = max(hwm, fields.get("VmHWM", 0)), max(anon, fields.get("RssAnon", 0))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.01)
    seconds = time.perf_counter() - start
    out, err = process.communicate()
    if process.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{err.decode()}")
    return seconds, hwm, anon


def make_inputs(folder: Path, mln: Path, n: int, seed: int = 0, block: int = 200_000) -> tuple[Path, Path]:
    """preds_N.npy (N, M) float32 and cats_N.npy (N,) int64 of realistic explanations, written block by block."""
    from again_mln.again.graph import FactorGraph
    from again_mln.again.mlnfile import read_mln

    likely = likely_concepts(FactorGraph(read_mln(mln), device="cpu"))
    preds, cats = folder / f"preds_{n}.npy", folder / f"cats_{n}.npy"
    probs_out = np.lib.format.open_memmap(preds, "w+", np.float32, (n, likely.shape[1]))
    cats_out = np.lib.format.open_memmap(cats, "w+", np.int64, (n,))
    rng = np.random.default_rng(seed)
    for start in range(0, n, block):
        stop = min(start + block, n)
        probs_out[start:stop], cats_out[start:stop] = realistic_batch(likely, stop - start, rng)
    probs_out.flush()
    cats_out.flush()
    return preds, cats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 2_000_000])
    parser.add_argument("--strategy", default="switch")
    parser.add_argument("--startup-rows", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each start-up measurement; the fastest is kept")
    parser.add_argument("--folder", default=None, help="where inputs and outputs go (default: a temp folder)")
    args = parser.parse_args()

    folder = Path(args.folder or tempfile.mkdtemp(prefix="again_e2e_"))
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, XDG_CACHE_HOME=str(folder / "cache"))
    exe = str(Path(sys.executable).with_name("again-mln"))
    mln = folder / "cub.mln"
    subprocess.run([exe, "build-rules", "--dataset", "cub", "-o", str(mln)], env=env, check=True, capture_output=True)

    def rectify(n: int, *extra: str) -> tuple[float, int, int]:
        preds, cats = folder / f"preds_{n}.npy", folder / f"cats_{n}.npy"
        if not preds.exists():
            make_inputs(folder, mln, n)
        command = [exe, "rectify", str(preds), "--mln", str(mln), "--categories", str(cats), "-o",
                   str(folder / f"out_{n}.npz"), "--strategy", args.strategy, "--device", "cpu", "--quiet", *extra]
        runs = [run_measured(command, env) for _ in range(args.repeats if n == args.startup_rows else 1)]
        return min(runs, key=lambda run: run[0])

    torch_import = min(run_measured([sys.executable, "-c", "import torch"], env)[0] for _ in range(args.repeats))
    cold = rectify(args.startup_rows, "--no-cache")[0]
    rectify(args.startup_rows)  # fills the cache
    warm = rectify(args.startup_rows)[0]
    rows = [(n, *rectify(n)) for n in args.sizes]

    from again_mln.devices import describe_machine  # after the timed runs: it imports torch

    print(f"machine: {describe_machine()}, load average {os.getloadavg()[0]:.1f}, no GPU; strategy {args.strategy}, "
          f"{WRONG:.0%} of concepts wrong; start-up: fastest of {args.repeats} runs, sizes: one run each\n")
    print("| measurement | value |")
    print("| --- | ---: |")
    print(f"| `python -c 'import torch'` | {torch_import:.2f} s |")
    print(f"| rectify {args.startup_rows:,} explanations, cold cache (`--no-cache`) | {cold:.2f} s |")
    print(f"| rectify {args.startup_rows:,} explanations, warm cache | {warm:.2f} s |")
    print(f"| start-up beyond importing torch, warm cache | {warm - torch_import:.2f} s |")
    print(f"| start-up beyond importing torch, cold cache | {cold - torch_import:.2f} s |")
    print("\n| explanations | wall s | explanations / s beyond start-up | peak RSS (VmHWM) | peak anonymous RSS |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n, seconds, hwm, anon in rows:
        rate = (n - args.startup_rows) / max(seconds - warm, 1e-9)
        print(f"| {n:,} | {seconds:.2f} | {rate:,.0f} | {hwm / 2**20:,.0f} MiB | {anon / 2**20:,.0f} MiB |")


if __name__ == "__main__":
    main()
