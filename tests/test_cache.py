"""The compiled-rules cache: a hit skips compiling, any change to the rule file is a miss, a
corrupt or foreign entry is rebuilt."""
import pickle

import pytest
import torch

from again_mln.io.cache import cache_folder, compiled_rules
from again_mln.again.mlnfile import read_mln
from test_graph import TWO_CONCEPTS


@pytest.fixture
def rules(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "rules.mln"
    path.write_text(TWO_CONCEPTS)
    return path


def entries():
    return sorted(cache_folder().glob("*.pickle"))


def test_second_load_is_a_hit_with_the_same_tables_and_s_max(rules):
    first, cached = compiled_rules(rules, "cpu")
    assert not cached and len(entries()) == 1 and str(tmp_root(rules)) in str(cache_folder())
    second, cached = compiled_rules(rules, "cpu")
    assert cached
    assert second.s_max_table.tolist() == first.s_max.tolist() == [3.0, 3.0]  # stored, not solved again
    assert second._key == second.graph.weights_key()
    c, y = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]]), torch.zeros(4, dtype=torch.long)
    assert second.graph.score(c, y).tolist() == first.graph.score(c, y).tolist() == [2.0, 0.0, 1.0, 3.0]
    assert second.graph.ruleset == read_mln(rules)
    with entries()[0].open("rb") as handle:  # tensors and plain data, never a pickled module
        stored = pickle.load(handle)
    assert not any(isinstance(v, torch.nn.Module) for v in stored.values())
    assert all(isinstance(v, torch.Tensor) for v in stored["state"].values())


def tmp_root(rules):
    return rules.parent / "cache"


def test_changed_content_is_a_miss_and_compiles_the_new_rules(rules):
    compiled_rules(rules, "cpu")
    rules.write_text(TWO_CONCEPTS.replace("2.0 active(A)", "5.0 active(A)"))
    graph, cached = compiled_rules(rules, "cpu")
    assert not cached and len(entries()) == 2
    assert graph.s_max.tolist() == [6.0, 6.0]
    assert compiled_rules(rules, "cpu")[1]


@pytest.mark.parametrize("content", [b"", b"garbage", pickle.dumps({"key": "another", "graph": None})])
def test_a_corrupt_or_foreign_entry_is_ignored_and_rebuilt(rules, content):
    compiled_rules(rules, "cpu")
    (entry,) = entries()
    entry.write_bytes(content)
    graph, cached = compiled_rules(rules, "cpu")
    assert not cached and graph.s_max.tolist() == [3.0, 3.0]
    assert entry.read_bytes() != content and compiled_rules(rules, "cpu")[1]


def test_no_cache_and_an_unwritable_cache_folder_still_compile(rules, tmp_path):
    graph, cached = compiled_rules(rules, "cpu", use_cache=False)
    assert not cached and entries() == []
    tmp_root(rules).write_text("a file where the cache folder should be")
    graph, cached = compiled_rules(rules, "cpu")
    assert not cached and graph.s_max.tolist() == [3.0, 3.0]
