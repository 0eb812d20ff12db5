"""A simulator of ICU patients' vital signs for the EWS dataset (MIMIC-III itself is credentialed).

Each patient has a latent severity (a mixture of stable and deteriorating patients) spread over
three organ systems (circulatory, respiratory, neurological); the 15 input columns move with the
systems they belong to, with correlated patient-level variation, rare opposite-direction
derangements (bradycardia, hypothermia, hypertension, bradypnoea), charting resolution and the
plausible ranges of ICU charting (:data:`VARIABLE_RANGES`). Concepts and category are
scored from these true vitals; the model sees them through measurement noise.
"""
from __future__ import annotations

import numpy as np

from again_mln.datasets.base import ConceptDataset, split_rng
from again_mln.datasets.ews import ews_dataset

#: ``(valid low, normal, valid high)`` of each continuous input column: the VALID LOW, IMPUTE
#: (normal value) and VALID HIGH columns of the MIMIC-III benchmark's variable ranges
#: (Harutyunyan et al., 2019, github.com/YerevaNN/mimic3-benchmarks, ``variable_ranges.csv``).
VARIABLE_RANGES: dict[str, tuple[float, float, float]] = {
    "heart_rate": (0.0, 86.0, 350.0),  # bpm
    "respiratory_rate": (0.0, 19.0, 300.0),  # breaths/min
    "spo2": (0.0, 98.0, 100.0),  # %
    "temperature": (26.0, 37.0, 45.0),  # deg C
    "systolic_bp": (0.0, 118.0, 375.0),  # mmHg
    "diastolic_bp": (0.0, 59.0, 375.0),  # mmHg
    "mean_bp": (14.0, 77.0, 330.0),  # mmHg
    "fio2": (0.21, 0.21, 1.0),  # fraction
    "glucose": (33.0, 128.0, 2000.0),  # mg/dL
    "ph": (6.3, 7.4, 8.4),
}
#: the continuous columns, in the order of the correlated patient-level variation below
_CONTINUOUS = ("heart_rate", "respiratory_rate", "spo2", "temperature", "systolic_bp", "glucose", "ph")
#: patient-level spread (sd) of each continuous column at zero severity
_SPREAD = np.array([11.0, 2.5, 1.2, 0.35, 14.0, 25.0, 0.03])
#: correlation of that variation: HR-RR, HR-temperature, RR-SpO2, SpO2-pH, ...
_CORRELATION = np.array([
    [1.0, 0.3, -0.1, 0.3, -0.1, 0.1, -0.1],
    [0.3, 1.0, -0.3, 0.2, 0.0, 0.1, -0.1],
    [-0.1, -0.3, 1.0, 0.0, 0.0, 0.0, 0.2],
    [0.3, 0.2, 0.0, 1.0, 0.0, 0.0, 0.0],
    [-0.1, 0.0, 0.0, 0.0, 1.0, 0.1, 0.1],
    [0.1, 0.1, 0.0, 0.0, 0.1, 1.0, -0.1],
    [-0.1, -0.1, 0.2, 0.0, 0.1, -0.1, 1.0],
])
#: measurement noise (sd) per observed continuous column; categorical columns are charted exactly
MEASUREMENT_NOISE = {
    "heart_rate": 2.0, "respiratory_rate": 1.0, "spo2": 0.7, "temperature": 0.1, "systolic_bp": 3.0,
    "diastolic_bp": 3.0, "mean_bp": 3.0, "fio2": 0.01, "glucose": 5.0, "ph": 0.01,
}
#: charting resolution (decimals) of the true vitals; the NEWS table is written at this resolution
_DECIMALS = {"temperature": 1, "fio2": 2, "ph": 2}
DETERIORATING_FRACTION = 0.4


