"""The standard Markov logic benchmarks as the ExpressGNN code distributes them (UW-CSE, Kinship):
a folder with ``predicates`` (declarations), ``rules`` (weighted clauses in pracmln syntax),
``facts`` (true evidence atoms) and ``queries`` (the atoms to predict, ``!`` marking false ones),
read into the engine's MLN, one evidence database and the labelled query atoms."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from again_mln.errors import AgainError
from again_mln.mln.files import parse_db, parse_mln
from again_mln.mln.model import MLN, Database


@dataclass(frozen=True)
class BenchmarkFolder:
    """One data set: the MLN, its evidence (the facts), the query atoms and their true values."""

    mln: MLN
    evidence: Database
    queries: dict[str, bool]  # "advisedBy(Person13,Person139)" -> False

    @property
    def query_predicates(self) -> list[str]:
        return sorted({atom.split("(")[0] for atom in self.queries})

    def training_database(self) -> Database:
        """The facts and the labelled queries together: a complete database to learn from."""
        evidence = dict(self.evidence.evidence)
        lines = dict(self.evidence.lines)
        for atom, value in self.queries.items():
            name, args = atom[:-1].split("(", 1)
            evidence[(name, tuple(a.strip() for a in args.split(",")))] = value
        return Database(evidence, {k: list(v) for k, v in self.evidence.domains.items()}, self.evidence.source, lines)


def read_benchmark_folder(folder: str | os.PathLike) -> BenchmarkFolder:
    """Read ``folder``'s ``predicates``, ``rules``, ``facts`` and ``queries``."""
    folder = Path(folder)
    texts = {}
    for name in ("predicates", "rules", "facts", "queries"):
        try:
            texts[name] = (folder / name).read_text()
        except OSError as err:
            raise AgainError(f"{folder / name}: cannot read: {err.strerror or err}") from None
    mln = parse_mln(texts["predicates"] + "\n" + texts["rules"], str(folder / "rules"), grammar="standard")
    evidence = parse_db(texts["facts"], mln, str(folder / "facts"))[0]
    labelled = parse_db(texts["queries"], mln, str(folder / "queries"))[0]
    clash = [key for key in labelled.evidence if key in evidence.evidence]
    if clash:
        raise AgainError(f"{labelled.lines[clash[0]]}: {clash[0][0]}({','.join(clash[0][1])}) is also a fact")
    queries = {f"{name}({','.join(args)})": value for (name, args), value in labelled.evidence.items()}
    for type_name, values in labelled.domains.items():
        evidence.domains.setdefault(type_name, [])
        known = set(evidence.domains[type_name])
        evidence.domains[type_name] += [v for v in values if v not in known]
    return BenchmarkFolder(mln, evidence, queries)
