"""The detectors behind ``--detector``: how plausible an explanation is, and where to cut.

Every detector scores explanations (concept probabilities, trusted category; higher = more
plausible) and is calibrated on clean validation data only; it flags an explanation whose score
is at most its category's cutoff (docs/method.md, "Detection"):

* ``paper``: Eq. 3, S(c_hat, y) - S_max(y), one cutoff ln d for all categories (the paper's).
* ``per-category``: the same score with one cutoff per predicted category, chosen by split
  conformal prediction so that SR >= target holds per category in expectation over the
  calibration draw; categories with too few validation samples share one pooled cutoff.
* ``confidence``: the rule margin plus the network's log-confidence in its own explanation,
  S(c_hat, y) - S_max(y) + lam * sum_m log max(p_m, 1 - p_m): concepts pushed just across 0.5
  make an explanation less plausible.
* ``map-gap``: how far c_hat is from the maximiser of the MAP objective
  O(c) = S(c, y) + lam * sum_m log p_m(c_m), i.e. O(c_hat) - max_c O(c) <= 0.
* ``weighted-damage``: minus the rule damage of each concept weighted by the network's doubt in
  it, -sum_m relu(S(c_hat xor e_m, y) - S(c_hat, y)) * (1 - |2 p_m - 1|).

All but ``paper`` use the conformal cutoff (rank ceil((n + 1) * target) of n clean scores), which
guarantees SR >= target on exchangeable clean data; ``paper`` keeps the calibration of
:func:`again_mln.again.detection.calibrate_threshold` (rank ceil(n * target)) or a fixed d.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from again_mln.choices import AUTO, DETECTORS, check_detectors
from again_mln.again.detection import calibrate_threshold, check_threshold, detection_margins
from again_mln.errors import AgainError
from again_mln.again.graph import FactorGraph
from again_mln.evaluation.metrics import auroc, auroc_stderr
from again_mln.again.rectification import RectifyResult, rectify
from again_mln.validation import binarize, check_probabilities

#: the synthetic corruptions of clean validation explanations that detectors are compared on:
#: name -> (concepts flipped per explanation, which ones; see :func:`flip_concepts`). ``auto``
#: ranks by the first, the smallest corruption (one concept, the one the network is least sure
#: of); two random flips break heavy rules so often that every detector scores ~0.996 on
#: Synthetic-MNIST, and they are kept only as a report (docs/method.md, "Detectors")
CORRUPTIONS = {"least-sure flip": (1, "least-sure"), "2 random flips": (2, "random")}
AUTO_CORRUPTION = next(iter(CORRUPTIONS))
#: clamp for log p so a saturated probability cannot give -inf
_EPS = 1e-6
#: the conformal cutoff sits this far below the score at its rank (float32 round-off of scores)
_SLACK = 1e-4

Score = Callable[[FactorGraph, Tensor, Tensor, float], Tensor]


def _log_confidence(probs: Tensor) -> Tensor:
    """sum_m log max(p_m, 1 - p_m) = log P_network(c_hat | x) under independent concepts (N,)."""
    return torch.maximum(probs, 1 - probs).clamp_min(_EPS).log().sum(1)


def _rule_margin(graph: FactorGraph, probs: Tensor, y: Tensor, lam: float) -> Tensor:
    return detection_margins(graph, probs, y)


def _confidence(graph: FactorGraph, probs: Tensor, y: Tensor, lam: float) -> Tensor:
    return detection_margins(graph, probs, y) + lam * _log_confidence(probs)


def _map_objective(graph: FactorGraph, c: Tensor, probs: Tensor, y: Tensor, lam: float) -> Tensor:
    log_p = torch.where(c, probs, 1 - probs).clamp_min(_EPS).log().sum(1)
    return graph.score(c, y) + lam * log_p


def _map_gap(graph: FactorGraph, probs: Tensor, y: Tensor, lam: float) -> Tensor:
    best = binarize(rectify(graph, probs, y, "map", 1.0, lam).rectified)  # d = 1 flags every explanation
    c_hat = binarize(probs)
    return _map_objective(graph, c_hat, probs, y, lam) - _map_objective(graph, best, probs, y, lam)


def _weighted_damage(graph: FactorGraph, probs: Tensor, y: Tensor, lam: float) -> Tensor:
    gains = graph.flip_gains(binarize(probs).long(), y)  # (N, M): how much the rules want m flipped
    doubt = 1 - (2 * probs - 1).abs()
    return -(gains.clamp_min(0) * doubt).sum(1)


_SCORES: dict[str, Score] = {"paper": _rule_margin, "per-category": _rule_margin, "confidence": _confidence,
                             "map-gap": _map_gap, "weighted-damage": _weighted_damage}


def detector_scores(name: str, graph: FactorGraph, concept_probs, categories, lam: float = 1.0) -> Tensor:
    """The raw plausibility (N,) of each explanation under detector ``name`` (see the module)."""
    check_detectors((name,), allow_auto=False)
    probs = check_probabilities(concept_probs, graph.num_concepts).to(graph.device, torch.float32)
    _, y = graph.validate(binarize(probs), categories)
    return _SCORES[name](graph, probs, y, lam).double()


def conformal_cutoff(scores: Tensor, target_sr: float) -> float:
    """Cutoff c such that a new exchangeable clean score passes (score > c) with probability
    >= ``target_sr``: just below the ceil((n + 1) * target)-th largest of the n scores; -inf
    (pass all) when that rank exceeds n."""
    rank = math.ceil((len(scores) + 1) * target_sr - 1e-9)
    if rank > len(scores):
        return -math.inf
    at_rank = float(scores.double().sort(descending=True).values[rank - 1])
    return at_rank - max(_SLACK, 1e-6 * abs(at_rank))


def min_samples(target_sr: float) -> int:
    """The fewest clean samples whose conformal cutoff is finite: (n + 1) * target <= n."""
    return math.ceil(target_sr / (1 - target_sr) - 1e-9) if target_sr < 1 else math.inf


@dataclass
class CalibratedDetector:
    """A detector with its cutoff per category (K,): flag where score <= cutoffs[y]."""

    name: str
    graph: FactorGraph
    cutoffs: Tensor  # (K,) float64, -inf = pass every explanation of that category
    lam: float = 1.0
    target_sr: float | None = None
    pooled: tuple[int, ...] = ()  # categories that share the pooled cutoff

    def raw_scores(self, concept_probs, categories) -> Tensor:
        """The detector's own plausibility (N,) (:func:`detector_scores`)."""
        return detector_scores(self.name, self.graph, concept_probs, categories, self.lam)

    def relative(self, raw: Tensor, categories) -> Tensor:
        """``raw`` scores relative to their category's cutoff: raw - cutoffs[y] (N,)."""
        y = torch.as_tensor(categories).to(raw.device).long()
        return raw - self.cutoffs.to(raw.device)[y]

    def scores(self, concept_probs, categories) -> Tensor:
        """Plausibility relative to the cutoff (N,): flagged where <= 0. Comparable across
        categories, so it is what ROC curves and AUROC read."""
        return self.relative(self.raw_scores(concept_probs, categories), categories)

    def flags(self, concept_probs, categories) -> Tensor:
        """(N,) bool: explanations that fail detection."""
        return self.scores(concept_probs, categories) <= 0


