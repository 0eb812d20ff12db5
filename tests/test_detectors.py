"""The detectors: their scores on hand-made cases, the calibration guarantee on held-out clean
data (within the finite-sample bound), the synthetic corruptions and the saved calibration."""
import math

import numpy as np
import pytest
import torch

from again_mln.again.calibration import conformal_rank, cutoff_at_rank, min_samples
from again_mln.again.graph import FactorGraph
from again_mln.again.logic import And, Implies, Not, Rule, RuleSet, category, concept
from again_mln.again import rectification
from again_mln.again.rectifier import Rectifier
from again_mln.again.switch import SwitchTables
from again_mln.again.selection import AUTO_CORRUPTION, CORRUPTIONS, auto_pick, flip_concepts, select_detectors
from again_mln.choices import AUTO, DETECTORS
from again_mln.errors import AgainError


def graph() -> FactorGraph:
    """Six concepts, three categories: each category implies two concepts, two exclusions."""
    names = [f"c{m}" for m in range(6)]
    rules = [Rule(Implies(category(f"y{k}"), concept(names[2 * k + j])), 2.0 + k + j) for k in range(3) for j in (0, 1)]
    rules += [Rule(Not(And((concept("c0"), concept("c2")))), 1.5), Rule(Not(And((concept("c3"), concept("c5")))), 1.0)]
    return FactorGraph(RuleSet(names, ["y0", "y1", "y2"], rules), device="cpu")


