"""The samplers (MC-SAT with SampleSAT, block Gibbs) against the brute-force oracle on random
first-order MLNs, on a network with hard formulas and a functional predicate where Gibbs cannot
move and MC-SAT can, and their report: split R-hat, the warning, routes, the CLI and seeds.

Every test is seeded, so it is deterministic and can fail: the tolerances are stated next to the
number of samples they hold for."""
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from again_mln.errors import AgainError, AgainWarning
from again_mln.mln import parse_db, parse_mln, query
from again_mln.mln.convergence import split_rhat
from again_mln.mln.sampling import Sampling, sample
from again_mln.mln.sweeps import colour

sys.path.insert(0, str(Path(__file__).parent))
from mln_oracle import brute_force  # noqa: E402
from test_mln_first_order import LONG_BLOCK, random_case  # noqa: E402

PREDICATES = ["p", "q", "f", "s"]
#: MC-SAT: 32 chains x 600 samples (burn-in 50) per component. Largest error on the 24 random cases
#: 0.062 (case 1: hard formulas only, a uniform draw over the worlds they allow), median 0.004.
MCSAT = dict(samples=600, chains=32, burn_in=50)
MCSAT_TOLERANCE = 0.08
#: Gibbs: 16 chains x 300 sweeps, Rao-Blackwellised. Largest error on the 27 cases without hard
#: formulas 0.011, typically under 0.001.
GIBBS = dict(samples=300, chains=16, burn_in=50)
GIBBS_TOLERANCE = 0.03


def errors(mln, dbs, closed, method, **options):
    """The largest absolute error against brute force per database, or None without a world."""
    try:
        expected = [brute_force(mln, db, closed) for db in dbs]
    except AssertionError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgainWarning)
        answers = query(mln, dbs, PREDICATES, closed, method=method, **options)
    out = []
    for answer, oracle in zip(answers, expected):
        got = dict(zip(answer.atoms, answer.values))
        out.append(max(abs(got[atom] - p) for atom, p in oracle.items()))
        components = answer.stats["distinct_components"]
        assert answer.stats["routes"] == ({method: components} if components else {})
    return out


@pytest.mark.parametrize("seed", range(24))
def test_mcsat_marginals_match_brute_force(seed):
    """Every random case, hard formulas and functional blocks included."""
    mln, dbs, closed = random_case(seed)
    found = errors(mln, dbs, closed, "mc-sat", **MCSAT)
    if found is not None:
        assert max(found) < MCSAT_TOLERANCE


@pytest.mark.parametrize("seed", range(40))
def test_gibbs_marginals_match_brute_force(seed):
    """The random cases without hard formulas: Gibbs moves one unit (an atom or a functional
    block) at a time, so a hard formula tying two units can freeze it (see the next test)."""
    mln, dbs, closed = random_case(seed)
    if any(entry.hard for entry in mln.formulas):
        pytest.skip("hard formulas: Gibbs need not mix (MC-SAT does)")
    found = errors(mln, dbs, closed, "gibbs", **GIBBS)
    if found is not None:
        assert max(found) < GIBBS_TOLERANCE


@pytest.mark.parametrize("method, tolerance", [("mc-sat", 0.04), ("gibbs", 0.02)])
def test_long_functional_block_is_sampled_as_one_unit(method, tolerance):
    """A block of nine values, encoded as a chain of hard factors with prefix atoms: both samplers
    move it as one unit (its value), so the chain never breaks."""
    mln = parse_mln(LONG_BLOCK, "long.mln")
    dbs = parse_db("s(B2)\n!s(B3)\n!f(A1,B1)\n", mln, "long.db")
    oracle = brute_force(mln, dbs[0])
    answer = query(mln, dbs, ["f", "s"], method=method, samples=500, chains=16, burn_in=50)[0]
    got = dict(zip(answer.atoms, answer.values))
    assert max(abs(got[a] - p) for a, p in oracle.items()) < tolerance
    f_values = [got[f"f(A1,B{i})"] for i in range(1, 10)]
    assert sum(f_values) == pytest.approx(1.0, abs=1e-9)  # exactly one value in every sample


STUCK = """
person = {Ann, Bob}
colour = {Red, Green, Blue}
Tall(person)
Heavy(person)
Likes(person, colour!)
Tall(x) <=> Heavy(x).
1.5 Tall(x)
-0.5 Heavy(x)
0.8 Tall(x) => Likes(x, Red)
1.2 !Heavy(x) ^ Likes(x, Blue)
"""


