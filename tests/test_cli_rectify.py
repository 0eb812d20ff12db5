"""``again-mln rectify`` through click's runner: the happy path and every kind of bad input."""
import numpy as np
import pytest
from click.testing import CliRunner

from again_mln.cli import main
from test_graph import TWO_CONCEPTS


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "rules.mln").write_text(TWO_CONCEPTS)
    np.save(tmp_path / "preds.npy", np.array([[0.8, 0.3], [0.9, 0.8], [0.1, 0.2]]))
    np.save(tmp_path / "cats.npy", np.array([0, 0, 1]))
    return tmp_path


def run(workdir, *args):
    return CliRunner().invoke(main, ["rectify", *map(str, args)], catch_exceptions=False)


def test_rectify_writes_all_arrays_and_a_summary(workdir):
    out = workdir / "out.npz"
    result = run(workdir, workdir / "preds.npy", "--mln", workdir / "rules.mln", "--categories", workdir / "cats.npy", "-o", out)
    assert result.exit_code == 0, result.output
    assert "flagged      1 (33.3%) at d = 0.9" in result.output
    assert "explanations/s" in result.output
    with np.load(out) as arrays:
        assert sorted(arrays.files) == ["category", "flagged", "mask", "rectified", "score_after", "score_before"]
        np.testing.assert_allclose(arrays["rectified"], [[0.8, 1.0], [0.9, 0.8], [0.1, 0.2]], atol=1e-6)
        assert arrays["flagged"].tolist() == [True, False, False]


def test_npz_with_scores_and_logits_and_concept_names(workdir):
    logits = np.log(np.array([[0.3, 0.8]]) / (1 - np.array([[0.3, 0.8]])))  # columns B, A
    np.savez(workdir / "both.npz", concepts=logits, categories=np.array([[2.0, -1.0]]))
    (workdir / "names.txt").write_text("B\nA\n")
    out = workdir / "out.npz"
    result = run(workdir, workdir / "both.npz", "--mln", workdir / "rules.mln", "-o", out, "--logits",
                 "--concept-names", workdir / "names.txt", "--strategy", "map", "--lam", "0.5")
    assert result.exit_code == 0, result.output
    with np.load(out) as arrays:
        np.testing.assert_allclose(arrays["rectified"], [[0.8, 1.0]], atol=1e-6)


@pytest.mark.parametrize(
    "preds, cats, message",
    [
        (np.array([[0.8, np.nan]]), np.array([0]), "contain NaN"),
        (np.array([[0.8, 1.3]]), np.array([0]), "must lie in [0, 1]"),
        (np.array([[0.8, 0.3, 0.1]]), np.array([0]), "has 3 concept columns but the rules declare 2"),
        (np.array([0.8, 0.3]), np.array([0]), "expected 2 dimensions, got shape (2,)"),
        (np.array([[0.8, 0.3]]), np.array([7]), "unknown category id 7"),
        (np.array([[0.8, 0.3]]), np.array([0, 1]), "has 2 categories but"),
        (np.array([[0.8, 0.3]]), np.array([[0.1, 0.2, 0.3]]), "expected 2 category scores per row"),
        (np.array([[0.8, 0.3]]), np.array([0.5]), "category ids must be whole numbers"),
    ],
)
def test_bad_inputs_give_one_line_and_no_output(workdir, preds, cats, message):
    np.save(workdir / "p.npy", preds)
    np.save(workdir / "c.npy", cats)
    out = workdir / "out.npz"
    result = run(workdir, workdir / "p.npy", "--mln", workdir / "rules.mln", "--categories", workdir / "c.npy", "-o", out)
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert not out.exists() and list(workdir.glob(".out.npz*")) == []


def test_bad_rule_file_and_missing_inputs(workdir):
    (workdir / "bad.mln").write_text(TWO_CONCEPTS + "1.0 label(Y) => (active(A)\n")
    result = run(workdir, workdir / "preds.npy", "--mln", workdir / "bad.mln", "--categories", workdir / "cats.npy", "-o", workdir / "o.npz")
    assert result.exit_code == 1 and "bad.mln:7: unbalanced parentheses" in result.output
    result = run(workdir, workdir / "absent.npy", "--mln", workdir / "rules.mln", "--categories", workdir / "cats.npy", "-o", workdir / "o.npz")
    assert result.exit_code == 1 and "absent.npy: no such file" in result.output
    result = run(workdir, workdir / "preds.npy", "--mln", workdir / "rules.mln", "-o", workdir / "o.npz")
    assert result.exit_code == 1 and "no categories" in result.output


def test_names_saved_with_predictions_put_columns_in_the_rules_order(workdir):
    np.savez(workdir / "named.npz", concepts=np.array([[0.3, 0.8]]), categories=np.array([[-1.0, 2.0]]),
             concept_names=np.array(["B", "A"]), category_names=np.array(["Z", "Y"]))
    out = workdir / "out.npz"
    result = run(workdir, workdir / "named.npz", "--mln", workdir / "rules.mln", "-o", out)
    assert result.exit_code == 0, result.output
    with np.load(out) as arrays:  # A = 0.8, B = 0.3 under category Y: the switch sets B
        np.testing.assert_allclose(arrays["rectified"], [[0.8, 1.0]], atol=1e-6)
    np.savez(workdir / "wrong.npz", concepts=np.array([[0.3, 0.8]]), categories=np.array([0]),
             concept_names=np.array(["B", "C"]))
    result = run(workdir, workdir / "wrong.npz", "--mln", workdir / "rules.mln", "-o", out)
    assert result.exit_code == 1 and "concept 'A' of the rules is missing" in result.output
