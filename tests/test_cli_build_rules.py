"""``again-mln build-rules`` and ``again-mln inspect`` through click, bad input included."""
import re

import pytest
from click.testing import CliRunner

from again_mln.cli import main
from again_mln.again.pracmln import to_pracmln
from again_mln.again.mlnfile import read_mln
from again_mln.datasets.store import locate

CUB_SMALL = ["--coexist-above", "99", "--exclude-below", "0.1", "--corr-above", "0.97", "--corr-below", "-0.8"]
TABLE = "fever,cough,diagnosis\n" + "1,1,flu\n" * 12 + "0,0,cold\n" * 12


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(TABLE)
    return path


def _builds(tmp_path, table, dataset):
    if dataset == "cub":  # only a CUB build may look for the CUB data
        return ["--data-root", locate("cub").parent, *CUB_SMALL]
    return {
        "ews": ["--n-samples", "3000"],
        "mnist": ["--drop-fraction", "0.2", "--seed", "1"],
        "table": ["--table", table, "--category-column", "diagnosis"],
    }[dataset]


@pytest.mark.parametrize("dataset", [pytest.param("cub", marks=pytest.mark.data("cub")), "ews", "mnist", "table"])
def test_every_builder_writes_a_file_that_loads_here_and_in_pracmln(tmp_path, table, dataset):
    output = tmp_path / f"{dataset}.mln"
    result = _run("build-rules", "--dataset", dataset, "-o", output, *_builds(tmp_path, table, dataset))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {output}\ncategory-concept  coexistence")
    ruleset = read_mln(output)
    assert re.search(rf"logical factors +{len(ruleset.rules):,}\n", result.output)
    assert len(to_pracmln(ruleset).formulas) == len(ruleset.rules)
    inspected = _run("inspect", output)
    assert inspected.exit_code == 0 and inspected.output.splitlines()[1:] == result.output.splitlines()[1:]


def test_default_output_path_and_graph(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["build-rules", "--dataset", "mnist", "--semantics", "paper"])
    assert result.exit_code == 0, result.output
    assert read_mln("mln_files/mnist.mln").rules[0].formula.to_mln() == 'label("cat_00") <=> active("digit_0")'
    result = CliRunner().invoke(main, ["inspect", "mln_files/mnist.mln", "--graph", "g.svg"])
    assert result.exit_code == 0 and result.output.endswith("wrote g.svg\n")


@pytest.mark.parametrize("args, message", [
    (["--dataset", "mnist", "--p-high", "0.9"], "--p-high does not apply to --dataset mnist"),
    (["--dataset", "cub", "--coexist-above", "101"], "coexist-above = 101 is out of range"),
    (["--dataset", "ews", "--p-low", "0.99"], "p-low = 0.99 must be below p-high = 0.95"),
    (["--dataset", "table"], "table rules need table and category_column (--table, --category-column"),
    (["--dataset", "table", "--table", "nope.csv", "--category-column", "y"], "nope.csv: no such file"),
    (["--dataset", "cub", "--cub-root", "nowhere"], "nowhere: CUB_200_2011/classes.txt not found"),
    (["--dataset", "mnist", "--mapping", "nope.txt"], "nope.txt: no such category-to-digits mapping file"),
    (["--dataset", "mnist", "--drop-fraction", "1.5"], "drop-fraction = 1.5 is out of range"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    output = tmp_path / "out.mln"
    result = _run("build-rules", *args, "-o", output)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not output.exists()


def test_inspect_bad_files(tmp_path):
    result = _run("inspect", tmp_path / "missing.mln")
    assert result.exit_code == 1 and "missing.mln: no such .mln file" in result.output
    broken = tmp_path / "broken.mln"
    broken.write_text("concept = {A}\ncategory = {Y}\n1.0 label(Y) => active(B)\n")
    result = _run("inspect", broken)
    assert result.exit_code == 1 and "broken.mln:3: unknown concept 'B'" in result.output
    ok = tmp_path / "ok.mln"
    ok.write_text("concept = {A}\ncategory = {Y}\n1.0 label(Y) => active(A)\n")
    result = _run("inspect", ok, "--graph", tmp_path / "g.bmpx")
    assert result.exit_code == 1 and "unsupported image format '.bmpx'" in result.output
