"""Semirings of the one contraction, each with its backward (docs/method.md, "Inference").

A ring is what the contraction computes in, in the sense of Pyro's tensor rings
(``pyro/ops/rings.py``): the contraction (variable elimination or enumeration) joins tables by
the ring's product, removes variables by the ring's sum and, once the value is known, lets the
ring read back whatever its backward recovers. Neither route asks which ring it runs.

* :class:`LogRing` (log-sum-exp, +): log Z(y) = log sum_c exp S(c). Its backward reads nothing
  back: marginals are the gradient of log Z (autograd is that backward).
* :class:`MaxRing` (max, +): S_max(y) = max_c S(c); its backward reads a maximiser back off the
  tables it kept. It also offers an exact integer program for views too wide to contract.

Both rings here are over log-potentials, so their product is + (the folded rule tables and the
enumeration's scores are already products): they differ in the sum and the backward. A new ring
(a sampling ring, say) subclasses :class:`Ring`, gives its ``sum`` and, if it reads anything
back, the backward hooks; the defaults keep nothing and read nothing back.

The hooks a contraction calls, in every ring:

* elimination: ``sum(joint, 0)`` per step (axis 0 holds the eliminated variable's two values),
  ``keep(joint)`` for the backward, then ``backtrack(program, kept, batch)``;
* enumeration: ``argsum(scores, 1)`` per chunk of assignments, ``argsum(values, 0)`` across the
  chunks, then ``unravel(chunk_of, within, chunk, num_variables)``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch

if TYPE_CHECKING:
    from again_mln.mln.factors import FactorView
    from again_mln.mln.inference.contract import Contraction, Program


class Ring(ABC):
    """A commutative semiring over log-potential tables, with the backward of its sum."""

    #: exact routes this ring offers beyond elimination and enumeration: name -> a function
    #: contracting a whole (conditioned) view; the planner takes one when nothing else fits
    routes: Mapping[str, Callable[["FactorView"], "Contraction"]] = {}

    def product(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """The ring's product of two tables: + of log-potentials."""
        return a + b

    def product_(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """:meth:`product` into ``a`` (in place)."""
        return a.add_(b)

    @abstractmethod
    def sum(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """The ring's sum of ``x`` over axis ``dim``."""

    # the backward: what the ring reads back once the contraction's value is known

    def argsum(self, x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`sum` over ``dim`` and the witness its backward follows (default: none)."""
        return self.sum(x, dim), None

    def keep(self, joint: torch.Tensor) -> torch.Tensor | None:
        """What the backward needs of an elimination step's joint table (default: nothing)."""
        return None

    def backtrack(self, program: "Program", kept: Sequence[Any], batch: int) -> torch.Tensor | None:
        """The read-back of an elimination from what :meth:`keep` kept of each step (default: none)."""
        return None

    def unravel(self, chunk_of: torch.Tensor | None, within: Sequence[torch.Tensor | None], chunk: int,
                num_variables: int) -> torch.Tensor | None:
        """The read-back of an enumeration from the witnesses of :meth:`argsum` across and within
        its chunks of ``chunk`` assignments (default: none)."""
        return None


class LogRing(Ring):
    """(logsumexp, +): contraction gives log sum_c exp S(c); nothing to read back."""

    def sum(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        return torch.logsumexp(x, dim)


def _integer_program(view: "FactorView") -> "Contraction":
    from again_mln.mln.inference.milp import milp_contract  # scipy is imported on use

    return milp_contract(view)


class MaxRing(Ring):
    """(max, +): contraction gives max_c S(c) and, read back from its kept tables, a maximiser."""

    routes = {"milp": _integer_program}

    def sum(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        if x.shape[dim] == 2:  # one eliminated variable: elementwise, faster than a reduction
            return torch.maximum(*x.unbind(dim))
        return x.amax(dim)

    def argsum(self, x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        return x.max(dim)  # the first maximum on ties

    def keep(self, joint: torch.Tensor) -> torch.Tensor:
        return joint

    def backtrack(self, program: "Program", kept: Sequence[torch.Tensor], batch: int) -> torch.Tensor:
        """Read a maximising assignment (B, M) off the stored joint tables, last eliminated first:
        at each step only the row the later variables pick is compared (value 1 wins if larger;
        ties go to 0), which costs far less than marking the winner of every row while reducing."""
        device = program.rest.device
        assignment = torch.zeros(program.num_variables, batch, dtype=torch.long, device=device)
        for step, joint in zip(reversed(program.steps), reversed(kept)):
            if step.rest:
                span = slice(step.rest_start, step.rest_start + len(step.rest))
                code = (assignment.index_select(0, program.rest[span]) * program.bit[span, None]).sum(0)
                joint = joint.gather(1, code.expand(2, 1, batch))
            assignment[step.variable] = joint[1, 0] > joint[0, 0]
        return assignment.T

    def unravel(self, chunk_of: torch.Tensor, within: Sequence[torch.Tensor], chunk: int,
                num_variables: int) -> torch.Tensor:
        """The maximiser (B, M): assignment number a sets variable m to bit m of a."""
        index = torch.stack(list(within)).gather(0, chunk_of[None])[0] + chunk_of * chunk
        return (index[:, None] >> torch.arange(num_variables, device=index.device)) & 1
