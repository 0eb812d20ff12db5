"""The Table-6 summary of a rule set: rules per kind, variables and factors of its factor graph.

One factor per rule; rules are counted by kind through :func:`again_mln.rulegen.kinds.classify`,
so a file written by a builder and the same file read back (or edited) summarise alike.
"""
from __future__ import annotations

from dataclasses import dataclass

from again_mln.again.logic import RuleSet
from again_mln.rulegen.kinds import KINDS, SCOPES, RuleKind, classify


@dataclass(frozen=True)
class RuleSummary:
    """Counts of one rule set; ``per_kind`` also holds ``RuleKind(scope, "other")`` for rules in
    none of the builders' forms."""

    per_kind: dict[RuleKind, int]
    hard: int
    concept_variables: int
    category_variables: int
    factors: int

    def count(self, kind: RuleKind) -> int:
        return self.per_kind.get(kind, 0)


def summarize(ruleset: RuleSet) -> RuleSummary:
    """Count the rules of ``ruleset`` by kind, and its variables and factors."""
    per_kind = {kind: 0 for kind in KINDS}
    for rule in ruleset.rules:
        kind = classify(rule.formula)
        if kind is None:
            kind = RuleKind(SCOPES[0] if rule.category_names() else SCOPES[1], "other")
        per_kind[kind] = per_kind.get(kind, 0) + 1
    return RuleSummary(per_kind, sum(r.hard for r in ruleset.rules), len(ruleset.concepts),
                       len(ruleset.categories), len(ruleset.rules))


def summary_lines(summary: RuleSummary, title: str | None = None) -> list[str]:
    """The summary as aligned text lines, grouped like the paper's Table 6.

    Every line starts with its group, so the lines survive as ``.mln`` header comments (which
    are read back stripped).
    """
    rows: list[tuple[str, str, int]] = []
    for scope in SCOPES:
        kinds = [k for k in summary.per_kind if k.scope == scope]
        rows += [(scope, kind.relation, summary.count(kind)) for kind in kinds]
        rows.append((scope, "total", sum(summary.count(kind) for kind in kinds)))
    rows += [("factor graph", "concept variables", summary.concept_variables),
             ("factor graph", "category variables", summary.category_variables),
             ("factor graph", "logical factors", summary.factors)]
    if summary.hard:
        rows.append(("factor graph", "hard rules", summary.hard))
    width = max(len(r[1]) for r in rows)
    lines = [title] if title else []
    lines += [f"{group:<18}{name:<{width}}  {count:>7,}" for group, name, count in rows]
    return lines


def format_summary(summary: RuleSummary, title: str | None = None) -> str:
    """:func:`summary_lines` joined into one printable block."""
    return "\n".join(summary_lines(summary, title))
