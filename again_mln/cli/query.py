"""``again-mln query``: conditional marginals (or MAP) of the concepts given pracmln evidence."""
from __future__ import annotations

import click

from again_mln.cli.options import quiet_option


@click.command("query")
@click.argument("rules", type=click.Path(dir_okay=False))
@click.option("--evidence", "evidence_path", required=True, type=click.Path(dir_okay=False),
              help="pracmln .db file: databases separated by ---, each with one label(Y) and any "
                   "active(C) / !active(C) atoms; unmentioned concepts are queried.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="CSV to write.")
@click.option("--method", default="marginals", show_default=True, type=click.Choice(["marginals", "map"]),
              help="marginals: P(active(C) | evidence); map: a most probable completion.")
@click.option("--engine", default="native", show_default=True, type=click.Choice(["native", "pracmln"]),
              help="pracmln: EnumerationAsk (MC-SAT beyond 14 unknown concepts), marginals only.")
@quiet_option
def query_command(rules, evidence_path, output, method, engine, quiet):
    """Ask RULES (.mln) about every concept given each database of --evidence."""
    from again_mln.mlnfile import read_db, read_mln
    from again_mln.query import format_answers, query, write_answers

    ruleset = read_mln(rules)
    evidence, categories = read_db(evidence_path, ruleset, missing=-1)
    answers = query(ruleset, evidence, categories, method, engine)
    write_answers(output, ruleset, answers, method)
    if not quiet:
        click.echo(format_answers(ruleset, evidence, categories, answers, method))
    click.echo(f"wrote    {output}: {len(answers)} database(s) x {len(ruleset.concepts)} concepts ({method}, {engine})")
