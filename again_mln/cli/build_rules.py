"""``again-mln build-rules``: write a rule file from CUB scores, the EWS simulator, the
Synthetic-MNIST mapping or a user's concept table, and print its Table-6 summary."""
from __future__ import annotations

from pathlib import Path

import click

from again_mln.io.atomic import output_folder
from again_mln.choices import CUB_CONCEPTS, SEMANTICS, WEIGHTINGS
from again_mln.cli.options import cub_root_option, data_root_option
from again_mln.errors import AgainError
from again_mln.rulegen.registry import RULE_SOURCES  # imports no builder


@click.command("build-rules")
@click.option("--dataset", required=True, type=click.Choice(sorted(RULE_SOURCES)),
              help="Rule source: " + "; ".join(f"{s.name}: {s.description}" for s in RULE_SOURCES.values()) + ".")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="The .mln file to write [default: mln_files/DATASET.mln].")
@cub_root_option
@data_root_option
@click.option("--concepts", type=click.Choice(CUB_CONCEPTS), default="cbm", show_default=True,
              help="cub: the 112 attributes of concept bottleneck work, or all 312.")
@click.option("--coexist-above", type=float, default=55.0, show_default=True,
              help="cub: association score (percent) above which a category-concept rule is coexistence.")
@click.option("--exclude-below", type=float, default=15.0, show_default=True,
              help="cub: association score (percent) below which a category-concept rule is exclusion.")
@click.option("--corr-above", type=float, default=0.8, show_default=True,
              help="cub: Pearson r above which two concepts coexist.")
@click.option("--corr-below", type=float, default=-0.5, show_default=True,
              help="cub: Pearson r below which two concepts exclude each other.")
@click.option("--p-high", type=float, default=0.95, show_default=True,
              help="ews/table: P(concept | category) above which the category implies the concept.")
@click.option("--p-low", type=float, default=0.05, show_default=True,
              help="ews/table: P(concept | category) below which the category excludes the concept.")
@click.option("--cos-above", type=float, default=0.5, show_default=True,
              help="ews/table: cosine similarity of concept columns above which two concepts coexist.")
@click.option("--min-support", type=int, default=10, show_default=True,
              help="ews/table: samples a category (or a concept) needs before rules are drawn from it.")
@click.option("--n-samples", type=int, default=None, help="ews: simulated training patients [default: 20000].")
@click.option("--table", type=click.Path(dir_okay=False), default=None,
              help="table: the concept table (.csv with a header, or .npz with 'concepts').")
@click.option("--category-column", default=None, help="table: the column (or .npz array) holding the category.")
@click.option("--mapping", type=click.Path(dir_okay=False), default=None,
              help="mnist: a category-to-digits file [default: the package's synthetic_mnist_categories.txt].")
@click.option("--weights", type=click.Choice(WEIGHTINGS), default="prior", show_default=True,
              help="prior: log-odds of each rule's confidence; uniform: all 1.0.")
@click.option("--semantics", type=click.Choice(SEMANTICS), default="implication", show_default=True,
              help="implication (docs/method.md) or the paper's literal equivalence / xor.")
@click.option("--drop-fraction", type=float, default=0.0, show_default=True,
              help="Remove this fraction of the rules at random (simulated incomplete knowledge).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulator and of --drop-fraction.")
@click.pass_context
def build_rules_command(ctx: click.Context, **options) -> None:
    """Build the rules of a dataset, write them as a pracmln .mln file and print a summary."""
    from again_mln.again.mlnfile import write_mln
    from again_mln.rulegen.summary import format_summary, summarize

    dataset, output = options.pop("dataset"), options.pop("output")
    source = RULE_SOURCES[dataset]
    for name in sorted(set(options) - set(source.options)):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            raise AgainError(f"--{name.replace('_', '-')} does not apply to --dataset {dataset}")
    ruleset = source.build(**{name: options[name] for name in source.options})
    output = Path(output or output_folder("mln_files") / f"{dataset}.mln")
    write_mln(ruleset, output)
    click.echo(format_summary(summarize(ruleset), title=f"wrote {output}"))
