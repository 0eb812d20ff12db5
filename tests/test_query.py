"""``again-mln query``: conditional marginals and MAP against brute force and against pracmln."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from again_mln.cli import main
from again_mln.errors import AgainError
from again_mln.again.logic import quote_constant
from again_mln.again.mlnfile import format_mln, parse_db
from again_mln.again.concept_query import query
from learning_models import all_assignments, random_ruleset, require_pracmln
from rulesets import brute_force_scores


def _random_evidence(ruleset, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    evidence = rng.choice(np.array([-1, 0, 1], np.int8), size=(n, len(ruleset.concepts)), p=[0.6, 0.2, 0.2])
    return evidence, rng.integers(0, len(ruleset.categories), n)


def _brute(ruleset, evidence, categories):
    """Exact conditional marginals and the MAP objective by enumerating every world."""
    a = all_assignments(len(ruleset.concepts))
    scores = brute_force_scores(ruleset, 1e9)[:, categories].T  # (N, A); hard rules: never broken
    agree = ((torch.as_tensor(evidence)[:, None, :] < 0) | (a[None] == torch.as_tensor(evidence)[:, None, :])).all(-1)
    scores = scores.masked_fill(~agree, -np.inf)
    return (torch.softmax(scores, 1) @ a.double()).numpy(), scores, a


@pytest.mark.parametrize("seed", range(4))
def test_native_marginals_and_map_equal_brute_force(seed):
    ruleset = random_ruleset(seed, num_concepts=5, num_categories=3, num_rules=9)
    evidence, categories = _random_evidence(ruleset, 6, seed)
    expected, scores, a = _brute(ruleset, evidence, categories)
    np.testing.assert_allclose(query(ruleset, evidence, categories), expected, atol=1e-9)
    chosen = torch.as_tensor(query(ruleset, evidence, categories, "map")).long()
    rows = (chosen * (1 << torch.arange(4, -1, -1))).sum(1)
    np.testing.assert_allclose(scores.gather(1, rows[:, None]).squeeze(1), scores.max(1).values, atol=1e-9)
    observed = evidence >= 0
    assert (query(ruleset, evidence, categories)[observed] == evidence[observed]).all()


@pytest.mark.parametrize("seed", range(3))
def test_native_and_pracmln_agree_on_random_files(seed, tmp_path):
    require_pracmln()
    ruleset = random_ruleset(10 + seed, num_concepts=4, num_categories=2, num_rules=7)
    evidence, categories = _random_evidence(ruleset, 4, seed)
    native = query(ruleset, evidence, categories, engine="native")
    theirs = query(ruleset, evidence, categories, engine="pracmln")
    np.testing.assert_allclose(native, theirs, atol=1e-6, rtol=0)


def _write_db(ruleset, evidence, categories) -> str:
    blocks = []
    for row, y in zip(evidence, categories):
        lines = [f"label({quote_constant(ruleset.categories[y])})"]
        lines += [("" if v else "!") + f"active({quote_constant(c)})" for c, v in zip(ruleset.concepts, row) if v >= 0]
        blocks.append("\n".join(lines))
    return "\n---\n".join(blocks) + "\n"


@pytest.mark.parametrize("method", ["marginals", "map"])
def test_the_command_answers_rule_files_as_one_first_order_mln(tmp_path, method):
    """An AGAIN rule file is one kind of MLN: the first-order ``query`` command gives the
    conditional marginals (or a MAP completion) of the AGAIN query for every database."""
    ruleset = random_ruleset(3, num_concepts=4, num_categories=2, num_rules=6)
    evidence, categories = _random_evidence(ruleset, 3, 1)
    (tmp_path / "r.mln").write_text(format_mln(ruleset))
    (tmp_path / "e.db").write_text(_write_db(ruleset, evidence, categories))
    read_evidence, read_categories = parse_db((tmp_path / "e.db").read_text(), ruleset, missing=-1)
    assert (read_evidence == evidence).all() and (read_categories == categories).all()
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["query", str(tmp_path / "r.mln"), "--evidence", str(tmp_path / "e.db"),
                                       "--queries", "active", "-o", str(out), "--method", "map" if method == "map" else "exact"])
    assert result.exit_code == 0, result.output
    assert "database 2:" in result.output
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["database", "atom", "probability" if method == "marginals" else "value"]
    assert [int(r[0]) for r in rows[1:]] == [n for n in range(3) for _ in ruleset.concepts]
    assert [r[1] for r in rows[1:len(ruleset.concepts) + 1]] == [f"active({quote_constant(c)})" for c in ruleset.concepts]
    values = np.array([float(r[2]) for r in rows[1:]]).reshape(3, -1)
    if method == "marginals":
        np.testing.assert_allclose(values, query(ruleset, evidence, categories, method), atol=1e-9)
    else:  # a most probable completion: it scores as high as the best world
        _, scores, a = _brute(ruleset, evidence, categories)
        index = torch.as_tensor((values.astype(int)[:, None, :] == a.numpy()[None]).all(-1).argmax(1))
        torch.testing.assert_close(scores[torch.arange(3), index], scores.max(1).values)


def test_bad_requests_are_one_line_errors():
    ruleset = random_ruleset(0)
    with pytest.raises(AgainError, match="unknown query method"):
        query(ruleset, np.zeros((1, 4)), np.zeros(1), "mode")
    with pytest.raises(AgainError, match="marginals only"):
        query(ruleset, np.zeros((1, 4)), np.zeros(1), "map", engine="pracmln")
    with pytest.raises(AgainError, match=r"expected shapes \(N, 4\)"):
        query(ruleset, np.zeros((1, 3)), np.zeros(1))
