"""Early warning score rules (the paper's MIMIC-III EWS stand-in): the estimator of
:mod:`again_mln.rulegen.estimate` on the training split of the built-in vital-signs simulator.

Concepts are the 22 non-zero NEWS bins (``heart_rate_ge_131``, ...), categories ``ews_0`` ..
``ews_15``. The split is the one ``again-mln train --dataset ews`` uses with the same seed and
size, so rules never see test patients.
"""
from __future__ import annotations

from again_mln.datasets import DataConfig, load_dataset
from again_mln.datasets.ews import scoring_table_path
from again_mln.errors import AgainError
from again_mln.again.logic import RuleSet
from again_mln.rulegen.assemble import file_provenance
from again_mln.rulegen.estimate import EstimateThresholds, estimate_rules
from again_mln.rulegen.kinds import Semantics, Weighting


def build_ews_rules(*, n_samples: int | None = None, seed: int = 0,
                    thresholds: EstimateThresholds = EstimateThresholds(), semantics: Semantics = "implication",
                    weights: Weighting = "prior", drop_fraction: float = 0.0) -> RuleSet:
    """EWS rules from ``n_samples`` simulated training patients (``None``: the dataset's default)."""
    if n_samples is not None and n_samples < 1:
        raise AgainError(f"n-samples = {n_samples} is out of range; expected at least 1")
    config = DataConfig("ews", seed=seed, n_train=n_samples)
    train = load_dataset(config, "train")
    provenance = [f"source: the built-in EWS simulator, training split, seed {seed}",
                  file_provenance(scoring_table_path(), label="NEWS bins")]
    return estimate_rules(train.concepts.numpy(), train.categories.numpy(), train.concept_names,
                          train.category_names, thresholds=thresholds, provenance=provenance,
                          semantics=semantics, weights=weights, drop_fraction=drop_fraction, seed=seed)