def test_gibbs_gets_stuck_where_mcsat_does_not():
    """Tall and Heavy are tied by a hard equivalence: changing either alone breaks it, so Gibbs
    (single units, a functional block being one) never moves them and its chains disagree; MC-SAT
    crosses through SampleSAT and matches the exact answer."""
    mln = parse_mln(STUCK, "stuck.mln")
    dbs = parse_db("", mln, "stuck.db")
    exact = query(mln, dbs, ["Tall", "Heavy", "Likes"], method="exact")[0]
    with pytest.warns(AgainWarning, match=r"gibbs chains disagree: max R-hat inf"):
        gibbs = query(mln, dbs, ["Tall", "Heavy", "Likes"], method="gibbs", samples=400, chains=8, burn_in=20, seed=1)[0]
    rhat = dict(zip(gibbs.stats["convergence"].atoms, gibbs.stats["convergence"].rhat))
    assert rhat["Tall(Ann)"] == np.inf and rhat["Heavy(Ann)"] == np.inf
    tall = exact.atoms.index("Tall(Ann)")
    assert abs(gibbs.values[tall] - exact.values[tall]) > 0.1  # a share of chains frozen in each mode
    with warnings.catch_warnings():
        warnings.simplefilter("error", AgainWarning)  # MC-SAT's chains agree: no warning
        mcsat = query(mln, dbs, ["Tall", "Heavy", "Likes"], method="mc-sat", samples=2000, chains=8, burn_in=50, seed=1)[0]
    np.testing.assert_allclose(mcsat.values, exact.values, atol=0.05)  # 0.023 here; seeds 2 and 3: 0.009, 0.04
    assert mcsat.stats["convergence"].max_rhat < 1.1


def test_same_seed_same_answer_other_seed_other_answer():
    mln, dbs, closed = random_case(3)
    for method in ("mc-sat", "gibbs"):
        runs = [query(mln, dbs, PREDICATES, closed, method=method, samples=60, chains=4, burn_in=5, seed=seed)
                for seed in (7, 7, 8)]
        for a, b in zip(runs[0], runs[1]):
            np.testing.assert_array_equal(a.values, b.values)
            np.testing.assert_array_equal(a.stats["convergence"].rhat, b.stats["convergence"].rhat)
        assert any(not np.array_equal(a.values, c.values) for a, c in zip(runs[0], runs[2]))


def test_rhat_warning_fires_on_too_few_samples():
    """Two chains, four samples and no burn-in on a strongly coupled network: the chains have
    not forgotten where they started."""
    mln = parse_mln("person = {A, B, C, D}\nS(person)\n6 S(x) <=> S(y)\n", "coupled.mln")
    dbs = parse_db("", mln, "coupled.db")
    with pytest.warns(AgainWarning, match=r"coupled.db: the mc-sat chains disagree: max R-hat"):
        answer = query(mln, dbs, ["S"], method="mc-sat", samples=4, chains=2, burn_in=0, seed=0)[0]
    assert answer.stats["convergence"].max_rhat > 1.1


def test_split_rhat():
    rng = np.random.default_rng(0)
    draws = rng.random((8, 2, 500)) < 0.3  # 4 chains split into 8 halves of 500, two atoms
    rhat = split_rhat(draws.sum(2), draws.sum(2), 500)
    assert rhat.shape == (2,) and np.all(rhat < 1.01)
    frozen = np.zeros((4, 1, 10))
    frozen[:2] = 1.0  # two chains stuck at 1, two at 0
    assert split_rhat(frozen.sum(2), frozen.sum(2), 10)[0] == np.inf
    assert split_rhat(np.zeros((4, 1)), np.zeros((4, 1)), 10)[0] == 1.0  # all agree, none moves
    assert np.isnan(split_rhat(np.zeros((4, 1)), np.zeros((4, 1)), 1)[0])