def _severity(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Latent severity in [0, 1] and its share ``(n, 3)`` over circulatory, respiratory and
    neurological systems; stable patients sit near 0, deteriorating ones spread to 1."""
    deteriorating = rng.random(n) < DETERIORATING_FRACTION
    severity = np.where(deteriorating, rng.beta(2.0, 2.6, n), rng.beta(1.0, 9.0, n))
    share = rng.dirichlet([1.5, 1.5, 1.0], n)
    load = severity[:, None] * np.clip(0.45 + 1.6 * share, 0.0, 1.0)
    return severity, load


def simulate_vitals(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """True (noise-free, charted) values of the 15 input columns for ``n`` patients."""
    ranges = VARIABLE_RANGES
    centre = {c: ranges[c][1] for c in ranges}
    severity, load = _severity(rng, n)
    circ, resp, neuro = load.T
    noise = rng.standard_normal((n, len(_CONTINUOUS))) @ np.linalg.cholesky(_CORRELATION).T * _SPREAD
    eps = dict(zip(_CONTINUOUS, noise.T))
    flip = lambda p: np.where(rng.random(n) < p, -1.0, 1.0)  # rare opposite derangements

    v: dict[str, np.ndarray] = {}
    v["heart_rate"] = centre["heart_rate"] - 8 + flip(0.12) * (58 * circ + 15 * resp) + eps["heart_rate"]
    v["respiratory_rate"] = (centre["respiratory_rate"] - 2 + flip(0.06) * (16 * resp + 5 * circ)
                             + eps["respiratory_rate"])
    on_oxygen = rng.random(n) < 1 / (1 + np.exp(-(10 * resp - 3.5)))
    v["supplemental_oxygen"] = on_oxygen.astype(np.float64)
    v["fio2"] = np.where(on_oxygen, 0.24 + 0.6 * resp * rng.random(n) + 0.1 * rng.random(n), 0.21)
    v["spo2"] = centre["spo2"] - 16 * resp ** 1.3 + 3 * on_oxygen * resp + eps["spo2"]
    v["temperature"] = centre["temperature"] + flip(0.25) * 3.2 * circ + eps["temperature"]
    v["systolic_bp"] = centre["systolic_bp"] + 5 - flip(0.07) * 62 * circ + eps["systolic_bp"]
    v["diastolic_bp"] = 0.5 * v["systolic_bp"] + 2 + 6 * rng.standard_normal(n)
    v["mean_bp"] = (v["systolic_bp"] + 2 * v["diastolic_bp"]) / 3 + 2 * rng.standard_normal(n)
    impairment = np.clip(1.4 * neuro - 0.35, 0.0, 1.0)  # chance to lose each GCS point
    for column, best in (("gcs_eye", 4), ("gcs_verbal", 5), ("gcs_motor", 6)):
        v[column] = best - rng.binomial(best - 1, impairment).astype(np.float64)
    v["gcs_total"] = v["gcs_eye"] + v["gcs_verbal"] + v["gcs_motor"]
    v["glucose"] = centre["glucose"] + 70 * severity + eps["glucose"]
    v["ph"] = centre["ph"] - 0.18 * circ - 0.1 * resp + eps["ph"]

    for column, (low, _, high) in ranges.items():
        v[column] = np.round(np.clip(v[column], low, high), _DECIMALS.get(column, 0))
    v["spo2"] = np.minimum(v["spo2"], 100.0)
    return v


def measure(rng: np.random.Generator, vitals: dict[str, np.ndarray], noise: float = 1.0) -> dict[str, np.ndarray]:
    """Observed columns: true vitals plus Gaussian measurement noise scaled by ``noise``."""
    observed = dict(vitals)
    for column, sd in MEASUREMENT_NOISE.items():
        observed[column] = vitals[column] + noise * sd * rng.standard_normal(vitals[column].shape)
    return observed


def simulate_ews(split: str, n_samples: int, seed: int = 0, noise: float = 1.0) -> ConceptDataset:
    """``n_samples`` simulated patients of one split: noisy inputs, concepts and category of the
    true vitals."""
    rng = split_rng(seed, split)
    vitals = simulate_vitals(rng, n_samples)
    return ews_dataset(measure(rng, vitals, noise), vitals)
