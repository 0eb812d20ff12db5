"""The AGAIN layer: the AGAIN method as one use of Markov logic. Its schema (``active(concept)``,
``label(category)`` rules over concepts and categories), its rule files, the per-category factor
graph compiled from them, weight learning, detection of implausible explanations, their repair
(rectification) in batches or streamed from disk, and what the repair changed.

    >>> from again_mln.again import Rectifier, read_mln
    >>> rectifier = Rectifier(read_mln("rules.mln"), strategy="switch", threshold=0.9)
    >>> result = rectifier.rectify(concept_probs, categories)   # doctest: +SKIP

The names below are imported from their module on first use (importing this package imports no
torch). The modules: ``logic`` (the schema: formulas, rules, rule sets), ``mlnfile`` (AGAIN rule
and evidence files), ``graph`` (the compiled factor graph), ``learning`` (weight learning),
``concept_query`` (conditional queries), ``compiled`` (the graph with S_max and the switch tables),
``detection`` (the detectors' scores), ``calibration`` (cutoffs, SR, AUROC), ``evidence`` (the
network's confidence in queries), ``rectifier`` (the estimator: options, fit, detect, repair),
``selection`` (choosing a detector), ``switch`` (the intervention switch's candidates),
``rectification`` (the four repair strategies), ``layer`` (the differentiable repair), ``streaming`` (chunked rectification of any length), ``explain`` (what a repair
changed, and its picture), ``synthetic`` (random rule sets for tests and benchmarks), ``pracmln`` (the schema run by pracmln, the reference learner and query engine).
"""
from again_mln._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "logic": ("CONCEPT_PREDICATE", "CATEGORY_PREDICATE", "Formula", "Atom", "Not", "And", "Or", "Implies", "Equiv",
              "concept", "category", "Rule", "RuleSet"),
    "mlnfile": ("read_mln", "write_mln", "parse_mln", "format_mln", "read_db", "write_db", "parse_db", "format_db"),
    "graph": ("FactorGraph",),
    "learning": ("LearningResult", "learn_weights", "read_data"),
    "concept_query": ("query",),
    "compiled": ("CompiledRules",),
    "detection": ("SCORES", "solve_s_max", "rule_margin"),
    "calibration": ("success_rate", "auroc", "auroc_stderr", "cutoff_at_rank", "empirical_rank", "conformal_rank"),
    "evidence": ("network_evidence", "map_assignment", "posterior_marginals"),
    "rectifier": ("Rectifier",),
    "selection": ("Selection", "select_detectors", "flip_concepts", "auto_pick"),
    "rectification": ("RectifyResult", "repair"),
    "layer": ("RuleLayer",),
    "streaming": ("rectify_batch", "rectify_chunks", "rectify_to_file"),
    "explain": ("repaired_rules", "plot_rectified"),
    "synthetic": ("random_ruleset",),
})