def clean_like(n: int, seed: int, g: FactorGraph) -> tuple[torch.Tensor, torch.Tensor]:
    """Exchangeable 'clean' explanations: mostly consistent with the category, some noise."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, g.num_categories, (n,), generator=gen)
    truth = torch.zeros(n, g.num_concepts)
    truth[torch.arange(n), 2 * y] = 1
    truth[torch.arange(n), 2 * y + 1] = 1
    noise = torch.rand(n, g.num_concepts, generator=gen) < 0.08
    truth = torch.where(noise, 1 - truth, truth)
    confidence = 0.5 + 0.5 * torch.rand(n, g.num_concepts, generator=gen)
    return torch.where(truth > 0.5, confidence, 1 - confidence), y


def detector_scores(name: str, g: FactorGraph, probs, y, lam: float = 1.0) -> torch.Tensor:
    return Rectifier(g, "map", name, lam).raw_scores(probs, y)


def conformal_cutoff(scores: torch.Tensor, target: float) -> float:
    return cutoff_at_rank(scores, conformal_rank(len(scores), target))


def test_scores_on_hand_made_cases():
    g = graph()
    probs = torch.tensor([[0.9, 0.8, 0.1, 0.2, 0.3, 0.1],   # y0 with c0, c1: no rule broken
                          [0.9, 0.6, 0.7, 0.2, 0.3, 0.1]])  # y0 and c2: exclusion c0 ^ c2 broken
    y = torch.tensor([0, 0])
    paper = detector_scores("paper", g, probs, y)
    assert paper[0] == pytest.approx(0.0) and paper[1] == pytest.approx(-1.5)
    log_conf = torch.log(torch.maximum(probs, 1 - probs).double()).sum(1)
    assert torch.allclose(detector_scores("confidence", g, probs, y, lam=0.5), paper + 0.5 * log_conf, atol=1e-5)
    # weighted damage: only c2 (gain 1.5 from flipping it off; c0 too, 1.5 - 2) ... computed by hand
    doubt = 1 - (2 * probs[1] - 1).abs()
    expected = -(1.5 * doubt[2])  # flipping c0 off loses 2 (y0 => c0) and gains 1.5: net -0.5, not counted
    assert float(detector_scores("weighted-damage", g, probs, y)[1]) == pytest.approx(float(expected), abs=1e-5)
    assert float(detector_scores("weighted-damage", g, probs, y)[0]) == pytest.approx(0.0)


def test_map_gap_is_zero_at_the_map_and_negative_elsewhere():
    g = graph()
    probs, y = clean_like(200, 1, g)
    gap = detector_scores("map-gap", g, probs, y)
    assert (gap <= 1e-5).all()
    best = Rectifier(g, "map", threshold=1.0).rectify(probs, y).rectified > 0.5
    at_map = (best == (probs > 0.5)).all(1)
    assert at_map.any() and (~at_map).any()
    assert torch.allclose(gap[at_map], torch.zeros(int(at_map.sum()), dtype=gap.dtype), atol=1e-5)
    assert (gap[~at_map] < 0).all()


def test_conformal_cutoff_guarantee_on_continuous_scores():
    """SR of a new clean score is Beta(k, n + 1 - k) over calibration draws, k = ceil((n+1) t):
    its mean k / (n + 1) lies in [t, t + 1 / (n + 1)]."""
    n, target, draws = 60, 0.9, 400
    gen = torch.Generator().manual_seed(0)
    calibration = torch.randn(draws, n, generator=gen, dtype=torch.float64)
    cutoffs = torch.tensor([conformal_cutoff(row, target) for row in calibration])
    held_out = torch.randn(20000, generator=gen, dtype=torch.float64)
    sr = (held_out[None, :] > cutoffs[:, None]).double().mean(1)
    k = math.ceil((n + 1) * target)
    mean, spread = float(sr.mean()), float(sr.std()) / math.sqrt(draws)
    assert mean >= target - 3 * spread and mean == pytest.approx(k / (n + 1), abs=3 * spread + 0.002)
    assert conformal_cutoff(calibration[0, :5], target) == -math.inf  # too few: pass everything
    assert min_samples(0.98) == 49 and min_samples(0.9) == 9


@pytest.mark.parametrize("name", DETECTORS)
def test_each_detector_meets_its_target_on_held_out_clean_data(name):
    g = graph()
    target, n = 0.9, 150
    test_probs, test_y = clean_like(6000, 99, g)
    rates = []
    for seed in range(12):
        probs, y = clean_like(n, seed, g)
        detector = Rectifier(g, "map", name, target_sr=target).fit(probs, y)
        rates.append(1.0 - float(detector.detect(test_probs, test_y).double().mean()))
    # paper: empirical rank ceil(n t), expected SR >= ceil(n t) / (n + 1); others: conformal, >= t
    bound = math.ceil(n * target) / (n + 1) if name == "paper" else target
    assert np.mean(rates) >= bound - 3 * np.std(rates) / math.sqrt(len(rates)) - 0.005


def test_per_category_cutoffs_meet_the_target_per_category_and_pool_rare_ones():
    g = graph()
    probs, y = clean_like(900, 3, g)
    rare = y == 2
    keep = ~rare | (torch.arange(len(y)) % 40 == 0)  # category 2 keeps only a handful of samples
    probs, y = probs[keep], y[keep]
    assert int((y == 2).sum()) < min_samples(0.9)
    detector = Rectifier(g, "map", "per-category", target_sr=0.9).fit(probs, y)
    assert detector.pooled == (2,)
    test_probs, test_y = clean_like(9000, 4, g)
    flags = detector.detect(test_probs, test_y)
    for k in (0, 1):
        assert 1.0 - float(flags[test_y == k].double().mean()) >= 0.9 - 0.03
    assert torch.isfinite(detector.cutoffs[:2]).all()
    for k in (0, 1):  # the vectorised per-category cutoffs are each category's own conformal cutoff
        scores = detector.raw_scores(probs[y == k], y[y == k])
        assert float(detector.cutoffs[k]) == conformal_cutoff(scores, 0.9)


def test_fixed_detector_is_eq_3():
    g = graph()
    probs, y = clean_like(300, 5, g)
    detector = Rectifier(g, threshold=0.3)
    margins = detector_scores("paper", g, probs, y)
    assert torch.equal(detector.detect(probs, y), margins <= math.log(0.3))
    assert not Rectifier(g, threshold=0.0).detect(probs, y).any()
    assert Rectifier(g, threshold=1.0).detect(probs, y).all()  # d = 1 flags every explanation


@pytest.mark.parametrize("n_flips", [1, 2])
@pytest.mark.parametrize("choose", ["random", "least-sure"])
def test_flips_move_exactly_n_concepts_across_one_half(n_flips, choose):
    probs, _ = clean_like(500, 6, graph())
    flipped = flip_concepts(probs, n_flips, torch.Generator().manual_seed(0), choose)
    moved = (flipped > 0.5) != (probs > 0.5)
    assert (moved.sum(1) == n_flips).all()
    assert torch.equal(flipped[~moved], probs[~moved])
    again = flip_concepts(probs, n_flips, torch.Generator().manual_seed(0), choose)
    assert torch.equal(flipped, again)


def test_least_sure_flips_take_the_concepts_nearest_one_half():
    probs = torch.tensor([[0.9, 0.45, 0.02, 0.7], [0.51, 0.99, 0.3, 0.2]])
    flipped = flip_concepts(probs, 2, torch.Generator().manual_seed(0), "least-sure")
    moved = (flipped > 0.5) != (probs > 0.5)
    assert moved.tolist() == [[False, True, False, True], [True, False, True, False]]
    with pytest.raises(AgainError, match="least-sure"):
        flip_concepts(probs, 1, torch.Generator(), "nearest")


def test_auto_leaves_the_paper_only_for_a_clear_validation_gain():
    assert auto_pick({"paper": 0.950, "confidence": 0.953, "map-gap": 0.951}, 2000) == "paper"  # within noise
    assert auto_pick({"paper": 0.900, "confidence": 0.960, "weighted-damage": 0.958}, 2000) == "confidence"
    assert auto_pick({"paper": 0.90, "confidence": 0.91}, 50) == "paper"  # few samples: no clear gain
    assert auto_pick({"map-gap": 0.8, "weighted-damage": 0.99}, 2000) == "weighted-damage"


def test_selection_measures_every_corruption_and_names_auto_first():
    g = graph()
    probs, y = clean_like(400, 7, g)
    selection = select_detectors((AUTO, "paper"), g, probs, y, 0.9)
    assert set(selection.validation_auroc) == set(CORRUPTIONS)
    assert all(set(aurocs) == set(DETECTORS) for aurocs in selection.validation_auroc.values())
    assert selection.auto == auto_pick(selection.validation_auroc[AUTO_CORRUPTION], len(probs))
    assert list(selection.detectors)[0] == selection.auto and "paper" in selection.detectors
    only = select_detectors(("paper",), g, probs, y, 0.9)
    assert only.auto is None and list(only.detectors) == ["paper"] and set(only.validation_auroc[AUTO_CORRUPTION]) == {"paper"}
    with pytest.raises(AgainError, match="unknown detector"):
        select_detectors(("magic",), g, probs, y, 0.9)


@pytest.mark.parametrize("strategy", ["switch", "iterate", "map", "marginal"])
def test_repair_computes_on_the_flagged_rows_only(strategy, monkeypatch):
    g = graph()
    probs, y = clean_like(100, 8, g)
    rectifier = Rectifier(g, strategy)
    full = rectifier.repair(probs, y, torch.ones(100, dtype=torch.bool))
    flagged = torch.arange(100) % 3 == 0
    seen = []
    for name in ("map_assignment", "posterior_marginals", "iterate_cm"):
        original = getattr(rectification, name)
        monkeypatch.setattr(rectification, name, lambda *a, _f=original, **k: seen.append(a[2].shape[-1]) or _f(*a, **k))
    original_flips = SwitchTables.flips_cm
    monkeypatch.setattr(SwitchTables, "flips_cm", lambda self, cT, *a: seen.append(cT.shape[1]) or original_flips(self, cT, *a))
    result = rectifier.repair(probs, y, flagged)
    assert seen == [int(flagged.sum())]  # the strategy saw the flagged rows and nothing else
    assert torch.equal(result.flagged, flagged)
    assert torch.equal(result.rectified[~flagged], probs[~flagged]) and not result.mask[~flagged].any()
    assert torch.equal(result.rectified[flagged], full.rectified[flagged])
    assert torch.equal(result.score_after[~flagged], result.score_before[~flagged])


def test_options_are_checked_once_where_the_rectifier_is_built():
    g = graph()
    for options, message in [(dict(strategy="best"), "unknown strategy 'best'"),
                             (dict(detector="magic"), "unknown detector 'magic'"),
                             (dict(lam=-1.0), "lam must be a finite number"), (dict(lam=math.inf), "lam must be"),
                             (dict(threshold=1.5), r"threshold d must lie in \[0, 1\]"),
                             (dict(target_sr=1.0), r"target SR must lie in \(0, 1\)"),
                             (dict(target_sr=0.0), r"target SR must lie in \(0, 1\)")]:
        with pytest.raises(AgainError, match=message):
            Rectifier(g, **options)
    probs, y = clean_like(20, 1, g)
    with pytest.raises(AgainError, match="confidence detector is calibrated: call fit"):
        Rectifier(g, detector="confidence").detect(probs, y)
    with pytest.raises(AgainError, match="needs a target SR"):
        Rectifier(g).fit(probs, y)


def test_saved_calibration_round_trips(tmp_path):
    g = graph()
    probs, y = clean_like(300, 9, g)
    detector = Rectifier(g, "map", "per-category", lam=0.5, target_sr=0.9).fit(probs, y)
    path = tmp_path / "det.npz"
    np.savez(path, **detector.arrays())
    loaded = Rectifier.load(path, g, "switch")
    assert loaded.detector == "per-category" and loaded.lam == 0.5 and loaded.target_sr == 0.9
    assert loaded.strategy == "switch"
    assert torch.equal(loaded.detect(probs, y), detector.detect(probs, y))
    np.savez(tmp_path / "bad.npz", detector=np.array("per-category"), cutoffs=np.zeros(5), lam=np.array(1.0))
    with pytest.raises(AgainError, match="5 cutoffs"):
        Rectifier.load(tmp_path / "bad.npz", g)


def unsure_logits(y: torch.Tensor, seed: int) -> torch.Tensor:
    """Category logits that favour the true category but get a quarter of them wrong."""
    logits = torch.randn(len(y), 3, generator=torch.Generator().manual_seed(seed))
    logits[torch.arange(len(y)), y] += 1.5
    return logits


#: a correct explanation of y1 while the network's argmax is y0; one that no category explains;
#: one nearest y1 (c3 missing) while the argmax is y0
WRONG_ARGMAX = torch.tensor([[0.1, 0.1, 0.9, 0.9, 0.1, 0.1],
                             [0.9, 0.1, 0.9, 0.1, 0.1, 0.9],
                             [0.1, 0.1, 0.9, 0.1, 0.1, 0.1]])
WRONG_ARGMAX_LOGITS = torch.log(torch.tensor([[0.6, 0.4, 1e-4], [0.6, 0.4, 1e-4], [0.55, 0.45, 1e-4]]))


def test_mixture_passes_a_correct_explanation_of_a_wrongly_predicted_category():
    g = graph()
    probs, y = clean_like(400, 3, g)
    logits = unsure_logits(y, 4)
    assert 0.6 < float((logits.argmax(1) == y).float().mean()) < 0.9
    paper_fixed = Rectifier(g, "map", "paper", threshold=0.9)
    paper = Rectifier(g, "map", "paper", target_sr=0.9).fit(probs, logits)
    mixture = Rectifier(g, "map", "mixture", target_sr=0.9).fit(probs, logits)
    # the paper's detector judges under the argmax y0: two rules of y0 broken, margin -5
    assert paper_fixed.raw_scores(WRONG_ARGMAX, WRONG_ARGMAX_LOGITS)[0] == pytest.approx(-5.0)
    assert paper_fixed.detect(WRONG_ARGMAX, WRONG_ARGMAX_LOGITS).tolist() == [True, True, True]
    # mixture: log(0.6 e^-5 + 0.4 e^0 + 1e-4 e^-9) (softmax renormalises the three); y1 explains
    # it, so it passes, and the illogical one fails
    assert mixture.raw_scores(WRONG_ARGMAX, WRONG_ARGMAX_LOGITS)[0] == pytest.approx(
        math.log((0.6 * math.exp(-5) + 0.4 + 1e-4 * math.exp(-9)) / 1.0001), abs=1e-6)
    assert mixture.detect(WRONG_ARGMAX, WRONG_ARGMAX_LOGITS).tolist() == [False, True, True]
    # calibrated at the same SR, the paper's cutoff must pass clean explanations of wrong argmaxes
    # and so lets the illogical explanation through
    assert paper.cutoffs[0] < mixture.cutoffs[0]
    assert not paper.detect(WRONG_ARGMAX, WRONG_ARGMAX_LOGITS)[1]


def test_mixture_repairs_under_the_category_it_settles_on():
    g = graph()
    probs, y = clean_like(400, 3, g)
    mixture = Rectifier(g, "switch", "mixture", target_sr=0.9).fit(probs, unsure_logits(y, 4))
    assert mixture.categories(WRONG_ARGMAX, WRONG_ARGMAX_LOGITS).tolist() == [1, 0, 1]
    result = mixture.rectify(WRONG_ARGMAX, WRONG_ARGMAX_LOGITS)
    assert result.flagged.tolist() == [False, True, True]
    assert torch.equal(result.rectified[0], WRONG_ARGMAX[0])  # passed: untouched
    assert result.rectified[2].tolist() == pytest.approx([0.1, 0.1, 0.9, 1.0, 0.1, 0.1])  # y1 => c3, not y0's rules


def test_mixture_on_category_ids_is_the_paper_margin_and_scores_are_checked():
    g = graph()
    probs, y = clean_like(50, 5, g)
    mixture = Rectifier(g, "map", "mixture")
    assert torch.allclose(mixture.raw_scores(probs, y), Rectifier(g, "map", "paper").raw_scores(probs, y), atol=1e-6)
    assert torch.equal(mixture.categories(probs, y), y)
    with pytest.raises(AgainError, match="category scores: expected"):
        mixture.raw_scores(probs, torch.zeros(50, 2))
    with pytest.raises(AgainError, match="NaN or infinite"):
        mixture.raw_scores(probs, torch.full((50, 3), math.nan))
