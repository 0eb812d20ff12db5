"""``again-mln intervene``: intervention curves of trained models (which concept should an expert
check first), on clean inputs and optionally under an attack."""
from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from again_mln.choices import INTERVENTION_POLICIES as POLICIES, SPLITS
from again_mln.cli.options import device_option, lam_option, parse_attack, quiet_option, seed_option, target_sr_option, threshold_option

if TYPE_CHECKING:
    from again_mln.datasets.base import ConceptDataset
    from again_mln.again.rectifier import Rectifier
    from again_mln.models.cbm import ConceptModel


def _calibrated(rectifier: Rectifier, model: ConceptModel, train: ConceptDataset, batch_size: int) -> float:
    """Fit the paper's detector on the model's clean training explanations; the relaxation d it chose."""
    import math

    import torch

    from again_mln.models.training import predict

    arrays = predict(model, train, batch_size, rectifier.graph.device)
    rectifier.fit(torch.from_numpy(arrays["concepts"]), torch.from_numpy(arrays["categories"].argmax(1)))
    return min(1.0, math.exp(float(rectifier.cutoffs[0])))


@click.command("intervene")
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--mln", "mln_path", required=True, type=click.Path(dir_okay=False, exists=True),
              help="Rules (.mln), with the models' concepts and categories.")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("--attack", callback=lambda c, p, v: parse_attack(v), default=None,
              help="Also measure under this attack, KIND[/TARGETS] (e.g. confounding/random).")
@click.option("--eps", type=click.FloatRange(0, 255), default=32.0, show_default=True,
              help="Attack budget in units of 1/255 of the input (or each feature's) range.")
@click.option("--steps", type=click.IntRange(1), default=10, show_default=True, help="PGD steps of the attack.")
@click.option("--n-targets", type=click.IntRange(1), default=2, show_default=True,
              help="Concepts the attack erases and/or introduces per sample.")
@click.option("--policy", "policies", default=",".join(POLICIES), show_default=True,
              help="Comma-separated policies: " + ", ".join(POLICIES) + ".")
@click.option("--max-k", type=click.IntRange(0), default=5, show_default=True,
              help="Largest number of concepts the expert answers per sample.")
@lam_option(1.0, "Weight of the network's log-probabilities against the rules in the posterior.")
@threshold_option(1.0, "rules+rectify repairs explanations that fail detection at this d (1: all of them).")
@target_sr_option(None, "Instead of --threshold, calibrate d per model for this pass rate on its clean training split.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N samples of the split.")
@click.option("--batch-size", type=click.IntRange(1), default=512, show_default=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="curves.json; the Markdown table and the figure go beside it (.md, .png).")
@seed_option
@device_option
@quiet_option
def intervene_command(checkpoints, mln_path, split, attack, eps, steps, n_targets, policies, max_k, lam, threshold,
                      target_sr, limit, batch_size, output, seed, device, quiet):
    """Intervention curves of CHECKPOINTS (one or more, e.g. one per seed, averaged in the table):
    E-ACC and P-ACC after the expert answers k = 0..K concepts chosen by each policy."""
    from again_mln.io.atomic import atomic_path, check_target, write_text
    from again_mln.evaluation.attacks import AttackConfig, attack_split
    from again_mln.datasets import DataConfig, load_dataset
    from again_mln.errors import AgainError
    from again_mln.again.compiled import CompiledRules
    from again_mln.again.graph import FactorGraph
    from again_mln.again.rectifier import Rectifier
    from again_mln.evaluation.interventions import check_policies, curves_table, intervention_curves, plot_curves, summarize
    from again_mln.again.mlnfile import read_mln
    from again_mln.models.checkpoint import load_checkpoint

    policies = check_policies([p.strip() for p in policies.split(",") if p.strip()])
    paths = [Path(output), Path(output).with_suffix(".md"), Path(output).with_suffix(".png")]
    for path in paths:
        check_target(path)
    graph = FactorGraph(read_mln(mln_path), device=device)
    compiled = CompiledRules(graph)
    say = (lambda _: None) if quiet else click.echo
    start = time.perf_counter()
    records = []
    for run, checkpoint in enumerate(checkpoints):
        model, payload = load_checkpoint(checkpoint)
        if payload["data_config"] is None:
            raise AgainError(f"{checkpoint}: the checkpoint names no dataset")
        data_config = DataConfig.from_dict(payload["data_config"])
        data = load_dataset(data_config, split)
        rectifier = Rectifier(compiled, "marginal", "paper", lam, threshold, target_sr)
        if target_sr is not None:
            threshold = _calibrated(rectifier, model, load_dataset(data_config, "train"), batch_size)
        data = data.subset(slice(0, limit)) if limit else data
        conditions = [("clean", data)]
        if attack is not None:
            config = AttackConfig(attack[0], eps, steps, n_targets, attack[1])
            attacked = attack_split(model, data, config, seed, graph, batch_size, graph.device)
            conditions.append(("attacked", attacked.adversarial))
        for condition, inputs in conditions:
            for record in intervention_curves(model, rectifier, inputs, policies, max_k, condition, seed, batch_size):
                records.append({**record, "run": run, "checkpoint": str(checkpoint), "threshold": threshold})
        say(f"{checkpoint}: {len(data)} {split} samples, d = {threshold:.4g}, {time.perf_counter() - start:.0f} s so far")
    summary = summarize(records)
    command = "again-mln " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["intervene"] else None
    attack_line = (f"Attack: {attack[0]}/{attack[1]} at eps {eps:g}/255, {steps} PGD steps, {n_targets} target(s) "
                   f"per direction, seed {seed}." if attack else "No attack.")
    table = curves_table(summary)
    write_text(paths[0], json.dumps(records, indent=1) + "\n")
    figure = plot_curves(summary, title=f"{Path(mln_path).stem}: {len(checkpoints)} model(s), {split} split")
    with atomic_path(paths[2], suffix=".png") as tmp:
        figure.savefig(tmp, dpi=120)
    write_text(paths[1], "\n".join([
        "## Intervention curves", "", *([f"Command: `{command}`", ""] if command else []),
        f"Models: {', '.join(map(str, checkpoints))}; rules: {mln_path}; {split} split. {attack_line} "
        f"Posterior weight lam = {lam:g}; detection d per model: "
        + ", ".join(sorted({f"{r['threshold']:.4g}" for r in records}))
        + (f" (calibrated for SR {target_sr:g} on the clean training split)" if target_sr else "")
        + ". Mean (sample std over models) in percent.",
        f"Run time: {time.perf_counter() - start:.0f} s.", "", table, f"![intervention curves]({paths[2].name})", ""]))
    click.echo(table)
    click.echo("wrote " + ", ".join(map(str, paths)))
