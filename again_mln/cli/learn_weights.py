"""``again-mln learn-weights``: learn rule weights from ground-truth concepts and categories
(``--data``), or the weights of any first-order MLN from pracmln training databases (``--db``)."""
from __future__ import annotations

import time

import click

from again_mln.cli.options import FiniteFloat, device_option


@click.command("learn-weights")
@click.argument("rules", type=click.Path(dir_okay=False))
@click.option("--data", "data_path", type=click.Path(dir_okay=False),
              help="Training .npz with 'concepts' (N, M) in {0,1} and 'categories' (N,) (AGAIN rule files).")
@click.option("--db", "databases", multiple=True, type=click.Path(dir_okay=False),
              help="pracmln training .db (repeatable; closed world): learn any first-order MLN's weights.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Learned .mln.")
@click.option("--method", default="auto", show_default=True, type=click.Choice(["auto", "cll", "pll", "bpll"]),
              help="cll: exact conditional likelihood; pll: pseudo-likelihood; bpll: pll with functional blocks "
                   "taken together (pracmln's BPLL); auto: cll when exact is feasible (--db: bpll).")
@click.option("--prior-stdev", "--prior-sd", type=FiniteFloat(min=0, min_open=True), help="Gaussian prior N(M, S^2) on the learned weights.")
@click.option("--prior-mean", default=0.0, show_default=True, type=FiniteFloat(), help="The prior's mean M (--db).")
@click.option("--engine", default="native", show_default=True, type=click.Choice(["native", "pracmln"]))
@device_option
@click.option("--max-iter", default=500, show_default=True, type=click.IntRange(min=1), help="Native engine: L-BFGS iterations.")
def learn_weights_command(rules, data_path, databases, output, method, prior_stdev, prior_mean, engine, device, max_iter):
    """Learn the weights of RULES (.mln) from --data or --db; write them, with the rule text, to -o."""
    if bool(data_path) == bool(databases):
        raise click.UsageError("give either --data (AGAIN rule files) or --db (first-order MLNs)")
    if databases:
        return _first_order(rules, databases, output, method, prior_stdev, prior_mean, engine, max_iter)
    from again_mln.again.learning import learn_weights, read_data
    from again_mln.again.mlnfile import read_mln, write_mln

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


def _first_order(path, databases, output, method, prior_sd, prior_mean, engine, max_iter) -> None:
    from again_mln.io import atomic
    from again_mln.errors import AgainError
    from again_mln.mln import format_mln, read_db, read_mln
    from again_mln.mln.learning import learn_weights

    method = "bpll" if method == "auto" else method
    if method == "cll" or engine != "native":
        raise AgainError("first-order learning (--db) has pll and bpll with the native engine; cll is not built yet")
    atomic.check_target(output)
    mln = read_mln(path)
    dbs = [db for name in databases for db in read_db(name, mln)]
    start = time.perf_counter()
    result = learn_weights(mln, dbs, method, prior_sd, prior_mean, max_iter=max_iter, progress=True)
    seconds = time.perf_counter() - start
    atomic.write_text(output, format_mln(result.mln))
    learned = [e for e in result.mln.formulas if not (e.hard or e.fixed)]
    click.echo(f"mln      {path}: {len(mln.predicates)} predicates, {len(result.mln.formulas)} formulas ({len(learned)} weights learned)")
    click.echo(f"data     {len(dbs)} database(s), {result.blocks} ground {'blocks' if method == 'bpll' else 'atoms'}")
    click.echo(f"learned  {method}: {result.iterations} L-BFGS iterations, log pseudo-likelihood {result.objective:.6f}"
               + ("" if result.converged else f"; NOT converged: {result.message}") + f" in {seconds:.2f} s")
    click.echo(f"wrote    {output}")
