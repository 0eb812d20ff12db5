"""Exact inference over a factor view (docs/method.md, "Inference"): one contraction in two
rings (log-sum-exp for log Z and marginals, max-plus with a read-back of the maximiser for S_max and MAP), one
chunked enumeration, an integer program as the max ring's fallback, and one planner that picks
the route under one memory budget. Nothing here knows the factor graph: it reads
:class:`again_mln.factors.FactorView` only."""
from again_mln.inference.planner import MEMORY_BUDGET, ROUTES, Plan, Route, plan
from again_mln.inference.queries import log_partition, map_assignment, marginals, max_score

__all__ = ["MEMORY_BUDGET", "ROUTES", "Plan", "Route", "plan", "log_partition", "map_assignment", "marginals", "max_score"]
