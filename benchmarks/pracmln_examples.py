"""pracmln 1.2.4 on its own eight example projects: what the oracle answers, how fast, and where it
fails, so the native engine knows which references exist and what beating pracmln means.

For each example in ``$AGAIN_DATA/pracmln-examples`` its ``query.conf`` pair (mln, db, queries,
cw_preds, cw, grammar, logic) runs with EnumerationAsk and with MC-SAT (the configured ``params``,
seeded), whatever their size, so every example shows what pracmln does. Every other ``.mln`` x
``.db`` pair of smokers, alarm and tweety runs with EnumerationAsk when it sums over at most
2^``--max-worlds-log2`` worlds; above that EnumerationAsk is recorded as ``skipped`` and so is
MC-SAT (pracmln 1.2.4's SampleSAT lists every world consistent with the evidence at every step,
so it costs more than enumeration), and MC-SAT runs only when EnumerationAsk timed out.

Each run is its own subprocess (``PYTHONHASHSEED=0``, memory capped) with a wall-clock limit; the
record: status ok / timeout / error (one line) / skipped, seconds (the subprocess's wall clock:
start, import, grounding and inference), the worlds per database and the marginals.

Run: ``AGAIN_DATA=/work/shared/data python benchmarks/pracmln_examples.py [--timeout 300]``.
Writes ``benchmarks/results/pracmln_examples.json`` and ``.md``.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EXAMPLES = ("alarm", "hmm", "meals", "object-recognition", "smokers", "taxonomies", "tweety", "vegetarians")
#: Examples whose every .mln x .db pair runs (they are small).
ALL_PAIRS = ("smokers", "alarm", "tweety")
METHODS = ("EnumerationAsk", "MC-SAT")
RESULTS = Path(__file__).resolve().parent / "results"


def parse_params(text: str) -> dict[str, Any]:
    """pracmln's ``params`` string (``p=0.6,maxsteps=1000``), read as literals, never evaluated."""
    if not text.strip():
        return {}
    call = ast.parse(f"dict({text})", mode="eval").body
    assert isinstance(call, ast.Call)
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}


def split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def jobs(data: Path, max_worlds_log2: float) -> list[dict[str, Any]]:
    """Every run, configured pairs first (both methods, forced), then the other pairs' EnumerationAsk."""
    configured, others = [], []
    for example in EXAMPLES:
        folder = data / example
        conf = json.loads((folder / "query.conf").read_text())
        base = {"example": example, "queries": split(conf.get("queries", "")),
                "closed_world": split(conf.get("cw_preds", "")), "grammar": conf.get("grammar", "auto"),
                "logic": conf.get("logic", "FirstOrderLogic"), "cw": bool(conf.get("cw", 0)),
                "configured_method": conf.get("method", "")}
        mcsat_params = {k: v for k, v in parse_params(conf.get("params", "")).items() if k != "debug"}
        mcsat_params.setdefault("rndseed", 0)
        for method in METHODS:
            configured.append({**base, "mln": conf["mln"], "db": conf["db"], "method": method, "configured": True,
                               "params": mcsat_params if method == "MC-SAT" else {}, "max_worlds_log2": None})
        if example in ALL_PAIRS:
            for mln in sorted(p.name for p in (folder / "mlns").glob("*.mln")):
                for db in sorted(p.name for p in (folder / "dbs").glob("*.db")):
                    if (mln, db) != (conf["mln"], conf["db"]):
                        others.append({**base, "mln": mln, "db": db, "method": "EnumerationAsk", "configured": False,
                                       "params": {}, "max_worlds_log2": max_worlds_log2, "mcsat_params": mcsat_params})
    return configured + others


def worker(job_file: str, result_file: str) -> None:
    """One run in this (sub)process: count the worlds, skip when asked to, else query pracmln."""
    from again_mln.engines.pracmln_query import pracmln_query, pracmln_worlds

    job = json.loads(Path(job_file).read_text())
    folder = Path(job["data"]) / job["example"]
    args = (folder / "mlns" / job["mln"], folder / "dbs" / job["db"], job["queries"], job["closed_world"])
    kwargs = {"grammar": job["grammar"], "logic": job["logic"]}
    params = {**job["params"], **({"cw": True} if job["cw"] else {})}
    out: dict[str, Any] = {"status": "error", "message": "", "worlds_log2": None, "marginals": None}
    try:
        worlds = pracmln_worlds(*args, params=params, **kwargs)
        out["worlds_log2"] = [round(math.log2(w), 2) if w else None for w in worlds]
        Path(result_file).write_text(json.dumps(out))  # what a timeout still reports
        limit = job["max_worlds_log2"]
        if limit is not None and max(worlds) > 2 ** limit:
            out.update(status="skipped", message=(
                f"2^{math.log2(max(worlds)):.1f} worlds > 2^{limit:g}" + (
                    "; pracmln's MC-SAT lists every world at every step" if job["method"] == "MC-SAT" else "")))
        else:
            start = time.perf_counter()
            out["marginals"] = pracmln_query(*args, method=job["method"], params=params, **kwargs)
            out.update(status="ok", query_seconds=round(time.perf_counter() - start, 3))
    except MemoryError:
        out["message"] = "MemoryError (over the memory cap)"
    except Exception as err:  # noqa: BLE001 - recorded, one line
        from again_mln.errors import one_line

        out["message"] = one_line(str(err) if type(err).__name__ == "AgainError" else f"{type(err).__name__}: {err}")
    out["message"] = out["message"].replace(f"{folder}{os.sep}", "")  # paths inside the example
    Path(result_file).write_text(json.dumps(out))


