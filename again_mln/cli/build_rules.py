"""``again-mln build-rules``: write a rule file from CUB scores, the EWS simulator, the
Synthetic-MNIST mapping or a user's concept table, and print its Table-6 summary."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from again_mln.atomic import output_folder
from again_mln.errors import AgainError
from again_mln.logic import RuleSet
from again_mln.mlnfile import write_mln
from again_mln.rulegen.cub import CONCEPT_CHOICES, build_cub_rules
from again_mln.rulegen.estimate import EstimateThresholds
from again_mln.cli.options import cub_root_option, data_root_option
from again_mln.rulegen.ews import build_ews_rules
from again_mln.rulegen.kinds import SEMANTICS, WEIGHTINGS
from again_mln.rulegen.mnist import build_mnist_rules
from again_mln.rulegen.summary import format_summary, summarize
from again_mln.rulegen.table import build_table_rules

_COMMON = {"dataset", "output", "weights", "semantics", "drop_fraction", "seed"}
_ESTIMATE = {"p_high", "p_low", "cos_above", "min_support"}
#: The options each source reads; giving another one is an error rather than silently ignored.
_OPTIONS = {
    "cub": {"cub_root", "data_root", "concepts", "coexist_above", "exclude_below", "corr_above", "corr_below"},
    "ews": _ESTIMATE | {"n_samples"},
    "mnist": {"mapping"},
    "table": _ESTIMATE | {"table", "category_column"},
}


def _thresholds(o: dict) -> EstimateThresholds:
    return EstimateThresholds(o["p_high"], o["p_low"], o["cos_above"], o["min_support"])


def _build_table(o: dict, common: dict) -> RuleSet:
    if o["table"] is None or o["category_column"] is None:
        raise AgainError("--dataset table needs --table FILE (.csv or .npz) and --category-column NAME")
    return build_table_rules(o["table"], o["category_column"], thresholds=_thresholds(o), **common)


_BUILDERS: dict[str, Callable[[dict, dict], RuleSet]] = {
    "cub": lambda o, common: build_cub_rules(
        o["cub_root"], data_root=o["data_root"], concepts=o["concepts"], coexist_above=o["coexist_above"],
        exclude_below=o["exclude_below"], corr_above=o["corr_above"], corr_below=o["corr_below"], **common),
    "ews": lambda o, common: build_ews_rules(n_samples=o["n_samples"], thresholds=_thresholds(o), **common),
    "mnist": lambda o, common: build_mnist_rules(o["mapping"], **common),
    "table": _build_table,
}


@click.command("build-rules")
@click.option("--dataset", required=True, type=click.Choice(sorted(_OPTIONS)), help="Rule source.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="The .mln file to write [default: mln_files/DATASET.mln].")
@cub_root_option
@data_root_option
@click.option("--concepts", type=click.Choice(CONCEPT_CHOICES), default="cbm", show_default=True,
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
    dataset = options["dataset"]
    for name in sorted(set(options) - _COMMON - _OPTIONS[dataset]):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            raise AgainError(f"--{name.replace('_', '-')} does not apply to --dataset {dataset}")
    common = {k: options[k] for k in ("weights", "semantics", "drop_fraction", "seed")}
    ruleset = _BUILDERS[dataset](options, common)
    output = Path(options["output"] or output_folder("mln_files") / f"{dataset}.mln")
    write_mln(ruleset, output)
    click.echo(format_summary(summarize(ruleset), title=f"wrote {output}"))
