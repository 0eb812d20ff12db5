"""``again-mln query``: marginals (or a most probable world) of the query atoms of any pracmln
MLN, for every database of the evidence file."""
from __future__ import annotations

import click

from again_mln.cli.options import device_option, quiet_option


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


@click.command("query")
@click.argument("mln_path", metavar="MLN", type=click.Path(dir_okay=False))
@click.option("--evidence", "evidence_path", required=True, type=click.Path(dir_okay=False),
              help="pracmln .db file: databases separated by ---; unmentioned atoms are unknown (open world).")
@click.option("--queries", default=None, metavar="P,Q",
              help="Predicates to answer: every ground atom of each. Default: every predicate not closed world.")
@click.option("--closed-world", default=None, metavar="R,S",
              help="Predicates whose unmentioned atoms are false (pracmln's cw_preds); '*' closes all but the queries.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="CSV to write: database,atom,probability.")
@click.option("--method", default="auto", show_default=True, type=click.Choice(["auto", "exact", "map", "mc-sat", "gibbs"]),
              help="auto: exact marginals per component, MC-SAT where exact is out of reach; exact: refuse instead; "
                   "map: a most probable world (integer program when too wide); mc-sat/gibbs: sample every component.")
@click.option("--engine", default="native", show_default=True, type=click.Choice(["native", "pracmln"]),
              help="pracmln: its EnumerationAsk on the same files (marginals only; pracmln must be installed).")
@click.option("--grammar", default="auto", show_default=True, type=click.Choice(["auto", "standard", "prac"]),
              help="pracmln grammar; auto: PRACGrammar when the MLN uses ?-variables.")
@click.option("--samples", default=500, show_default=True, type=click.IntRange(1), help="Samples kept per chain (sampled components).")
@click.option("--chains", default=4, show_default=True, type=click.IntRange(1), help="Independent chains per component.")
@click.option("--burn-in", default=500, show_default=True, type=click.IntRange(0),
              help="Steps discarded per chain before keeping samples (the first half annealed).")
@click.option("--until-rhat", default=0.0, show_default=True, type=float,
              help="Run the chains on, doubling --samples, until every sampled atom's split R-hat is under this (0: off).")
@click.option("--max-samples", default=0, show_default=True, type=click.IntRange(0),
              help="With --until-rhat: samples per chain not to pass (0: no limit).")
@click.option("--max-seconds", default=0.0, show_default=True, type=click.FloatRange(0),
              help="With --until-rhat: stop doubling when the next doubling would pass this, per sampled batch (0: no limit).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0), help="Random seed of the samplers (same seed, same answer).")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False),
              help="JSON to write: routes per database and, for sampled components, the convergence report (R-hat per atom).")
@device_option
@quiet_option
def query_command(mln_path, evidence_path, queries, closed_world, output, method, engine, grammar, samples, chains, burn_in,
                  until_rhat, max_samples, max_seconds, seed, report_path, device, quiet):
    """Answer MLN (.mln) about the query atoms given each database of --evidence."""
    from again_mln.io import atomic
    from again_mln.mln import format_csv, format_table, query, read_db, read_mln

    atomic.check_target(output)
    if report_path is not None:
        atomic.check_target(report_path)
    mln = read_mln(mln_path, grammar)
    databases = read_db(evidence_path, mln)
    closed = _names(closed_world)
    asked = _names(queries) or [p for p in mln.predicates if p not in closed and "*" not in closed]
    if engine == "pracmln":
        from again_mln.engines.pracmln_query import pracmln_query
        from again_mln.mln import answers_from

        if method not in ("auto", "exact"):
            raise click.UsageError("--engine pracmln answers exact marginals only (--method auto or exact)")
        grammars = {"auto": "auto", "standard": "StandardGrammar", "prac": "PRACGrammar"}
        marginals = pracmln_query(mln_path, evidence_path, asked, [c for c in closed if c != "*"], "EnumerationAsk",
                                  grammars[grammar], params={"cw": True} if "*" in closed else None)
        answers = answers_from(marginals, databases)
    else:
        answers = query(mln, databases, asked, closed, method, progress=not quiet, samples=samples, chains=chains,
                        burn_in=burn_in, seed=seed, device=device, until_rhat=until_rhat, max_samples=max_samples,
                        max_seconds=max_seconds)
    atomic.write_text(output, format_csv(answers, method))
    if report_path is not None:
        from again_mln.mln.convergence import format_report

        atomic.write_text(report_path, format_report(answers))
    if not quiet:
        click.echo(format_table(answers, method))
    atoms = sum(len(a.atoms) for a in answers)
    for index, answer in enumerate(answers):
        if "convergence" in answer.stats:
            click.echo(f"sampled  {'database ' + str(index) + ': ' if len(answers) > 1 else ''}{answer.stats['convergence'].summary()}")
    click.echo(f"wrote    {output}: {len(answers)} database(s), {atoms} ground atoms of {', '.join(asked)} ({method}, {engine})")
    if report_path is not None:
        click.echo(f"wrote    {report_path}: convergence report")
