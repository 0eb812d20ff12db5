"""Input, output and cached state: the one way arrays are read and checked (``inputs``), the one
way files are written (``atomic``: a temporary file renamed into place, nothing left behind on
error or signal), and the per-user cache of compiled rule files (``cache``).

    >>> from again_mln.io import compiled_rules, load_predictions
    >>> compiled, from_cache = compiled_rules("rules.mln")                      # doctest: +SKIP

The names below are imported from their module on first use (importing this package imports no
numpy or torch).
"""
from again_mln._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "inputs": ("load_array", "array_names", "saved_names", "read_names", "to_category_ids", "Predictions",
               "open_predictions", "load_predictions"),
    "cache": ("cache_folder", "compiled_rules"),
})
