"""`again-mln attack`, `evaluate` and `demo` end to end on tiny EWS runs."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from again_mln.evaluation.attacks import AttackConfig, attack_checkpoint, attack_split
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.models.training import predict
from again_mln.again.synthetic import random_ruleset

from again_mln.cli import demo, main
from again_mln.rulegen.ews import build_ews_rules
from again_mln.again.mlnfile import write_mln


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "ews.pt"
    result = CliRunner().invoke(main, ["train", "--dataset", "ews", "--n-train", "300", "--n-test", "60", "--epochs",
                                       "2", "--quiet", "--device", "cpu", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_attack_writes_predictions_that_rectify_reads(model, tmp_path):
    out = tmp_path / "adv.npz"
    runner = CliRunner()
    result = runner.invoke(main, ["attack", str(model), "--kind", "confounding", "--eps", "32", "--steps", "5",
                                  "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "of target concepts" in result.output and "category kept for 100.0%" in result.output
    with np.load(out) as arrays:
        assert arrays["concepts"].shape == arrays["clean_concepts"].shape == (60, 22)
        assert (arrays["categories"].argmax(1) == arrays["clean_categories"].argmax(1)).all()
        assert arrays["erase_targets"].any() and arrays["introduce_targets"].any()
    rules = tmp_path / "ews.mln"
    write_mln(build_ews_rules(n_samples=300), rules)
    result = runner.invoke(main, ["rectify", str(out), "--mln", str(rules), "-o", str(tmp_path / "fixed.npz")])
    assert result.exit_code == 0, result.output


def test_attack_checkpoint_is_the_command_as_a_library_call(model, tmp_path):
    """The library function attacks the same samples the same way as the command (same seed)."""
    out = tmp_path / "adv.npz"
    args = ["attack", str(model), "--kind", "erasure", "--eps", "16", "--steps", "3", "--limit", "20", "--seed", "4"]
    assert CliRunner().invoke(main, [*args, "-o", str(out), "--quiet", "--device", "cpu"]).exit_code == 0
    run = attack_checkpoint(model, AttackConfig("erasure", 16, 3, 2), seed=4, limit=20, device="cpu")
    assert len(run.clean) == len(run.adversarial) == 20 and not torch.equal(run.clean.x, run.adversarial.x)
    with np.load(out) as arrays:
        assert (arrays["erase_targets"] == run.result.erase.numpy()).all()
        adversarial = predict(run.model, run.adversarial, device="cpu")["concepts"]
        np.testing.assert_allclose(arrays["concepts"], adversarial, atol=1e-6)
    others = FactorGraph(random_ruleset(5, 16, category_rules=20, concept_rules=3, seed=0))
    with pytest.raises(AgainError, match="concepts differ from the model's"):
        attack_split(run.model, run.clean, AttackConfig("erasure", 16, 3, 2, "damaging"), graph=others, device="cpu")


def test_attack_errors_are_one_line(model, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["attack", str(tmp_path / "none.pt"), "-o", str(tmp_path / "a.npz")])
    assert result.exit_code == 1 and "no such checkpoint" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["attack", str(model), "--targets", "damaging", "-o", str(tmp_path / "a.npz")])
    assert result.exit_code == 1 and "damaging targets need the rules" in result.output


def test_evaluate_prints_tables_and_writes_reports(tmp_path):
    result = CliRunner().invoke(main, [
        "evaluate", "--dataset", "ews", "-o", str(tmp_path), "--n-train", "400", "--n-test", "50", "--epochs", "1",
        "--at-epochs", "1", "--steps", "2", "--repeats", "1", "--strategy", "switch", "--target-sr", "0.9",
        "--unknown", "introduction/damaging", "--n-targets", "all", "--detector", "paper,mixture", "--quiet",
        "--matrix-eps", "16", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "### LSM (%)" in result.output and "CBM+AGAIN (switch) [mixture]" in result.output
    assert "unknown perturbation = introduction/damaging" in result.output and "| unknown 32 |" in result.output
    assert "CBM+AGAIN [paper] AUROC" in result.output and "CBM+AGAIN [mixture] IR@SR98" in result.output
    assert "Detection matrix" in result.output and "| mixture | erasure/damaging |" in result.output
    records = json.loads((tmp_path / "evaluation.json").read_text())
    assert {r["method"] for r in records} == {"CBM", "CBM-AT", "CBM+AGAIN (switch)"}
    assert len(records) == (2 + 2) * 9 and {r["detector"] for r in records} == {None, "paper", "mixture"}
    assert all(r["auroc"] is not None for r in records if r["detector"] and r["condition"] != "clean")
    assert "all target concepts per direction" in (tmp_path / "evaluation.md").read_text()
    matrix = json.loads((tmp_path / "evaluation_matrix.json").read_text())
    assert {w["eps"] for w in matrix["worst"]} == {16.0} and len(matrix["cells"]) == 2 * 6
    for name in ("evaluation.png", "evaluation_roc.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_evaluate_rejects_a_bad_detector_and_uncalibrated_detectors():
    result = CliRunner().invoke(main, ["evaluate", "--dataset", "ews", "--detector", "paper,magic"])
    assert result.exit_code == 2 and "unknown detector 'magic'" in result.output
    result = CliRunner().invoke(main, ["evaluate", "--dataset", "ews", "--detector", "confidence"])
    assert result.exit_code == 1 and "give a target SR" in result.output


def test_evaluate_rejects_bad_matrix_budgets():
    result = CliRunner().invoke(main, ["evaluate", "--dataset", "ews", "--matrix-eps", "16,300"])
    assert result.exit_code == 2 and "budgets must lie in (0, 255]" in result.output


def test_evaluate_rejects_a_bad_attack_name():
    result = CliRunner().invoke(main, ["evaluate", "--dataset", "ews", "--known", "swap"])
    assert result.exit_code == 2 and "expected KIND[/TARGETS]" in result.output


def test_demo_runs_the_whole_pipeline(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "DEMO_SIZES", dict(n_train=400, n_val=100, n_test=40, epochs=1, at_epochs=1,
                                                  attack_steps=2, repeats=1))
    result = CliRunner().invoke(main, ["demo", "-o", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "auto ->" in result.output and "calibrate " in result.output and "How to read it" in result.output
    assert "Detection: SR, IR" in result.output
    for name in ("ews.mln", "ews.learned.mln", "evaluation.md", "evaluation.json"):
        assert (tmp_path / name).is_file()
