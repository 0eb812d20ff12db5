"""The evaluation pipeline on a tiny EWS run: records, aggregation and every report file."""
import json

import numpy as np
import pytest

from again_mln.errors import AgainError
from again_mln.again.selection import AUTO_CORRUPTION, auto_pick
from again_mln.evaluation.experiments import EvaluationConfig, evaluation_config, run_evaluation
from again_mln.evaluation.reporting import aggregate, csv_text, metric_table, write_reports

METHODS = {"CBM", "CBM-AT", "CBM+AGAIN (switch)", "CBM+AGAIN (iterate)", "CBM+AGAIN (map)"}
TINY = dict(n_train=500, n_val=100, n_test=80, epochs=2, at_epochs=1, at_steps=2, attack_steps=3,
            epsilons=(8.0, 32.0), repeats=2)


UNKNOWN = (("confounding", "random"), ("confounding", "damaging"))


@pytest.fixture(scope="module")
def evaluation():
    config = EvaluationConfig("ews", target_sr=0.9, detectors=("auto", "per-category"), unknown=UNKNOWN, **TINY)
    return run_evaluation(config, "cpu", progress=False)


def test_records_cover_every_method_detector_and_condition(evaluation):
    config = evaluation.config
    records = evaluation.records
    assert {r["method"] for r in records} == METHODS
    per_seed = [r for r in records if r["seed"] == 0]  # auto may pick another detector for another seed
    detectors = [d for d in dict.fromkeys(r["detector"] for r in per_seed) if d]
    assert detectors[0] == evaluation.runs[0]["auto"] and "per-category" in detectors
    conditions = 1 + 3 * len(config.epsilons)  # clean, known, two unknown attacks
    assert len(per_seed) == (2 + 3 * len(detectors)) * conditions
    assert {r["attack"] for r in records if r["condition"] == "unknown"} == {"confounding/random",
                                                                             "confounding/damaging"}
    for r in records:
        for metric in ("lsm", "e_acc", "p_acc"):
            assert 0.0 <= r[metric] <= 1.0
        detects = "+AGAIN" in r["method"]
        attacked = detects and r["condition"] != "clean"
        assert (r["detector"] is not None) == detects
        assert (r["ir"] is not None) == attacked
        assert (r["sr"] is not None) == (detects and r["condition"] == "clean")
        for field in ("auroc", "ir_at_sr95", "ir_at_sr98", "ir_at_sr99", "changed_fraction"):
            assert (r.get(field) is not None) == attacked
            if attacked:
                assert 0.0 <= r[field] <= 1.0
        if attacked:
            assert r["changed_fraction"] == pytest.approx(r["changed"])
            assert r["ir_at_sr95"] >= r["ir_at_sr98"] >= r["ir_at_sr99"]


def test_roc_curves_one_per_detector_and_attacked_condition(evaluation):
    from again_mln.evaluation.experiments import ROC_GRID

    per_seed = [c for c in evaluation.curves if c["seed"] == 0]
    detectors = {r["detector"] for r in evaluation.records if r["detector"] and r["seed"] == 0}
    assert len(per_seed) == len(detectors) * 3 * len(evaluation.config.epsilons)
    for curve in per_seed:
        ir = np.asarray(curve["ir"])
        assert len(ir) == len(ROC_GRID) and (np.diff(ir) >= 0).all() and ir[-1] == 1.0


def test_attacks_keep_the_plain_models_category_accuracy(evaluation):
    """The attacks preserve the predicted category, so a plain model's P-ACC never moves."""
    for method in ("CBM", "CBM-AT"):
        for seed in (0, 1):
            values = {r["p_acc"] for r in evaluation.records if r["method"] == method and r["seed"] == seed}
            assert len(values) == 1


def test_detectors_meet_the_target_on_validation_and_accuracies_are_reported(evaluation):
    assert [run["seed"] for run in evaluation.runs] == [0, 1]
    for run in evaluation.runs:
        assert all(sr >= 0.9 for sr in run["validation_sr"].values())
        assert run["auto"] == auto_pick(run["validation_auroc"][AUTO_CORRUPTION], evaluation.config.n_val)
        assert set(run["accuracy"]) == {"cbm", "cbm-at"}
        assert all(0.0 <= v <= 1.0 for acc in run["accuracy"].values() for v in acc.values())


def test_aggregate_means_and_spreads(evaluation):
    records = aggregate(evaluation.records)
    clean = next(r for r in records if r["method"] == "CBM" and r["condition"] == "clean")
    values = [r["lsm"] for r in evaluation.records if r["method"] == "CBM" and r["condition"] == "clean"]
    assert clean["repeats"] == 2 and clean["lsm"] == pytest.approx(np.mean(values))
    assert clean["std"]["lsm"] == pytest.approx(np.std(values, ddof=1))
    assert clean["ir"] is None and clean["std"]["ir"] is None
    detectors = {r["detector"] for r in records if r["detector"]}
    assert metric_table(records, "lsm").count("\n") == 1 + 2 + 3 * len(detectors)  # 2 plain, 3 strategies each
    assert csv_text(records).splitlines()[0].startswith("method,detector,condition,attack,eps,lsm,lsm_std")
    assert ",auroc,auroc_std," in csv_text(records).splitlines()[0]


