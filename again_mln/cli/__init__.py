"""The ``again-mln`` command line: a thin click layer over the library.

Each command lives in its own module under ``again_mln.cli`` and only parses options, calls one
public library function and prints its summary. Every :class:`AgainError` raised below becomes
a one-line ``Error: ...`` message and exit status 1, never a traceback.
"""
from __future__ import annotations

import click

from again_mln.errors import AgainError


class _Group(click.Group):
    """A click group that turns user-facing library errors into one-line CLI errors."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AgainError as err:
            raise click.ClickException(str(err)) from None


@click.group(cls=_Group)
@click.version_option(package_name="again-mln")
def main() -> None:
    """again-mln: logic rules that detect and repair concept-level explanations (AGAIN)."""


def _register() -> None:
    """Attach the commands; imported here so ``again_mln.cli`` stays the single entry point."""
    from again_mln.cli import rectify  # noqa: F401  (each module registers itself on ``main``)
    from again_mln.cli import learn_weights  # noqa: F401
    from again_mln.cli import build_rules, inspect_rules  # noqa: F401
    from again_mln.cli import train  # noqa: F401
    from again_mln.cli import predict  # noqa: F401
    from again_mln.cli import attack, demo, evaluate  # noqa: F401


_register()
