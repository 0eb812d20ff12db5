"""Rule-guided interventions: which concept should an expert check first (docs/method.md,
"Rectification" and "Metrics").

An expert, here an :class:`Oracle` that answers with the true concept and counts its answers,
corrects one concept per sample per step; a *policy* chooses which. After every step the category
head re-predicts from the corrected concepts, and a curve records E-ACC and P-ACC against the
number k of answers. The policies, all batched over samples:

* ``random``: a concept not yet answered, uniformly (seeded);
* ``uncertainty``: the network's probability closest to 0.5 first;
* ``rules``: the concept most likely wrong given the rules: P(c_m != current value) under the
  posterior exp(S(c, y) + lam * sum_m log p_m(c_m)), with the answers as evidence and y the
  category the head currently predicts. Where no rule speaks this is the network's uncertainty;
  where the rules and a confident network disagree it points at the disagreement;
* ``rules+rectify``: before the first answer and after every answer, an explanation (answers
  included) that fails detection at the relaxation d has its unanswered concepts replaced by their
  posterior marginals given the answers, so one answer also repairs the concepts that the rules tie
  to it; it asks with the rules' score above (for a repaired explanation: the concept whose
  posterior is closest to 0.5). d = 1 repairs every explanation; a d calibrated on clean data
  leaves clean ones as the network made them.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from again_mln.again.evidence import network_evidence, posterior_marginals
from again_mln.again.rectifier import Rectifier
from again_mln.choices import INTERVENTION_POLICIES as POLICIES
from again_mln.datasets.base import ConceptDataset
from again_mln.errors import AgainError
from again_mln.evaluation.metrics import e_acc, p_acc
from again_mln.models.cbm import ConceptModel, Encoding
from again_mln.validation import binarize

CONDITIONS = ("clean", "attacked")
#: log-potential gap that clamps an answered concept to the expert's value (exp(-1e4) is 0 in float64)
EVIDENCE = 1e4


class Oracle:
    """The expert: answers with the true concept and counts the questions asked of each sample."""

    def __init__(self, truth: Tensor) -> None:
        self.truth = binarize(truth)
        self.calls = torch.zeros(len(truth), dtype=torch.long, device=truth.device)

    def ask(self, concept: Tensor) -> Tensor:
        """The true value (N,) bool of concept ``concept[n]`` of every sample n."""
        self.calls += 1
        return self.truth.gather(1, concept[:, None]).squeeze(1)


def check_policies(policies: Sequence[str]) -> tuple[str, ...]:
    """The policies as a tuple, or an error naming the first unknown one."""
    unknown = [p for p in policies if p not in POLICIES]
    if unknown or not policies:
        raise AgainError(f"unknown policy {unknown[0] if unknown else '(none)'!r}; expected some of {', '.join(POLICIES)}")
    return tuple(policies)


def answered_posterior(rectifier: Rectifier, probs: Tensor, categories: Tensor, answered: Tensor,
                       answers: Tensor) -> Tensor:
    """P(c_m = 1 | y, answers) (N, M) under exp(S(c, y) + lam * sum_m log p_m(c_m)): the network's
    probabilities ``probs`` (N, M) speak for the unanswered concepts, an answered concept is
    clamped to ``answers`` (N, M). Exact: one batched marginal query of the inference engine."""
    clamp = EVIDENCE * (torch.stack([~answers, answers], -1).double() - 1)
    evidence = torch.where(answered[..., None], clamp, network_evidence(probs.double(), rectifier.lam))
    return posterior_marginals(rectifier.graph, probs, categories, evidence=evidence).to(probs.dtype)


class Session:
    """One policy on one batch of samples: the current concepts, the answers so far and the oracle;
    :meth:`step` asks one question per sample (a notebook can walk a patient through it)."""

    def __init__(self, policy: str, model: ConceptModel, encoding: Encoding, truth: Tensor, rectifier: Rectifier,
                 generator: torch.Generator) -> None:
        self.policy, self.model, self.encoding, self.rectifier = policy, model, encoding, rectifier
        self.generator = generator
        self.probs = torch.sigmoid(encoding.concept_logits)
        self.oracle = Oracle(truth)
        self.answered = torch.zeros_like(self.oracle.truth)
        self.concepts = self.probs.clone()
        if policy == "rules+rectify":
            self._rectify()

    def category_logits(self) -> Tensor:
        """What the head predicts from the current concepts (N, K)."""
        return self.model.classify(self.encoding, self.concepts)

    def _posterior(self) -> Tensor:
        return answered_posterior(self.rectifier, self.probs, self.category_logits().argmax(1), self.answered,
                                  binarize(self.concepts))

    def _rectify(self) -> None:
        """Explanations (answers included) that the rectifier's detector flags take the posterior."""
        flagged = self.rectifier.detect(self.concepts, self.category_logits().argmax(1))
        keep = self.answered | ~flagged[:, None]
        self.concepts = torch.where(keep, self.concepts, self._posterior())

    def choose(self) -> Tensor:
        """The concept (N,) the policy asks about next, never one already answered."""
        if self.policy == "random":
            score = torch.rand(self.probs.shape, generator=self.generator).to(self.probs.device)
        elif self.policy == "uncertainty":
            score = -(self.probs - 0.5).abs()
        else:
            posterior = self._posterior()
            score = torch.where(binarize(self.concepts), 1 - posterior, posterior)  # P(current value is wrong)
        return score.masked_fill(self.answered, -math.inf).argmax(1)

    def step(self) -> None:
        """Ask the oracle about the chosen concept of every sample and take its answer."""
        concept = self.choose()
        answer = self.oracle.ask(concept)
        self.answered.scatter_(1, concept[:, None], True)
        self.concepts = self.concepts.scatter(1, concept[:, None], answer[:, None].to(self.concepts.dtype))
        if self.policy == "rules+rectify":
            self._rectify()


