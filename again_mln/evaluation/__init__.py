"""The evaluation of the AGAIN layer on concept models (the paper's experiments): attacks on
explanations, the end-to-end evaluation behind ``again-mln evaluate`` and ``demo``, the metrics,
the reports, and rule-guided interventions. It uses every other layer; nothing but the command
line uses it.

    >>> from again_mln.evaluation import evaluation_config, run_evaluation, tables
    >>> evaluation = run_evaluation(evaluation_config("ews", quick=True))   # doctest: +SKIP

The names below are imported from their module on first use (importing this package imports no
torch). The modules: ``attacks``, ``experiments``, ``metrics``, ``reporting``, ``interventions``.
"""
from again_mln._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "attacks": ("EPSILONS", "AttackConfig", "input_bounds", "pgd_attack", "attack_dataset", "adversarial_perturbation",
                "attack_summary", "attack_split", "attack_checkpoint"),
    "experiments": ("EvaluationConfig", "Evaluation", "evaluation_config", "run_evaluation", "merge_evaluations"),
    "metrics": ("p_acc", "e_acc", "lsm", "lsm_per_sample", "identification_rate", "ir_changed",
                "ir_at_sr", "roc_curve"),
    "reporting": ("tables", "markdown_report", "csv_text", "write_reports", "load_evaluation", "detection_summary"),
    "interventions": ("Oracle", "Session", "check_policies", "answered_posterior", "intervention_curves", "summarize",
                      "curves_table", "plot_curves"),
})
