"""Reports of an evaluation: records averaged over repeats, the paper-style tables (Markdown, also
what the CLI prints), CSV, JSON and a figure of LSM and E-ACC against the attack budget."""
from __future__ import annotations

import csv
import io
import json
import os
import platform
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from again_mln.atomic import atomic_path, write_text
from again_mln.experiments import Evaluation

METRICS = ("lsm", "e_acc", "p_acc", "ir", "sr")
#: attack strength, averaged too but without spread
ATTACK_FIELDS = ("target_rate", "changed")
CONDITIONS = ("clean", "known", "unknown")
LABELS = {"lsm": "LSM", "e_acc": "E-ACC", "p_acc": "P-ACC", "ir": "IR", "sr": "SR"}


def aggregate(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (method, condition, attack, eps): the mean over repeats of each metric and
    its sample standard deviation in ``std`` (0 for one repeat); ``None`` where not measured."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["method"], record["condition"], record["attack"], record["eps"]), []).append(record)
    out = []
    for (method, condition, attack, eps), rows in groups.items():
        entry: dict[str, Any] = {"method": method, "condition": condition, "attack": attack, "eps": eps}
        std: dict[str, float | None] = {}
        for name in METRICS + ATTACK_FIELDS:
            values = [r[name] for r in rows if r.get(name) is not None]
            entry[name] = float(np.mean(values)) if values else None
            if name in METRICS:
                std[name] = float(np.std(values, ddof=1)) if len(values) > 1 else (0.0 if values else None)
        entry["repeats"] = len(rows)
        entry["std"] = std
        out.append(entry)
    return out


def _columns(records: Sequence[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(condition, attack, eps) in table order: clean, then known, then unknown, by budget."""
    seen = {(r["condition"], r["attack"], r["eps"]) for r in records}
    return sorted(seen, key=lambda c: (CONDITIONS.index(c[0]), c[1], c[2]))


def _methods(records: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in records))


def _cell(record: dict[str, Any] | None, metric: str) -> str:
    if record is None or record[metric] is None:
        return "-"
    spread = record["std"][metric]
    return f"{100 * record[metric]:.1f}" + (f" ({100 * spread:.1f})" if record["repeats"] > 1 else "")


def _header(columns: list[tuple[str, str, float]], first: str) -> list[str]:
    """Column names ``clean``, ``known 4`` ...; :func:`tables` names each condition's attack once.
    A condition measured under two attacks keeps the attack in its columns."""
    attacks: dict[str, set[str]] = {}
    for condition, attack, _ in columns:
        attacks.setdefault(condition, set()).add(attack)
    names = [first] + [c if c == "clean" else f"{c} {a + ' ' if len(attacks[c]) > 1 else ''}{e:g}"
                       for c, a, e in columns]
    return ["| " + " | ".join(names) + " |", "|" + " --- |" * len(names)]


def metric_table(records: Sequence[dict[str, Any]], metric: str) -> str:
    """Methods (rows) by conditions (columns) for one metric, in percent: mean (std)."""
    columns = _columns(records)
    index = {(r["method"], r["condition"], r["attack"], r["eps"]): r for r in records}
    lines = _header(columns, "method")
    for method in _methods(records):
        cells = [_cell(index.get((method, *column)), metric) for column in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detection_table(records: Sequence[dict[str, Any]]) -> str:
    """IR and SR of the factor graph's detection, once per rectified model (detection does not
    depend on the strategy): IR under attack, SR on clean inputs."""
    columns = _columns(records)
    index = {(r["method"], r["condition"], r["attack"], r["eps"]): r for r in records}
    detectors = {}
    for method in _methods(records):
        if "+AGAIN" in method:
            detectors.setdefault(method.split("+AGAIN")[0] + "+AGAIN", method)
    lines = _header(columns, "detection")
    for label, method in detectors.items():
        for metric in ("ir", "sr"):
            cells = [_cell(index.get((method, *column)), metric) for column in columns]
            lines.append(f"| {label} {LABELS[metric]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def attack_table(records: Sequence[dict[str, Any]]) -> str:
    """How strong each attack was against each attacked model: the percentage of target concepts
    moved across 0.5 and of explanations changed at all (binarised)."""
    columns = [c for c in _columns(records) if c[0] != "clean"]
    index = {(r["method"], r["condition"], r["attack"], r["eps"]): r for r in records}
    lines = _header(columns, "attacked model")
    for method in _methods(records):
        if "+AGAIN" in method:
            continue
        for name, label in (("target_rate", "targets moved"), ("changed", "explanations changed")):
            cells = [f"{100 * r[name]:.1f}" if (r := index.get((method, *c))) and r[name] is not None else "-"
                     for c in columns]
            lines.append(f"| {method}: {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tables(records: Sequence[dict[str, Any]]) -> str:
    """All tables of an aggregated evaluation as Markdown (also readable in a terminal)."""
    attacks = {c: sorted({r["attack"] for r in records if r["condition"] == c}) for c in CONDITIONS[1:]}
    parts = ["Columns: attack budget eps in 1/255 of the input range; "
             + "; ".join(f"{c} perturbation = {', '.join(a)}" for c, a in attacks.items() if a) + "."]
    for metric in ("lsm", "e_acc", "p_acc"):
        parts.append(f"### {LABELS[metric]} (%)\n\n{metric_table(records, metric)}")
    parts.append(f"### Detection: IR and SR (%)\n\n{detection_table(records)}")
    parts.append(f"### Attack strength (%)\n\n{attack_table(records)}")
    return "\n\n".join(parts)


def machine() -> str:
    """One line describing where the run happened."""
    cpus = os.cpu_count()
    return (f"{platform.machine()}, {cpus} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}")


def markdown_report(evaluation: Evaluation, records: Sequence[dict[str, Any]], command: str | None = None,
                    figure: str | None = None) -> str:
    """The whole report: settings, per-repeat thresholds, run time and the tables."""
    config = evaluation.config
    thresholds = ", ".join(f"{run['threshold']:.4g}" for run in evaluation.runs)
    known, unknown = config.attack("known", 0), config.attack("unknown", 0)
    lines = [
        f"## Evaluation on {config.dataset}",
        "",
        *([f"Command: `{command}`", ""] if command else []),
        f"Run time: {evaluation.seconds:.0f} s wall, {evaluation.cpu_seconds:.0f} s CPU on {machine()}.",
        "",
        f"Repeats: {config.repeats} (seeds {config.seed}..{config.seed + config.repeats - 1}); mean (sample std) "
        f"in percent. Test samples: {config.n_test or 'all'}; CBM trained {config.epochs} epochs.",
        f"Known perturbation: {known.name} (CBM-AT fine-tuned {config.at_epochs} epochs against it at eps "
        f"{config.at_eps:g}/255, {config.at_steps} PGD steps). Unknown perturbation: {unknown.name}. "
        f"Attacks: L-inf PGD, {config.attack_steps} steps, random start, {config.n_targets} target concepts per "
        "direction, category preserved.",
        f"Detection relaxation d per repeat: {thresholds}"
        + (f" (calibrated for SR >= {config.target_sr:g} on clean validation data)" if config.target_sr else
           " (fixed)") + ".",
        "",
        tables(records),
    ]
    if figure:
        lines += ["", f"![LSM and E-ACC against the attack budget]({figure})"]
    return "\n".join(lines) + "\n"


def csv_text(records: Sequence[dict[str, Any]]) -> str:
    """One row per aggregated record, each metric followed by its spread."""
    header = ["method", "condition", "attack", "eps", *(f for m in METRICS for f in (m, f"{m}_std")), *ATTACK_FIELDS,
              "repeats"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for r in records:
        metrics = [v for m in METRICS for v in (r[m], r["std"][m])]
        writer.writerow([r["method"], r["condition"], r["attack"], r["eps"],
                         *("" if v is None else f"{v:.6f}" for v in metrics + [r[f] for f in ATTACK_FIELDS]),
                         r["repeats"]])
    return buffer.getvalue()


def plot(records: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = "") -> None:
    """LSM and E-ACC (rows) against eps under the known and unknown attack (columns), one line
    per method (its own marker, as strategies may coincide) with its spread as a band; eps 0 is
    the clean input."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = _methods(records)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True, sharey="row")
    for col, condition in enumerate(("known", "unknown")):
        for row, metric in enumerate(("lsm", "e_acc")):
            ax = axes[row, col]
            for number, method in enumerate(methods):
                points = sorted((r for r in records if r["method"] == method
                                 and r["condition"] in ("clean", condition)), key=lambda r: r["eps"])
                eps = np.array([r["eps"] for r in points])
                mean = np.array([100 * r[metric] for r in points])
                spread = np.array([100 * r["std"][metric] for r in points])
                style = "-" if "+AGAIN" in method else "--"
                line, = ax.plot(eps, mean, style, marker="osD^vP*X"[number % 8], ms=5 - 0.5 * (number % 3),
                                label=method, color=f"C{number}")
                ax.fill_between(eps, mean - spread, mean + spread, color=line.get_color(), alpha=0.15, lw=0)
            attack = next((r["attack"] for r in records if r["condition"] == condition), "")
            ax.set_title(f"{LABELS[metric]}, {condition} perturbation ({attack})", fontsize=10)
            ax.set_xticks([0, 4, 8, 16, 32])
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel(f"{LABELS[metric]} (%)")
            if row == 1:
                ax.set_xlabel("attack budget eps (/255); 0 = clean")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def write_reports(evaluation: Evaluation, folder: str | os.PathLike, command: str | None = None,
                  stem: str = "evaluation") -> tuple[list[dict[str, Any]], list[Path]]:
    """Aggregate and write ``stem``.json/.csv/.md/.png into ``folder``; returns the records and paths."""
    folder = Path(folder)
    records = aggregate(evaluation.records)
    paths = [folder / f"{stem}.{ext}" for ext in ("json", "csv", "md", "png")]
    write_text(paths[0], json.dumps(records, indent=1) + "\n")
    write_text(paths[1], csv_text(records))
    plot(records, paths[3], title=f"{evaluation.config.dataset}: mean over {evaluation.config.repeats} repeat(s)")
    write_text(paths[2], markdown_report(evaluation, records, command, figure=paths[3].name))
    return records, paths
