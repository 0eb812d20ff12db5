"""EWS invariants: concepts follow the NEWS table exactly, category = clipped sum, simulator."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from again_mln.datasets.ews import (CATEGORY_NAMES, INPUT_COLUMNS, load_ews_table, news_category,
                                    news_concept_names, news_concepts, news_inputs, news_points,
                                    scoring_table_path)
from again_mln.datasets.ews_simulator import simulate_ews, simulate_vitals
from again_mln.errors import AgainError

TABLE = json.loads(scoring_table_path().read_text())["NEWS"]
NUMERIC = {k: v for k, v in TABLE.items() if isinstance(v, list)}


def table_points(variable, value):
    """Points of one charted value, read straight from the inclusive table."""
    spec = TABLE[variable]
    if isinstance(spec, dict):
        return list(spec.values())[int(value)]
    for low, high, points in spec:
        if (low is None or value >= low - 1e-9) and (high is None or value <= high + 1e-9):
            return points
    raise AssertionError(f"{value} in no bin of {variable}")


def test_names_are_the_22_nonzero_bins():
    names = news_concept_names()
    assert len(names) == 22 == len(set(names)) == TABLE["n_nonzero_bins"]
    assert {"heart_rate_ge_131", "heart_rate_le_40", "respiratory_rate_between_21_24",
            "temperature_c_between_35p1_36p0", "supplemental_oxygen_is_yes",
            "consciousness_is_c_or_v_or_p_or_u"} <= set(names)
    assert CATEGORY_NAMES == [f"ews_{k}" for k in range(16)]


charted = {
    "respiratory_rate": st.integers(0, 60), "spo2_scale1": st.integers(50, 100),
    "supplemental_oxygen": st.integers(0, 1), "temperature_c": st.integers(300, 440).map(lambda t: t / 10),
    "systolic_bp": st.integers(40, 260), "heart_rate": st.integers(20, 220), "consciousness": st.integers(0, 1),
}


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries(charted))
def test_concepts_follow_the_table_exactly(vitals):
    concepts = news_concepts({k: np.array([v], dtype=np.float32) for k, v in vitals.items()})[0]
    points = news_points()
    # every variable is in at most one non-zero bin, and that bin carries the table's points
    for variable, value in vitals.items():
        active = [i for i, name in enumerate(news_concept_names()) if name.startswith(variable + "_") and concepts[i]]
        assert sum(points[active]) == table_points(variable, value)
        assert len(active) <= 1
    total = sum(table_points(k, v) for k, v in vitals.items())
    assert news_category(concepts[None])[0] == min(total, 15)


def test_simulator_scores_true_vitals_and_covers_all_categories():
    rng = np.random.default_rng(0)
    vitals = simulate_vitals(rng, 4000)
    concepts = news_concepts(news_inputs(vitals))
    totals = concepts.astype(int) @ news_points()
    assert set(np.minimum(totals, 15)) == set(range(16))
    data = simulate_ews("train", 4000, seed=0)
    assert data.x.shape == (4000, len(INPUT_COLUMNS)) and data.n_concepts == 22 and data.n_categories == 16
    np.testing.assert_array_equal(data.categories.numpy(), news_category(data.concepts.numpy()))
    # inputs are noisy measurements of the vitals, not the vitals themselves
    truth = simulate_vitals(np.random.default_rng([0, 0]), 4000)
    hr = data.x[:, INPUT_COLUMNS.index("heart_rate")].numpy()
    assert 0.5 < np.std(hr - truth["heart_rate"]) < 5


def test_simulator_marginals_are_plausible():
    x = simulate_ews("test", 5000, seed=1).x.numpy()
    col = {c: x[:, i] for i, c in enumerate(INPUT_COLUMNS)}
    assert 75 < np.median(col["heart_rate"]) < 100 and 14 < np.median(col["respiratory_rate"]) < 24
    assert 94 < np.median(col["spo2"]) <= 100 and 36.5 < np.median(col["temperature"]) < 37.8
    assert np.corrcoef(col["systolic_bp"], col["diastolic_bp"])[0, 1] > 0.6
    assert set(np.unique(col["gcs_total"])) <= set(range(3, 16))
    np.testing.assert_array_equal(col["gcs_total"], col["gcs_eye"] + col["gcs_verbal"] + col["gcs_motor"])


def test_user_table_loader(tmp_path):
    rows = simulate_ews("train", 50, seed=2).x.numpy()
    path = tmp_path / "patients.csv"
    path.write_text(",".join(INPUT_COLUMNS) + "\n" + "\n".join(",".join(f"{v:.2f}" for v in r) for r in rows))
    train, test = load_ews_table(path, "train"), load_ews_table(path, "test")
    assert len(train) == 40 and len(test) == 10
    np.testing.assert_array_equal(train.categories.numpy(), news_category(train.concepts.numpy()))
    path.write_text("heart_rate,spo2\n80,97\n")
    with pytest.raises(AgainError, match=r"patients.csv:1: missing column"):
        load_ews_table(path, "train")