def test_reports_are_written(evaluation, tmp_path):
    records, paths = write_reports(evaluation, tmp_path, command="again-mln evaluate --dataset ews")
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    loaded = json.loads(paths[0].read_text())
    assert loaded == records
    assert set(loaded[0]) >= {"method", "detector", "condition", "attack", "eps", "lsm", "e_acc", "p_acc", "ir",
                              "sr", "ir_changed", "auroc", "ir_at_sr98", "repeats", "std"}
    assert {r["condition"] for r in loaded} == {"clean", "known", "unknown"}
    text = paths[2].read_text()
    assert "### LSM (%)" in text and "cutoffs per repeat" in text and "evaluation_roc.png" in text
    assert "### Models (clean test accuracy, %)" in text and "| CBM-AT |" in text and "picked by auto" in text
    assert "### Detection matrix" in text and "Worst case over the attacks" in text
    saved = json.loads((tmp_path / "evaluation_matrix.json").read_text())
    assert {"cells", "worst"} == set(saved) and saved["worst"]
    roc = json.loads((tmp_path / "evaluation_roc.json").read_text())
    assert len(roc["one_minus_sr"]) == len(roc["curves"][0]["ir"])


def _one_seed(evaluation, seed):
    import dataclasses

    from again_mln.evaluation.experiments import Evaluation

    pick = [r for r in evaluation.records if r["seed"] == seed]
    return Evaluation(dataclasses.replace(evaluation.config, seed=seed, repeats=1), pick,
                      [c for c in evaluation.curves if c["seed"] == seed],
                      [run for run in evaluation.runs if run["seed"] == seed], 10.0 + seed, 5.0 + seed,
                      [m for m in evaluation.matrix if m["seed"] == seed])


def test_seeds_run_apart_merge_into_the_report_of_one_run(evaluation, tmp_path):
    """Seeds evaluated separately (say, on two machines) and merged give the same tables as one
    run over both seeds; the merged report names every command."""
    from click.testing import CliRunner

    from again_mln.cli import main
    from again_mln.evaluation.reporting import load_evaluation

    for seed in (1, 0):
        write_reports(_one_seed(evaluation, seed), tmp_path / f"seed{seed}", command=f"again-mln evaluate --seed {seed}")
    loaded, command = load_evaluation(tmp_path / "seed1")
    assert command == "again-mln evaluate --seed 1" and loaded.config == _one_seed(evaluation, 1).config
    result = CliRunner().invoke(main, ["report", str(tmp_path / "seed1"), str(tmp_path / "seed0"),
                                       "-o", str(tmp_path / "both")])
    assert result.exit_code == 0, result.output
    merged, _ = load_evaluation(tmp_path / "both")
    assert [run["seed"] for run in merged.runs] == [0, 1] and merged.config.repeats == 2
    assert merged.seconds == 21.0 and merged.config == evaluation.config
    assert json.loads((tmp_path / "both" / "evaluation.json").read_text()) == aggregate(evaluation.records)
    text = (tmp_path / "both" / "evaluation.md").read_text()
    assert "`again-mln evaluate --seed 0`" in text and "`again-mln evaluate --seed 1`" in text
    assert "(seeds 0, 1)" in text


def test_merging_refuses_other_settings_and_repeated_seeds(evaluation, tmp_path):
    import dataclasses

    from again_mln.evaluation.experiments import merge_evaluations

    zero, one = _one_seed(evaluation, 0), _one_seed(evaluation, 1)
    with pytest.raises(AgainError, match="seed 0 appears in more than one"):
        merge_evaluations([zero, zero])
    other = dataclasses.replace(one, config=dataclasses.replace(one.config, epochs=7))
    with pytest.raises(AgainError, match="differ in epochs"):
        merge_evaluations([zero, other])
    (tmp_path / "empty").mkdir()
    from again_mln.evaluation.reporting import load_evaluation
    with pytest.raises(AgainError, match="holds no evaluation_raw.json"):
        load_evaluation(tmp_path / "empty")
    for text in ("[1, 2]", '{"config": 3}', '{"config": {"dataset": "ews", "colour": 1}}'):
        (tmp_path / "empty" / "evaluation_raw.json").write_text(text)
        with pytest.raises(AgainError, match="not a saved evaluation"):
            load_evaluation(tmp_path / "empty")


def test_presets_and_validation():
    quick = evaluation_config("mnist", quick=True, repeats=3)
    assert quick.repeats == 3 and quick.n_train == 8500 and len(quick.unknown) == 2
    assert evaluation_config("ews", n_targets="all").attacks("known", 8)[0].n_targets is None
    with pytest.raises(AgainError, match="unknown dataset"):
        evaluation_config("cub")
    with pytest.raises(AgainError, match="unknown strategy"):
        EvaluationConfig("ews", strategies=("greedy",))
    with pytest.raises(AgainError, match="unknown attack kind"):
        EvaluationConfig("ews", unknown=("swap", "random"))
    with pytest.raises(AgainError, match="unknown detector"):
        EvaluationConfig("ews", target_sr=0.9, detectors=("magic",))
    with pytest.raises(AgainError, match="give a target SR"):
        EvaluationConfig("ews", detectors=("map-gap",))


