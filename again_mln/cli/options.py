"""Options that several commands share, declared once so their names, defaults and help agree.

Like every command module, this imports no part of the library that needs torch, numpy or scipy:
``again-mln --help`` and ``again-mln COMMAND --help`` answer at once."""
from __future__ import annotations

import math

import click

from again_mln.choices import ATTACK_KINDS, ATTACK_TARGETS


class FiniteFloat(click.FloatRange):
    """A float range that also refuses ``nan`` and ``inf`` (which click's FloatRange lets through)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


#: the type of every ``--threshold``: the detection relaxation d of Eq. 3, in [0, 1] (as the library checks)
THRESHOLD = FiniteFloat(0, 1)
#: the type of every ``--lam``: the weight of the network's confidence against the rules, finite and >= 0
LAM = FiniteFloat(0)


#: the type of every ``--target-sr``: the pass rate a calibration guarantees on clean data, in (0, 1)
#: (SR = 1 is no target: only passing every explanation guarantees it)
TARGET_SR = click.FloatRange(0, 1, min_open=True, max_open=True)


def target_sr_option(default: float | None, help: str):
    """``--target-sr``, declared alike in every command (a bad value exits 2 everywhere)."""
    return click.option("--target-sr", type=TARGET_SR, default=default, show_default=default is not None, help=help)


def threshold_option(default: float, help: str):
    """``--threshold``, declared alike in every command (a bad value exits 2 everywhere)."""
    return click.option("--threshold", type=THRESHOLD, default=default, show_default=True, help=help)


def lam_option(default: float, help: str):
    """``--lam``, declared alike in every command (a bad value exits 2 everywhere)."""
    return click.option("--lam", type=LAM, default=default, show_default=True, help=help)


#: ``--device``: where tensors live (the library resolves ``auto``)
device_option = click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
#: ``--seed``: the one seed of a run (same seed, same result)
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
#: ``--quiet``: no progress bars or step lines
quiet_option = click.option("--quiet", is_flag=True, help="No progress bars or step lines.")
#: ``--data-root``: the data folder holding MNIST/ and cub/ (see ``again-mln data status``)
data_root_option = click.option(
    "--data-root", type=click.Path(file_okay=False), default=None,
    help="The data folder holding MNIST/ and cub/ [default: $AGAIN_DATA, then the per-user data "
         "folder that `again-mln data fetch` fills].")
#: ``--mnist-root`` / ``--cub-root``: one data set's own folder, overriding the data folder
mnist_root_option = click.option("--mnist-root", type=click.Path(file_okay=False), default=None,
                                  help="Folder with the four MNIST .gz files (or MNIST/raw/ of them) "
                                       "[default: MNIST/ in the data folder].")
cub_root_option = click.option("--cub-root", type=click.Path(file_okay=False), default=None,
                               help="Folder holding CUB_200_2011/ [default: cub/ in the data folder].")


def parse_attack(value: str | None) -> tuple[str, str] | None:
    """``KIND`` or ``KIND/TARGETS`` (e.g. ``confounding/damaging``) -> (kind, targets)."""
    if value is None:
        return None
    kind, _, targets = value.partition("/")
    if kind not in ATTACK_KINDS or (targets or "random") not in ATTACK_TARGETS:
        raise click.BadParameter(f"expected KIND[/TARGETS] with KIND in {', '.join(ATTACK_KINDS)} and TARGETS in "
                                 f"{', '.join(ATTACK_TARGETS)}, got {value!r}")
    return kind, targets or "random"