def run_job(job: dict[str, Any], timeout: float, memory_gb: float) -> dict[str, Any]:
    """``job`` in a fresh subprocess under the time limit and the memory cap."""
    def limit_memory() -> None:
        cap = int(memory_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    with tempfile.TemporaryDirectory(prefix="pracmln-examples-") as tmp:
        job_file, result_file = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_file.write_text(json.dumps(job))
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, "--worker", str(job_file), str(result_file)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                preexec_fn=limit_memory, start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            counted = json.loads(result_file.read_text())["worlds_log2"] if result_file.is_file() else None
            return {"status": "timeout", "message": f"no answer in {timeout:g} s",
                    "seconds": round(time.perf_counter() - start, 1), "worlds_log2": counted, "marginals": None}
        seconds = round(time.perf_counter() - start, 1)
        if result_file.is_file():
            return {**json.loads(result_file.read_text()), "seconds": seconds}
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return {"status": "error", "message": f"worker died: {tail[0][:200]}", "seconds": seconds,
                "worlds_log2": None, "marginals": None}


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# pracmln 1.2.4 on its example projects",
        "",
        f"Machine: {report['machine']}. Command: `{report['command']}`. "
        f"Each run is one subprocess, limit {report['timeout_s']:g} s, memory cap {report['memory_gb']:g} GB; "
        "seconds are its wall clock (start, import, grounding, inference). Configured pairs (from each "
        "`query.conf`, marked *) run both methods whatever their size; other pairs run EnumerationAsk up to "
        f"2^{report['max_worlds_log2']:g} worlds. Worlds: what EnumerationAsk sums over (log2, largest database). "
        "Marginals are in the `.json`.",
        "",
        "| example | mln | db | method | status | seconds | worlds (log2) | query atoms |",
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for run in report["runs"]:
        status = run["status"] + (f": {run['message']}" if run["status"] in ("error", "skipped") else "")
        worlds = max((w for w in run["worlds_log2"] or [] if w is not None), default=None)
        atoms = sum(len(m) for m in run["marginals"]) if run["marginals"] else ""
        lines.append(f"| {run['example']}{' *' if run['configured'] else ''} | {run['mln']} | {run['db']} | "
                     f"{run['method']} | {status.replace('|', '/')} | {run['seconds']:.1f} | "
                     f"{'' if worlds is None else f'{worlds:g}'} | {atoms} |")
    return "\n".join(lines) + "\n"


def save(report: dict[str, Any], out: Path) -> None:
    from again_mln.io.atomic import write_text

    write_text(out / "pracmln_examples.json", json.dumps(report, indent=1) + "\n")
    write_text(out / "pracmln_examples.md", markdown(report))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("AGAIN_DATA", "/work/shared/data")) / "pracmln-examples"
    parser.add_argument("--data", type=Path, default=default_data, help=f"the examples folder [default: {default_data}]")
    parser.add_argument("--timeout", type=float, default=300.0, help="wall-clock seconds per run [300]")
    parser.add_argument("--max-worlds-log2", type=float, default=24.0,
                        help="other pairs: EnumerationAsk only up to 2^this many worlds [24]")
    parser.add_argument("--memory-gb", type=float, default=6.0, help="address-space cap per run [6]")
    parser.add_argument("--only", nargs="*", default=None, help="only these examples")
    parser.add_argument("-o", "--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from again_mln.devices import describe_machine

    report: dict[str, Any] = {
        "machine": describe_machine(), "command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
        "pracmln": "1.2.4", "timeout_s": args.timeout, "memory_gb": args.memory_gb,
        "max_worlds_log2": args.max_worlds_log2, "data": str(args.data), "runs": []}
    args.out.mkdir(parents=True, exist_ok=True)
    todo = [j for j in jobs(args.data, args.max_worlds_log2) if args.only is None or j["example"] in args.only]
    while todo:
        job = todo.pop(0)
        result = run_job({**job, "data": str(args.data)}, args.timeout, args.memory_gb)
        run = {k: v for k, v in job.items() if k not in ("max_worlds_log2", "mcsat_params")} | result
        report["runs"].append(run)
        print(f"{job['example']:18} {job['mln'][:40]:40} {job['db'][:32]:32} {job['method']:14} "
              f"{result['status']:8} {result['seconds']:7.1f} s {result.get('message', '')[:80]}", flush=True)
        if not job["configured"] and job["method"] == "EnumerationAsk" and result["status"] in ("timeout", "skipped"):
            todo.insert(0, {**job, "method": "MC-SAT", "params": job["mcsat_params"]})
        save(report, args.out)


if __name__ == "__main__":
    main()
