"""``again-mln data status|fetch``: where the third-party data sets are, and fetching them."""
from __future__ import annotations

import click

from again_mln.cli.options import data_root_option, quiet_option
from again_mln.datasets.store import DATA_SETS, fetch, status  # the data package loads no loader on import


@click.group("data")
def data_command() -> None:
    """Third-party data sets (MNIST, CUB-200-2011): where they are looked for, and fetching them.
    EWS needs no download."""


@data_command.command("status")
@data_root_option
def status_command(data_root: str | None) -> None:
    """List each data set, the data folders it is looked for in, and whether it is complete."""
    for row in status(data_root):
        state = "complete" if row.complete else f"missing {len(row.missing)} file(s), e.g. {row.missing[0]}"
        if row.complete and row.optional_missing:
            state += f" (without the optional {', '.join(row.optional_missing)})"
        click.echo(f"{row.name:6} {row.origin:16} {row.folder}: {state}")
    click.echo("\nSources, licences and the archives `again-mln data fetch` downloads:")
    for spec in DATA_SETS.values():
        click.echo(f"  {spec.name:6} {spec.title}; {spec.licence}; {spec.homepage}")
        for archive in spec.archives:
            click.echo(f"         {archive.url} ({archive.known_hash})")


@data_command.command("fetch")
@click.argument("name", type=click.Choice(list(DATA_SETS)))
@click.option("--to", "to", type=click.Path(file_okay=False), default=None,
              help="Data folder to fill [default: the per-user data folder].")
@click.option("--archives", type=click.Path(file_okay=False, exists=True), default=None,
              help="Folder holding archives you downloaded yourself (checked, not downloaded again).")
@quiet_option
def fetch_command(name: str, to: str | None, archives: str | None, quiet: bool) -> None:
    """Download NAME's official archives, verify their published checksums and unpack them.

    Offline: download the archives listed by `again-mln data status` yourself, then run this with
    --archives pointing at the folder that holds them."""
    folder = fetch(name, to=to, archives=archives, progress=not quiet, log=click.echo)
    click.echo(f"{name} is ready in {folder}")
