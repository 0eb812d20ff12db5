"""First-order weight learning by (blocked) pseudo-likelihood: the objective and its gradient
against a brute-force oracle on random MLNs, and pracmln's BPLL weights on its smokers example."""
import random
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from again_mln.cli import main
from again_mln.errors import AgainError
from again_mln.mln import parse_db, parse_mln, read_db, read_mln
from again_mln.mln.learning import PseudoLikelihood, learn_weights

sys.path.insert(0, str(Path(__file__).parent))
from conftest import shared_folder  # noqa: E402
from mln_oracle import brute_pseudo_likelihood  # noqa: E402
from test_mln_first_order import random_case  # noqa: E402


def complete_database(mln, seed: int):
    """A random closed-world database: every atom given, one true value per functional block."""
    rng = random.Random(seed)
    lines = [("" if rng.random() < 0.5 else "!") + a for a in
             ["p(A1)", "p(A2)", "q(A1,A1)", "q(A1,A2)", "q(A2,A1)", "q(A2,A2)", "s(B1)", "s(B2)"]]
    lines += [f"f({a},{rng.choice(['B1', 'B2'])})" for a in ("A1", "A2")]
    return parse_db("\n".join(lines), mln)


def with_weights(mln, weights):
    values = iter(weights)
    return replace(mln, formulas=[e if e.hard else replace(e, weight=next(values)) for e in mln.formulas])


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("method", ["pll", "bpll"])
def test_pseudo_likelihood_and_gradient_match_brute_force(seed, method):
    mln, _, _ = random_case(seed)
    dbs = complete_database(mln, seed)
    try:
        objective = PseudoLikelihood(mln, dbs, method)
    except AgainError as err:  # the random data breaks a hard formula: the oracle agrees
        assert "violates the hard formula" in str(err)
        return
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=(2, int(objective.learnable.sum())))
    brute = [brute_pseudo_likelihood(with_weights(mln, w), dbs[0], method == "bpll") for w in (w1, w2)]
    ours = [objective(w)[0] for w in (w1, w2)]
    # the two differ by atoms no grounding reads (a constant log 1/2 each)
    assert ours[0] - ours[1] == pytest.approx(brute[0] - brute[1], abs=1e-9)
    step = 1e-6
    for i in range(len(w1)):
        bump = np.zeros_like(w1)
        bump[i] = step
        numeric = (brute_pseudo_likelihood(with_weights(mln, w1 + bump), dbs[0], method == "bpll")
                   - brute_pseudo_likelihood(with_weights(mln, w1 - bump), dbs[0], method == "bpll")) / (2 * step)
        assert objective(w1)[1][i] == pytest.approx(numeric, abs=1e-5)


def test_the_optimum_has_zero_gradient_and_the_prior_pulls_towards_its_mean():
    mln, _, _ = random_case(3)
    dbs = complete_database(mln, 3) + complete_database(mln, 4)
    free = learn_weights(mln, dbs, "bpll", prior_sd=2.0)
    objective = PseudoLikelihood(mln, dbs, "bpll", prior_sd=2.0)
    learned = np.array([e.weight for e, keep in zip(free.mln.formulas, objective.learnable) if keep])
    assert np.abs(objective(learned)[1]).max() < 1e-4
    pulled = learn_weights(mln, dbs, "bpll", prior_sd=0.01, prior_mean=0.5)
    assert all(abs(e.weight - 0.5) < 0.05 for e in pulled.mln.formulas if not e.hard)


def test_fixed_and_hard_formulas_keep_their_weights():
    mln = parse_mln("t = {A, B}\np(t)\nq(t)\n#fixweight\n1.25 p(x) => q(x)\n0 q(x)\np(A) v p(B).\n")
    learned = learn_weights(mln, parse_db("p(A)\nq(A)\n!q(B)", mln), "pll").mln
    assert learned.formulas[0].weight == 1.25 and learned.formulas[2].hard
    # q(A) (p(A) true) and q(B) (p(B) false) balance when sigmoid(-1.25 - w) = sigmoid(w)
    assert learned.formulas[1].weight == pytest.approx(-0.625, abs=1e-6)


