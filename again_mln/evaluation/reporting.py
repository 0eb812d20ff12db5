"""Reports of an evaluation: records averaged over repeats, the paper-style tables (Markdown, also
what the CLI prints), CSV, JSON, a figure of LSM and E-ACC against the attack budget and one of
each detector's ROC curves (IR against 1 - SR, one curve per budget)."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from again_mln.io.atomic import atomic_path, output_folder, write_text
from again_mln.errors import AgainError
from again_mln.evaluation.experiments import ROC_GRID, Evaluation

#: threshold-free detection metrics of attacked AGAIN records (again_mln.evaluation.experiments.detection_fields)
DETECTION = ("ir_changed", "changed_fraction", "auroc", "ir_at_sr95", "ir_at_sr98", "ir_at_sr99")
METRICS = ("lsm", "e_acc", "p_acc", "ir", "sr") + DETECTION
#: attack strength, averaged too but without spread
ATTACK_FIELDS = ("target_rate", "changed")
CONDITIONS = ("clean", "known", "unknown")
LABELS = {"lsm": "LSM", "e_acc": "E-ACC", "p_acc": "P-ACC", "ir": "IR", "sr": "SR", "ir_changed": "IR changed",
          "changed_fraction": "changed", "auroc": "AUROC", "ir_at_sr95": "IR@SR95", "ir_at_sr98": "IR@SR98",
          "ir_at_sr99": "IR@SR99"}


def _key(record: dict[str, Any]) -> tuple:
    return record["method"], record.get("detector"), record["condition"], record["attack"], record["eps"]


def aggregate(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (method, detector, condition, attack, eps): the mean over repeats of each
    metric and its sample standard deviation in ``std`` (0 for one repeat); ``None`` where not
    measured."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(_key(record), []).append(record)
    out = []
    for (method, detector, condition, attack, eps), rows in groups.items():
        entry: dict[str, Any] = {"method": method, "detector": detector, "condition": condition, "attack": attack,
                                 "eps": eps}
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


def _methods(records: Sequence[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(method, detector) rows in first-seen order."""
    return list(dict.fromkeys((r["method"], r.get("detector")) for r in records))


def _row_label(method: str, detector: str | None, records: Sequence[dict[str, Any]]) -> str:
    """The method, with its detector when the records compare several."""
    several = len({r.get("detector") for r in records if r.get("detector")}) > 1
    return f"{method} [{detector}]" if several and detector else method