@torch.no_grad()
def intervention_curves(model: ConceptModel, rectifier: Rectifier, data: ConceptDataset, policies: Sequence[str],
                        max_k: int, condition: str = "clean", seed: int = 0, batch_size: int = 512
                        ) -> list[dict[str, Any]]:
    """E-ACC and P-ACC after k = 0..max_k oracle answers per sample, for each policy: one record
    ``{"policy", "k", "condition", "e_acc", "p_acc"}`` per point. ``data.x`` is what the model sees
    (clean or adversarial inputs); its labels are the truth the oracle answers with. The
    ``rectifier`` (its detector and lam) decides which explanations ``rules+rectify`` repairs."""
    graph = rectifier.graph
    policies = check_policies(policies)
    if condition not in CONDITIONS:
        raise AgainError(f"unknown condition {condition!r}; expected one of {', '.join(CONDITIONS)}")
    if not 0 <= max_k <= graph.num_concepts:
        raise AgainError(f"max-k = {max_k} must lie in 0..{graph.num_concepts} (the number of concepts)")
    for kind, ours, theirs in (("concept", model.concept_names, graph.ruleset.concepts),
                               ("category", model.category_names, graph.ruleset.categories)):
        if list(ours) != list(theirs):
            raise AgainError(f"the model's {kind} names differ from the rules' ({ours[0]!r}... vs {theirs[0]!r}...)")
    model = model.to(graph.device).eval()
    records = []
    for policy in policies:
        generator = torch.Generator().manual_seed(seed)
        concepts: list[list[Tensor]] = [[] for _ in range(max_k + 1)]
        categories: list[list[Tensor]] = [[] for _ in range(max_k + 1)]
        for x, truth, _ in data.batches(batch_size):
            run = Session(policy, model, model.encode(x.to(graph.device)), truth.to(graph.device), rectifier, generator)
            for k in range(max_k + 1):
                if k:
                    run.step()
                concepts[k].append(run.concepts.cpu())
                categories[k].append(run.category_logits().argmax(1).cpu())
        for k in range(max_k + 1):
            records.append({"policy": policy, "k": k, "condition": condition,
                            "e_acc": e_acc(torch.cat(concepts[k]), data.concepts),
                            "p_acc": p_acc(torch.cat(categories[k]), data.categories)})
    return records


# ------------------------------------------------------------------------------ reporting
def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (condition, policy, k): mean and sample std (``e_acc_std``, ``p_acc_std``;
    0 for one run) over the runs (e.g. seeds) in ``records``, with their number in ``runs``."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["condition"], r["policy"], r["k"]), []).append(r)
    out = []
    for (condition, policy, k), rows in groups.items():
        entry: dict[str, Any] = {"condition": condition, "policy": policy, "k": k, "runs": len(rows)}
        for metric in ("e_acc", "p_acc"):
            values = [r[metric] for r in rows]
            entry[metric] = float(np.mean(values))
            entry[f"{metric}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        out.append(entry)
    return out


def curves_table(summary: Sequence[dict[str, Any]]) -> str:
    """Markdown: per condition and metric, one row per policy and one column per k, in percent
    (mean, with the std over runs in brackets when there are several)."""
    parts = []
    ks = sorted({r["k"] for r in summary})
    for condition in [c for c in CONDITIONS if any(r["condition"] == c for r in summary)]:
        for metric, label in (("e_acc", "E-ACC"), ("p_acc", "P-ACC")):
            rows = [f"#### {condition}: {label} (%) after k answers", "",
                    "| policy | " + " | ".join(f"k={k}" for k in ks) + " |", "| --- |" + " ---: |" * len(ks)]
            for policy in dict.fromkeys(r["policy"] for r in summary):
                cells = {r["k"]: r for r in summary if r["condition"] == condition and r["policy"] == policy}
                rows.append(f"| {policy} | " + " | ".join(_cell(cells.get(k), metric) for k in ks) + " |")
            parts.append("\n".join(rows))
    return "\n\n".join(parts) + "\n"


def _cell(record: dict[str, Any] | None, metric: str) -> str:
    if record is None:
        return "-"
    spread = f" ({100 * record[metric + '_std']:.1f})" if record["runs"] > 1 else ""
    return f"{100 * record[metric]:.1f}{spread}"


def plot_curves(summary: Sequence[dict[str, Any]], title: str = ""):
    """A matplotlib figure: E-ACC and P-ACC (columns) against k, one line per policy, solid on
    clean inputs and dashed under attack, the std over runs as a band."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    policies = list(dict.fromkeys(r["policy"] for r in summary))
    for ax, (metric, label) in zip(axes, (("e_acc", "E-ACC"), ("p_acc", "P-ACC"))):
        for number, policy in enumerate(policies):
            for condition, style in (("clean", "-"), ("attacked", "--")):
                points = sorted((r for r in summary if r["policy"] == policy and r["condition"] == condition),
                                key=lambda r: r["k"])
                if not points:
                    continue
                k = np.array([r["k"] for r in points])
                mean = np.array([100 * r[metric] for r in points])
                spread = np.array([100 * r[metric + "_std"] for r in points])
                ax.plot(k, mean, style, marker="osD^"[number % 4], ms=4, color=f"C{number}",
                        label=f"{policy} ({condition})")
                ax.fill_between(k, mean - spread, mean + spread, color=f"C{number}", alpha=0.12, lw=0)
        ax.set_xlabel("concepts answered by the expert (k)")
        ax.set_ylabel(f"{label} (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
