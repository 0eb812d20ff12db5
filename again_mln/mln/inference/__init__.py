"""Exact inference over a factor view (docs/method.md, "Inference"): one contraction in semirings
(:class:`LogRing`, log-sum-exp, for log Z and marginals; :class:`MaxRing`, max-plus with a
read-back of the maximiser, for S_max and MAP; a new ring subclasses :class:`Ring`), one chunked
enumeration, an integer program offered by the max ring for views too wide to contract, and one
planner that picks the route under one memory budget. Nothing here knows the factor graph: it
reads :class:`again_mln.mln.factors.FactorView` only."""
from again_mln.mln.inference.planner import MEMORY_BUDGET, ROUTES, Plan, Route, plan
from again_mln.mln.inference.queries import log_partition, map_assignment, marginals, max_score
from again_mln.mln.inference.rings import LogRing, MaxRing, Ring

__all__ = ["MEMORY_BUDGET", "ROUTES", "Plan", "Route", "plan", "log_partition", "map_assignment", "marginals", "max_score",
           "Ring", "LogRing", "MaxRing"]
