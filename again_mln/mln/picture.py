"""The ground network of one database as a graph to look at: ground atoms as nodes, an edge
between two atoms that one undecided ground formula reads, and a drawing of it."""
from __future__ import annotations

import itertools

import numpy as np

from again_mln.mln.answers import closed_set
from again_mln.mln.grounding import GROUNDING_LIMIT, World, ground
from again_mln.mln.model import MLN, Database


def ground_graph(mln: MLN, db: Database, closed_world: list[str] | tuple[str, ...] = (), limit: int = GROUNDING_LIMIT):
    """A ``networkx.Graph`` of the unknown ground atoms (node attribute ``predicate``) that the
    undecided ground formulas of ``db`` link (edge attribute ``formulas``: how many)."""
    import networkx as nx

    materialized = mln.materialize([db])
    world = World(materialized, db, closed_set(materialized, closed_world, []))
    groups, _ = ground(world, limit)
    graph = nx.Graph()
    for group in groups:
        for row in group.atoms:
            names = [world.describe(int(k)) for k in row[row >= 0] if k < world.num_atoms]
            for name in names:
                graph.add_node(name, predicate=name.split("(")[0])
            for a, b in itertools.combinations(sorted(set(names)), 2):
                count = graph.edges[a, b]["formulas"] + 1 if graph.has_edge(a, b) else 1
                graph.add_edge(a, b, formulas=count)
    return graph


def draw_ground_graph(graph, marginals: dict[str, float] | None = None, ax=None, seed: int = 0):
    """Draw ``graph`` (from :func:`ground_graph`), each atom coloured by its marginal when given."""
    import matplotlib.pyplot as plt
    import networkx as nx

    ax = ax or plt.gca()
    layout = nx.spring_layout(graph, seed=seed)
    colours = [marginals.get(node, 0.5) for node in graph] if marginals else "#9ecae1"
    nx.draw_networkx_edges(graph, layout, ax=ax, alpha=0.4)
    nodes = nx.draw_networkx_nodes(graph, layout, ax=ax, node_color=colours, cmap="coolwarm", vmin=0, vmax=1, node_size=500)
    nx.draw_networkx_labels(graph, layout, ax=ax, font_size=7)
    if marginals:
        plt.colorbar(nodes, ax=ax, label="P(atom | evidence)")
    ax.set_axis_off()
    return ax