def fixed_detector(graph: FactorGraph, threshold: float) -> CalibratedDetector:
    """The paper's detector at a fixed relaxation d (cutoff ln d; d = 0 flags nothing)."""
    d = check_threshold(threshold)
    cutoff = math.log(d) if d > 0 else -math.inf
    return CalibratedDetector("paper", graph, torch.full((graph.num_categories,), cutoff, dtype=torch.float64))


def calibrate_detector(name: str, graph: FactorGraph, concept_probs, categories, target_sr: float,
                       lam: float = 1.0) -> CalibratedDetector:
    """Detector ``name`` calibrated on clean explanations for a pass rate of ``target_sr``."""
    if not 0.0 < target_sr < 1.0:
        raise AgainError(f"target SR must lie in (0, 1), got {target_sr}")
    probs = check_probabilities(concept_probs, graph.num_concepts)
    if not len(probs):
        raise AgainError("calibration needs at least one clean validation sample")
    y = torch.as_tensor(categories).long().to(graph.device)
    K = graph.num_categories
    if name == "paper":
        cutoff = calibrate_threshold(graph, probs, y, target_sr).cutoff
        return CalibratedDetector(name, graph, torch.full((K,), cutoff, dtype=torch.float64), lam, target_sr)
    scores = detector_scores(name, graph, probs, y, lam)
    if name != "per-category":
        cutoff = conformal_cutoff(scores, target_sr)
        return CalibratedDetector(name, graph, torch.full((K,), cutoff, dtype=torch.float64), lam, target_sr)
    rare = torch.bincount(y, minlength=K).cpu() < min_samples(target_sr)
    pool = rare.to(y.device)[y]  # the validation samples of rare categories share one cutoff
    pooled = scores[pool] if int(pool.sum()) >= min_samples(target_sr) else scores  # too few: all samples
    cutoffs = torch.full((K,), conformal_cutoff(pooled, target_sr), dtype=torch.float64)
    for k in (~rare).nonzero().squeeze(1).tolist():  # K small loop: one quantile per category
        cutoffs[k] = conformal_cutoff(scores[y == k], target_sr)
    return CalibratedDetector(name, graph, cutoffs, lam, target_sr, tuple(rare.nonzero().squeeze(1).tolist()))


