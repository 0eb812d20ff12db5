"""``again-mln rectify``: detect and repair concept predictions against a rule file.

The input is read, rectified and written in chunks of rows (``.npy`` inputs stay memory-mapped),
so memory stays flat however long the input is; the compiled rules come from the per-user cache.
"""
from __future__ import annotations

import time

import click

from again_mln.choices import DEFAULT_CHUNK_ROWS, STRATEGIES
from again_mln.cli.options import device_option, lam_option, quiet_option, threshold_option


@click.command("rectify")
@click.argument("preds", type=click.Path(dir_okay=False))
@click.option("--mln", "mln_path", required=True, type=click.Path(dir_okay=False), help="Rule file (.mln).")
@click.option("--categories", "categories_path", type=click.Path(dir_okay=False),
              help="Category ids (N,), or probabilities or logits (N, K), .npy; optional when PREDS is an .npz "
                   "holding 'categories'.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .npz.")
@threshold_option(0.9, "Detection relaxation d (Eq. 3).")
@click.option("--detector", "detector_path", type=click.Path(dir_okay=False),
              help="A calibrated detector saved by `again-mln detect` (.npz); replaces --threshold.")
@click.option("--strategy", default="switch", show_default=True, type=click.Choice(STRATEGIES))
@lam_option(1.0, "Weight of the network's confidence (map).")
@device_option
@click.option("--logits", is_flag=True, help="PREDS holds concept logits, not probabilities.")
@click.option("--concept-names", type=click.Path(exists=True, dir_okay=False),
              help="File with PREDS' column names, one per line (default: the .mln concept order).")
@click.option("--chunk-size", default=DEFAULT_CHUNK_ROWS, show_default=True, type=click.IntRange(min=1),
              help="Explanations rectified and written at a time (memory grows with it, not with PREDS).")
@click.option("--no-cache", is_flag=True, help="Compile the rule file even if the per-user cache holds it.")
@quiet_option
def rectify_command(preds, mln_path, categories_path, output, threshold, detector_path, strategy, lam, device, logits,
                    concept_names, chunk_size, no_cache, quiet):
    """Detect explanations in PREDS that break the rules and rectify them."""
    from again_mln.again.rectifier import Rectifier, check_strategy
    from again_mln.again.streaming import rectify_to_file
    from again_mln.io.cache import compiled_rules
    from again_mln.io.inputs import open_predictions

    compiled, cached = compiled_rules(mln_path, device, use_cache=not no_cache,
                                      check=lambda graph: check_strategy(graph, strategy))  # before S_max is solved
    graph, ruleset = compiled.graph, compiled.graph.ruleset
    rectifier = (Rectifier.load(detector_path, compiled, strategy) if detector_path
                 else Rectifier(compiled, strategy, "paper", lam, threshold))
    predictions = open_predictions(preds, ruleset, categories_path, logits, concept_names)
    n = len(predictions)
    start = time.perf_counter()
    summary = rectify_to_file(rectifier, predictions.rows, n, output, chunk_size, progress=not quiet and n > chunk_size)
    seconds = time.perf_counter() - start
    if quiet:
        return
    flagged = summary.flagged
    click.echo(f"rules        {mln_path}: {len(ruleset.concepts)} concepts, {len(ruleset.categories)} categories, "
               f"{len(ruleset.rules)} rules ({'compiled rules from the cache' if cached else 'compiled'})")
    click.echo(f"explanations {n}")
    click.echo(f"flagged      {flagged} ({100.0 * flagged / max(n, 1):.1f}%) "
               + (f"by the {rectifier.detector} detector of {detector_path}" if detector_path else f"at d = {threshold}"))
    click.echo(f"strategy     {strategy}: {summary.interventions / max(flagged, 1):.2f} interventions per flagged "
               f"explanation, mean score change {summary.score_change / max(flagged, 1):+.3f}")
    click.echo(f"speed        {n / max(seconds, 1e-9):,.0f} explanations/s on {graph.device} "
               f"(read, rectified and written in chunks of {chunk_size})")
    click.echo(f"wrote        {output}")
