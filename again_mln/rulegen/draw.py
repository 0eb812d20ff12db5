"""A picture of a rule set's factor graph (networkx + matplotlib), for ``again-mln inspect --graph``
and notebooks.

Category variables sit on an inner circle, concept variables on an outer one (labelled
radially, as their names are long), and each factor (one per rule) at the mean position of its
variables, so rules between the same variables cluster and the layout costs
O(variables + factors) even for CUB's 15,000 factors.
"""
from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import numpy as np
from matplotlib.figure import Figure

from again_mln.io.atomic import atomic_path
from again_mln.errors import AgainError
from again_mln.again.logic import RuleSet
from again_mln.rulegen.kinds import classify

_RELATION_COLOURS = {"coexistence": "tab:green", "exclusion": "tab:red", None: "tab:gray"}


def factor_graph_nx(ruleset: RuleSet) -> nx.Graph:
    """The bipartite factor graph: nodes ``("concept", name)``, ``("category", name)`` and
    ``("factor", i)`` (rule i, with its ``relation`` and ``weight``); edges join a factor to the
    variables of its rule."""
    graph = nx.Graph()
    graph.add_nodes_from((("concept", c) for c in ruleset.concepts), kind="concept")
    graph.add_nodes_from((("category", y) for y in ruleset.categories), kind="category")
    for i, rule in enumerate(ruleset.rules):
        kind = classify(rule.formula)
        factor = ("factor", i)
        graph.add_node(factor, kind="factor", relation=kind.relation if kind else None, weight=rule.weight)
        graph.add_edges_from((factor, ("concept", c)) for c in rule.concept_names())
        graph.add_edges_from((factor, ("category", y)) for y in rule.category_names())
    return graph


def _layout(graph: nx.Graph, ruleset: RuleSet, seed: int) -> dict:
    def circle(names: tuple[str, ...], radius: float) -> np.ndarray:
        angle = 2 * np.pi * np.arange(len(names)) / max(len(names), 1)
        return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)

    position = {("concept", c): p for c, p in zip(ruleset.concepts, circle(ruleset.concepts, 2.0))}
    position.update({("category", y): p for y, p in zip(ruleset.categories, circle(ruleset.categories, 1.0))})
    rng = np.random.default_rng(seed)
    for node, kind in graph.nodes(data="kind"):
        if kind == "factor":
            neighbours = [position[v] for v in graph[node]]
            centre = np.mean(neighbours, axis=0) if neighbours else np.zeros(2)
            position[node] = centre + rng.normal(scale=0.03, size=2)
    return position


def factor_graph_figure(ruleset: RuleSet, seed: int = 0) -> Figure:
    """The factor graph drawn on a new figure (shown inline by Jupyter, or saved by the caller)."""
    figure = Figure(figsize=(12, 12))
    graph = factor_graph_nx(ruleset)
    position = _layout(graph, ruleset, seed)
    ax = figure.add_subplot()
    ax.set_axis_off()
    many = graph.number_of_nodes() > 500
    nx.draw_networkx_edges(graph, position, ax=ax, width=0.2 if many else 0.6, alpha=0.15 if many else 0.5)
    factors = [n for n, kind in graph.nodes(data="kind") if kind == "factor"]
    nx.draw_networkx_nodes(graph, position, nodelist=factors, ax=ax, node_shape="s", node_size=2 if many else 30,
                           node_color=[_RELATION_COLOURS[graph.nodes[f]["relation"]] for f in factors])
    for kind, colour in (("concept", "tab:blue"), ("category", "tab:orange")):
        nodes = [n for n, k in graph.nodes(data="kind") if k == kind]
        nx.draw_networkx_nodes(graph, position, nodelist=nodes, ax=ax, node_size=8 if many else 120,
                               node_color=colour, label=f"{kind} variables ({len(nodes)})")
    if not many:
        categories = [("category", y) for y in ruleset.categories]
        nx.draw_networkx_labels(graph, position, labels={n: n[1] for n in categories}, ax=ax, font_size=7)
        for c in ruleset.concepts:
            x, y = position[("concept", c)]
            angle = np.degrees(np.arctan2(y, x))
            left = abs(angle) > 90
            ax.text(1.05 * x, 1.05 * y, c, fontsize=7, rotation=angle - 180 if left else angle,
                    rotation_mode="anchor", ha="right" if left else "left", va="center")
    ax.legend(loc="upper right", fontsize=8)
    ax.margins(0.2)
    figure.suptitle(f"{len(factors):,} factors: green coexistence, red exclusion, grey other", fontsize=10)
    return figure


def draw_factor_graph(ruleset: RuleSet, path: str | os.PathLike, seed: int = 0) -> None:
    """Draw the factor graph to an image file (format from the suffix: .png, .pdf, .svg, ...)."""
    path = Path(path)
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in Figure().canvas.get_supported_filetypes():
        raise AgainError(f"{path}: unsupported image format {path.suffix!r}; use .png, .pdf or .svg")
    figure = factor_graph_figure(ruleset, seed)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=suffix, dpi=150)
