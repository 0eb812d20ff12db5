"""Streaming rectification: chunked results equal one batch's, outputs stay atomic."""
import numpy as np
import pytest
from click.testing import CliRunner

from again_mln.cli import main
from again_mln.again.graph import FactorGraph
from again_mln.again.rectifier import Rectifier
from again_mln.again.mlnfile import write_mln
from again_mln.again.streaming import rectify_batch, rectify_chunks, rectify_to_file, result_layout
from again_mln.again.synthetic import random_ruleset

N = 23


@pytest.fixture(scope="module")
def ruleset():
    return random_ruleset(8, 3, category_rules=14, concept_rules=6, seed=3)


@pytest.fixture(scope="module")
def graph(ruleset):
    return FactorGraph(ruleset, device="cpu")


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    return rng.random((N, 8)).astype(np.float32), rng.integers(0, 3, N)


def reader(inputs):
    probs, categories = inputs
    return lambda start, stop: (probs[start:stop], categories[start:stop])


@pytest.mark.parametrize("strategy", ["switch", "iterate", "map"])
@pytest.mark.parametrize("chunk_rows", [1, 4, 7, N, 100])
def test_chunks_equal_one_batch(graph, inputs, strategy, chunk_rows):
    rectifier = Rectifier(graph, strategy, threshold=0.9)
    whole = rectify_batch(rectifier, *inputs)
    assert whole["flagged"].any() and not whole["flagged"].all()  # the input exercises both paths
    parts = list(rectify_chunks(rectifier, reader(inputs), N, chunk_rows))
    assert len(parts) == -(-N // chunk_rows)
    for name, (shape, dtype) in result_layout(graph.num_concepts).items():
        joined = np.concatenate([part[name] for part in parts])
        assert joined.dtype == dtype and joined.shape == (N, *shape)
        same(joined, whole[name], name)


def same(got, expected, name):
    """Equal, up to float round-off in the scores (sums run in a batch-size dependent order)."""
    if name.startswith("score"):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    else:
        np.testing.assert_array_equal(got, expected)


def test_file_holds_the_one_batch_result_and_the_summary_counts_it(graph, inputs, tmp_path):
    out = tmp_path / "out.npz"
    summary = rectify_to_file(Rectifier(graph), reader(inputs), N, out, chunk_rows=5)
    whole = rectify_batch(Rectifier(graph), *inputs)
    with np.load(out) as arrays:
        assert list(arrays.files) == list(result_layout(8))
        for name in arrays.files:
            same(arrays[name], whole[name], name)
    flagged = whole["flagged"]
    assert (summary.explanations, summary.flagged, summary.chunks) == (N, flagged.sum(), 5)
    assert summary.interventions == whole["mask"][flagged].sum()
    assert summary.score_change == pytest.approx(float((whole["score_after"] - whole["score_before"])[flagged].sum()), abs=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]


def test_a_failing_chunk_leaves_the_old_output_and_no_temporary_file(graph, inputs, tmp_path):
    out = tmp_path / "out.npz"
    out.write_bytes(b"previous")

    def failing(start, stop):
        if start >= 10:
            raise RuntimeError("disk gone")
        return reader(inputs)(start, stop)

    with pytest.raises(RuntimeError, match="disk gone"):
        rectify_to_file(Rectifier(graph), failing, N, out, chunk_rows=5)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]


def run(*args):
    return CliRunner().invoke(main, ["rectify", *map(str, args)])


def test_cli_chunk_sizes_give_the_same_file_and_bad_rows_late_in_the_input_write_nothing(ruleset, inputs, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_mln(ruleset, tmp_path / "rules.mln")
    probs, categories = inputs
    np.save(tmp_path / "preds.npy", probs)
    np.save(tmp_path / "cats.npy", categories)
    outputs = {}
    for chunk in (1, 6, 1000):
        out = tmp_path / f"out{chunk}.npz"
        result = run(tmp_path / "preds.npy", "--mln", tmp_path / "rules.mln", "--categories", tmp_path / "cats.npy",
                     "-o", out, "--chunk-size", chunk, "--quiet")
        assert result.exit_code == 0, result.output
        assert result.output == ""
        with np.load(out) as arrays:
            outputs[chunk] = {name: arrays[name] for name in arrays.files}
    shown = run(tmp_path / "preds.npy", "--mln", tmp_path / "rules.mln", "--categories", tmp_path / "cats.npy",
                "-o", tmp_path / "shown.npz", "--chunk-size", 6)
    assert "expl" in shown.output.split("rules ")[0]  # the progress bar, before the summary
    assert f"explanations {N}\n" in shown.output and "compiled rules from the cache" in shown.output
    for name, value in outputs[1000].items():
        same(outputs[1][name], value, name)
        same(outputs[6][name], value, name)
    bad = probs.copy()
    bad[N - 2, 3] = 1.5  # in the last chunk: the earlier chunks were already written to the temp file
    np.save(tmp_path / "bad.npy", bad)
    result = run(tmp_path / "bad.npy", "--mln", tmp_path / "rules.mln", "--categories", tmp_path / "cats.npy",
                 "-o", tmp_path / "new.npz", "--chunk-size", 6)
    assert result.exit_code == 1 and "must lie in [0, 1]" in result.output
    assert not (tmp_path / "new.npz").exists() and not list(tmp_path.glob(".new.npz*"))
