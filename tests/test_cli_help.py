"""``again-mln --help`` and ``again-mln COMMAND --help`` answer at once: they import no torch, numpy
or scipy (checked in a fresh interpreter, since the test process has them loaded already), and
each command module imports the library inside its function bodies."""
from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from again_mln.cli import COMMANDS, main

HEAVY = ("torch", "numpy", "scipy", "matplotlib", "networkx", "tqdm")

# every listing a user can ask for: the group's, each command's and each subcommand's
_PROBE = """
import json, sys
from again_mln.cli import COMMANDS, main
import click
import pytest
from click.testing import CliRunner

heavy = %r
report = []
def ask(*args):
    try:
        main([*args, "--help"], prog_name="again-mln")
    except SystemExit as exit:
        status = exit.code
    report.append([" ".join(args), status, [m for m in heavy if m in sys.modules]])

ask()
for name in COMMANDS:
    ask(name)
    command = main.get_command(None, name)
    if isinstance(command, click.Group):
        for sub in command.list_commands(None):
            ask(name, sub)
print(json.dumps(report))
""" % (HEAVY,)


def test_every_help_listing_imports_no_heavy_module():
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(report) >= len(COMMANDS) + 1
    for args, status, loaded in report:
        asked = " ".join(["again-mln", *args.split(), "--help"])
        assert status == 0, f"{asked} exited {status}"
        assert not loaded, f"{asked} imported {', '.join(loaded)} (import it inside the command)"


def test_the_listing_shows_every_command_with_its_short_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output
        assert main.get_command(None, name).get_short_help_str().split()[0] in result.output


@pytest.mark.parametrize("option, value", [("--lam", "-1"), ("--lam", "nan"), ("--threshold", "1.5"), ("--threshold", "inf")])
@pytest.mark.parametrize("command", ["rectify", "detect", "intervene"])
def test_a_bad_lam_or_threshold_is_the_same_usage_error_in_every_command(tmp_path, command, option, value):
    """--lam and --threshold are declared alike everywhere: the same mistake exits 2 with the same message."""
    (tmp_path / "rules.mln").write_text("")  # intervene wants it to exist; the option is refused before it is read
    args = [command, str(tmp_path / "in.npz"), "--mln", str(tmp_path / "rules.mln"), "-o", str(tmp_path / "out.npz"),
            option, value]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert not (tmp_path / "out.npz").exists()
