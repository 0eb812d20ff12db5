"""What rectification changed in an explanation, and a picture of it in the style of the paper's
Figure 7: the concept activations before and after, blue when active and red when inactive, with
the rules that the change repaired in an orange box beside them.

A rule is *repaired* when the network's binarised concepts violate it and the rectified concepts
satisfy it; these are the rules that drove the intervention. Rules made true by the category
evidence alone (those of other categories) are never violated, so they never show up.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from again_mln.again.graph import FactorGraph
from again_mln.again.rectification import RectifyResult
from again_mln.validation import binarize

#: Concept sets up to this size are shown whole; larger ones as the intervened and most active.
MAX_SHOWN_CONCEPTS = 12
_ACTIVE, _INACTIVE = "tab:blue", "tab:red"


def repaired_rules(graph: FactorGraph, concept_probs: torch.Tensor, rectified: torch.Tensor,
                   categories: torch.Tensor) -> torch.Tensor:
    """(N, R) bool: rules violated by the binarised ``concept_probs`` and satisfied by the
    binarised ``rectified`` concepts (:attr:`RectifyResult.rectified`), under the trusted
    ``categories``."""
    before = graph.rule_truth(binarize(torch.as_tensor(concept_probs)), categories)
    after = graph.rule_truth(binarize(torch.as_tensor(rectified)), categories)
    return ~before.bool() & after.bool()


def shown_concepts(probs: np.ndarray, mask: np.ndarray, limit: int = MAX_SHOWN_CONCEPTS) -> np.ndarray:
    """Indices of the concepts worth showing for one sample: all of them when there are at most
    ``limit``, else the intervened ones first, then the most active others, ``limit`` in all."""
    if len(probs) <= limit:
        return np.arange(len(probs))
    order = np.lexsort((-probs, ~mask))  # intervened first, then by falling activation
    return order[:max(limit, int(mask.sum()))]


def plot_rectified(ax: Axes, graph: FactorGraph, concept_probs: torch.Tensor, result: RectifyResult,
                   categories: torch.Tensor, index: int, concepts: Sequence[int] | None = None,
                   max_rules: int = 4, title: str | None = None) -> Axes:
    """Sample ``index`` of a rectified batch on ``ax``: one pair of bars per concept (hatched:
    the network's activation, solid: after rectification) growing from the 0.5 threshold, the
    intervened concepts marked with an asterisk, the legend and the repaired rules right of the
    bars. ``concepts`` picks the concepts shown (default: :func:`shown_concepts`)."""
    probs = torch.as_tensor(concept_probs)[index:index + 1]
    category = torch.as_tensor(categories)[index:index + 1]
    repaired = repaired_rules(graph, probs, result.rectified[index:index + 1], category)[0]
    before, after = probs[0].cpu().numpy(), result.rectified[index].cpu().numpy()
    mask = result.mask[index].cpu().numpy()
    shown = shown_concepts(before, mask) if concepts is None else np.asarray(concepts)
    names = graph.ruleset.concepts
    rows = np.arange(len(shown))[::-1]  # first concept on top
    for offset, values, hatch in ((0.2, before[shown], "//"), (-0.2, after[shown], None)):
        colours = [_ACTIVE if v > 0.5 else _INACTIVE for v in values]
        # bars grow from the 0.5 threshold: right to the activation when active, left when not
        ax.barh(rows + offset, values - 0.5, left=0.5, height=0.4, color=colours, hatch=hatch,
                alpha=0.45 if hatch else 0.9, edgecolor="black", linewidth=0.4)
    ax.axvline(0.5, color="black", linewidth=0.8)
    ax.set_yticks(rows, [f"* {names[i]}" if mask[i] else names[i] for i in shown], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("concept activation (probability)")
    flagged = "flagged" if bool(result.flagged[index]) else "passed detection"
    name = graph.ruleset.categories[int(category[0])]
    ax.set_title(title or f"sample {index}: category {name}, {flagged}", fontsize=9)
    ax.legend(handles=[Patch(facecolor=_ACTIVE, label="active (> 0.5)"),
                       Patch(facecolor=_INACTIVE, label="inactive"),
                       Patch(facecolor="white", edgecolor="black", hatch="//", label="before"),
                       Patch(facecolor="grey", edgecolor="black", label="after (* intervened)")],
              fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    rules = [str(graph.ruleset.rules[i].formula).replace('"', "") for i in repaired.nonzero().flatten().tolist()]
    if len(rules) > max_rules:
        rules = rules[:max_rules] + [f"... and {len(rules) - max_rules} more"]
    text = "rules repaired:\n" + "\n".join(rules) if rules else "no rule repaired"
    ax.text(1.03, 0.6, text, transform=ax.transAxes, va="top", ha="left", fontsize=7, family="monospace",
            bbox={"boxstyle": "round", "facecolor": "tab:orange", "alpha": 0.25})
    return ax

