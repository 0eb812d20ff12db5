"""``again-mln rectify``: detect and repair concept predictions against a rule file."""
from __future__ import annotations

import time

import click
import torch

from again_mln.atomic import save_npz
from again_mln.graph import FactorGraph
from again_mln.inputs import load_predictions
from again_mln.mlnfile import read_mln
from again_mln.rectify import STRATEGIES, numpy_result, rectify


@click.command("rectify")
@click.argument("preds", type=click.Path(dir_okay=False))
@click.option("--mln", "mln_path", required=True, type=click.Path(dir_okay=False), help="Rule file (.mln).")
@click.option("--categories", "categories_path", type=click.Path(dir_okay=False),
              help="Category ids (N,) or scores (N, K), .npy; optional when PREDS is an .npz holding 'categories'.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .npz.")
@click.option("--threshold", default=0.9, show_default=True, type=float, help="Detection relaxation d (Eq. 3).")
@click.option("--strategy", default="switch", show_default=True, type=click.Choice(STRATEGIES))
@click.option("--lam", default=1.0, show_default=True, type=float, help="Weight of the network's confidence (map).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--logits", is_flag=True, help="PREDS holds concept logits, not probabilities.")
@click.option("--concept-names", type=click.Path(exists=True, dir_okay=False),
              help="File with PREDS' column names, one per line (default: the .mln concept order).")
def rectify_command(preds, mln_path, categories_path, output, threshold, strategy, lam, device, logits, concept_names):
    """Detect explanations in PREDS that break the rules and rectify them."""
    ruleset = read_mln(mln_path)
    probs, categories = load_predictions(preds, ruleset, categories_path, logits, concept_names)
    graph = FactorGraph(ruleset, device=device)
    graph.s_max  # compiled once, outside the timed part
    start = time.perf_counter()
    result = rectify(graph, torch.from_numpy(probs), torch.from_numpy(categories), strategy, threshold, lam)
    if graph.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    save_npz(output, numpy_result(result))
    n = len(probs)
    flagged = int(result.flagged.sum())
    per_flagged = float(result.interventions[result.flagged].float().mean()) if flagged else 0.0
    gain = (result.score_after - result.score_before)[result.flagged]
    click.echo(f"rules        {mln_path}: {len(ruleset.concepts)} concepts, {len(ruleset.categories)} categories, "
               f"{len(ruleset.rules)} rules")
    click.echo(f"explanations {n}")
    click.echo(f"flagged      {flagged} ({100.0 * flagged / max(n, 1):.1f}%) at d = {threshold}")
    click.echo(f"strategy     {strategy}: {per_flagged:.2f} interventions per flagged explanation, "
               f"mean score change {float(gain.mean()) if flagged else 0.0:+.3f}")
    click.echo(f"speed        {n / max(seconds, 1e-9):,.0f} explanations/s on {graph.device}")
    click.echo(f"wrote        {output}")
