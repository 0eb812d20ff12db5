"""Variable elimination over binary variables in a semiring (docs/method.md, "Inference").

One algorithm for both rings: each step joins the factors that hold the next variable in the
order (ring product = +) and reduces that variable away (the ring's sum). The cost is
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
from again_mln.inference.order import min_fill_order
from again_mln.inference.rings import Ring


@dataclass(frozen=True)
class Factor:
    """A log-space table over binary variables: ``table.shape == batch + (2,) * len(scope)``."""

    scope: tuple[int, ...]
    table: torch.Tensor

    def __post_init__(self) -> None:
        if len(set(self.scope)) != len(self.scope) or self.table.shape[self.table.ndim - len(self.scope):] != (2,) * len(self.scope):
            raise ValueError(f"factor table {tuple(self.table.shape)} does not match scope {self.scope}")


@dataclass(frozen=True)
class Contraction:
    """The contracted value (batch shape) and, in the max ring, a maximising assignment (batch + (n,))."""

    value: torch.Tensor
    argmax: torch.Tensor | None = None


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
    """Contract every variable: ``folded`` (entries, K) from :func:`fold`, ``unary`` (M, 2, B)
    per-row unary log-potentials and ``columns`` (B,) the column of ``folded`` for each row
    (default: ``folded`` has one column for all rows, or one per row). Returns value (B,)."""
    batch = unary.shape[2] if unary is not None else (len(columns) if columns is not None else folded.shape[1])
    messages: list[torch.Tensor | None] = [None] * len(program.steps)
    joints: list[torch.Tensor | None] = [None] * len(program.steps)  # kept for the max ring's read-back
    value = folded.new_zeros(batch)
    for i, step in enumerate(program.steps):
        half = 2 ** len(step.rest)
        joint = folded[step.offset: step.offset + 2 * half]
        if columns is not None:
            joint = joint.index_select(1, columns)
        joint = joint.view(2, half, -1)
        # a fresh (2, half, batch) table: the messages are added in place
        joint = joint + unary[step.variable][:, None, :] if unary is not None else joint.expand(2, half, batch).clone()
        if step.messages:
            axes = joint.view(*(2,) * (len(step.rest) + 1), batch)
            for source, permutation, shape in step.messages:
                message = messages[source]
                axes += message.view(*(2,) * (len(permutation) - 1), -1).permute(permutation).reshape(shape)
                messages[source] = None  # each message is joined once
        joint = joint.expand(2, half, batch)
        reduced = ring.reduce(joint)
        if ring.maximises:
            joints[i] = joint
        if step.rest:
            messages[i] = reduced
        else:
            value = value + reduced[0]
    if not ring.maximises:
        return Contraction(value)
    return Contraction(value, _backtrack(program, joints, batch, value.device))


def _backtrack(program: Program, joints: list[torch.Tensor], batch: int, device: torch.device) -> torch.Tensor:
    """Read a maximising assignment (B, M) off the stored joint tables, last eliminated first: at
    each step only the row the later variables pick is compared (value 1 wins if larger; ties go
    to 0), which costs far less than marking the winner of every row while reducing."""
    assignment = torch.zeros(program.num_variables, batch, dtype=torch.long, device=device)
    for step, joint in zip(reversed(program.steps), reversed(joints)):
        if step.rest:
            span = slice(step.rest_start, step.rest_start + len(step.rest))
            code = (assignment.index_select(0, program.rest[span]) * program.bit[span, None]).sum(0)
            joint = joint.gather(1, code.expand(2, 1, batch))
        assignment[step.variable] = joint[1, 0] > joint[0, 0]
    return assignment.T


def stack_tables(factors: Sequence[Factor]) -> tuple[tuple[tuple[int, ...], ...], torch.Tensor, torch.Tensor]:
    """Generic factors as (scopes in bit order, tables (B, F, W), constant (B,)); batch shapes broadcast."""
    batch = torch.broadcast_shapes(*(f.table.shape[: f.table.ndim - len(f.scope)] for f in factors))
    dtype = functools.reduce(torch.promote_types, (f.table.dtype for f in factors))
    device = factors[0].table.device
    width = 2 ** max([len(f.scope) for f in factors])
    constant = torch.zeros(batch, dtype=dtype, device=device)
    scopes, tables = [], []
    for f in factors:
        if not f.scope:
            constant = constant + f.table
            continue
        flat = f.table.expand(*batch, *f.table.shape[f.table.ndim - len(f.scope):]).reshape(-1, 2 ** len(f.scope))
        tables.append(torch.nn.functional.pad(flat.to(dtype), (0, width - flat.shape[1])))
        scopes.append(f.scope[::-1])  # C order: the last axis is bit 0
    rows = constant.reshape(-1).shape[0]
    stacked = torch.stack(tables, 1) if tables else constant.new_zeros(rows, 0, width)
    return tuple(scopes), stacked, constant.reshape(-1)


def contract(
    factors: Sequence[Factor],
    num_variables: int,
    ring: Ring,
    order: Sequence[int] | None = None,
    max_width: int = 26,
) -> Contraction:
    """Contract all variables ``0..num_variables-1`` of the summed tables in ``ring``.

    Variables in no factor count once each (two values in the log ring; value 0 in the argmax).
    """
    if not factors:
        raise ValueError("contract needs at least one factor (its batch shape fixes the output's)")
    scopes, tables, constant = stack_tables(factors)
    batch = torch.broadcast_shapes(*(f.table.shape[: f.table.ndim - len(f.scope)] for f in factors))
    order = tuple(order) if order is not None else tuple(min_fill_order(scopes, range(num_variables)))
    program = compile_program(scopes, num_variables, order, max_width).to(tables.device)
    result = run(program, fold(program, tables), ring)
    value = (result.value + constant).reshape(batch)
    argmax = None if result.argmax is None else result.argmax.reshape(*batch, num_variables)
    return Contraction(value, argmax)