def test_concept_embedding_model_with_and_without_rectification():
    config = EvaluationConfig("ews", strategies=("switch", "map"), with_cem=True, detectors=("paper",),
                              **{**TINY, "repeats": 1, "epsilons": (32.0,)})
    methods = {r["method"] for r in run_evaluation(config, "cpu", progress=False).records}
    assert methods == {"CBM", "CBM-AT", "CBM+AGAIN (switch)", "CBM+AGAIN (map)", "CEM", "CEM+AGAIN (switch)"}


def test_detection_summary_has_a_row_per_detector_and_attacked_condition(evaluation):
    from again_mln.evaluation.reporting import detection_summary

    records = aggregate(evaluation.records)
    detectors = {r["detector"] for r in records if r["detector"]}
    text = detection_summary({"ews": records})
    assert text.count("\n") == 1 + len(detectors) * 3 * len(evaluation.config.epsilons)
    assert "| ews | unknown confounding/damaging | 32 |" in text


def test_detection_matrix_covers_every_attack_kind_and_target_at_each_budget(evaluation):
    from again_mln.choices import ATTACK_KINDS, ATTACK_TARGETS

    per_seed = [m for m in evaluation.matrix if m["seed"] == 0]
    detectors = {r["detector"] for r in evaluation.records if r["detector"] and r["seed"] == 0}
    attacks = {f"{k}/{t}" for k in ATTACK_KINDS for t in ATTACK_TARGETS}
    assert {(m["detector"], m["attack"], m["eps"]) for m in per_seed} == {
        (d, a, e) for d in detectors for a in attacks for e in evaluation.config.matrix_epsilons}
    assert len(per_seed) == len(detectors) * len(attacks) * len(evaluation.config.matrix_epsilons)
    for m in per_seed:
        assert 0.0 <= m["auroc"] <= 1.0 and m["ir_at_sr95"] >= m["ir_at_sr98"] >= m["ir_at_sr99"]
    # the main conditions' attacked inputs are reused: same scores, same AUROC
    main = {(r["detector"], r["attack"], r["eps"]): r["auroc"] for r in evaluation.records
            if r["seed"] == 0 and r["method"] == "CBM+AGAIN (switch)" and r["condition"] != "clean"}
    shared = [m for m in per_seed if (m["detector"], m["attack"], m["eps"]) in main]
    assert shared and all(m["auroc"] == pytest.approx(main[(m["detector"], m["attack"], m["eps"])], abs=1e-6)
                          for m in shared)


def test_matrix_worst_case_is_the_lowest_mean_over_the_attacks():
    from again_mln.evaluation.reporting import aggregate_matrix, matrix_tables

    def record(attack, seed, auroc, ir):
        return {"detector": "paper", "attack": attack, "eps": 16.0, "seed": seed, "auroc": auroc, "ir_changed": ir,
                "ir_at_sr95": ir, "ir_at_sr98": ir, "ir_at_sr99": ir, "changed_fraction": 0.5}

    matrix = aggregate_matrix([record("erasure/random", 0, 0.9, 0.8), record("erasure/random", 1, 0.7, 0.6),
                               record("confounding/damaging", 0, 0.85, 0.9), record("confounding/damaging", 1, 0.85, 0.9)])
    worst = matrix["worst"][0]
    assert worst["auroc"] == pytest.approx(0.8) and worst["at"]["auroc"] == "erasure/random"
    assert worst["ir_changed"] == pytest.approx(0.7) and worst["attacks"] == 2
    cell = next(c for c in matrix["cells"] if c["attack"] == "erasure/random")
    assert cell["repeats"] == 2 and cell["std"]["auroc"] == pytest.approx(0.1414, abs=1e-3)
    text = matrix_tables(matrix)
    assert "| paper | erasure/random | 0.800 | 70.0 | 70.0 |" in text and "0.800 (erasure/random)" in text
    assert matrix_tables(aggregate_matrix([])) == ""


@pytest.mark.data("cub")
def test_cub_koh_evaluates_end_to_end():
    config = EvaluationConfig("cub-koh", n_val=200, n_test=60, epochs=1, at_epochs=1, at_steps=1, attack_steps=2,
                              epsilons=(16.0,), matrix_epsilons=(16.0,), strategies=("switch",), target_sr=0.9,
                              detectors=("paper", "mixture"))
    evaluation = run_evaluation(config, "cpu", progress=False)
    assert {r["detector"] for r in evaluation.records} == {None, "paper", "mixture"}
    assert len(evaluation.matrix) == 2 * 6 and evaluation.runs[0]["accuracy"]["cbm"]["concept"] > 0.5
    assert evaluation.runs[0]["weights"]["method"] == "cll (eliminate)"  # learned on the training split