def test_training_data_that_breaks_a_hard_formula_is_refused():
    mln = parse_mln("t = {A}\np(t)\nq(t)\np(x) => q(x).\n", "h.mln")
    with pytest.raises(AgainError, match=r"h.db: the training data violates the hard formula 'p\(x\) => q\(x\)' \(h.mln:4\)"):
        learn_weights(mln, parse_db("p(A)\n", mln, "h.db"))


def test_bpll_gives_pracmlns_weights_on_its_smokers_example(tmp_path):
    root = shared_folder("pracmln-examples")
    smokers = root / "smokers"
    mln = read_mln(smokers / "mlns" / "smoking.mln")
    learned = learn_weights(mln, read_db(smokers / "dbs" / "smoking-train.db", mln), "bpll")
    assert [e.weight for e in learned.mln.formulas] == pytest.approx([0.646696, 1.519900], abs=1e-5)
    out = tmp_path / "learned.mln"
    result = CliRunner().invoke(main, ["learn-weights", str(smokers / "mlns" / "smoking.mln"), "--db",
                                       str(smokers / "dbs" / "smoking-train.db"), "--method", "bpll", "-o", str(out)])
    assert result.exit_code == 0, result.output
    again = read_mln(out)
    assert [e.weight for e in again.formulas] == pytest.approx([0.646696, 1.519900], abs=1e-5)
    assert [e.formula for e in again.formulas] == [e.formula for e in mln.formulas]


def test_the_standard_benchmarks_read_as_mlns():
    """UW-CSE and Kinship in ExpressGNN's layout: rules, facts and labelled queries."""
    from again_mln.mln.benchmark_data import read_benchmark_folder

    root = shared_folder("mln-benchmarks")
    kinship = read_benchmark_folder(root / "kinship" / "S1")
    assert len(kinship.mln.formulas) == 22 and kinship.query_predicates == ["male"]
    assert len(kinship.queries) == 45 and sum(kinship.queries.values()) == 24
    training = kinship.training_database()
    assert len(training.evidence) == len(kinship.evidence.evidence) + 45
    uw = read_benchmark_folder(root / "uw_cse" / "ai")
    assert uw.query_predicates == ["advisedBy"] and len(uw.queries) == 4624
    assert len(uw.mln.predicates) == 22 and len(uw.evidence.evidence) == 731


@pytest.mark.parametrize("method", ["pll", "bpll"])
def test_clauses_whose_literals_can_name_one_atom_count_every_change(method):
    """A clause such as !advisedBy(a,b) v !advisedBy(b,a) changes when a = b and the one atom
    flips: the join that skips groundings with two true literals must keep those."""
    mln = parse_mln("t = {A, B, C}\nadv(t, t)\nf(t, t!)\n0 !adv(a,b) v !adv(b,a)\n0 !adv(a,a) v !adv(a,a)\n"
                    "0 !f(a,b) v !f(a,c) v adv(b,c)\n")
    dbs = parse_db("adv(A,A)\nadv(A,B)\nadv(B,A)\nf(A,B)\nf(B,B)\nf(C,A)\n", mln)
    objective = PseudoLikelihood(mln, dbs, method)
    w1, w2 = np.array([0.3, -1.1, 0.7]), np.array([-0.4, 0.2, 1.5])
    brute = [brute_pseudo_likelihood(with_weights(mln, w), dbs[0], method == "bpll") for w in (w1, w2)]
    assert objective(w1)[0] - objective(w2)[0] == pytest.approx(brute[0] - brute[1], abs=1e-9)
    for i in range(3):
        bump = np.eye(3)[i] * 1e-6
        numeric = (brute_pseudo_likelihood(with_weights(mln, w1 + bump), dbs[0], method == "bpll")
                   - brute_pseudo_likelihood(with_weights(mln, w1 - bump), dbs[0], method == "bpll")) / 2e-6
        assert objective(w1)[1][i] == pytest.approx(numeric, abs=1e-5)
