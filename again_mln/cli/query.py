"""``again-mln query``: marginals (or a most probable world) of the query atoms of any pracmln
MLN, for every database of the evidence file."""
from __future__ import annotations

import click

from again_mln.cli.options import quiet_option


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
@click.option("--method", default="auto", show_default=True, type=click.Choice(["auto", "exact", "map"]),
              help="auto/exact: exact marginals per component; map: a most probable world (integer program when too wide).")
@click.option("--engine", default="native", show_default=True, type=click.Choice(["native", "pracmln"]),
              help="pracmln: its EnumerationAsk on the same files (marginals only; pracmln must be installed).")
@click.option("--grammar", default="auto", show_default=True, type=click.Choice(["auto", "standard", "prac"]),
              help="pracmln grammar; auto: PRACGrammar when the MLN uses ?-variables.")
@quiet_option
def query_command(mln_path, evidence_path, queries, closed_world, output, method, engine, grammar, quiet):
    """Answer MLN (.mln) about the query atoms given each database of --evidence."""
    from again_mln.io import atomic
    from again_mln.mln import format_csv, format_table, query, read_db, read_mln

    atomic.check_target(output)
    mln = read_mln(mln_path, grammar)
    databases = read_db(evidence_path, mln)
    closed = _names(closed_world)
    asked = _names(queries) or [p for p in mln.predicates if p not in closed and "*" not in closed]
    if engine == "pracmln":
        from again_mln.engines.pracmln_query import pracmln_query
        from again_mln.mln import answers_from

        if method == "map":
            raise click.UsageError("--engine pracmln answers marginals only")
        grammars = {"auto": "auto", "standard": "StandardGrammar", "prac": "PRACGrammar"}
        marginals = pracmln_query(mln_path, evidence_path, asked, [c for c in closed if c != "*"], "EnumerationAsk",
                                  grammars[grammar], params={"cw": True} if "*" in closed else None)
        answers = answers_from(marginals, databases)
    else:
        answers = query(mln, databases, asked, closed, method, progress=not quiet)
    atomic.write_text(output, format_csv(answers, method))
    if not quiet:
        click.echo(format_table(answers, method))
    atoms = sum(len(a.atoms) for a in answers)
    click.echo(f"wrote    {output}: {len(answers)} database(s), {atoms} ground atoms of {', '.join(asked)} ({method}, {engine})")
