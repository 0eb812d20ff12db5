"""The AGAIN layer as one estimator (scikit-learn style): built from the rules and its options,
validated once; :meth:`Rectifier.fit` calibrates the detector on clean explanations,
:meth:`Rectifier.detect` flags implausible ones and :meth:`Rectifier.repair` repairs exactly the
flagged rows (docs/method.md, "Detection" and "Rectification"). Streaming, the model bridge, the
command line and the evaluation all call this object.

    >>> rectifier = Rectifier(read_mln("rules.mln"), strategy="map", detector="confidence", target_sr=0.98)
    >>> rectifier.fit(clean_probs, clean_categories)                      # doctest: +SKIP
    >>> result = rectifier.rectify(probs, categories)                     # detect + repair
"""
from __future__ import annotations

import math
import os

import numpy as np
import torch
from torch import Tensor, nn

from again_mln.again.calibration import cutoff_at_rank, conformal_rank, empirical_rank, per_category_cutoffs
from again_mln.again.compiled import CompiledRules
from again_mln.again.detection import SCORES, settled_categories
from again_mln.again.graph import FactorGraph
from again_mln.again.logic import RuleSet
from again_mln.again.rectification import RectifyResult, repair
from again_mln.again.switch import check_switch_size
from again_mln.choices import DISTRIBUTION_DETECTORS, STRATEGIES, SWITCH_STRATEGIES, check_detectors
from again_mln.errors import AgainError
from again_mln.validation import binarize, check_choice, check_probabilities


def check_options(strategy: str, detector: str, lam: float, threshold: float, target_sr: float | None) -> None:
    """The one check of a rectifier's options: strategy and detector names, lam finite >= 0, the
    relaxation d in [0, 1], the calibration target SR in (0, 1) (SR = 1 is no target: only
    passing everything guarantees it)."""
    check_choice(strategy, STRATEGIES, "strategy")
    check_detectors((detector,), allow_auto=False)
    if not (lam >= 0 and math.isfinite(lam)):
        raise AgainError(f"lam must be a finite number >= 0, got {lam}")
    if not 0.0 <= threshold <= 1.0:
        raise AgainError(f"detection threshold d must lie in [0, 1], got {threshold}")
    if target_sr is not None and not 0.0 < target_sr < 1.0:
        raise AgainError(f"target SR must lie in (0, 1), got {target_sr}")


def check_strategy(graph: FactorGraph, strategy: str) -> None:
    """Whether ``strategy`` can repair with these rules: the switch's tables must fit (checked
    before anything is allocated; :func:`again_mln.again.switch.check_switch_size`)."""
    check_choice(strategy, STRATEGIES, "strategy")
    if strategy in SWITCH_STRATEGIES:
        check_switch_size(graph)


def paper_cutoff(threshold: float) -> float:
    """Eq. 3's cutoff ln d; d = 1 flags every explanation (S never exceeds S_max, and float
    round-off between the two computations must not let one pass), d = 0 none."""
    return math.inf if threshold == 1.0 else math.log(threshold) if threshold > 0 else -math.inf


