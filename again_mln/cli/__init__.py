"""The ``again-mln`` command line: a thin click layer over the library.

Each command lives in its own module under ``again_mln.cli``, only parses options, calls one
public library function and prints its summary. Commands are imported when they are run (or
listed), so ``again-mln rectify`` never pays for the training stack; and a command module imports
at module level only click, the option vocabularies of :mod:`again_mln.choices` and the shared
options, never the library itself (it does so inside the command), so ``again-mln --help`` and
``again-mln COMMAND --help`` answer without importing torch, numpy or scipy
(``tests/test_cli_help.py``). Every :class:`AgainError` raised below becomes a one-line
``Error: ...`` message and exit status 1, never a traceback.
"""
from __future__ import annotations

import importlib
import warnings

import click

from again_mln.io.atomic import command_scope
from again_mln.errors import AgainError, AgainWarning, one_line, short

#: command name -> ``module:function`` of its click command, in the order ``--help`` lists them
COMMANDS = {
    "demo": "again_mln.cli.demo:demo_command",
    "rectify": "again_mln.cli.rectify:rectify_command",
    "detect": "again_mln.cli.detect:detect_command",
    "learn-weights": "again_mln.cli.learn_weights:learn_weights_command",
    "query": "again_mln.cli.query:query_command",
    "build-rules": "again_mln.cli.build_rules:build_rules_command",
    "inspect": "again_mln.cli.inspect_rules:inspect_command",
    "train": "again_mln.cli.train:train_command",
    "predict": "again_mln.cli.predict:predict_command",
    "attack": "again_mln.cli.attack:attack_command",
    "evaluate": "again_mln.cli.evaluate:evaluate_command",
    "report": "again_mln.cli.report:report_command",
    "intervene": "again_mln.cli.intervene:intervene_command",
    "data": "again_mln.cli.data:data_command",
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
        """The one guarded entry: a user error is one ``Error:`` line, anything unexpected one
        line too (exit status 1) unless ``--debug`` / ``AGAIN_DEBUG=1`` asks for the traceback.
        Inputs of the command are protected from its outputs (:func:`command_scope`)."""
        try:
            with command_scope(), warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except AgainError as err:
            raise click.ClickException(one_line(str(err))) from None
        except click.exceptions.UsageError as err:
            raise _UsageLine(err) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as err:
            if ctx.params.get("debug"):
                raise
            raise click.ClickException(one_line(_describe(ctx, err))) from None


class _UsageLine(click.ClickException):
    """A bad option as one ``Error:`` line (exit status 2, as click's usage errors)."""

    exit_code = 2

    def __init__(self, err: click.exceptions.UsageError):
        command = err.ctx.command_path if err.ctx is not None else "again-mln"
        super().__init__(one_line(f"{err.format_message()} (see {command} --help)"))


def _describe(ctx: click.Context, err: Exception) -> str:
    """``what was being done: short reason`` for an exception the library did not anticipate."""
    filename = getattr(err, "filename", None)
    what = short(filename)[1:-1] if filename else ctx.invoked_subcommand or "again-mln"
    if isinstance(err, MemoryError):
        reason = "out of memory"
    elif isinstance(err, RecursionError):
        reason = "input nested too deeply"
    else:
        detail = str(err.strerror if isinstance(err, OSError) and err.strerror else err).strip().splitlines()
        reason = f"{type(err).__name__}: {detail[0][:150]}" if detail else type(err).__name__
    return f"{what}: {reason} (rerun with --debug for the traceback)"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings as one ``Warning:`` line on stderr, without the source line."""
    text = str(message) if issubclass(category, AgainWarning) else f"{category.__name__}: {message}"
    click.echo(f"Warning: {one_line(text)}", err=True)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="again-mln")
@click.option("--debug", is_flag=True, envvar="AGAIN_DEBUG",
              help="Show the Python traceback of an unexpected error (also AGAIN_DEBUG=1).")
def main(debug: bool) -> None:
    """again-mln: logic rules that detect and repair concept-level explanations (AGAIN)."""