def flip_concepts(concept_probs: Tensor, n_flips: int, generator: torch.Generator, choose: str = "random") -> Tensor:
    """Synthetic corruptions for choosing a detector without any attack: ``n_flips`` concepts per
    explanation moved across 0.5 to a uniform point on the other side (the corruption assumes
    nothing about how confidently an attack would push a concept). ``choose``: ``random``
    concepts, or the ``least-sure`` ones (nearest 0.5; ties to the lower index)."""
    if choose not in ("random", "least-sure"):
        raise AgainError(f"unknown choice of concepts {choose!r}; expected random or least-sure")
    probs = torch.as_tensor(concept_probs).float().cpu()
    n, m = probs.shape
    order = (torch.rand(n, m, generator=generator).argsort(1) if choose == "random"
             else (probs - 0.5).abs().argsort(dim=1, stable=True))
    mask = torch.zeros(n, m, dtype=torch.bool).scatter_(1, order[:, :min(n_flips, m)], True)
    depth = 0.5 * (1 - torch.rand(n, m, generator=generator))  # in (0, 0.5]: always across 0.5
    moved = torch.where(binarize(probs), 0.5 - depth, 0.5 + depth).clamp(_EPS, 1 - _EPS)
    return torch.where(mask, moved, probs)


def rectify_flagged(detector: CalibratedDetector, concept_probs, categories, strategy: str = "switch",
                    lam: float = 1.0) -> RectifyResult:
    """Rectify (``strategy``, ``lam`` for map) exactly the explanations that ``detector`` flags."""
    probs = torch.as_tensor(concept_probs)
    return apply_flags(rectify(detector.graph, probs, categories, strategy, 1.0, lam),
                       detector.flags(probs, categories), probs)


def apply_flags(result: RectifyResult, flagged: Tensor, concept_probs: Tensor) -> RectifyResult:
    """Keep the repairs of ``result`` (rectified at d = 1, every explanation) only where the
    detector flags (N,); the others return to the network's probabilities, unchanged."""
    keep = flagged.to(result.mask.device)
    mask = result.mask & keep[:, None]
    probs = torch.as_tensor(concept_probs).to(result.rectified.device, result.rectified.dtype)
    return RectifyResult(torch.where(mask, result.rectified, probs), mask, keep, result.score_before,
                         torch.where(keep, result.score_after, result.score_before))


@dataclass
class Selection:
    """Calibrated detectors (``auto``'s pick first) with the measurements that chose it."""

    detectors: dict[str, CalibratedDetector]
    validation_auroc: dict[str, dict[str, float]]  # corruption -> detector -> AUROC of clean validation vs corrupted
    validation_sr: dict[str, float]  # pass rate on the clean validation data itself
    auto: str | None  # the detector ``auto`` picked, if asked for


