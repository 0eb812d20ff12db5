"""A brute-force oracle for first-order MLNs, written apart from the engine: it enumerates every
world over every ground atom and evaluates each formula grounding by recursion. Only for tiny
domains; used to check grounding and inference."""
from __future__ import annotations

import itertools
import math

import numpy as np

from again_mln.mln.model import MLN, Database
from again_mln.mln.syntax import And, Atom, Const, Equal, Equiv, Implies, Not, Or, Quantified, Var, variables


def _value(term, binding):
    return binding[term.name] if isinstance(term, Var) else term.name


def _truth(formula, binding, world, domains, types):
    if isinstance(formula, Atom):
        return world[(formula.predicate, tuple(_value(t, binding) for t in formula.args))]
    if isinstance(formula, Equal):
        return (_value(formula.left, binding) == _value(formula.right, binding)) != formula.negated
    if isinstance(formula, Not):
        return not _truth(formula.child, binding, world, domains, types)
    if isinstance(formula, And):
        return all(_truth(c, binding, world, domains, types) for c in formula.children)
    if isinstance(formula, Or):
        return any(_truth(c, binding, world, domains, types) for c in formula.children)
    if isinstance(formula, Implies):
        a, b = formula.children
        return (not _truth(a, binding, world, domains, types)) or _truth(b, binding, world, domains, types)
    if isinstance(formula, Equiv):
        a, b = formula.children
        return _truth(a, binding, world, domains, types) == _truth(b, binding, world, domains, types)
    if isinstance(formula, Quantified):
        names = [v.name for v in formula.variables]
        values = [domains[types[n]] for n in names]
        results = (_truth(formula.body, {**binding, **dict(zip(names, combo))}, world, domains, types)
                   for combo in itertools.product(*values))
        return all(results) if formula.universal else any(results)
    raise TypeError(formula)


def brute_force(mln: MLN, db: Database, closed_world=(), max_unknown: int = 16, best: list | None = None,
                log_z: list | None = None) -> dict[str, float]:
    """P(atom) for every ground atom, by enumerating the worlds the evidence leaves open; the
    highest world score is appended to ``best`` and a scorer of complete worlds after it; log Z to ``log_z``."""
    mln = mln.materialize([db])
    domains = mln.full_domains([db])
    atoms = [(p.name, args) for p in mln.predicates.values()
             for args in itertools.product(*[domains.get(t, []) for t in p.types])]
    fixed = {}
    for atom in atoms:
        if atom in db.evidence:
            fixed[atom] = db.evidence[atom]
        elif atom[0] in closed_world:
            fixed[atom] = False
    for p in mln.predicates.values():
        if p.functional is None:
            continue
        for atom in atoms:
            if atom[0] != p.name or atom in fixed:
                continue
            block = [a for a in atoms if a[0] == p.name and a[1][: p.functional] + a[1][p.functional + 1:]
                     == atom[1][: p.functional] + atom[1][p.functional + 1:]]
            if any(db.evidence.get(a) is True for a in block):
                fixed[atom] = False
    unknown = [a for a in atoms if a not in fixed]
    assert len(unknown) <= max_unknown, f"{len(unknown)} unknown atoms: too many to enumerate"
    groundings = []
    for entry in mln.formulas:
        names = list(variables(entry.formula))
        for combo in itertools.product(*[domains[entry.types[n]] for n in names]):
            groundings.append((entry, dict(zip(names, combo))))
    def score_of(world):
        """The world's score, or None when it breaks a hard formula or a functional block."""
        ok = True
        for p in mln.predicates.values():
            if p.functional is None:
                continue
            blocks = {}
            for a in atoms:
                if a[0] == p.name:
                    key = a[1][: p.functional] + a[1][p.functional + 1:]
                    blocks[key] = blocks.get(key, 0) + world[a]
            if any(count != 1 for count in blocks.values()):
                ok = False
                break
        if not ok:
            return None
        score = 0.0
        for entry, binding in groundings:
            true = _truth(entry.formula, binding, world, domains, entry.types)
            if entry.hard:
                if not true:
                    return None
            elif true:
                score += entry.weight
        return score

    total, top = 0.0, -math.inf
    mass = {a: 0.0 for a in atoms}
    for bits in itertools.product([False, True], repeat=len(unknown)):
        world = dict(fixed)
        world.update(zip(unknown, bits))
        score = score_of(world)
        if score is None:
            continue
        top = max(top, score)
        weight = math.exp(score)
        total += weight
        for a in atoms:
            if world[a]:
                mass[a] += weight
    assert total > 0, "no world satisfies the hard formulas"
    if best is not None:
        best += [top, lambda values: score_of({(n, a): values[f"{n}({','.join(a)})"] for n, a in atoms})]
    if log_z is not None:
        log_z.append(math.log(total))
    return {f"{name}({','.join(args)})": mass[(name, args)] / total for name, args in atoms}


def brute_pseudo_likelihood(mln: MLN, db: Database, blocked: bool) -> float:
    """sum over atoms (``blocked``: over functional blocks) of log P(value | all other atoms), in the
    complete (closed-world) database ``db``, by rescoring the world with each alternative value."""
    best: list = []
    brute_force(mln, db, closed_world=tuple(mln.predicates), max_unknown=0, best=best)
    score_of = best[1]
    domains = mln.materialize([db]).full_domains([db])
    world = {f"{n}({','.join(a)})": v for (n, a), v in db.evidence.items()}
    atoms = [(p, args) for p in mln.predicates.values() for args in itertools.product(*[domains.get(t, []) for t in p.types])]
    for p, args in atoms:
        world.setdefault(f"{p.name}({','.join(args)})", False)
    groups: dict[tuple, list[str]] = {}
    for p, args in atoms:
        name = f"{p.name}({','.join(args)})"
        if blocked and p.functional is not None:
            groups.setdefault((p.name, args[: p.functional] + args[p.functional + 1:]), []).append(name)
        else:
            groups.setdefault((name,), []).append(name)
    actual = score_of(world)
    total = 0.0
    for key, names in groups.items():
        alternatives = []
        if len(key) == 1:
            for value in (False, True):
                alternatives.append(score_of({**world, names[0]: value}))
        else:
            for chosen in names:
                alternatives.append(score_of({**world, **{n: n == chosen for n in names}}))
        finite = [a for a in alternatives if a is not None]
        total += actual - math.log(sum(math.exp(a) for a in finite))
    return total


def brute_log_likelihood(mln: MLN, db: Database, queries: list[str] | None = None) -> float:
    """log P(the query atoms' values | the other atoms) in the complete (closed-world) database
    ``db``: its world's score minus log Z over every world of the query atoms (``queries``; None:
    every predicate a formula uses, the generative log-likelihood), by enumeration."""
    used = [p for p in mln.predicates if any(a.predicate == p for e in mln.formulas for a in e.formula.atoms())]
    queries = used if queries is None else queries
    evidence = Database({a: v for a, v in db.evidence.items() if a[0] not in queries}, db.domains, db.source)
    best: list = []
    log_z: list = []
    brute_force(mln, evidence, closed_world=tuple(p for p in mln.predicates if p not in queries), best=best, log_z=log_z)
    score_of = best[1]
    domains = mln.materialize([db]).full_domains([db])
    world = {f"{p.name}({','.join(args)})": db.evidence.get((p.name, args), False)
             for p in mln.predicates.values() for args in itertools.product(*[domains.get(t, []) for t in p.types])}
    score = score_of(world)
    assert score is not None, "the database breaks a hard formula"
    return score - log_z[0]