def _index(records: Sequence[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    return {_key(r): r for r in records}


def _cell(record: dict[str, Any] | None, metric: str) -> str:
    if record is None or record.get(metric) is None:
        return "-"
    spread = record["std"][metric]
    if metric == "auroc":
        return f"{record[metric]:.3f}" + (f" ({spread:.3f})" if record["repeats"] > 1 else "")
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
    index = _index(records)
    lines = _header(columns, "method")
    for method, detector in _methods(records):
        cells = [_cell(index.get((method, detector, *column)), metric) for column in columns]
        lines.append(f"| {_row_label(method, detector, records)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def detection_table(records: Sequence[dict[str, Any]]) -> str:
    """Each detector once per rectified model (detection does not depend on the strategy): SR on
    clean inputs; under attack IR, IR over the changed explanations, AUROC (clean test vs
    attacked) and IR at SR 95/98/99% (operating points on the clean test scores)."""
    columns = _columns(records)
    index = _index(records)
    detectors: dict[tuple[str, str | None], str] = {}
    for method, detector in _methods(records):
        if "+AGAIN" in method:
            detectors.setdefault((method.split("+AGAIN")[0] + "+AGAIN", detector), method)
    lines = _header(columns, "detection")
    for (label, detector), method in detectors.items():
        for metric in ("sr", "ir", "ir_changed", "auroc", "ir_at_sr95", "ir_at_sr98", "ir_at_sr99"):
            cells = [_cell(index.get((method, detector, *column)), metric) for column in columns]
            lines.append(f"| {label} [{detector}] {LABELS[metric]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def attack_table(records: Sequence[dict[str, Any]]) -> str:
    """How strong each attack was against each attacked model: the percentage of target concepts
    moved across 0.5 and of explanations changed at all (binarised)."""
    columns = [c for c in _columns(records) if c[0] != "clean"]
    index = _index(records)
    lines = _header(columns, "attacked model")
    for method, detector in _methods(records):
        if "+AGAIN" in method:
            continue
        for name, label in (("target_rate", "targets moved"), ("changed", "explanations changed")):
            cells = [f"{100 * r[name]:.1f}" if (r := index.get((method, detector, *c))) and r[name] is not None
                     else "-"
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
    parts.append(f"### Detection: SR, IR, IR over changed explanations, AUROC, IR at SR 95/98/99 (%)\n\n"
                 f"{detection_table(records)}")
    parts.append(f"### Attack strength (%)\n\n{attack_table(records)}")
    return "\n\n".join(parts)


def _mean_std(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    mean = f"{scale * float(np.mean(values)):.{digits}f}"
    return mean + (f" ({scale * float(np.std(values, ddof=1)):.{digits}f})" if len(values) > 1 else "")


def accuracy_table(runs: Sequence[dict[str, Any]]) -> str:
    """Clean test concept and category accuracy of every trained model, mean (std) over repeats."""
    models = list(dict.fromkeys(m for run in runs for m in run["accuracy"]))
    lines = ["| model | concept accuracy | category accuracy |", "| --- | ---: | ---: |"]
    for model in models:
        values = [run["accuracy"][model] for run in runs]
        lines.append(f"| {model.upper()} | {_mean_std([v['concept'] for v in values])} | "
                     f"{_mean_std([v['category'] for v in values])} |")
    return "\n".join(lines)


def selection_table(runs: Sequence[dict[str, Any]]) -> str:
    """Each candidate detector's validation AUROC against each synthetic corruption and its SR on
    the clean validation data it was calibrated on, mean (std) over repeats, with ``auto``'s pick
    (by the first corruption, :data:`again_mln.again.selection.AUTO_CORRUPTION`)."""
    corruptions = list(dict.fromkeys(c for run in runs for c in run.get("validation_auroc", {})))
    if not corruptions:
        return ""
    names = list(dict.fromkeys(n for run in runs for n in run["validation_auroc"][corruptions[0]]))
    picks = [run["auto"] for run in runs if "auto" in run]
    lines = ["| detector | " + " | ".join(f"validation AUROC ({c})" for c in corruptions)
             + " | validation SR (%) | picked by auto |", "| --- |" + " ---: |" * (len(corruptions) + 2)]
    for name in names:
        aurocs = [_mean_std([run["validation_auroc"][c][name] for run in runs], 1, 3) for c in corruptions]
        lines.append(f"| {name} | " + " | ".join(aurocs) + f" | {_mean_std([run['validation_sr'][name] for run in runs])} | "
                     f"{picks.count(name)}/{len(runs) if picks else 0} |")
    return "\n".join(lines)


def _cutoffs(runs: Sequence[dict[str, Any]]) -> str:
    """Each detector's cutoff per repeat: d for ``paper``, a shared cutoff, or a per-category range."""
    def one(name: str, value: float | list[float]) -> str:
        if isinstance(value, list):
            finite = [v for v in value if np.isfinite(v)]
            return f"{min(finite):.3g}..{max(finite):.3g}" if finite else "none"
        return f"d = {value:.3g}" if name == "paper" else f"{value:.4g}"

    names = list(dict.fromkeys(n for run in runs for n in run["thresholds"]))
    return "; ".join(f"{n}: " + ", ".join(one(n, run["thresholds"][n]) for run in runs if n in run["thresholds"])
                     for n in names)


def markdown_report(evaluation: Evaluation, records: Sequence[dict[str, Any]], command: str | None = None,
                    figures: Sequence[str] = ()) -> str:
    """The whole report: settings, model accuracies, detectors and their cutoffs, run time and the tables."""
    config = evaluation.config
    known = config.attacks("known", 0)[0]
    unknown = ", ".join(a.name for a in config.attacks("unknown", 0))
    selection = selection_table(evaluation.runs)
    lines = [
        f"## Evaluation on {config.dataset}",
        "",
        *([f"Command: `{line}`" for line in command.splitlines()] + [""] if command else []),
        f"Run time: {evaluation.seconds:.0f} s wall, {evaluation.cpu_seconds:.0f} s CPU on "
        + "; ".join(dict.fromkeys(run["machine"] for run in evaluation.runs)) + ".",
        "",
        f"Repeats: {config.repeats} (seeds {', '.join(str(run['seed']) for run in evaluation.runs)}); mean (sample std) "
        f"in percent. Samples: {config.n_train or 'all'} generated for training ({config.n_val} of them held out "
        f"for validation), {config.n_test or 'all'} test; CBM trained {config.epochs} epochs.",
        f"Known perturbation: {known.name} (CBM-AT fine-tuned {config.at_epochs} epochs against it at eps "
        f"{config.at_eps:g}/255, {config.at_steps} PGD steps). Unknown perturbation(s): {unknown}. "
        f"Attacks: L-inf PGD, {config.attack_steps} steps, random start, "
        f"{config.n_targets or 'all'} target concepts per direction, category preserved.",
        "Detectors calibrated " + (f"for SR >= {config.target_sr:g} on clean validation data" if config.target_sr
                                   else "at the fixed d") + f"; cutoffs per repeat: {_cutoffs(evaluation.runs)}.",
        "",
        "### Models (clean test accuracy, %)",
        "",
        accuracy_table(evaluation.runs),
        *(["", "### Detector choice (clean validation vs synthetic concept flips; never an attack)", "", selection]
          if selection else []),
        "",
        tables(records),
    ]
    matrix = matrix_tables(aggregate_matrix(evaluation.matrix))
    if matrix:
        lines += ["", "### Detection matrix (CBM; every attack kind and target choice; AUROC, IR changed and "
                      "IR@SR98 in %; AGAIN never sees an attack)", "", matrix]
    lines += ["", *(f"![{name}]({name})" for name in figures)]
    return "\n".join(lines) + "\n"


#: the detection matrix's metrics, in the worst-case table's order
MATRIX_METRICS = ("auroc", "ir_changed", "ir_at_sr95", "ir_at_sr98", "ir_at_sr99")


def aggregate_matrix(matrix: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The detection matrix averaged over repeats: ``cells``, one per (detector, attack, eps) with
    each metric's mean and sample std, and ``worst``, one per (detector, eps) with each metric's
    minimum over the attacks (of the means) and the attack where it falls."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for record in matrix:
        groups.setdefault((record["detector"], record["attack"], record["eps"]), []).append(record)
    cells = []
    for (detector, attack, eps), rows in groups.items():
        cell: dict[str, Any] = {"detector": detector, "attack": attack, "eps": eps, "repeats": len(rows), "std": {}}
        for name in MATRIX_METRICS + ("changed_fraction",):
            values = [r[name] for r in rows if r.get(name) is not None]
            cell[name] = float(np.mean(values)) if values else None
            cell["std"][name] = float(np.std(values, ddof=1)) if len(values) > 1 else (0.0 if values else None)
        cells.append(cell)
    worst = []
    for detector, eps in dict.fromkeys((c["detector"], c["eps"]) for c in cells):
        mine = [c for c in cells if c["detector"] == detector and c["eps"] == eps]
        entry: dict[str, Any] = {"detector": detector, "eps": eps, "attacks": len(mine), "at": {}}
        for name in MATRIX_METRICS:
            measured = [c for c in mine if c[name] is not None]
            low = min(measured, key=lambda c: c[name]) if measured else None
            entry[name], entry["at"][name] = (low[name], low["attack"]) if low else (None, None)
        worst.append(entry)
    return {"cells": cells, "worst": worst}


def _percent(value: float | None, metric: str) -> str:
    return "-" if value is None else f"{value:.3f}" if metric == "auroc" else f"{100 * value:.1f}"


def matrix_tables(matrix: dict[str, list[dict[str, Any]]]) -> str:
    """The detection matrix as Markdown: per detector and attack, AUROC, IR over the changed
    explanations and IR at SR 98% at each budget; then each detector's worst case over the attacks."""
    cells = matrix["cells"]
    if not cells:
        return ""
    budgets = sorted({c["eps"] for c in cells})
    shown = ("auroc", "ir_changed", "ir_at_sr98")
    index = {(c["detector"], c["attack"], c["eps"]): c for c in cells}
    lines = ["| detector | attack | " + " | ".join(f"{LABELS[m]} {e:g}" for m in shown for e in budgets) + " |",
             "| --- | --- |" + " ---: |" * (len(shown) * len(budgets))]
    for detector, attack in dict.fromkeys((c["detector"], c["attack"]) for c in cells):
        values = [_percent((index.get((detector, attack, e)) or {}).get(m), m) for m in shown for e in budgets]
        lines.append(f"| {detector} | {attack} | " + " | ".join(values) + " |")
    worst = {(w["detector"], w["eps"]): w for w in matrix["worst"]}
    lines += ["", "Worst case over the attacks (the attack where it falls in brackets):", "",
              "| detector | eps | " + " | ".join(LABELS[m] for m in MATRIX_METRICS) + " |",
              "| --- | ---: |" + " --- |" * len(MATRIX_METRICS)]
    for detector in dict.fromkeys(c["detector"] for c in cells):
        for e in budgets:
            w = worst.get((detector, e))
            if w is not None:
                lines.append(f"| {detector} | {e:g} | " + " | ".join(
                    f"{_percent(w[m], m)} ({w['at'][m]})" if w[m] is not None else "-" for m in MATRIX_METRICS) + " |")
    return "\n".join(lines)


def csv_text(records: Sequence[dict[str, Any]]) -> str:
    """One row per aggregated record, each metric followed by its spread."""
    header = ["method", "detector", "condition", "attack", "eps", *(f for m in METRICS for f in (m, f"{m}_std")),
              *ATTACK_FIELDS, "repeats"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for r in records:
        metrics = [v for m in METRICS for v in (r[m], r["std"][m])]
        writer.writerow([r["method"], r.get("detector") or "", r["condition"], r["attack"], r["eps"],
                         *("" if v is None else f"{v:.6f}" for v in metrics + [r[f] for f in ATTACK_FIELDS]),
                         r["repeats"]])
    return buffer.getvalue()


def aggregate_curves(curves: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ROC curve (IR on the shared 1 - SR grid) per (method, detector, condition, attack, eps)."""
    groups: dict[tuple, list[list[float]]] = {}
    for curve in curves:
        groups.setdefault(_key(curve), []).append(curve["ir"])
    return [{"method": m, "detector": d, "condition": c, "attack": a, "eps": e, "repeats": len(rows),
             "ir": np.mean(rows, 0).tolist()} for (m, d, c, a, e), rows in groups.items()]


def plot_roc(curves: Sequence[dict[str, Any]], grid: Sequence[float], path: str | os.PathLike, title: str = "") -> None:
    """IR against 1 - SR (log scale from 0.1%), one curve per budget; a panel per (detector, attack)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(dict.fromkeys((c["method"], c["detector"]) for c in curves))
    columns = sorted(dict.fromkeys((c["condition"], c["attack"]) for c in curves), key=lambda k: CONDITIONS.index(k[0]))
    if not rows:
        return
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(3.6 * len(columns), 3.0 * len(rows)),
                             sharex=True, sharey=True, squeeze=False)
    x = np.asarray(grid)
    for i, (method, detector) in enumerate(rows):
        for j, (condition, attack) in enumerate(columns):
            ax = axes[i, j]
            chosen = sorted((c for c in curves if (c["method"], c["detector"], c["condition"], c["attack"])
                             == (method, detector, condition, attack)), key=lambda c: c["eps"])
            for number, curve in enumerate(chosen):
                ax.plot(x[1:], 100 * np.asarray(curve["ir"])[1:], color=f"C{number}", label=f"{curve['eps']:g}/255")
            ax.set_xscale("log")
            ax.axvline(0.02, color="grey", lw=0.8, ls=":")
            ax.grid(alpha=0.3)
            ax.set_title(f"{method} [{detector}]\n{condition}: {attack}", fontsize=9)
            if j == 0:
                ax.set_ylabel("IR (%)")
            if i == len(rows) - 1:
                ax.set_xlabel("1 - SR (clean test)")
    axes[0, 0].legend(fontsize=7, loc="lower right", title="eps", title_fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def plot(records: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = "") -> None:
    """LSM and E-ACC (rows) against eps under the known and each unknown attack (columns), one
    line per method (its own marker, as strategies may coincide) with its spread as a band, AGAIN
    with the first detector; eps 0 is the clean input."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next((d for _, d in _methods(records) if d), None)
    methods = [m for m in _methods(records) if m[1] in (None, first)]
    columns = [c for c in dict.fromkeys((r["condition"], r["attack"]) for r in records) if c[0] != "clean"]
    fig, axes = plt.subplots(2, len(columns), figsize=(5.5 * len(columns), 7.5), sharex=True, sharey="row",
                             squeeze=False)
    for col, (condition, attack) in enumerate(columns):
        for row, metric in enumerate(("lsm", "e_acc")):
            ax = axes[row, col]
            for number, (method, detector) in enumerate(methods):
                points = sorted((r for r in records if (r["method"], r.get("detector")) == (method, detector)
                                 and (r["condition"] == "clean" or (r["condition"], r["attack"]) == (condition, attack))),
                                key=lambda r: r["eps"])
                eps = np.array([r["eps"] for r in points])
                mean = np.array([100 * r[metric] for r in points])
                spread = np.array([100 * r["std"][metric] for r in points])
                style = "-" if "+AGAIN" in method else "--"
                line, = ax.plot(eps, mean, style, marker="osD^vP*X"[number % 8], ms=5 - 0.5 * (number % 3),
                                label=method, color=f"C{number}")
                ax.fill_between(eps, mean - spread, mean + spread, color=line.get_color(), alpha=0.15, lw=0)
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
    """Aggregate and write ``stem``.json/.csv/.md/.png, the whole evaluation ``stem``_raw.json
    (per-seed records and curves, model accuracies, detector choice and cutoffs per repeat: what
    :func:`load_evaluation` reads back to merge seeds), the detection matrix ``stem``_matrix.json
    (:func:`aggregate_matrix`, when measured), the mean ROC curves ``stem``_roc.json and their
    figure ``stem``_roc.png into ``folder``; returns the records and paths."""
    folder = output_folder(folder)
    records = aggregate(evaluation.records)
    paths = [folder / f"{stem}.{ext}" for ext in ("json", "csv", "md", "png")]
    if evaluation.matrix:
        paths.append(folder / f"{stem}_matrix.json")
        write_text(paths[-1], json.dumps(aggregate_matrix(evaluation.matrix), indent=1) + "\n")
    extra = [folder / f"{stem}_raw.json", folder / f"{stem}_roc.json", folder / f"{stem}_roc.png"]
    title = f"{evaluation.config.dataset}: mean over {evaluation.config.repeats} repeat(s)"
    curves = aggregate_curves(evaluation.curves)
    write_text(paths[0], json.dumps(records, indent=1) + "\n")
    write_text(paths[1], csv_text(records))
    write_text(extra[0], json.dumps({"command": command, **evaluation.to_dict()}) + "\n")
    write_text(extra[1], json.dumps({"one_minus_sr": ROC_GRID.tolist(), "curves": curves}) + "\n")
    plot(records, paths[3], title=title)
    figures = [paths[3].name]
    if curves:
        plot_roc(curves, ROC_GRID, extra[2], title=f"{title}: ROC (IR against 1 - SR)")
        figures.append(extra[2].name)
    write_text(paths[2], markdown_report(evaluation, records, command, figures))
    return records, paths + extra[:2] + extra[2:] * bool(curves)


def load_evaluation(folder: str | os.PathLike, stem: str = "evaluation") -> tuple[Evaluation, str | None]:
    """The evaluation that :func:`write_reports` saved in ``folder``, and the command that ran it."""
    path = Path(folder) / f"{stem}_raw.json"
    if not path.is_file():
        raise AgainError(f"{folder} holds no {path.name}: give a folder written by again-mln evaluate")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AgainError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise AgainError(f"{path} is not a saved evaluation")
    return Evaluation.from_dict(data), data.get("command")


def detection_summary(named: dict[str, Sequence[dict[str, Any]]], strategy: str = "map") -> str:
    """One row per (dataset, attacked condition, budget, detector) of aggregated records from
    several evaluations (``{name: records}``): AUROC, IR over changed explanations, IR at the
    calibrated cutoff and at SR 98% on the test scores, the changed share, and E-ACC of CBM,
    CBM-AT and CBM+AGAIN (``strategy``) under that detector."""
    lines = ["| data | attack | eps | detector | AUROC | IR changed | IR@SR98 | IR | changed | E-ACC CBM | "
             "E-ACC CBM-AT | E-ACC AGAIN |", "|" + " --- |" * 4 + " ---: |" * 8]
    for name, records in named.items():
        index = _index(records)
        detectors = list(dict.fromkeys(r["detector"] for r in records if r.get("detector")))
        rows = sorted({(r["condition"], r["attack"], r["eps"], r["detector"]) for r in records
                       if r.get("detector") and r["condition"] != "clean"},
                      key=lambda k: (CONDITIONS.index(k[0]), k[1], k[2], detectors.index(k[3])))
        for condition, attack, eps, detector in rows:
            agains = index.get((f"CBM+AGAIN ({strategy})", detector, condition, attack, eps))
            if agains is None:
                continue
            plain, trained = (index.get((m, None, condition, attack, eps)) for m in ("CBM", "CBM-AT"))
            cells = [_cell(agains, "auroc"), _cell(agains, "ir_changed"), _cell(agains, "ir_at_sr98"),
                     _cell(agains, "ir"), _cell(agains, "changed_fraction"), _cell(plain, "e_acc"),
                     _cell(trained, "e_acc"), _cell(agains, "e_acc")]
            lines.append(f"| {name} | {condition} {attack} | {eps:g} | {detector} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
