"""The Markov logic engine: pracmln's language and files, grounding by joins over the evidence,
exact answers on the ground network (``inference``: one contraction over semirings, the planner,
the integer program; over the factor view of ``factors``) and weight learning. It knows nothing
of concepts or categories, and imports nothing from the layers above it.

    >>> from again_mln.mln import read_mln, read_db, query
    >>> mln = read_mln("smoking.mln")
    >>> answers = query(mln, read_db("smoking-test.db", mln), ["Smokes", "Cancer"], closed_world=["Friends"])
    >>> answers[0].to_dict()                                    # doctest: +SKIP

The names below are imported from their module on first use (importing this package imports no
torch). The modules: ``syntax`` (formula trees), ``model`` (MLN, predicates, databases),
``files`` (.mln/.db reading and writing), ``grounding`` (joins over the evidence), ``network``
(components batched as factor views), ``worlds`` (enumeration over functional blocks),
``answers`` (queries), ``learning`` (pseudo-likelihood and the entry point), ``likelihood``
(LL/CLL), ``benchmark_data`` (UW-CSE/Kinship
folders), ``picture`` (the ground network drawn), ``factors`` and ``inference`` (exact inference).
"""
from again_mln._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "answers": ("METHODS", "Answer", "query", "answers_from", "format_table", "format_csv"),
    "files": ("read_mln", "read_db", "parse_mln", "parse_db", "parse_formula", "format_mln", "format_db"),
    "grounding": ("GROUNDING_LIMIT",),
    "model": ("MLN", "Database", "Predicate", "WeightedFormula"),
    "learning": ("PseudoLikelihood", "Learned", "learn_weights"),
    "likelihood": ("Likelihood",),
    "benchmark_data": ("BenchmarkFolder", "read_benchmark_folder"),
    "picture": ("ground_graph", "draw_ground_graph"),
})
