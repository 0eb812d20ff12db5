"""Variable elimination over binary variables in a semiring (docs/method.md, "Inference").

One algorithm for every ring (:mod:`again_mln.mln.inference.rings`): each step joins the factors that
hold the next variable in the order (the ring's product) and reduces that variable away (the
ring's sum), keeping what the ring's backward needs; after the last step the ring reads back what
it recovers (a maximiser in the max ring, nothing in the log ring). The cost is
2**(width + 1) per eliminated variable, so chains and trees of concept rules stay cheap whatever
the number of concepts.

The work is split by what it depends on, so that nothing is redone per sample that depends only
on the rule structure or the category:

* :func:`compile_program` (structure only, cached per scopes and order): which factors and
  earlier messages each step joins, and how each is aligned with the step's joint table;
* :func:`fold` (weights, per category): the rule tables that each step joins, summed into one
  table per step and category by a single gather and scatter-add over the whole program;
* :func:`run` (per sample): each step adds the folded table of the sample's category, the
  sample's unary evidence and the earlier messages (broadcast views, no copies), then reduces
  one variable.

Tables are assignment-major, ``(2**k, batch)`` (a category gather moves whole rows, which is
many times faster on a CPU than indexing columns). A step's joint table puts its variable on the
top bit, so the reduction is one elementwise op between the two halves. Every op is a batched
torch op, differentiable in the tables and the unary evidence (the log ring's gradients are
marginals).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from again_mln.errors import AgainError
from again_mln.mln.inference.rings import Ring


@dataclass(frozen=True)
class Contraction:
    """The contracted value (B,) and what the ring's backward read back: a maximising assignment
    (B, M) in the max ring, None in the log ring."""

    value: torch.Tensor
    argmax: torch.Tensor | None = None

    @staticmethod
    def cat(parts: Sequence["Contraction"]) -> "Contraction":
        """The contractions of consecutive chunks of rows as one."""
        argmax = [p.argmax for p in parts if p.argmax is not None]
        return Contraction(torch.cat([p.value for p in parts]), torch.cat(argmax) if argmax else None)


@dataclass(frozen=True)
class Step:
    """Eliminating ``variable``: its joint table has ``2 * 2**len(rest)`` rows (``variable`` on the
    top bit, bit j = ``rest[j]``), starting at row ``offset`` of the folded tables; ``messages``
    are (earlier step, its axes' permutation, their shape in the joint) so that the message,
    viewed with one axis per variable, adds onto the joint by broadcasting; ``rest`` is also
    :attr:`Program.rest` from ``rest_start`` on."""

    variable: int
    rest: tuple[int, ...]
    offset: int
    messages: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]
    rest_start: int


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (it holds tensors)
class Program:
    """An elimination order compiled against a factor structure (scopes: bit j = j-th variable)."""

    num_variables: int
    steps: tuple[Step, ...]
    width: int  # most variables in one joint table
    entries: int  # rows of all joint tables together
    rest: torch.Tensor  # the rest variables of all steps concatenated
    bit: torch.Tensor  # 2**j for the j-th of them
    fold_rows: torch.Tensor  # (P,) joint row of each (factor, joint row) pair
    fold_factors: torch.Tensor  # (P,) the factor of the pair
    fold_codes: torch.Tensor  # (P,) the factor's table column under that joint row

    def to(self, device: torch.device) -> "Program":
        """The program with its index arrays on ``device`` (cached per device)."""
        return self if self.rest.device == device else _on_device(self, device)


@functools.lru_cache(maxsize=8)
def _on_device(program: Program, device: torch.device) -> Program:
    moved = {name: getattr(program, name).to(device) for name in ("rest", "bit", "fold_rows", "fold_factors", "fold_codes")}
    return Program(program.num_variables, program.steps, program.width, program.entries, **moved)


def _codes(joint_bits: np.ndarray, positions: Sequence[int]) -> np.ndarray:
    """Each joint row's code in a table whose bit j is the joint's bit ``positions[j]``."""
    code = np.zeros(len(joint_bits), dtype=np.int64)
    for j, p in enumerate(positions):
        code |= ((joint_bits >> p) & 1) << j
    return code


@functools.lru_cache(maxsize=32)
def compile_program(scopes: tuple[tuple[int, ...], ...], num_variables: int, order: tuple[int, ...],
                    max_width: int = 26) -> Program:
    """Compile eliminating ``order`` (every variable once) over factors of ``scopes``; depends on
    the structure only, so it is cached and shared by every batch, category and ring. A step over
    more than ``max_width`` variables is an error (before any table is built)."""
    if sorted(order) != list(range(num_variables)):
        raise AgainError(f"an elimination order must hold each of the {num_variables} variables once")
    holders: dict[int, list[tuple[str, int]]] = {v: [] for v in range(num_variables)}
    position = {v: i for i, v in enumerate(order)}
    for f, scope in enumerate(scopes):
        if scope:
            holders[min(scope, key=position.__getitem__)].append(("factor", f))
    scope_of_message: dict[int, tuple[int, ...]] = {}
    steps, rows, factors, codes, rests = [], [], [], [], []
    offset = width = rest_cursor = 0
    for i, v in enumerate(order):
        members = holders[v]
        scope_sets = [scopes[f] if kind == "factor" else scope_of_message[f] for kind, f in members]
        rest = tuple(sorted({u for s in scope_sets for u in s if u != v}))
        if len(rest) + 1 > max_width:
            raise AgainError(f"exact contraction needs a table over {len(rest) + 1} variables (limit {max_width})")
        size = 2 ** (len(rest) + 1)
        width = max(width, len(rest) + 1)
        bits = np.arange(size, dtype=np.int64)
        bit_of = {u: j for j, u in enumerate(rest)} | {v: len(rest)}
        messages = []
        for (kind, f), scope in zip(members, scope_sets):
            code = _codes(bits, [bit_of[u] for u in scope])
            if kind == "factor":
                rows.append(offset + bits)
                factors.append(np.full(size, f, dtype=np.int64))
                codes.append(code)
            else:
                messages.append((f, *_alignment(scope, rest, v)))
        steps.append(Step(v, rest, offset, tuple(messages), rest_cursor))
        rests.append(rest)
        rest_cursor += len(rest)
        offset += size
        if rest:  # the message goes to the step of its first-eliminated variable
            scope_of_message[i] = rest
            holders[min(rest, key=position.__getitem__)].append(("message", i))
    cat = (lambda parts: torch.from_numpy(np.concatenate(parts)) if parts else torch.zeros(0, dtype=torch.long))
    rest = torch.tensor([u for r in rests for u in r], dtype=torch.long)
    bit = torch.tensor([1 << j for r in rests for j in range(len(r))], dtype=torch.long)
    return Program(num_variables, tuple(steps), width, offset, rest, bit, cat(rows), cat(factors), cat(codes))


def _alignment(scope: tuple[int, ...], rest: tuple[int, ...], v: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """How a message over ``scope`` (bit j = scope[j]) lines up with a joint over ``rest`` plus ``v``
    on top: the permutation of its axes (axis a holds bit r-1-a) into joint order, and its shape
    there (2 for its variables, 1 for the joint's others), batch axis last."""
    joint_axes = (v,) + rest[::-1]  # axis 0 is the top bit
    axis_of = {u: len(scope) - 1 - j for j, u in enumerate(scope)}
    present = [u for u in joint_axes if u in axis_of]
    permutation = tuple(axis_of[u] for u in present) + (len(scope),)
    return permutation, tuple(2 if u in axis_of else 1 for u in joint_axes) + (-1,)


def fold(program: Program, tables: torch.Tensor) -> torch.Tensor:
    """(entries, K): the factor tables (K, F, W) that each step joins, summed per joint row, for
    each of K rows (categories); one gather and one scatter-add for the whole program."""
    values = tables[:, program.fold_factors, program.fold_codes]  # (K, P)
    folded = tables.new_zeros(program.entries, tables.shape[0])
    return folded.index_add(0, program.fold_rows, values.T)


def run(
    program: Program,
    folded: torch.Tensor,
    ring: Ring,
    unary: torch.Tensor | None = None,
    columns: torch.Tensor | None = None,
) -> Contraction:
    """Contract every variable in ``ring``: ``folded`` (entries, K) from :func:`fold`, ``unary``
    (M, 2, B) per-row unary log-potentials and ``columns`` (B,) the column of ``folded`` for each
    row (default: ``folded`` has one column for all rows, or one per row). Returns the value (B,)
    and what the ring's backward reads back (:meth:`Ring.backtrack`)."""
    batch = unary.shape[2] if unary is not None else (len(columns) if columns is not None else folded.shape[1])
    messages: list[torch.Tensor | None] = [None] * len(program.steps)
    kept: list = [None] * len(program.steps)  # what the ring's backward needs of each step
    value = folded.new_zeros(batch)  # the product's unit
    for i, step in enumerate(program.steps):
        half = 2 ** len(step.rest)
        joint = folded[step.offset: step.offset + 2 * half]
        if columns is not None:
            joint = joint.index_select(1, columns)
        joint = joint.view(2, half, -1)
        # a fresh (2, half, batch) table: the messages are multiplied in place
        joint = ring.product(joint, unary[step.variable][:, None, :]) if unary is not None else joint.expand(2, half, batch).clone()
        if step.messages:
            axes = joint.view(*(2,) * (len(step.rest) + 1), batch)
            for source, permutation, shape in step.messages:
                message = messages[source]
                ring.product_(axes, message.view(*(2,) * (len(permutation) - 1), -1).permute(permutation).reshape(shape))
                messages[source] = None  # each message is joined once
        joint = joint.expand(2, half, batch)
        reduced = ring.sum(joint, 0)
        kept[i] = ring.keep(joint)
        if step.rest:
            messages[i] = reduced
        else:
            value = ring.product(value, reduced[0])
    return Contraction(value, ring.backtrack(program, kept, batch))
