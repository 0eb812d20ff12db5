"""``again-mln inspect``: the Table-6 summary of any ``.mln`` file, and optionally its factor graph."""
from __future__ import annotations

import click


@click.command("inspect")
@click.argument("rules", type=click.Path(dir_okay=False))
@click.option("--graph", "graph_path", type=click.Path(dir_okay=False), default=None,
              help="Also draw the factor graph to this image (.png, .pdf or .svg).")
def inspect_command(rules: str, graph_path: str | None) -> None:
    """Print rules per kind, variables and factors of RULES (an .mln file)."""
    from again_mln.again.mlnfile import read_mln
    from again_mln.rulegen.summary import format_summary, summarize

    ruleset = read_mln(rules)
    click.echo(format_summary(summarize(ruleset), title=rules))
    if graph_path is not None:
        from again_mln.rulegen.draw import draw_factor_graph

        draw_factor_graph(ruleset, graph_path)
        click.echo(f"wrote {graph_path}")
