"""``again-mln learn-weights`` end to end, with both engines."""
from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from again_mln.cli import main
from again_mln.engines import pracmln_compat
from again_mln.again.mlnfile import read_mln, write_mln
from learning_models import exact_sample, random_ruleset, require_pracmln


@pytest.fixture
def problem(tmp_path):
    ruleset = random_ruleset(11, num_concepts=4, num_categories=2, num_rules=6)
    ruleset.header = ("toy rules",)
    ruleset.rules[0].comments = ("first rule",)
    ruleset.rules[1].fixed = True
    write_mln(ruleset, tmp_path / "rules.mln")
    concepts, categories = exact_sample(ruleset, 120, seed=0)
    np.savez(tmp_path / "train.npz", concepts=concepts, categories=categories)
    return tmp_path, ruleset


def _run(*args: str):
    return CliRunner().invoke(main, ["learn-weights", *map(str, args)])


@pytest.mark.parametrize("method", ["auto", "cll", "pll"])
def test_native_learning_writes_the_rules_with_new_weights(problem, method):
    folder, ruleset = problem
    result = _run(folder / "rules.mln", "--data", folder / "train.npz", "-o", folder / "out.mln", "--method", method)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and ("pll" if method == "pll" else "cll (") in result.output
    learned = read_mln(folder / "out.mln")
    assert learned.header == ("toy rules",) and learned.rules[0].comments == ("first rule",)
    assert [str(r.formula) for r in learned.rules] == [str(r.formula) for r in ruleset.rules]
    assert learned.rules[1].fixed and learned.rules[1].weight == ruleset.rules[1].weight
    assert [r.weight for r in learned.rules] != [r.weight for r in ruleset.rules]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_pracmln_engine_runs_from_the_cli(problem):
    require_pracmln()
    folder, _ = problem
    result = _run(folder / "rules.mln", "--data", folder / "train.npz", "-o", folder / "pr.mln", "--engine", "pracmln", "--prior-stdev", "2")
    assert result.exit_code == 0, result.output
    assert "pracmln cll" in result.output
    native = _run(folder / "rules.mln", "--data", folder / "train.npz", "-o", folder / "nat.mln", "--prior-stdev", "2")
    assert native.exit_code == 0, native.output
    difference = [abs(a.weight - b.weight) for a, b in zip(read_mln(folder / "pr.mln").rules, read_mln(folder / "nat.mln").rules)]
    assert max(difference) < 0.05


def test_a_missing_pracmln_is_a_one_line_error(problem, monkeypatch):
    folder, _ = problem
    monkeypatch.setattr(pracmln_compat.importlib.util, "find_spec", lambda name: None)
    result = _run(folder / "rules.mln", "--data", folder / "train.npz", "-o", folder / "x.mln", "--engine", "pracmln")
    assert result.exit_code == 1 and "install_pracmln" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"concepts": np.zeros((3, 5)), "categories": np.zeros(3, int)}, r"shape \(N, 4\)"),
        ({"concepts": np.full((3, 4), 0.5), "categories": np.zeros(3, int)}, "0/1"),
        ({"concepts": np.zeros((3, 4)), "categories": np.array(["y0", "nope", "y1"])}, "unknown category name"),
        ({"concepts": np.zeros((3, 4))}, "expected an array named 'categories'"),
    ],
)
def test_bad_data_is_a_clear_error_and_writes_nothing(problem, arrays, message):
    folder, _ = problem
    np.savez(folder / "bad.npz", **arrays)
    result = _run(folder / "rules.mln", "--data", folder / "bad.npz", "-o", folder / "x.mln")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert re.search(message, result.output), result.output
    assert not (folder / "x.mln").exists()
