"""``again-mln learn-weights``: learn rule weights from ground-truth concepts and categories."""
from __future__ import annotations

import time

import click

from again_mln.cli.options import FiniteFloat, device_option


@click.command("learn-weights")
@click.argument("rules", type=click.Path(dir_okay=False))
@click.option("--data", "data_path", required=True, type=click.Path(dir_okay=False),
              help="Training .npz with 'concepts' (N, M) in {0,1} and 'categories' (N,).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Learned .mln.")
@click.option("--method", default="auto", show_default=True, type=click.Choice(["auto", "cll", "pll"]),
              help="cll: exact conditional likelihood; pll: pseudo-likelihood; auto: cll when exact is feasible.")
@click.option("--prior-stdev", type=FiniteFloat(min=0, min_open=True), help="Gaussian prior N(0, S^2) on the learned weights.")
@click.option("--engine", default="native", show_default=True, type=click.Choice(["native", "pracmln"]))
@device_option
@click.option("--max-iter", default=500, show_default=True, type=click.IntRange(min=1), help="Native engine: L-BFGS iterations.")
def learn_weights_command(rules, data_path, output, method, prior_stdev, engine, device, max_iter):
    """Learn the weights of RULES (.mln) from --data; write them, with the rule text, to -o."""
    from again_mln.learning import learn_weights, read_data
    from again_mln.mlnfile import read_mln, write_mln

    ruleset = read_mln(rules)
    concepts, categories = read_data(data_path, ruleset)
    start = time.perf_counter()
    result = learn_weights(ruleset, concepts, categories, method, prior_stdev, device=device, max_iter=max_iter, engine=engine)
    learned, summary = result.ruleset, result.method
    if result.iterations is not None:
        summary += (f", {result.iterations} L-BFGS iterations, objective {result.objective:.6f} per sample"
                    + ("" if result.converged else f"; NOT converged: {result.message}"))
    seconds = time.perf_counter() - start
    write_mln(learned, output)
    learned_count = sum(not (r.hard or r.fixed) for r in ruleset.rules)
    click.echo(f"rules    {rules}: {len(ruleset.concepts)} concepts, {len(ruleset.categories)} categories, "
               f"{len(ruleset.rules)} rules ({learned_count} weights learned)")
    click.echo(f"data     {data_path}: {len(concepts)} samples")
    click.echo(f"learned  {summary} in {seconds:.2f} s")
    click.echo(f"wrote    {output}")
