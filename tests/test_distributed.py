"""The optional ``distributed`` extra: rectification runs unchanged on Dask partitions."""
import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="the 'distributed' extra (dask) is not installed")

from again_mln.again.graph import FactorGraph  # noqa: E402
from again_mln.again.rectifier import Rectifier  # noqa: E402
from again_mln.again.streaming import rectify_batch, result_layout  # noqa: E402
from again_mln.again.synthetic import random_ruleset  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "rectify_with_dask.py"


def load_example():
    spec = importlib.util.spec_from_file_location("rectify_with_dask", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
def test_dask_partitions_give_the_one_batch_result(scheduler, tmp_path):
    graph = FactorGraph(random_ruleset(8, 3, category_rules=14, concept_rules=6, seed=3), device="cpu")
    rng = np.random.default_rng(0)
    probs, categories = rng.random((23, 8)).astype(np.float32), rng.integers(0, 3, 23)
    parts = load_example().rectify_with_dask(Rectifier(graph), probs, categories, chunk_rows=7)
    assert len(parts) == 4
    computed = {name: np.concatenate([part[name] for part in dask.compute(*parts, scheduler=scheduler)])
                for name in result_layout(8)}
    whole = rectify_batch(Rectifier(graph), probs, categories)
    assert whole["flagged"].any() and not whole["flagged"].all()
    for name, value in whole.items():
        if name.startswith("score"):
            np.testing.assert_allclose(computed[name], value, rtol=1e-6)
        else:
            np.testing.assert_array_equal(computed[name], value)
    # what a process or cluster worker receives: the rectifier survives pickling with the same results
    shipped = pickle.loads(pickle.dumps(Rectifier(graph)))
    np.testing.assert_array_equal(rectify_batch(shipped, probs, categories)["rectified"], whole["rectified"])