def auto_pick(aurocs: dict[str, float], n: int) -> str:
    """The first detector (in :data:`DETECTORS` order, the paper's first) whose validation AUROC
    is within one standard error of the best one (:func:`again_mln.evaluation.metrics.auroc_stderr`, ``n``
    clean and ``n`` corrupted explanations): a detector replaces an earlier one only when the
    validation data say it is better by more than the draw of samples."""
    best = max(aurocs.values())
    margin = auroc_stderr(best, n, n)
    return next(name for name in DETECTORS if name in aurocs and aurocs[name] >= best - margin)


def select_detectors(names: Sequence[str], graph: FactorGraph, concept_probs, categories, target_sr: float,
                     lam: float = 1.0, seed: int = 0) -> Selection:
    """Calibrate ``names`` on clean validation explanations and measure each one's AUROC of these
    clean explanations against the same ones under each of :data:`CORRUPTIONS`; ``auto`` among
    ``names`` stands for the candidate (of all :data:`DETECTORS`) picked by :func:`auto_pick`
    under :data:`AUTO_CORRUPTION`. No attack is ever involved."""
    if not check_detectors(names):
        raise AgainError(f"no detector to select; expected one or more of {', '.join(DETECTORS + (AUTO,))}")
    probs = check_probabilities(concept_probs, graph.num_concepts).cpu()
    y = torch.as_tensor(categories).long().cpu()
    candidates = DETECTORS if AUTO in names else tuple(dict.fromkeys(names))
    calibrated = {n: calibrate_detector(n, graph, probs, y, target_sr, lam) for n in candidates}
    generator = torch.Generator().manual_seed(seed)
    clean = {n: d.scores(probs, y).cpu() for n, d in calibrated.items()}
    aurocs = {}
    for corruption, (n_flips, choose) in CORRUPTIONS.items():
        corrupted = flip_concepts(probs, n_flips, generator, choose)
        aurocs[corruption] = {n: auroc(clean[n], d.scores(corrupted, y).cpu()) for n, d in calibrated.items()}
    rates = {n: 1.0 - float(d.flags(probs, y).double().mean()) for n, d in calibrated.items()}
    pick = auto_pick(aurocs[AUTO_CORRUPTION], len(probs)) if AUTO in names else None
    keep = dict.fromkeys(pick if n == AUTO else n for n in names)
    return Selection({n: calibrated[n] for n in keep}, aurocs, rates, pick)


def detector_arrays(detector: CalibratedDetector) -> dict[str, np.ndarray]:
    """What ``again-mln detect`` saves so that ``rectify --detector`` can reuse the calibration."""
    return {"detector": np.array(detector.name), "cutoffs": detector.cutoffs.cpu().numpy(),
            "lam": np.array(detector.lam), "target_sr": np.array(np.nan if detector.target_sr is None
                                                                  else detector.target_sr)}


def load_detector(path: str | os.PathLike, graph: FactorGraph) -> CalibratedDetector:
    """The calibrated detector saved by ``again-mln detect`` in ``path`` (.npz), for ``graph``."""
    with np.load(path, allow_pickle=False) as data:
        if not {"detector", "cutoffs", "lam"} <= set(data.files):
            raise AgainError(f"{path}: expected the .npz that again-mln detect writes (detector, cutoffs, lam)")
        name, cutoffs, lam = str(data["detector"]), torch.from_numpy(data["cutoffs"]).double(), float(data["lam"])
        target = float(data["target_sr"]) if "target_sr" in data.files else math.nan
    try:
        check_detectors((name,), allow_auto=False)
    except AgainError as err:
        raise AgainError(f"{path}: {err}") from None
    if cutoffs.shape != (graph.num_categories,):
        raise AgainError(f"{path}: {len(cutoffs)} cutoffs, but the rules have {graph.num_categories} categories")
    return CalibratedDetector(name, graph, cutoffs, lam, None if math.isnan(target) else target)
