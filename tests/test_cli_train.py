"""`again-mln train` and `predict` end to end on tiny runs, for every dataset and model kind."""
import numpy as np
import pytest
from click.testing import CliRunner

from again_mln.cli import main

TINY = {
    "mnist": ["--n-train", "128", "--n-test", "32", "--epochs", "1", "--batch-size", "64"],
    "ews": ["--n-train", "300", "--n-test", "100", "--epochs", "2"],
    "cub-sim": ["--epochs", "1", "--head-epochs", "1", "--batch-size", "512"],
    "cub-koh": ["--epochs", "1", "--head-epochs", "1", "--batch-size", "512"],
}


MNIST, CUB = pytest.mark.data("mnist"), pytest.mark.data("cub")


@pytest.mark.parametrize("dataset,kind,mode", [
    pytest.param("mnist", "cbm", "joint", marks=MNIST), pytest.param("mnist", "cem", "sequential", marks=MNIST),
    ("ews", "cbm", "sequential"), ("ews", "cem", "joint"),
    pytest.param("cub-sim", "cbm", "independent", marks=CUB), pytest.param("cub-sim", "cem", "joint", marks=CUB),
    pytest.param("cub-koh", "cbm", "sequential", marks=CUB),
])
def test_train_then_predict(tmp_path, dataset, kind, mode):
    runner = CliRunner()
    model = tmp_path / "model.pt"
    result = runner.invoke(main, ["train", "--dataset", dataset, "--model", kind, "--mode", mode, "--quiet",
                                  "--device", "cpu", "-o", str(model), *TINY[dataset]])
    assert result.exit_code == 0, result.output
    assert "test concept accuracy" in result.output and model.is_file()
    for split in ("test", "train"):
        out = tmp_path / f"{split}.npz"
        result = runner.invoke(main, ["predict", str(model), "--split", split, "-o", str(out)])
        assert result.exit_code == 0, result.output
        arrays = np.load(out)
        n, m = arrays["concepts"].shape
        assert arrays["true_concepts"].shape == (n, m) and arrays["true_categories"].shape == (n,)
        assert arrays["categories"].shape == (n, len(arrays["category_names"]))
        assert ((arrays["concepts"] >= 0) & (arrays["concepts"] <= 1)).all()


def test_progress_lines_and_clear_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["train", "--dataset", "ews", "--n-train", "200", "--n-test", "50", "--epochs", "2",
                                  "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 0 and "[joint 2]" in result.output
    result = runner.invoke(main, ["train", "--dataset", "mnist", "--mnist-root", str(tmp_path), "-o",
                                  str(tmp_path / "x.pt")])
    assert result.exit_code == 1 and "Error:" in result.output and "MNIST/raw" in result.output
    result = runner.invoke(main, ["predict", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "p.npz")])
    assert result.exit_code == 1 and "no such checkpoint" in result.output
