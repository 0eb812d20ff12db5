"""Asking the rules a question (docs/method.md, "Inference"): given a category and some observed
concepts, the conditional marginal P(active(C) | evidence) of every concept, or the most
probable completion (MAP), with the native engine or pracmln's.

Evidence comes as (N, M) int8 concepts: 1 observed active, 0 observed inactive, -1 unknown, and
(N,) category ids. Observed concepts come back exactly as observed.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from again_mln.mln import inference
from again_mln.io import atomic
from again_mln.errors import AgainError
from again_mln.again.graph import PROBABILITY_HARD_FLOOR, FactorGraph, hard_rule_weight
from again_mln.again.logic import CATEGORY_PREDICATE, CONCEPT_PREDICATE, RuleSet
from again_mln.validation import check_choice

QueryMethod = Literal["marginals", "map"]
QUERY_METHODS = ("marginals", "map")
ENGINES = ("native", "pracmln")


def evidence_potentials(evidence: torch.Tensor) -> torch.Tensor:
    """(N, M, 2) unary log-potentials: -inf on the value an observed concept does not take."""
    blocked = torch.stack([evidence == 1, evidence == 0], -1)
    return torch.zeros(blocked.shape, dtype=torch.float64).masked_fill(blocked, -math.inf)


def query(ruleset: RuleSet, evidence: np.ndarray, categories: np.ndarray, method: QueryMethod = "marginals",
          engine: str = "native") -> np.ndarray:
    """(N, M) float64: P(c_m = 1 | evidence, y) (``marginals``) or a most probable completion
    (``map``, 0/1) for each database."""
    check_choice(method, QUERY_METHODS, "query method")
    check_choice(engine, ENGINES, "engine")
    evidence, categories = np.asarray(evidence, np.int8), np.asarray(categories, np.int64)
    M = len(ruleset.concepts)
    if evidence.ndim != 2 or evidence.shape[1] != M or categories.shape != evidence.shape[:1]:
        raise AgainError(f"evidence: expected shapes (N, {M}) and (N,), got {evidence.shape} and {categories.shape}")
    if engine == "pracmln":
        from again_mln.again import pracmln

        if method == "map":
            raise AgainError("the pracmln engine answers marginals only (its exact MPE needs toulbar2); use --engine native")
        result = pracmln.conditional_marginals(ruleset, evidence, categories)
    else:
        graph = FactorGraph(ruleset, device="cpu", hard_weight=hard_rule_weight(ruleset, PROBABILITY_HARD_FLOOR)).double()
        observed = torch.as_tensor(evidence)
        view, y, extra = graph.factor_view(), torch.as_tensor(categories), evidence_potentials(observed)
        answer = inference.marginals if method == "marginals" else inference.map_assignment
        result = answer(view, y, extra).double().numpy()
    return np.where(evidence >= 0, evidence, result).astype(np.float64)


def _column(method: QueryMethod) -> str:
    return "probability" if method == "marginals" else "value"


def write_answers(path: str, ruleset: RuleSet, answers: np.ndarray, method: QueryMethod) -> None:
    """CSV ``database,concept,probability`` (``map``: ``database,concept,value``), databases
    numbered from 0 in file order, written atomically."""
    lines = [f"database,concept,{_column(method)}"]
    value = (lambda x: f"{x:.10g}") if method == "marginals" else (lambda x: str(int(x)))
    names = [name if "," not in name and '"' not in name else '"' + name.replace('"', '""') + '"' for name in ruleset.concepts]
    for n, row in enumerate(answers):
        lines += [f"{n},{name},{value(x)}" for name, x in zip(names, row)]
    atomic.write_text(path, "\n".join(lines) + "\n")


def format_answers(ruleset: RuleSet, evidence: np.ndarray, categories: np.ndarray, answers: np.ndarray,
                   method: QueryMethod) -> str:
    """A readable table per database, as pracmln's mlnquery prints it: value, then the atom;
    observed concepts marked."""
    out = []
    for n, (row, y, known) in enumerate(zip(answers, categories, evidence)):
        out.append(f"database {n}: {CATEGORY_PREDICATE}({ruleset.categories[y]}), {int((known >= 0).sum())} concept(s) observed")
        for name, x, seen in zip(ruleset.concepts, row, known):
            shown = f"{x:8.4f}" if method == "marginals" else f"{int(x):8d}"
            out.append(f"  {shown}  {CONCEPT_PREDICATE}({name}){'  (evidence)' if seen >= 0 else ''}")
    return "\n".join(out)