class Rectifier(nn.Module):
    """Detect and repair explanations: concept probabilities (N, M) and categories, either ids (N,)
    or the network's category scores (N, K) (logits or log-probabilities; softmaxed here). The
    category of an explanation is the scores' argmax, except for ``mixture``, which weighs every
    category by its softmax probability and repairs under the category it settles on; ids are a
    distribution certain of one category.

    ``rules``: a :class:`RuleSet`, a compiled :class:`FactorGraph` or :class:`CompiledRules`.
    ``strategy``: switch, iterate, map or marginal. ``detector``: one of
    :data:`again_mln.choices.DETECTORS`; ``paper`` works at the relaxation ``threshold`` = d until
    :meth:`fit`, the others need :meth:`fit` on clean data for ``target_sr``. ``lam`` weighs the
    network's confidence (map, marginal, and the confidence and map-gap detectors). The cutoffs
    (K,) are a buffer: flag where score <= cutoffs[y]."""

    def __init__(self, rules: RuleSet | FactorGraph | CompiledRules, strategy: str = "switch",
                 detector: str = "paper", lam: float = 1.0, threshold: float = 0.9,
                 target_sr: float | None = None, device: str | torch.device | None = None) -> None:
        super().__init__()
        check_options(strategy, detector, lam, threshold, target_sr)
        if isinstance(rules, RuleSet):
            rules = FactorGraph(rules, device=device)
        self.compiled = rules if isinstance(rules, CompiledRules) else CompiledRules(rules)
        self.strategy, self.detector, self.lam = strategy, detector, float(lam)
        self.threshold, self.target_sr = float(threshold), target_sr
        K = self.graph.num_categories
        fixed = paper_cutoff(threshold) if detector == "paper" else math.nan
        self.register_buffer("cutoffs", torch.full((K,), fixed, dtype=torch.float64, device=self.graph.device))
        self.pooled: tuple[int, ...] = ()  # per-category: the categories that share the pooled cutoff
        if strategy in SWITCH_STRATEGIES:
            self.compiled.switch()  # built (and size-checked) here, before any input is read

    @property
    def graph(self) -> FactorGraph:
        return self.compiled.graph

    @property
    def fitted(self) -> bool:
        """Whether the detector has its cutoffs (the paper's at a fixed d always has)."""
        return not bool(self.cutoffs.isnan().any())

    def with_strategy(self, strategy: str) -> "Rectifier":
        """The same detector (and calibration) repairing with another strategy."""
        other = Rectifier(self.compiled, strategy, self.detector, self.lam, self.threshold, self.target_sr)
        other.cutoffs.copy_(self.cutoffs)
        other.pooled = self.pooled
        return other

    # ----------------------------------------------------------------------------- inputs
    def _inputs(self, concept_probs, categories) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Probabilities (N, M) float32, c_hat (N, M) long, the category y (N,) each explanation is
        judged and repaired under, and log p(y | x) (N, K) float64, on the graph's device."""
        probs = check_probabilities(concept_probs, self.graph.num_concepts).to(self.graph.device, torch.float32)
        scores = torch.as_tensor(categories, device=self.graph.device)
        K = self.graph.num_categories
        if scores.ndim == 2:
            if scores.shape != (len(probs), K) or not torch.is_floating_point(scores):
                raise AgainError(f"category scores: expected float shape ({len(probs)}, {K}), got "
                                 f"{scores.dtype} {tuple(scores.shape)}")
            # log-probabilities may be -inf (probability 0), but every row needs a finite maximum
            if scores.isnan().any() or (scores == math.inf).any() or not torch.isfinite(scores.amax(1)).all():
                raise AgainError("category scores: contain NaN or infinite values")
            log_p = scores.double().log_softmax(1)
            c_hat, y = self.graph.validate(binarize(probs), log_p.argmax(1))
        else:
            c_hat, y = self.graph.validate(binarize(probs), scores)
            log_p = torch.full((len(y), K), -math.inf, dtype=torch.float64, device=y.device)
            log_p[torch.arange(len(y), device=y.device), y] = 0.0
        if self.detector in DISTRIBUTION_DETECTORS:
            with torch.no_grad():
                y = settled_categories(self.graph, self.compiled.s_max, c_hat, log_p)
        return probs, c_hat, y, log_p

    # -------------------------------------------------------------------------- detection
    def _raw(self, probs: Tensor, c_hat: Tensor, y: Tensor, log_p: Tensor) -> Tensor:
        with torch.no_grad():
            return SCORES[self.detector](self.graph, self.compiled.s_max, probs, c_hat, y, self.lam, log_p).double()

    def raw_scores(self, concept_probs, categories) -> Tensor:
        """The detector's own plausibility (N,) float64 (:mod:`again_mln.again.detection`)."""
        return self._raw(*self._inputs(concept_probs, categories))

    def categories(self, concept_probs, categories) -> Tensor:
        """The category (N,) each explanation is judged and repaired under: the argmax, or the one
        ``mixture`` settles on."""
        return self._inputs(concept_probs, categories)[2]

    def relative(self, raw: Tensor, categories) -> Tensor:
        """``raw`` scores relative to their category's cutoff: raw - cutoffs[y] (N,) for the
        categories ids (N,) of :meth:`categories`; flagged where <= 0."""
        self._check_fitted()
        y = torch.as_tensor(categories).to(raw.device).long()
        return raw - self.cutoffs.to(raw.device)[y]

    def scores(self, concept_probs, categories) -> Tensor:
        """Plausibility relative to the cutoff (N,): comparable across categories (ROC, AUROC)."""
        probs, c_hat, y, log_p = self._inputs(concept_probs, categories)
        return self.relative(self._raw(probs, c_hat, y, log_p), y)

    def detect(self, concept_probs, categories) -> Tensor:
        """(N,) bool: the explanations that fail detection."""
        return self.scores(concept_probs, categories) <= 0

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise AgainError(f"the {self.detector} detector is calibrated: call fit(clean concept probabilities, "
                             "categories) with a target SR first")

    def fit(self, concept_probs, categories) -> "Rectifier":
        """Calibrate the detector on clean explanations for a pass rate of ``target_sr``: the paper's
        rank for ``paper`` (d <= 1), split conformal cutoffs for the others (one per category for
        ``per-category``). Returns self."""
        if self.target_sr is None:
            raise AgainError("calibration needs a target SR (Rectifier(..., target_sr=...))")
        probs, c_hat, y, log_p = self._inputs(concept_probs, categories)
        if not len(probs):
            raise AgainError("calibration needs at least one clean validation sample")
        scores, K = self._raw(probs, c_hat, y, log_p), self.graph.num_categories
        if self.detector == "per-category":
            cutoffs, self.pooled = per_category_cutoffs(scores, y, K, self.target_sr)
            self.cutoffs.copy_(cutoffs)
            return self
        if self.detector == "paper":  # d = 1 is the strictest relaxation there is
            cutoff = min(cutoff_at_rank(scores, empirical_rank(len(scores), self.target_sr)), 0.0)
        else:
            cutoff = cutoff_at_rank(scores, conformal_rank(len(scores), self.target_sr))
        self.cutoffs.fill_(cutoff)
        return self

    # ------------------------------------------------------------------------------ repair
    def repair(self, concept_probs, categories, flagged: Tensor) -> RectifyResult:
        """Repair the rows ``flagged`` (N,) bool with the strategy; the other rows are not touched."""
        probs, c_hat, y, _ = self._inputs(concept_probs, categories)
        with torch.no_grad():
            return repair(self.compiled, probs, c_hat, y, flagged.to(self.graph.device), self.strategy, self.lam)

    def rectify(self, concept_probs, categories) -> RectifyResult:
        """Detect, then repair the flagged explanations."""
        probs, c_hat, y, log_p = self._inputs(concept_probs, categories)
        with torch.no_grad():
            flagged = self.relative(self._raw(probs, c_hat, y, log_p), y) <= 0
            return repair(self.compiled, probs, c_hat, y, flagged, self.strategy, self.lam)

    forward = rectify

    # ---------------------------------------------------------------------------- storage
    def arrays(self) -> dict[str, np.ndarray]:
        """The calibration as arrays (what ``again-mln detect`` saves and ``rectify --detector`` reads)."""
        self._check_fitted()
        return {"detector": np.array(self.detector), "cutoffs": self.cutoffs.cpu().numpy(),
                "lam": np.array(self.lam),
                "target_sr": np.array(np.nan if self.target_sr is None else self.target_sr)}

    @classmethod
    def load(cls, path: str | os.PathLike, rules: FactorGraph | CompiledRules, strategy: str = "switch") -> "Rectifier":
        """The calibrated detector saved in ``path`` (.npz of :meth:`arrays`), repairing with ``strategy``."""
        with np.load(path, allow_pickle=False) as data:
            if not {"detector", "cutoffs", "lam"} <= set(data.files):
                raise AgainError(f"{path}: expected the .npz that again-mln detect writes (detector, cutoffs, lam)")
            name, cutoffs, lam = str(data["detector"]), torch.from_numpy(data["cutoffs"]).double(), float(data["lam"])
            target = float(data["target_sr"]) if "target_sr" in data.files else math.nan
        try:
            rectifier = cls(rules, strategy, name, lam, target_sr=None if math.isnan(target) else target)
        except AgainError as err:
            raise AgainError(f"{path}: {err}") from None
        if cutoffs.shape != rectifier.cutoffs.shape or cutoffs.isnan().any():
            raise AgainError(f"{path}: {len(cutoffs)} cutoffs, but the rules have {len(rectifier.cutoffs)} categories")
        rectifier.cutoffs.copy_(cutoffs)
        return rectifier

    def extra_repr(self) -> str:
        return (f"strategy={self.strategy}, detector={self.detector}, lam={self.lam:g}, threshold={self.threshold:g}, "
                f"target_sr={self.target_sr}, fitted={self.fitted}")
