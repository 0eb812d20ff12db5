"""Grounding one MLN on one database, by joins over the evidence (docs/architecture.md, "Grounding").

Constants are interned per type and a ground atom is one int64 key (the predicate's offset plus
its arguments in mixed radix), so evidence is a sorted key array and every lookup is a vectorised
``searchsorted``. A formula's candidate groundings come from joining the true-evidence tables of
the atoms that must be true for the grounding to matter (``Friends(x, y) => ...`` with Friends
closed world touches the true friendships only, never all pairs); only the variables no such atom
binds range over their whole domain, and that product is counted before it is built. Each
candidate is then evaluated in three-valued logic (false, unknown, true) on the evidence: the
ones the evidence decides are dropped (a decided-false hard formula is a contradiction), the rest
become factor tables over their unknown atoms. Functional predicates add one exactly-one factor
per undecided block.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from tqdm import tqdm

from again_mln.errors import AgainError
from again_mln.mln.model import MLN, Database, Predicate, WeightedFormula
from again_mln.mln.syntax import And, Atom, Const, Equal, Equiv, Formula, Implies, Not, Or, Quantified, Var, variables

FALSE, UNKNOWN, TRUE = 0, 1, 2  # Kleene's three values, ordered so that "and" is min and "or" is max
#: Candidate groundings (rows times atom slots) a formula may build; more is refused before allocation.
GROUNDING_LIMIT = 2**26
#: Most unknown atoms one ground formula (or functional block) may hold: its table has 2**k entries.
MAX_FACTOR_ARITY = 16
#: Entries evaluated at once when tabulating ground formulas.
_CHUNK = 2**22


@dataclass(frozen=True)
class GroundFactors:
    """Ground formulas of one kind, as rows: ``atoms`` (n, K) keys of the unknown atoms each one
    reads (sorted, padded with -1), ``table`` (n, 2**K) its log-potential for each assignment of
    them (bit j = atoms[:, j]; a row with fewer atoms repeats its table), where it came from and
    the index of its formula in the MLN (-1: functional blocks), so that learning can tell the
    factors of each weight apart."""

    atoms: np.ndarray
    table: np.ndarray
    origin: str
    formula: int = -1


@dataclass(frozen=True)
class Blocks:
    """Open functional blocks: ``atoms`` (n, K) keys of each block's unknown values (padded with
    -1) and ``prefix`` (n, K) the key of the chain's auxiliary atom "one of values 0..i is true"
    (column 0 is value 0 itself; -1 where a block is one table and has no chain). Inference that
    enumerates worlds value by value reads them; the factors already encode the constraint."""

    atoms: np.ndarray
    prefix: np.ndarray


class World:
    """One database seen through one (materialised) MLN: interned constants, atom keys, evidence."""

    def __init__(self, mln: MLN, db: Database, closed_world: frozenset[str]):
        self.mln, self.db, self.closed_world = mln, db, closed_world
        self.domains = mln.full_domains([db])
        self.ids = {name: {c: i for i, c in enumerate(values)} for name, values in self.domains.items()}
        self.offset: dict[str, int] = {}
        self.strides: dict[str, np.ndarray] = {}
        total = 0
        for predicate in mln.predicates.values():
            sizes = [len(self.domains.get(t, ())) for t in predicate.types]
            strides = np.ones(len(sizes), dtype=np.int64)
            for i in range(len(sizes) - 2, -1, -1):
                strides[i] = strides[i + 1] * sizes[i + 1]
            self.offset[predicate.name], self.strides[predicate.name] = total, strides
            total += math.prod(sizes)
            if total >= 2**62:
                raise AgainError(f"{db.source}: too many ground atoms to number ({predicate.name} alone has {math.prod(sizes):,})")
        self.num_atoms = total
        self._fresh = total  # keys past the atoms: auxiliary variables of the encodings
        keys, values = [], []
        for (name, args), value in db.evidence.items():
            predicate = mln.predicates[name]
            keys.append(self.key_of(predicate, args))
            values.append(TRUE if value else FALSE)
        order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        self.values = np.asarray(values, dtype=np.int8)[order]
        self.true_blocks: dict[str, np.ndarray] = {}
        for predicate in mln.predicates.values():
            if predicate.functional is not None:
                keys_p = self._keys_of(predicate, TRUE)
                self.true_blocks[predicate.name] = np.unique(self._block(predicate, keys_p))

    def fresh(self, count: int) -> np.ndarray:
        """``count`` new keys for auxiliary variables, never an atom's."""
        keys = np.arange(self._fresh, self._fresh + count, dtype=np.int64)
        self._fresh += count
        return keys

    def key_of(self, predicate: Predicate, args: tuple[str, ...]) -> int:
        ids = [self.ids[t][c] for t, c in zip(predicate.types, args)]
        return self.offset[predicate.name] + int(np.dot(ids, self.strides[predicate.name])) if ids else self.offset[predicate.name]

    def _keys_of(self, predicate: Predicate, value: int) -> np.ndarray:
        lo = np.searchsorted(self.keys, self.offset[predicate.name])
        hi = np.searchsorted(self.keys, self.offset[predicate.name] + self.size(predicate))
        return self.keys[lo:hi][self.values[lo:hi] == value]

    def size(self, predicate: Predicate) -> int:
        return int(math.prod(len(self.domains.get(t, ())) for t in predicate.types))

    def _block(self, predicate: Predicate, keys: np.ndarray) -> np.ndarray:
        """The key of each atom's functional block: its key with the functional argument at 0."""
        stride = self.strides[predicate.name][predicate.functional]
        size = len(self.domains[predicate.types[predicate.functional]])
        return keys - ((keys - self.offset[predicate.name]) // stride % size) * stride

    def decode(self, predicate: Predicate, keys: np.ndarray) -> np.ndarray:
        """(n, arity) constant ids of atom keys."""
        rest = keys - self.offset[predicate.name]
        sizes = [len(self.domains[t]) for t in predicate.types]
        return np.stack([rest // s % n for s, n in zip(self.strides[predicate.name], sizes)], 1) if sizes else np.zeros((len(keys), 0), np.int64)

    def state(self, predicate: Predicate, keys: np.ndarray) -> np.ndarray:
        """FALSE / UNKNOWN / TRUE of each atom key (any shape): its evidence, else false when the
        predicate is closed world or another value of its functional block is true, else unknown."""
        flat = keys.reshape(-1)
        position = np.minimum(np.searchsorted(self.keys, flat), max(len(self.keys) - 1, 0))
        found = self.keys[position] == flat if len(self.keys) else np.zeros(flat.shape, bool)
        default = FALSE if predicate.name in self.closed_world else UNKNOWN
        state = np.where(found, self.values[position] if len(self.keys) else default, default).astype(np.int8)
        if predicate.functional is not None and default == UNKNOWN and len(self.true_blocks[predicate.name]):
            blocks = self.true_blocks[predicate.name]
            at = np.minimum(np.searchsorted(blocks, self._block(predicate, flat)), len(blocks) - 1)
            state[~found & (blocks[at] == self._block(predicate, flat))] = FALSE
        return state.reshape(keys.shape)

    def describe(self, key: int) -> str:
        """``Friends(Anna,Bob)`` for an atom key."""
        for predicate in self.mln.predicates.values():
            start = self.offset[predicate.name]
            if start <= key < start + self.size(predicate):
                ids = self.decode(predicate, np.array([key]))[0]
                return f"{predicate.name}({','.join(self.domains[t][i] for t, i in zip(predicate.types, ids))})"
        raise KeyError(key)


def _required(formula: Formula, forbid: int, into: list[Atom]) -> None:
    """Atoms that must be true for ``formula`` not to be decided ``forbid`` by the evidence of a
    closed-world predicate: a disjunction is undecided-true only if no disjunct is true, a
    conjunction undecided-false only if no conjunct is false, and so on through negation."""
    if isinstance(formula, Atom):
        if forbid == FALSE:
            into.append(formula)
    elif isinstance(formula, Not):
        _required(formula.child, TRUE if forbid == FALSE else FALSE, into)
    elif isinstance(formula, Or) and forbid == TRUE or isinstance(formula, And) and forbid == FALSE:
        for child in formula.children:
            _required(child, forbid, into)
    elif isinstance(formula, Implies) and forbid == TRUE:
        _required(formula.children[0], FALSE, into)
        _required(formula.children[1], TRUE, into)


class Evaluator:
    """Three-valued truth of a formula over rows of variable bindings, broadcast over the axes
    that quantifiers add. ``leaf`` gives an atom's value from its key array."""

    def __init__(self, world: World, types: dict[str, str]):
        self.world, self.types = world, types

    def run(self, formula: Formula, env: dict[str, np.ndarray], shape: tuple[int, ...], leaf) -> np.ndarray:
        if isinstance(formula, Atom):
            predicate = self.world.mln.predicates[formula.predicate]
            key = np.int64(self.world.offset[predicate.name])
            for term, domain, stride in zip(formula.args, predicate.types, self.world.strides[predicate.name]):
                key = key + self._ids(term, domain, env) * stride
            return leaf(predicate, np.broadcast_to(key, shape))
        if isinstance(formula, Equal):
            domain = self.types[formula.left.name] if isinstance(formula.left, Var) else self.types[formula.right.name]
            same = self._ids(formula.left, domain, env) == self._ids(formula.right, domain, env)
            return np.broadcast_to(np.where(same != formula.negated, TRUE, FALSE).astype(np.int8), shape)
        if isinstance(formula, Not):
            return (TRUE - self.run(formula.child, env, shape, leaf)).astype(np.int8)
        if isinstance(formula, Quantified):
            extra = [len(self.world.domains[self.types[v.name]]) for v in formula.variables]
            inner = {name: value[(...,) + (None,) * len(extra)] for name, value in env.items()}
            for j, var in enumerate(formula.variables):
                axes = [1] * (len(shape) + len(extra))
                axes[len(shape) + j] = extra[j]
                inner[var.name] = np.arange(extra[j]).reshape(axes)
            body = self.run(formula.body, inner, shape + tuple(extra), leaf)
            reduce = np.min if formula.universal else np.max
            return reduce(body, axis=tuple(range(len(shape), len(shape) + len(extra)))) if extra else body
        values = [self.run(child, env, shape, leaf) for child in formula.children]
        if isinstance(formula, And):
            return np.minimum.reduce(values)
        if isinstance(formula, Or):
            return np.maximum.reduce(values)
        if isinstance(formula, Implies):
            return np.maximum(TRUE - values[0], values[1]).astype(np.int8)
        if isinstance(formula, Equiv):
            a, b = values
            return np.where((a == UNKNOWN) | (b == UNKNOWN), UNKNOWN, np.where(a == b, TRUE, FALSE)).astype(np.int8)
        raise TypeError(type(formula).__name__)

    def _ids(self, term, domain: str, env: dict[str, np.ndarray]):
        if isinstance(term, Var):
            return env[term.name]
        return np.int64(self.world.ids[domain][term.name])


def _join(left: tuple[list[str], np.ndarray], right: tuple[list[str], np.ndarray], limit: int, what: str):
    """Natural join of two binding tables (columns named by variable), counted before it is built."""
    (lnames, lrows), (rnames, rrows) = left, right
    shared = [n for n in lnames if n in rnames]
    if not shared:
        size = len(lrows) * len(rrows)
        check_size(size, limit, what)
        rows = np.concatenate([np.repeat(lrows, len(rrows), 0), np.tile(rrows, (len(lrows), 1))], 1)
        return lnames + rnames, rows
    li = [lnames.index(n) for n in shared]
    ri = [rnames.index(n) for n in shared]
    _, inverse = np.unique(np.concatenate([lrows[:, li], rrows[:, ri]]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    lkey, rkey = inverse[: len(lrows)], inverse[len(lrows):]
    order = np.argsort(rkey, kind="stable")
    rsorted = rkey[order]
    start, stop = np.searchsorted(rsorted, lkey, "left"), np.searchsorted(rsorted, lkey, "right")
    counts = stop - start
    check_size(int(counts.sum()), limit, what)
    left_index = np.repeat(np.arange(len(lrows)), counts)
    right_index = order[np.repeat(start - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))]
    keep = [i for i, n in enumerate(rnames) if n not in shared]
    return lnames + [rnames[i] for i in keep], np.concatenate([lrows[left_index], rrows[right_index][:, keep]], 1)


def check_size(size: int, limit: int, what: str) -> None:
    """Refuse, before anything is allocated, a grounding of ``what`` larger than ``limit``."""
    if size > limit:
        raise AgainError(f"{what} has {size:,} groundings to consider, over the limit of {limit:,}: close a predicate "
                         f"with --closed-world or give more evidence")


def candidates(world: World, entry: WeightedFormula, names: list[str], limit: int) -> np.ndarray:
    """(n, len(names)) constant ids: the bindings of the formula's free variables that the
    evidence of closed-world predicates does not already decide."""
    required: list[Atom] = []
    _required(entry.formula, TRUE, required)
    if not entry.hard:
        _required(entry.formula, FALSE, required)
    return bindings(world, entry, required, names, limit)


def bindings(world: World, entry: WeightedFormula, true_atoms: list[Atom], names: list[str], limit: int) -> np.ndarray:
    """(n, len(names)) constant ids: the bindings of ``names`` under which every closed-world atom
    of ``true_atoms`` is true in the evidence (a join of their true-evidence tables; the variables
    no such atom binds range over their domains), counted before they are built."""
    what = f"{entry.source}: formula {entry.formula.text()!r} in {world.db.source}"
    tables: list[tuple[list[str], np.ndarray]] = []
    for atom in true_atoms:
        predicate = world.mln.predicates[atom.predicate]
        if predicate.name not in world.closed_world or any(isinstance(t, Var) and t.name not in names for t in atom.args):
            continue
        rows = world.decode(predicate, world._keys_of(predicate, TRUE))
        keep = np.ones(len(rows), bool)
        columns: dict[str, int] = {}
        for j, term in enumerate(atom.args):
            if isinstance(term, Const):
                keep &= rows[:, j] == world.ids[predicate.types[j]][term.name]
            elif term.name in columns:
                keep &= rows[:, j] == rows[:, columns[term.name]]
            else:
                columns[term.name] = j
        tables.append((list(columns), rows[keep][:, list(columns.values())]))
    tables.sort(key=lambda t: len(t[1]))
    bound: tuple[list[str], np.ndarray] = ([], np.zeros((1, 0), np.int64))
    for table in tables:
        bound = _join(bound, table, limit, what)
    for name in names:
        if name not in bound[0]:
            size = len(world.domains.get(entry.types[name], ()))
            bound = _join(bound, ([name], np.arange(size, dtype=np.int64)[:, None]), limit, what)
    return bound[1][:, [bound[0].index(n) for n in names]]


def ground_formula(world: World, entry: WeightedFormula, limit: int = GROUNDING_LIMIT) -> GroundFactors:
    """The ground instances of ``entry`` the evidence leaves undecided, as factor tables."""
    free = list(variables(entry.formula))
    rows = candidates(world, entry, free, limit)
    evaluator = Evaluator(world, entry.types)
    recorded: list[tuple[np.ndarray, np.ndarray]] = []

    def record(predicate, keys):
        state = world.state(predicate, keys)
        recorded.append((keys, state))
        return state

    env = {name: rows[:, j].reshape(-1) for j, name in enumerate(free)}
    truth = evaluator.run(entry.formula, env, (len(rows),), record) if len(rows) else np.zeros(0, np.int8)
    if entry.hard and (truth == FALSE).any():
        row = int(np.flatnonzero(truth == FALSE)[0])
        binding = ", ".join(f"{n}={world.domains[entry.types[n]][rows[row, j]]}" for j, n in enumerate(free))
        raise AgainError(f"{world.db.source}: the evidence violates the hard formula {entry.formula.text()!r} "
                         f"({entry.source}){' at ' + binding if binding else ''}")
    undecided = np.flatnonzero(truth == UNKNOWN)
    origin = f"{entry.source}: {entry.formula.text()}"
    if len(undecided) == 0:
        return GroundFactors(np.zeros((0, 1), np.int64), np.zeros((0, 2)), origin)
    slots = [(keys.reshape(len(rows), -1)[undecided], state.reshape(len(rows), -1)[undecided]) for keys, state in recorded]
    keys = np.concatenate([k for k, _ in slots], 1)
    state = np.concatenate([s for _, s in slots], 1)
    atoms, local = distinct_unknowns(keys, state == UNKNOWN)
    K = atoms.shape[1]
    if K > MAX_FACTOR_ARITY:
        raise AgainError(f"{origin}: a ground instance reads {K} unknown atoms (at most {MAX_FACTOR_ARITY}); "
                         f"give evidence for some of them or close their predicates")
    table = np.empty((len(undecided), 2**K))
    widths = np.cumsum([0] + [k.shape[1] for k, _ in slots])
    step = max(1, _CHUNK // (2**K * max(1, keys.shape[1])))
    assignments = np.arange(2**K, dtype=np.int64)
    for start in range(0, len(undecided), step):
        stop = min(start + step, len(undecided))
        part = iter(range(len(slots)))

        def leaf(predicate, _keys, start=start, stop=stop, part=part):
            i = next(part)
            s = state[start:stop, widths[i]:widths[i + 1]][:, None, :]
            bit = (assignments[None, :, None] >> np.maximum(local[start:stop, widths[i]:widths[i + 1]], 0)[:, None, :]) & 1
            value = np.where(s == UNKNOWN, np.where(bit == 1, TRUE, FALSE), s).astype(np.int8)
            return value.reshape(_keys.shape)

        sub_env = {name: rows[undecided[start:stop], j][:, None] for j, name in enumerate(free)}
        truth = evaluator.run(entry.formula, sub_env, (stop - start, 2**K), leaf) == TRUE
        table[start:stop] = np.where(truth, 0.0, -np.inf) if entry.hard else np.where(truth, entry.weight, 0.0)
    return GroundFactors(atoms, table, origin)


def distinct_unknowns(keys: np.ndarray, unknown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the distinct unknown keys, sorted and padded with -1 (n, K), and for each slot the
    position of its key among them (-1 for known slots)."""
    sentinel = np.iinfo(np.int64).max
    masked = np.where(unknown, keys, sentinel)
    order = np.argsort(masked, axis=1, kind="stable")
    ordered = np.take_along_axis(masked, order, 1)
    first = np.ones_like(ordered, dtype=bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first &= ordered != sentinel
    rank = np.cumsum(first, 1) - 1
    local = np.empty_like(rank)
    np.put_along_axis(local, order, rank, 1)
    local[~unknown] = -1
    K = int(first.sum(1).max()) if len(keys) else 0
    atoms = np.full((len(keys), max(K, 1)), -1, dtype=np.int64)
    r, c = np.nonzero(first)
    atoms[r, rank[r, c]] = ordered[r, c]
    return atoms[:, :K] if K else atoms[:, :0], local


def ground_blocks(world: World, predicate: Predicate, limit: int = GROUNDING_LIMIT) -> tuple[list[GroundFactors], Blocks | None]:
    """Exactly-one factors for each functional block of ``predicate`` that the evidence leaves
    open, and the blocks themselves."""
    f = predicate.functional
    sizes = [len(world.domains.get(t, ())) for t in predicate.types]
    blocks = math.prod(sizes) // max(sizes[f], 1) if sizes[f] else 0
    origin = f"functional predicate {predicate.declaration()}"
    check_size(blocks * sizes[f], limit, f"{world.db.source}: {origin}")
    if blocks == 0:
        return [], None
    block_keys = np.arange(blocks, dtype=np.int64)
    other = [s for i, s in enumerate(sizes) if i != f]
    ids = np.stack(np.unravel_index(block_keys, other), 1) if other else np.zeros((blocks, 0), np.int64)
    strides = world.strides[predicate.name]
    base = world.offset[predicate.name] + (ids * np.delete(strides, f)).sum(1)
    keys = base[:, None] + np.arange(sizes[f])[None, :] * strides[f]
    state = world.state(predicate, keys)
    open_ = ~(state == TRUE).any(1)
    keys, state = keys[open_], state[open_]
    unknown = state == UNKNOWN
    empty = ~unknown.any(1)
    if empty.any():
        atom = world.describe(int(keys[np.flatnonzero(empty)[0], 0]))
        raise AgainError(f"{world.db.source}: {predicate.name} is functional, but every value of the block of {atom} is false")
    atoms, _ = distinct_unknowns(keys, unknown)
    arity = unknown.sum(1)
    if atoms.shape[1] <= _DIRECT_BLOCK:
        assignments = np.arange(2 ** atoms.shape[1])
        popcount = np.array([bin(a).count("1") for a in assignments])
        masked = assignments[None, :] & ((1 << arity[:, None]) - 1)  # a row with k < K atoms reads its low k bits
        factors = [GroundFactors(atoms, np.where(popcount[masked] == 1, 0.0, -np.inf), origin)]
        return factors, Blocks(atoms, np.full_like(atoms, -1))
    return _exactly_one_chain(world, atoms, arity, origin)


#: Functional blocks of up to this many unknown values get one table; longer ones a chain.
_DIRECT_BLOCK = 6


def _exactly_one_chain(world: World, atoms: np.ndarray, arity: np.ndarray, origin: str) -> tuple[list[GroundFactors], Blocks]:
    """"Exactly one of x_0 .. x_{k-1}" as a chain of small hard factors, exact for any k: auxiliary
    atoms s_i = "one of x_0 .. x_i is true" (s_0 is x_0 itself), each link (s_{i-1}, x_i, s_i)
    allows no second true value and carries the running "or"; the last link asks s_{k-2} xor x_{k-1}.
    Elimination along the chain costs 2**3 per value instead of 2**k."""
    n, K = atoms.shape
    aux = world.fresh(n * K).reshape(n, K)
    prefix = np.concatenate([atoms[:, :1], aux[:, 1:]], 1)  # s_i; s_0 = x_0
    links, last, single = [], [], []
    for i in range(1, K):
        inner = arity > i + 1
        links.append(np.stack([prefix[inner, i - 1], atoms[inner, i], prefix[inner, i]], 1))
        final = arity == i + 1
        last.append(np.stack([prefix[final, i - 1], atoms[final, i]], 1))
    single.append(atoms[arity == 1, :1])
    link_table = np.full(8, -np.inf)
    link_table[[0, 5, 6]] = 0.0  # bits (s_prev, x, s): 000, 101, 011
    out = []
    for rows, table in ((np.concatenate(links), link_table), (np.concatenate(last), np.array([-np.inf, 0.0, 0.0, -np.inf])),
                        (np.concatenate(single), np.array([-np.inf, 0.0]))):
        if len(rows):
            out.append(GroundFactors(rows, np.broadcast_to(table, (len(rows), len(table))).copy(), origin))
    used = np.arange(K)[None, :] < np.maximum(arity - 1, 1)[:, None]  # s_0 .. s_{k-2}
    return out, Blocks(atoms, np.where(used, prefix, -1))


def ground(world: World, limit: int = GROUNDING_LIMIT, predicates: set[str] | None = None,
           progress: bool = False) -> tuple[list[GroundFactors], list[Blocks]]:
    """Every undecided ground formula of the world (one :class:`GroundFactors` per formula) and
    every open functional block of the predicates the formulas use (or ``predicates``)."""
    formulas = tqdm(world.mln.formulas, desc="grounding", unit="formula", leave=False,
                    disable=None if progress and len(world.mln.formulas) >= 500 else True)
    groups = [replace(ground_formula(world, entry, limit), formula=index) for index, entry in enumerate(formulas)]
    used = {atom.predicate for entry in world.mln.formulas for atom in entry.formula.atoms()} | (predicates or set())
    blocks = []
    for predicate in world.mln.predicates.values():
        if predicate.functional is not None and predicate.name in used:
            factors, open_blocks = ground_blocks(world, predicate, limit)
            groups += factors
            if open_blocks is not None and len(open_blocks.atoms):
                blocks.append(open_blocks)
    return [g for g in groups if len(g.atoms)], blocks