@pytest.mark.parametrize("n", [10, 250, 2500])
def test_split_rhat_of_steady_chains_does_not_depend_on_the_number_of_samples(n):
    """Gibbs records conditional probabilities: an atom whose conditional stays put in every chain
    half, at 1 - 3e-7 in some and 1 - 2e-9 in others (estimates that agree to 3e-7), agrees; it
    was R-hat 1 at 10 samples per half and inf at 250, from an absolute threshold on n * var(means)."""
    steady = 1 - np.array([3e-7, 2e-9] * 4)[:, None]
    assert split_rhat(steady * n, steady * steady * n, n)[0] == 1.0
    apart = np.array([0.2, 0.2, 0.7, 0.7] * 2)[:, None]  # halves that sit at values 0.5 apart still disagree
    assert split_rhat(apart * n, apart * apart * n, n)[0] == np.inf


SMOKERS = "Friends(person, person)\nSmokes(person)\nCancer(person)\n0.646696 Smokes(x) => Cancer(x)\n" \
          "1.519900 Friends(x, y) => (Smokes(x) <=> Smokes(y))\n"


def friendship_graph(people: int, seed: int = 0) -> str:
    """Evidence of smokers on a random friendship graph of average degree 4 (both directions of
    each pair), a quarter of the people with random Smokes evidence (benchmarks/bench_sampling.py)."""
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < 2 * people:
        a, b = rng.integers(people, size=2).tolist()
        if a != b:
            pairs.add((min(a, b), max(a, b)))
    lines = [f"Friends(P{a},P{b})\nFriends(P{b},P{a})" for a, b in sorted(pairs)]
    return "\n".join(lines + [f"{'' if rng.random() < 0.5 else '!'}Smokes(P{i})" for i in range(0, people, 4)])


