"""The registry of rule builders: every source builds through it, options are checked by name."""
import numpy as np
import pytest

from again_mln.errors import AgainError
from again_mln.rulegen.mnist import build_mnist_rules
from again_mln.rulegen.registry import RULE_SOURCES, build_rules
from again_mln.rulegen.table import build_table_rules


def test_every_source_names_an_importable_builder():
    for source in RULE_SOURCES.values():
        assert callable(source.builder()), source.name
        assert set(source.options) >= {"weights", "semantics", "drop_fraction", "seed"}


def test_registry_builds_what_the_builder_builds():
    via_registry = build_rules("mnist", weights="uniform", drop_fraction=0.25, seed=3, mapping=None)
    direct = build_mnist_rules(weights="uniform", drop_fraction=0.25, seed=3)
    assert [str(r) for r in via_registry.rules] == [str(r) for r in direct.rules]


def test_flat_thresholds_reach_the_estimated_builders(tmp_path):
    rng = np.random.default_rng(0)
    categories = rng.integers(0, 3, 300)
    concepts = (rng.random((300, 4)) < 0.1 + 0.8 * (categories[:, None] == np.arange(4)[None] % 3)).astype(np.uint8)
    path = tmp_path / "table.npz"
    np.savez(path, concepts=concepts, category=categories, concept_names=np.array(list("abcd")))
    loose = build_rules("table", table=str(path), category_column="category", p_high=0.6, p_low=0.4)
    strict = build_rules("table", table=str(path), category_column="category", p_high=0.99, p_low=0.01)
    assert len(loose.rules) > len(strict.rules)
    from again_mln.rulegen.estimate import EstimateThresholds
    direct = build_table_rules(path, "category", thresholds=EstimateThresholds(p_high=0.6, p_low=0.4))
    assert [str(r) for r in loose.rules] == [str(r) for r in direct.rules]


@pytest.mark.parametrize("source, options, message", [
    ("nope", {}, "unknown rule source 'nope'"),
    ("mnist", {"p_high": 0.9}, "p_high: not an option of mnist rules"),
    ("table", {"table": "x.csv"}, "table rules need category_column"),
    ("ews", {"p_high": 0.1, "p_low": 0.5}, "p-low"),
])
def test_bad_options_are_one_line_errors(source, options, message):
    with pytest.raises(AgainError, match=message):
        build_rules(source, **options)
