"""The ``again-mln`` command line: a thin click layer over the library.

Each command lives in its own module under ``again_mln.cli``, only parses options, calls one
public library function and prints its summary. Commands are imported when they are run (or
listed), so ``again-mln rectify`` never pays for the training stack. Every :class:`AgainError`
raised below becomes a one-line ``Error: ...`` message and exit status 1, never a traceback.
"""
from __future__ import annotations

import importlib

import click

from again_mln.errors import AgainError

#: command name -> ``module:function`` of its click command, in the order ``--help`` lists them
COMMANDS = {
    "demo": "again_mln.cli.demo:demo_command",
    "rectify": "again_mln.cli.rectify:rectify_command",
    "learn-weights": "again_mln.cli.learn_weights:learn_weights_command",
    "build-rules": "again_mln.cli.build_rules:build_rules_command",
    "inspect": "again_mln.cli.inspect_rules:inspect_command",
    "train": "again_mln.cli.train:train_command",
    "predict": "again_mln.cli.predict:predict_command",
    "attack": "again_mln.cli.attack:attack_command",
    "evaluate": "again_mln.cli.evaluate:evaluate_command",
}


class _LazyGroup(click.Group):
    """Loads a command's module on first use and turns library errors into one-line CLI errors."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AgainError as err:
            raise click.ClickException(str(err)) from None


@click.group(cls=_LazyGroup)
@click.version_option(package_name="again-mln")
def main() -> None:
    """again-mln: logic rules that detect and repair concept-level explanations (AGAIN)."""