@pytest.mark.parametrize("method, seed", [("mc-sat", 0), ("mc-sat", 1), ("mc-sat", 2), ("mc-sat", 3), ("gibbs", 0)])
def test_chains_mix_on_a_strongly_coupled_friendship_graph(method, seed):
    """100 people, one loopy component exact inference still answers by elimination, with modes:
    domains of friends who all smoke or none. Before the annealed burn-in and MC-SAT's Gibbs
    sweeps, chains froze in the domains their random start made: at 4 x 1000 samples (burn-in
    100) MC-SAT's max error was 0.9997 with R-hat inf, Gibbs's 0.40 with R-hat 5.8. With the
    default burn-in of 500 (250 annealed steps) MC-SAT is within 0.033 for each of seeds 0..7 and
    Gibbs for 6 of them; with a burn-in of 100, MC-SAT for 4 and Gibbs for 2
    (benchmarks/results/sampling.md)."""
    mln = parse_mln(SMOKERS, "graph.mln")
    dbs = parse_db(friendship_graph(100), mln, "graph.db")
    exact = query(mln, dbs, ["Smokes", "Cancer"], ["Friends"], method="exact")[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", AgainWarning)  # the chains agree: no warning
        answer = query(mln, dbs, ["Smokes", "Cancer"], ["Friends"], method=method, samples=1000, chains=4, seed=seed)[0]
    unknown = ~exact.evidence
    assert np.abs(answer.values - exact.values)[unknown].max() < 0.06
    assert answer.stats["convergence"].max_rhat < 1.1


@pytest.mark.parametrize("method, burn_in", [("gibbs", 10), ("mc-sat", 100)])
def test_until_rhat_runs_the_same_chains_on_until_they_agree(method, burn_in, monkeypatch):
    """The friendship graph above from 20 samples per chain, doubling: its large component stops
    at the first checkpoint whose max split R-hat is under 1.1 (here Gibbs at 1,280, MC-SAT at
    640), and that answer is, to the bit, the fixed run of as many samples (the halves of a
    doubled run are the earlier run and the samples since), while the checkpoint before it was
    not under 1.1. (The small components stop at 20 samples; each has its own random stream.)"""
    import again_mln.mln.answers as answers

    mln = parse_mln(SMOKERS, "graph.mln")
    dbs = parse_db(friendship_graph(100), mln, "graph.db")
    runs = []

    def largest(**options):
        """The largest component's sampler run of this query."""
        runs.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AgainWarning)
            query(mln, dbs, ["Smokes", "Cancer"], ["Friends"], method=method, chains=4, burn_in=burn_in, seed=0, **options)
        return max(runs, key=lambda run: run[0])[1]

    monkeypatch.setattr(answers, "sample", lambda view, *a, **k: runs.append((view.num_variables, sample(view, *a, **k)))
                        or runs[-1][1])
    run = largest(samples=20, until_rhat=1.1, max_samples=2560)
    assert np.nanmax(run.rhat) < 1.1 and 20 < run.samples < 2560
    fixed = largest(samples=run.samples)
    np.testing.assert_array_equal(run.marginals, fixed.marginals)
    np.testing.assert_array_equal(run.rhat, fixed.rhat)
    assert np.nanmax(largest(samples=run.samples // 2).rhat) >= 1.1


def test_until_rhat_stops_at_max_samples():
    mln, dbs, closed = random_case(3)
    answer = query(mln, dbs, PREDICATES, closed, method="gibbs", samples=10, chains=2, burn_in=5, until_rhat=1.0 + 1e-12,
                   max_samples=45)[0]
    assert answer.stats["convergence"].samples == 40  # 10, 20, 40; 80 would pass 45


WIDE = "person = {%s}\nF(person, person)\nS(person)\nC(person)\n0.6 S(x) => C(x)\n0.05 F(x, y) => (S(x) <=> S(y))\n"


def test_auto_samples_only_the_components_exact_inference_cannot_reach():
    """27 friends all linked (26 unknown smokers: elimination width 25, over the memory budget)
    and one loner: auto answers the loner exactly and the clique by MC-SAT, and says so; exact
    refuses with one line."""
    people = [f"P{i}" for i in range(28)]
    mln = parse_mln(WIDE % ", ".join(people), "wide.mln")
    friends = "\n".join(f"F({a},{b})" for a in people[:27] for b in people[:27] if a != b)
    dbs = parse_db(friends + "\nS(P0)\n", mln, "wide.db")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AgainWarning)  # a weakly held clique mixes slowly: R-hat near 1.3
        answer = query(mln, dbs, ["S", "C"], ["F"], samples=200, chains=4, burn_in=20)[0]
    routes = answer.stats["routes"]
    assert routes.get("mc-sat") == 1 and sum(routes.values()) == answer.stats["distinct_components"] >= 2
    report = answer.stats["convergence"]
    assert set(report.atoms) == {f"{p}(P{i})" for p in "SC" for i in range(1, 27)}
    got = dict(zip(answer.atoms, answer.values))
    # the clique is symmetric: exact P(S) by summing over the number k of the 26 unknown smokers
    # (0.1 per pair of friends who agree; C summed out: 1 + e^0.6 for a smoker, 2 e^0.6 for not)
    k = np.arange(27)
    log_w = (np.log([math.comb(26, i) for i in k]) + 0.1 * ((k + 1) * k / 2 + (26 - k) * (25 - k) / 2)
             + k * np.log(1 + np.exp(0.6)) + (26 - k) * np.log(2 * np.exp(0.6)))
    w = np.exp(log_w - log_w.max())
    smokes = float((w * k).sum() / w.sum() / 26)
    assert np.mean([got[f"S(P{i})"] for i in range(1, 27)]) == pytest.approx(smokes, abs=0.15)
    z = 3 * np.exp(0.6) + 1  # the loner, answered exactly: worlds (S, C) weigh e^0.6 but (1, 0) weighs 1
    assert got["S(P27)"] == pytest.approx((1 + np.exp(0.6)) / z, abs=1e-12)
    assert got["C(P27)"] == pytest.approx(2 * np.exp(0.6) / z, abs=1e-12)
    with pytest.raises(AgainError, match=r"wide.db: a component of 52 unknown atoms is too wide for exact inference"):
        query(mln, dbs, ["S", "C"], ["F"], method="exact")


def test_bad_sampler_settings_are_one_line_errors():
    mln, dbs, closed = random_case(3)
    for options, message in ((dict(samples=0), "samples must be an integer >= 1"),
                             (dict(chains=0), "chains must be an integer >= 1"),
                             (dict(burn_in=-1), "burn-in must be an integer >= 0"),
                             (dict(until_rhat=0.9), "target R-hat must be > 1"),
                             (dict(until_rhat=1.1, samples=100, max_samples=50), r"max-samples \(50\) must be at least"),
                             (dict(max_seconds=-1.0), "max-seconds must be >= 0")):
        with pytest.raises(AgainError, match=message):
            query(mln, dbs, PREDICATES, closed, method="mc-sat", **options)
    for options, message in ((dict(anneal=1.5), r"annealed share of the burn-in must lie in \[0, 1\]"),
                             (dict(start_beta=0.0), r"start-beta must lie in \(0, 1\]"),
                             (dict(gibbs_sweeps=-1), "gibbs-sweeps must be an integer >= 0")):
        with pytest.raises(AgainError, match=message):
            Sampling(**options).check()


def test_colouring_is_proper():
    from scipy.sparse import random as sparse_random

    graph = sparse_random(300, 300, density=0.03, random_state=0)
    graph = ((graph + graph.T) > 0).astype(float).tolil()
    graph.setdiag(0)
    colours = colour(graph.tocsr())
    rows, cols = graph.nonzero()
    assert (colours >= 0).all() and not (colours[rows] == colours[cols]).any()
    assert colours.max() + 1 <= max(np.diff(graph.tocsr().indptr)) + 1 + 5  # near a greedy colouring


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_runs_the_same_code():
    mln, dbs, closed = random_case(5)
    expected = [brute_force(mln, db, closed) for db in dbs]
    for method in ("mc-sat", "gibbs"):
        answers = query(mln, dbs, PREDICATES, closed, method=method, device="cuda", **MCSAT)
        for answer, oracle in zip(answers, expected):
            got = dict(zip(answer.atoms, answer.values))
            assert max(abs(got[a] - p) for a, p in oracle.items()) < MCSAT_TOLERANCE
        again = query(mln, dbs, PREDICATES, closed, method=method, device="cuda", **MCSAT)
        for a, b in zip(answers, again):
            np.testing.assert_array_equal(a.values, b.values)


def test_cli_query_samples_and_writes_the_report(tmp_path):
    from again_mln.cli import main

    (tmp_path / "s.mln").write_text("Friends(person, person)\nSmokes(person)\nCancer(person)\n"
                                    "0.646696 Smokes(x) => Cancer(x)\n1.519900 Friends(x, y) => (Smokes(x) <=> Smokes(y))\n")
    (tmp_path / "s.db").write_text("Friends(Anna, Bob)\nFriends(Bob, Anna)\nSmokes(Anna)\n")
    out, report = tmp_path / "out.csv", tmp_path / "report.json"
    result = CliRunner().invoke(main, ["query", str(tmp_path / "s.mln"), "--evidence", str(tmp_path / "s.db"),
                                       "--queries", "Smokes,Cancer", "--closed-world", "Friends", "-o", str(out),
                                       "--method", "mc-sat", "--samples", "200", "--chains", "2", "--seed", "3",
                                       "--report", str(report), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "sampled  mc-sat: 2 chains x 200 samples (burn-in 500, seed 3)" in result.output
    data = json.loads(report.read_text())["databases"][0]
    assert data["routes"] == {"mc-sat": 2}  # {Smokes(Bob), Cancer(Bob)} and {Cancer(Anna)}
    convergence = data["convergence"]
    assert set(convergence["rhat"]) == {"Smokes(Bob)", "Cancer(Anna)", "Cancer(Bob)"}
    assert convergence["chains"] == 2 and convergence["samples_per_chain"] == 200 and convergence["seed"] == 3
    rows = out.read_text().splitlines()
    assert rows[0] == "database,atom,probability" and len(rows) == 5


def test_cli_query_until_rhat(tmp_path):
    """--until-rhat doubles --samples on the friendship graph until max R-hat < 1.1 (Gibbs,
    burn-in 10, seed 0: at 1,280 samples, as in the test above); a target R-hat not above 1 is a
    one-line error."""
    from again_mln.cli import main

    (tmp_path / "s.mln").write_text(SMOKERS)
    (tmp_path / "s.db").write_text(friendship_graph(100))
    args = ["query", str(tmp_path / "s.mln"), "--evidence", str(tmp_path / "s.db"), "--queries", "Smokes,Cancer",
            "--closed-world", "Friends", "-o", str(tmp_path / "out.csv"), "--method", "gibbs", "--samples", "20",
            "--burn-in", "10", "--chains", "4", "--device", "cpu", "--max-samples", "2560", "--quiet"]
    result = CliRunner().invoke(main, args + ["--until-rhat", "1.1"])
    assert result.exit_code == 0, result.output
    assert "sampled  gibbs: 4 chains x 1280 samples (burn-in 10, seed 0)" in result.output
    result = CliRunner().invoke(main, args + ["--until-rhat", "0.5"])
    assert result.exit_code != 0 and "the target R-hat must be > 1 (or 0: off), got 0.5" in result.output
