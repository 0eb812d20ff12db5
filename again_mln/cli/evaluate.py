"""``again-mln evaluate``: the paper's tables (LSM, E-ACC, P-ACC, IR, SR) and detection curves on one dataset."""
from __future__ import annotations

import shlex
import sys

import click

from again_mln.choices import DETECTORS, EVALUATION_DATASETS, STRATEGIES, check_detectors
from again_mln.cli.options import data_root_option, device_option, parse_attack, quiet_option, target_sr_option, threshold_option
from again_mln.errors import AgainError


def _n_targets(value: str | None) -> int | str | None:
    """A positive count or ``all``; unset (None) keeps the preset's."""
    if value is None or value == "all":
        return value
    if not value.isdigit() or int(value) < 1:
        raise click.BadParameter(f"expected a positive number or 'all', got {value!r}")
    return int(value)


def _detectors(value: str | None) -> tuple[str, ...] | None:
    """Comma-separated detector names."""
    if value is None:
        return None
    try:
        names = check_detectors(tuple(v.strip() for v in value.split(",") if v.strip()))
    except AgainError as err:
        raise click.BadParameter(str(err)) from None
    if not names:
        raise click.BadParameter(f"expected one or more detector names, got {value!r}")
    return names


def _budgets(value: str | None) -> tuple[float, ...] | None:
    """Comma-separated budgets in 1/255, or ``none``; unset (None) keeps the preset's."""
    if value is None or value == "none":
        return None if value is None else ()
    try:
        budgets = tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated budgets or 'none', got {value!r}") from None
    if not budgets or not all(0 < b <= 255 for b in budgets):
        raise click.BadParameter(f"budgets must lie in (0, 255], got {value!r}")
    return budgets


@click.command("evaluate")
@click.option("--dataset", type=click.Choice(EVALUATION_DATASETS), required=True)
@click.option("-o", "--output", type=click.Path(file_okay=False), default=None,
              help="Folder for evaluation.{json,csv,md,png} [results/DATASET].")
@click.option("--quick", is_flag=True, help="Small preset: minutes on a CPU (see the report for sizes).")
@click.option("--repeats", type=click.IntRange(1), default=None, help="Seeds to average over [preset].")
@click.option("--seed", type=int, default=0, show_default=True, help="First seed; repeat r uses seed + r.")
@target_sr_option(None, "Calibrate the detectors on clean validation data for this pass rate (e.g. 0.98).")
@click.option("--detector", "detectors", callback=lambda c, p, v: _detectors(v), default=None,
              help=f"Detectors to compare, comma-separated, from {', '.join(DETECTORS)}, or auto (the best "
                   "validation AUROC against a flip of the concept the network is least sure of) [auto; paper when "
                   "not calibrated].")
@threshold_option(0.9, "Detection relaxation d when not calibrated.")
@click.option("--strategy", "strategies", type=click.Choice(STRATEGIES), multiple=True,
              help="Rectification strategies to compare [all].")
@click.option("--known", callback=lambda c, p, v: parse_attack(v), default=None,
              help="Known attack KIND[/TARGETS] that CBM-AT trains against [erasure/random].")
@click.option("--unknown", multiple=True, callback=lambda c, p, v: tuple(map(parse_attack, v)) or None,
              help="Unknown attack KIND[/TARGETS], repeatable [confounding/random and confounding/damaging].")
@click.option("--matrix-eps", "matrix_epsilons", callback=lambda c, p, v: _budgets(v), default=None,
              help="Budgets of the detection matrix (every attack kind and target against the CBM), "
                   "comma-separated, or none [8,16,32].")
@click.option("--steps", "attack_steps", type=click.IntRange(1), default=None, help="PGD steps per attack [preset].")
@click.option("--n-targets", callback=lambda c, p, v: _n_targets(v), default=None,
              help="Target concepts per direction, or 'all' [2].")
@click.option("--epochs", type=click.IntRange(1), default=None, help="CBM training epochs [preset].")
@click.option("--at-epochs", type=click.IntRange(1), default=None, help="CBM-AT fine-tuning epochs [preset].")
@click.option("--n-train", type=click.IntRange(2), default=None, help="Generated training samples [preset].")
@click.option("--n-test", type=click.IntRange(1), default=None, help="Test samples [preset].")
@click.option("--with-cem", is_flag=True, help="Also the concept embedding model, with and without rectification.")
@data_root_option
@device_option
@quiet_option
def evaluate_command(data_root, dataset, output, quick, repeats, seed, target_sr, detectors, threshold, strategies,
                     known, unknown, matrix_epsilons, attack_steps, n_targets, epochs, at_epochs, n_train, n_test,
                     with_cem, device, quiet):
    """Clean, known and unknown perturbations (eps 4..32/255) for CBM, CBM-AT and CBM+AGAIN; prints
    the paper-style tables and writes them as JSON, CSV, Markdown, PNG figures and ROC curves."""
    from again_mln.evaluation.experiments import evaluation_config, run_evaluation
    from again_mln.evaluation.reporting import aggregate_matrix, matrix_tables, tables, write_reports

    config = evaluation_config(dataset, quick, data_root=data_root, repeats=repeats, seed=seed, target_sr=target_sr,
                               detectors=detectors if target_sr is not None else detectors or ("paper",),
                               threshold=threshold, strategies=tuple(strategies) or None, known=known,
                               unknown=unknown, matrix_epsilons=matrix_epsilons, attack_steps=attack_steps,
                               epochs=epochs, at_epochs=at_epochs, n_train=n_train, n_test=n_test, with_cem=with_cem,
                               n_targets=n_targets)
    evaluation = run_evaluation(config, device, log=None if quiet else click.echo, progress=not quiet)
    command = "again-mln " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["evaluate"] else None
    records, paths = write_reports(evaluation, output or f"results/{dataset}", command)
    click.echo("")
    click.echo(tables(records))
    click.echo("")
    if evaluation.matrix:
        click.echo("Detection matrix\n\n" + matrix_tables(aggregate_matrix(evaluation.matrix)) + "\n")
    click.echo(f"run time {evaluation.seconds:.0f} s wall, {evaluation.cpu_seconds:.0f} s CPU")
    click.echo("wrote " + ", ".join(str(p) for p in paths))
