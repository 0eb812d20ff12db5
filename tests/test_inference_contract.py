"""Variable elimination (again_mln.inference.contract) in both rings against brute-force enumeration."""
from __future__ import annotations

import itertools

import pytest
import torch

from again_mln.inference.contract import Factor, contract
from again_mln.inference.order import induced_width, min_fill_order
from again_mln.inference.rings import LogRing, MaxRing
from again_mln.errors import AgainError

SCOPES = [(0,), (3, 1), (1, 2, 5), (6, 4), (4, 0), (2,), (5, 3)]


def _factors(seed: int, batch: int = 3) -> list[Factor]:
    generator = torch.Generator().manual_seed(seed)
    factors = [Factor(s, torch.randn(batch, *(2,) * len(s), generator=generator, dtype=torch.float64)) for s in SCOPES]
    factors.append(Factor((6, 2), torch.randn(1, 2, 2, generator=generator, dtype=torch.float64)))  # broadcast batch
    return factors


def _brute_scores(factors: list[Factor], n: int, batch: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    assignments = torch.tensor(list(itertools.product((0, 1), repeat=n)))
    scores = torch.zeros(batch, len(assignments), dtype=torch.float64)
    for f in factors:
        table = f.table.expand(batch, *f.table.shape[1:])
        scores += table[(slice(None), *(assignments[:, v] for v in f.scope))]
    return scores, assignments


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logsumexp_matches_enumeration_with_a_free_variable(seed):
    factors = _factors(seed)
    scores, _ = _brute_scores(factors, 7)
    value = contract(factors, 8, LogRing).value  # variable 7 is in no factor
    torch.testing.assert_close(value, torch.logsumexp(scores, 1) + torch.log(torch.tensor(2.0, dtype=torch.float64)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_returns_the_maximum_and_an_assignment_reaching_it(seed):
    factors = _factors(seed)
    scores, assignments = _brute_scores(factors, 7)
    result = contract(factors, 7, MaxRing)
    torch.testing.assert_close(result.value, scores.max(1).values)
    reached = scores.gather(1, (result.argmax * (2 ** torch.arange(6, -1, -1))).sum(1, keepdim=True)).squeeze(1)
    torch.testing.assert_close(reached, result.value)


def test_any_order_gives_the_same_value_and_gradients_flow():
    factors = _factors(3)
    table = factors[1].table.clone().requires_grad_(True)
    factors[1] = Factor(factors[1].scope, table)
    a = contract(factors, 7, LogRing, order=list(range(7))).value
    b = contract(factors, 7, LogRing, order=list(range(6, -1, -1))).value
    torch.testing.assert_close(a, b)
    (grad,) = torch.autograd.grad(a.sum(), table)
    torch.testing.assert_close(grad.sum((1, 2)), torch.ones(3, dtype=torch.float64))  # pairwise marginals sum to 1


def test_min_fill_keeps_a_chain_narrow_and_width_is_bounded():
    chain = [(i, i + 1) for i in range(40)]
    order = min_fill_order(chain, range(41))
    assert sorted(order) == list(range(41)) and induced_width(chain, order) == 2
    clique = [(i, j) for i in range(30) for j in range(i + 1, 30)]
    factors = [Factor(s, torch.zeros(1, 2, 2)) for s in clique]
    with pytest.raises(AgainError, match="limit"):
        contract(factors, 30, LogRing, max_width=20)


def test_factor_rejects_a_table_that_does_not_fit_its_scope():
    with pytest.raises(ValueError):
        Factor((0, 1), torch.zeros(3, 2))
