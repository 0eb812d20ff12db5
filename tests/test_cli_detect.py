"""`again-mln detect` (scores, flags, calibration) and `rectify --detector` reusing its calibration."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from again_mln.cli import main
from again_mln.again.mlnfile import write_mln
from test_detectors import clean_like, graph


@pytest.fixture()
def files(tmp_path):
    g = graph()
    rules = tmp_path / "rules.mln"
    write_mln(g.ruleset, rules)
    for name, seed, n in (("clean.npz", 0, 400), ("preds.npz", 1, 120)):
        probs, y = clean_like(n, seed, g)
        np.savez(tmp_path / name, concepts=probs.numpy().astype(np.float32), categories=y.numpy())
    return tmp_path, rules


def test_detect_calibrates_scores_and_flags(files):
    folder, rules = files
    out = folder / "det.npz"
    result = CliRunner().invoke(main, ["detect", str(folder / "preds.npz"), "--mln", str(rules), "--calibrate",
                                       str(folder / "clean.npz"), "--target-sr", "0.9", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "auto chose it" in result.output and "flagged" in result.output
    with np.load(out) as saved:
        assert saved["scores"].shape == saved["flagged"].shape == (120,)
        assert np.array_equal(saved["flagged"], saved["scores"] <= 0)
        assert str(saved["detector"]) in ("paper", "per-category", "confidence", "map-gap", "weighted-damage")
        assert saved["cutoffs"].shape == (3,) and float(saved["target_sr"]) == 0.9
        flagged = saved["flagged"]
    fixed = folder / "fixed.npz"
    result = CliRunner().invoke(main, ["rectify", str(folder / "preds.npz"), "--mln", str(rules), "--detector",
                                       str(out), "-o", str(fixed)])
    assert result.exit_code == 0, result.output
    assert f"flagged      {int(flagged.sum())} " in result.output and "detector of" in result.output
    with np.load(fixed) as repaired:
        assert np.array_equal(repaired["flagged"], flagged)


def test_detect_without_calibration_is_the_paper_at_d(files):
    folder, rules = files
    out = folder / "det.npz"
    result = CliRunner().invoke(main, ["detect", str(folder / "preds.npz"), "--mln", str(rules), "--threshold",
                                       "0.5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with np.load(out) as saved, np.load(folder / "preds.npz") as preds:
        assert str(saved["detector"]) == "paper" and np.allclose(saved["cutoffs"], np.log(0.5))
        from again_mln.again.rectifier import Rectifier

        expected = Rectifier(graph(), threshold=0.5).detect(torch.from_numpy(preds["concepts"]),
                                                   torch.from_numpy(preds["categories"]))
        assert np.array_equal(saved["flagged"], expected.numpy())
    result = CliRunner().invoke(main, ["detect", str(folder / "preds.npz"), "--mln", str(rules), "--detector",
                                       "map-gap", "-o", str(out)])
    assert result.exit_code == 1 and "give clean predictions with --calibrate" in result.output


def test_mixture_in_the_cli_reads_the_category_distribution(tmp_path):
    """Stored category probabilities (what `predict` writes) or logits reach `mixture` as the
    distribution, not reduced to their argmax: the CLI flags and repairs as the Rectifier does
    on the same log-probabilities, and writes the category it settled on."""
    from again_mln.again.rectifier import Rectifier
    from test_detectors import WRONG_ARGMAX, WRONG_ARGMAX_LOGITS, unsure_logits

    g = graph()
    rules = tmp_path / "rules.mln"
    write_mln(g.ruleset, rules)
    clean, y = clean_like(400, 3, g)
    clean_probs = unsure_logits(y, 4).softmax(1)
    np.savez(tmp_path / "clean.npz", concepts=clean.numpy(), categories=clean_probs.numpy().astype(np.float32))
    expected = Rectifier(g, "switch", "mixture", target_sr=0.9).fit(clean, clean_probs.log())
    flags = expected.detect(WRONG_ARGMAX, WRONG_ARGMAX_LOGITS)
    assert flags.tolist() == [False, True, True]  # the argmax y0 would flag the first one too
    for stored in (WRONG_ARGMAX_LOGITS.exp(), WRONG_ARGMAX_LOGITS + 3.0):  # probabilities, then logits
        np.savez(tmp_path / "preds.npz", concepts=WRONG_ARGMAX.numpy(), categories=stored.numpy())
        result = CliRunner().invoke(main, ["detect", str(tmp_path / "preds.npz"), "--mln", str(rules), "--calibrate",
                                           str(tmp_path / "clean.npz"), "--detector", "mixture", "--target-sr", "0.9",
                                           "-o", str(tmp_path / "det.npz")])
        assert result.exit_code == 0, result.output
        with np.load(tmp_path / "det.npz") as saved:
            assert saved["flagged"].tolist() == flags.tolist()
            assert saved["category"].tolist() == [1, 0, 1]
            assert np.allclose(saved["cutoffs"], expected.cutoffs.numpy())
        result = CliRunner().invoke(main, ["rectify", str(tmp_path / "preds.npz"), "--mln", str(rules), "--detector",
                                           str(tmp_path / "det.npz"), "-o", str(tmp_path / "fixed.npz")])
        assert result.exit_code == 0, result.output
        with np.load(tmp_path / "fixed.npz") as fixed:
            assert fixed["flagged"].tolist() == flags.tolist() and fixed["category"].tolist() == [1, 0, 1]
            assert fixed["rectified"][2].tolist() == pytest.approx([0.1, 0.1, 0.9, 1.0, 0.1, 0.1])  # under y1


def test_category_scores_are_read_as_probabilities_or_logits():
    from again_mln.io.inputs import category_log_probs

    probs = np.array([[0.7, 0.3, 0.0], [0.2, 0.2, 0.6]])
    assert np.allclose(np.exp(category_log_probs(probs)), probs)
    logits = np.array([[2.0, 1.0, -1.0], [0.5, 0.5, 0.5]])
    assert np.allclose(np.exp(category_log_probs(logits)), torch.tensor(logits).softmax(1).numpy())
