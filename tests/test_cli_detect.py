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
