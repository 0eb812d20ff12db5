"""Variable elimination (again_mln.mln.inference.contract) in both rings against brute-force enumeration."""
from __future__ import annotations

import itertools

import pytest
import torch

from again_mln.errors import AgainError
from again_mln.mln.inference.contract import compile_program, fold, run
from again_mln.mln.inference.order import elimination_cost, min_fill_order
from again_mln.mln.inference.rings import LogRing, MaxRing, Ring

SCOPES = [(0,), (3, 1), (1, 2, 5), (6, 4), (4, 0), (2,), (5, 3), (6, 2)]


def _tables(seed: int, batch: int = 3, requires_grad: bool = False) -> torch.Tensor:
    """(batch, F, 8): factor f's table over its scope, bit j = the j-th variable of its scope."""
    generator = torch.Generator().manual_seed(seed)
    tables = torch.randn(batch, len(SCOPES), 8, generator=generator, dtype=torch.float64)
    return tables.requires_grad_(requires_grad)


def _brute_scores(tables: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    assignments = torch.tensor(list(itertools.product((0, 1), repeat=n)))  # variable 0 is the top bit
    scores = torch.zeros(tables.shape[0], len(assignments), dtype=torch.float64)
    for f, scope in enumerate(SCOPES):
        code = sum(assignments[:, v] << j for j, v in enumerate(scope))
        scores = scores + tables[:, f, code]
    return scores, assignments


def _contract(tables: torch.Tensor, n: int, ring: Ring, order=None, max_width: int = 26):
    order = tuple(order) if order is not None else tuple(min_fill_order(SCOPES, range(n)))
    program = compile_program(tuple(SCOPES), n, order, max_width)
    return run(program, fold(program, tables), ring)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logsumexp_matches_enumeration_with_a_free_variable(seed):
    tables = _tables(seed)
    scores, _ = _brute_scores(tables, 7)
    result = _contract(tables, 8, LogRing())  # variable 7 is in no factor
    torch.testing.assert_close(result.value, torch.logsumexp(scores, 1) + torch.log(torch.tensor(2.0, dtype=torch.float64)))
    assert result.argmax is None  # the log ring reads nothing back


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_returns_the_maximum_and_an_assignment_reaching_it(seed):
    tables = _tables(seed)
    scores, _ = _brute_scores(tables, 7)
    result = _contract(tables, 7, MaxRing())
    torch.testing.assert_close(result.value, scores.max(1).values)
    reached = scores.gather(1, (result.argmax * (2 ** torch.arange(6, -1, -1))).sum(1, keepdim=True)).squeeze(1)
    torch.testing.assert_close(reached, result.value)


def test_any_order_gives_the_same_value_and_gradients_flow():
    tables = _tables(3, requires_grad=True)
    a = _contract(tables, 7, LogRing(), order=range(7)).value
    b = _contract(tables, 7, LogRing(), order=range(6, -1, -1)).value
    torch.testing.assert_close(a, b)
    (grad,) = torch.autograd.grad(a.sum(), tables)
    # each factor's marginal sums to 1 (the columns past 2**arity are never read: gradient 0)
    torch.testing.assert_close(grad.sum(2), torch.ones(3, len(SCOPES), dtype=torch.float64))


def test_min_fill_keeps_a_chain_narrow_and_width_is_bounded():
    chain = [(i, i + 1) for i in range(40)]
    order = min_fill_order(chain, range(41))
    assert sorted(order) == list(range(41)) and elimination_cost(chain, order)[0] == 2
    clique = tuple((i, j) for i in range(30) for j in range(i + 1, 30))
    with pytest.raises(AgainError, match="limit"):
        compile_program(clique, 30, tuple(min_fill_order(clique, range(30))), 20)


class _CountRing(LogRing):
    """A third ring made by subclassing: it only changes the sum (here: the log ring's, counted)."""

    def __init__(self):
        self.sums = 0

    def sum(self, x, dim):
        self.sums += 1
        return super().sum(x, dim)


def test_a_new_ring_plugs_in_without_the_contraction_knowing_it():
    tables = _tables(4)
    ring = _CountRing()
    result = _contract(tables, 7, ring)
    assert ring.sums == 7 and result.argmax is None
    torch.testing.assert_close(result.value, _contract(tables, 7, LogRing()).value)


@pytest.mark.parametrize("module", ["contract", "enumerate", "planner"])
def test_the_routes_never_name_a_ring(module):
    """The contraction, the enumeration and the planner see a Ring only through its methods."""
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(f"again_mln.mln.inference.{module}"))
    assert not any(word in source for word in ("LogRing", "MaxRing", "maximises", "milp_contract"))


@pytest.mark.parametrize("const", [-1.0, -50.0, 7.0])
def test_the_integer_program_keeps_a_constant_score_finite(const):
    """A row whose only term is a constant (a rule on the category alone) has that constant as
    its maximum, not -inf: the infeasibility penalty bounds the factors, not the constant."""
    from again_mln.mln.factors import FactorView
    from again_mln.mln.inference import max_score

    view = FactorView(const=torch.tensor([const, 0.0]), unary=torch.zeros(2, 2, 2), scopes=(),
                      tables=torch.zeros(1, 0, 4))
    assert max_score(view, route="milp").tolist() == pytest.approx([const, 0.0])
    assert max_score(view, route="enumerate").tolist() == pytest.approx([const, 0.0])
