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
@click.option("--method", default="auto", show_default=True, type=click.Choice(["auto", "ll", "cll", "pll", "bpll"]),
              help="ll (--db): exact likelihood; cll: conditional likelihood (--db: of --query-preds given the rest; "
                   "exact, or by MC-SAT beyond the memory budget); pll: pseudo-likelihood; bpll: pll with functional "
                   "blocks taken together (pracmln's BPLL); auto: cll when exact is feasible (--db: bpll).")
@click.option("--query-preds", default="", help="cll with --db: the query predicates, comma-separated (the others are evidence).")
@click.option("--inference", default="auto", show_default=True, type=click.Choice(["auto", "exact", "mc-sat"]),
              help="cll with --db: exact refuses components beyond the memory budget, mc-sat samples every one, "
                   "auto samples only those.")
@click.option("--samples", default=500, show_default=True, type=click.IntRange(min=1), help="MC-SAT samples per chain and round (cll).")
@click.option("--chains", default=4, show_default=True, type=click.IntRange(min=1), help="MC-SAT chains per component (cll).")
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(min=1),
              help="MC-SAT rounds (cll): sample at the current weights, then L-BFGS on the sampled objective.")
@click.option("--seed", default=0, show_default=True, type=int, help="MC-SAT seed (cll).")
@click.option("--verbose", is_flag=True, help="--db: print the objective and gradient norm of every L-BFGS iteration.")
@click.option("--curve", type=click.Path(dir_okay=False), help="--db, native engine: plot the learning curve to this .png.")
@click.option("--prior-stdev", "--prior-sd", type=FiniteFloat(min=0, min_open=True), help="Gaussian prior N(M, S^2) on the learned weights.")
@click.option("--prior-mean", default=0.0, show_default=True, type=FiniteFloat(), help="The prior's mean M (--db).")
@click.option("--engine", default="native", show_default=True, type=click.Choice(["native", "pracmln"]))
@device_option
@click.option("--max-iter", default=500, show_default=True, type=click.IntRange(min=1), help="Native engine: L-BFGS iterations.")
def learn_weights_command(rules, data_path, databases, output, method, query_preds, inference, samples, chains, rounds,
                          seed, verbose, curve, prior_stdev, prior_mean, engine, device, max_iter):
    """Learn the weights of RULES (.mln) from --data or --db; write them, with the rule text, to -o."""
    if bool(data_path) == bool(databases):
        raise click.UsageError("give either --data (AGAIN rule files) or --db (first-order MLNs)")
    if databases:
        from again_mln.mln.sampling import Sampling

        queries = [q.strip() for q in query_preds.split(",") if q.strip()]
        sampling = Sampling(samples=samples, chains=chains, seed=seed, device=device)
        return _first_order(rules, databases, output, method, queries, inference, sampling, rounds, verbose, curve,
                            prior_stdev, prior_mean, engine, max_iter)
    if method == "ll":
        raise click.UsageError("--method ll is for first-order MLNs (--db); AGAIN rule files learn by cll, pll or bpll")
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


def _first_order(path, databases, output, method, queries, inference, sampling, rounds, verbose, curve, prior_sd,
                 prior_mean, engine, max_iter) -> None:
    from again_mln.io import atomic
    from again_mln.mln import format_mln, read_db, read_mln

    method = "bpll" if method == "auto" else method
    atomic.check_target(output)
    if curve:
        atomic.check_target(curve)
    mln = read_mln(path)
    dbs = [db for name in databases for db in read_db(name, mln)]
    start = time.perf_counter()
    if engine == "pracmln":
        learned, summary = _pracmln(path, databases, mln, dbs, method, queries, prior_sd, prior_mean)
    else:
        from again_mln.mln.learning import learn_weights

        result = learn_weights(mln, dbs, method, prior_sd, prior_mean, max_iter=max_iter, progress=True, queries=queries,
                               route=inference, sampling=sampling, rounds=rounds, verbose=verbose)
        learned = result.mln
        objective = {"pll": "log pseudo-likelihood", "bpll": "log pseudo-likelihood", "ll": "log-likelihood",
                     "cll": "conditional log-likelihood"}[method] + (" (up to a constant)" if result.samples else "")
        summary = (f"{method}{' of ' + ','.join(queries) if method == 'cll' else ''}: {result.iterations} L-BFGS "
                   f"iterations, {objective} {result.objective:.6f}"
                   + ("" if result.converged else f"; NOT converged: {result.message}"))
        if result.samples:
            summary += f"; sampled by {result.samples}"
    seconds = time.perf_counter() - start
    atomic.write_text(output, format_mln(learned))
    if curve and engine == "native":
        _plot_curve(result.curve, method, curve)
    count = sum(not (e.hard or e.fixed) for e in learned.formulas)
    click.echo(f"mln      {path}: {len(mln.predicates)} predicates, {len(learned.formulas)} formulas ({count} weights learned)")
    click.echo(f"data     {len(dbs)} database(s)" + ("" if engine == "pracmln" else f", {result.size}"))
    click.echo(f"learned  {summary} in {seconds:.2f} s")
    click.echo(f"wrote    {output}" + (f" and {curve}" if curve and engine == "native" else ""))


def _pracmln(path, databases, mln, dbs, method, queries, prior_sd, prior_mean):
    """The MLN with pracmln's learned weights on its learnable formulas, and a summary line."""
    from dataclasses import replace

    from again_mln.engines.pracmln_query import pracmln_learn
    from again_mln.errors import AgainError

    if prior_mean != 0:
        raise AgainError("pracmln's prior has mean 0; --prior-mean needs --engine native")
    weights = pracmln_learn(path, databases, method, queries, prior_sd)
    materialized = mln.materialize(dbs)
    if len(weights) != len(materialized.formulas):
        raise AgainError(f"pracmln materialised {len(weights)} formulas where the native engine has "
                         f"{len(materialized.formulas)}; cannot write its weights")
    formulas = [e if e.hard or e.fixed else replace(e, weight=w, weight_text=None)
                for e, w in zip(materialized.formulas, weights)]
    return replace(materialized, formulas=formulas, domains=mln.domains), f"pracmln {method}"


def _plot_curve(curve: list[tuple[float, float]], method: str, target: str) -> None:
    """The objective and gradient norm per L-BFGS iteration, as a .png written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from again_mln.io import atomic

    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(6, 5))
    iterations = range(1, len(curve) + 1)
    top.plot(iterations, [c[0] for c in curve], marker=".")
    top.set_ylabel(f"{method} objective")
    bottom.semilogy(iterations, [max(c[1], 1e-16) for c in curve], marker=".")
    bottom.set_ylabel("gradient norm")
    bottom.set_xlabel("L-BFGS iteration")
    figure.tight_layout()
    with atomic.atomic_path(target, ".png") as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
