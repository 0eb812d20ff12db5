"""``again-mln report``: one report from evaluations of the same setting run with different seeds."""
from __future__ import annotations

import shlex
import sys

import click


@click.command("report")
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Folder for the merged evaluation.{json,csv,md,png}.")
def report_command(folders, output):
    """Merge the evaluations in FOLDERS (written by `again-mln evaluate` with different --seed, for
    example on several machines) into one report with the mean and spread over all their seeds."""
    from again_mln.evaluation.experiments import merge_evaluations
    from again_mln.evaluation.reporting import load_evaluation, tables, write_reports

    loaded = [load_evaluation(folder) for folder in folders]
    evaluation = merge_evaluations([e for e, _ in loaded])
    commands = [c for _, c in loaded if c]
    if sys.argv[1:2] == ["report"]:
        commands.append("again-mln " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    records, paths = write_reports(evaluation, output, "\n".join(dict.fromkeys(commands)))
    click.echo(tables(records))
    click.echo("")
    seeds = ", ".join(str(run["seed"]) for run in evaluation.runs)
    click.echo(f"merged {len(folders)} evaluations (seeds {seeds}; {evaluation.seconds:.0f} s wall, "
               f"{evaluation.cpu_seconds:.0f} s CPU in all)")
    click.echo("wrote " + ", ".join(str(p) for p in paths))
