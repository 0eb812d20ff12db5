"""The evaluation pipeline on a tiny EWS run: records, aggregation and every report file."""
import json

import numpy as np
import pytest

from again_mln.errors import AgainError
from again_mln.experiments import EvaluationConfig, evaluation_config, run_evaluation
from again_mln.reporting import aggregate, csv_text, metric_table, write_reports

METHODS = {"CBM", "CBM-AT", "CBM+AGAIN (switch)", "CBM+AGAIN (iterate)", "CBM+AGAIN (map)"}
TINY = dict(n_train=500, n_val=100, n_test=80, epochs=2, at_epochs=1, at_steps=2, attack_steps=3,
            epsilons=(8.0, 32.0), repeats=2)


@pytest.fixture(scope="module")
def evaluation():
    config = EvaluationConfig("ews", target_sr=0.9, **TINY)
    return run_evaluation(config, "cpu", progress=False)


def test_records_cover_every_method_and_condition(evaluation):
    config = evaluation.config
    records = evaluation.records
    assert {r["method"] for r in records} == METHODS
    per_seed = [r for r in records if r["seed"] == 0]
    assert len(per_seed) == len(METHODS) * (1 + 2 * len(config.epsilons))
    for r in records:
        for metric in ("lsm", "e_acc", "p_acc"):
            assert 0.0 <= r[metric] <= 1.0
        detects = "+AGAIN" in r["method"]
        assert (r["ir"] is not None) == (detects and r["condition"] != "clean")
        assert (r["sr"] is not None) == (detects and r["condition"] == "clean")


def test_attacks_keep_the_plain_models_category_accuracy(evaluation):
    """The attacks preserve the predicted category, so a plain model's P-ACC never moves."""
    for method in ("CBM", "CBM-AT"):
        for seed in (0, 1):
            values = {r["p_acc"] for r in evaluation.records if r["method"] == method and r["seed"] == seed}
            assert len(values) == 1


def test_calibrated_threshold_meets_the_target_on_validation(evaluation):
    assert [run["seed"] for run in evaluation.runs] == [0, 1]
    for run in evaluation.runs:
        assert run["validation_sr"] >= 0.9 and 0.0 <= run["threshold"] <= 1.0


def test_aggregate_means_and_spreads(evaluation):
    records = aggregate(evaluation.records)
    clean = next(r for r in records if r["method"] == "CBM" and r["condition"] == "clean")
    values = [r["lsm"] for r in evaluation.records if r["method"] == "CBM" and r["condition"] == "clean"]
    assert clean["repeats"] == 2 and clean["lsm"] == pytest.approx(np.mean(values))
    assert clean["std"]["lsm"] == pytest.approx(np.std(values, ddof=1))
    assert clean["ir"] is None and clean["std"]["ir"] is None
    assert metric_table(records, "lsm").count("\n") == 1 + len(METHODS)
    assert csv_text(records).splitlines()[0].startswith("method,condition,attack,eps,lsm,lsm_std")


def test_reports_are_written(evaluation, tmp_path):
    records, paths = write_reports(evaluation, tmp_path, command="again-mln evaluate --dataset ews")
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    loaded = json.loads(paths[0].read_text())
    assert loaded == records
    assert set(loaded[0]) >= {"method", "condition", "attack", "eps", "lsm", "e_acc", "p_acc", "ir", "sr",
                              "repeats", "std"}
    assert {r["condition"] for r in loaded} == {"clean", "known", "unknown"}
    text = paths[2].read_text()
    assert "### LSM (%)" in text and "Detection relaxation d per repeat" in text and "evaluation.png" in text


def test_presets_and_validation():
    quick = evaluation_config("mnist", quick=True, repeats=3)
    assert quick.repeats == 3 and quick.n_train == 4500
    with pytest.raises(AgainError, match="unknown dataset"):
        evaluation_config("cub")
    with pytest.raises(AgainError, match="unknown strategy"):
        EvaluationConfig("ews", strategies=("greedy",))
    with pytest.raises(AgainError, match="unknown attack kind"):
        EvaluationConfig("ews", unknown=("swap", "random"))


def test_concept_embedding_model_with_and_without_rectification():
    config = EvaluationConfig("ews", strategies=("switch", "map"), with_cem=True,
                              **{**TINY, "repeats": 1, "epsilons": (32.0,)})
    methods = {r["method"] for r in run_evaluation(config, "cpu", progress=False).records}
    assert methods == {"CBM", "CBM-AT", "CBM+AGAIN (switch)", "CBM+AGAIN (map)", "CEM", "CEM+AGAIN (switch)"}
