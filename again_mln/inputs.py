"""Reading concept predictions and categories from ``.npy``/``.npz`` files, validated against a
rule set, so every command that takes predictions reports bad input the same way."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from again_mln.errors import AgainError
from again_mln.logic import RuleSet


def load_array(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """One array from a ``.npy`` file, or the array ``key`` of an ``.npz`` file."""
    path = Path(path)
    if not path.is_file():
        raise AgainError(f"{path}: no such file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise AgainError(f"{path}: not a readable .npy/.npz file ({err})") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        if key is None or key not in loaded.files:
            wanted = f"an array named {key!r}" if key else "a single array"
            raise AgainError(f"{path}: expected {wanted}; it holds {', '.join(loaded.files) or 'nothing'}")
        return loaded[key]


def _npz_keys(path: Path) -> list[str]:
    if path.suffix != ".npz":
        return []
    try:
        with np.load(path, allow_pickle=False) as loaded:
            return list(loaded.files)
    except (ValueError, OSError) as err:
        raise AgainError(f"{path}: not a readable .npz file ({err})") from None


def align_columns(values: np.ndarray, names: list[str], wanted: tuple[str, ...], source: str, kind: str) -> np.ndarray:
    """Reorder the columns of ``values``, named ``names``, into the order ``wanted`` by the rules."""
    if len(names) != values.shape[1]:
        raise AgainError(f"{source}: names {len(names)} {kind}s but has {values.shape[1]} columns")
    position = {name: i for i, name in enumerate(names)}
    missing = [name for name in wanted if name not in position]
    if missing or len(position) != len(names) or len(names) != len(wanted):
        problem = f"{kind} {missing[0]!r} of the rules is missing" if missing else f"its {kind} names do not match the rules'"
        raise AgainError(f"{source}: {problem}")
    return values[:, [position[name] for name in wanted]]


def saved_names(path: str | os.PathLike, key: str) -> list[str] | None:
    """The names array ``key`` of an ``.npz`` (``concept_names``, ``category_names``), if it has one."""
    return [str(n) for n in load_array(path, key)] if key in _npz_keys(Path(path)) else None


def names_of_ids(ids: np.ndarray, names: list[str], source: str) -> np.ndarray:
    """Category ids that index into ``names`` (saved beside them) turned into the names themselves."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" or (ids.size and (ids.min() < 0 or ids.max() >= len(names))):
        raise AgainError(f"{source}: category ids must index the saved category_names (0..{len(names) - 1})")
    return np.asarray(names)[ids]


def read_names(path: str | os.PathLike) -> list[str]:
    """Names listed one per line (blank lines ignored)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise AgainError(f"{path}: cannot read the list of names") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def to_category_ids(values: np.ndarray, num_categories: int, source: str) -> np.ndarray:
    """(N,) integer ids, or (N, K) scores reduced by argmax, checked against K categories."""
    values = np.asarray(values)
    if values.ndim == 2:
        if values.shape[1] != num_categories:
            raise AgainError(f"{source}: expected {num_categories} category scores per row, got {values.shape[1]}")
        if not np.isfinite(values).all():
            raise AgainError(f"{source}: category scores contain NaN or infinite values")
        return values.argmax(1)
    if values.ndim != 1:
        raise AgainError(f"{source}: expected category ids (N,) or scores (N, K), got shape {values.shape}")
    if values.dtype.kind == "f":
        if not np.isfinite(values).all() or (values != np.round(values)).any():
            raise AgainError(f"{source}: category ids must be whole numbers")
    elif values.dtype.kind not in "iu":
        raise AgainError(f"{source}: category ids must be integers, got dtype {values.dtype}")
    ids = values.astype(np.int64)
    bad = (ids < 0) | (ids >= num_categories)
    if bad.any():
        raise AgainError(f"{source}: unknown category id {ids[bad][0]} (the rules have ids 0..{num_categories - 1})")
    return ids


def load_predictions(
    preds_path: str | os.PathLike,
    ruleset: RuleSet,
    categories_path: str | os.PathLike | None = None,
    logits: bool = False,
    concept_names: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Concept probabilities (N, M) in the rules' concept order and category ids (N,).

    ``preds_path`` is an ``.npy`` array (N, M), or an ``.npz`` with ``concepts`` and (unless
    ``categories_path`` is given) ``categories`` — the layout ``again-mln predict`` writes. Its
    ``concept_names`` / ``category_names``, when present, put the columns into the rules' order
    (so do the names in the file ``concept_names``).
    """
    preds_path = Path(preds_path)
    keys = _npz_keys(preds_path)
    concepts = load_array(preds_path, "concepts" if keys else None).astype(np.float64, copy=False)
    if categories_path is not None:
        categories = load_array(categories_path, "categories" if _npz_keys(Path(categories_path)) else None)
        category_source = str(categories_path)
    elif "categories" in keys:
        categories, category_source = load_array(preds_path, "categories"), f"{preds_path}[categories]"
        if "category_names" in keys and categories.ndim == 2:
            names = saved_names(preds_path, "category_names")
            categories = align_columns(categories, names, ruleset.categories, f"{preds_path}[category_names]", "category")
    else:
        raise AgainError(f"{preds_path}: no categories; pass --categories FILE or an .npz with a 'categories' array")
    if concepts.ndim != 2:
        raise AgainError(f"{preds_path}: expected concept predictions of shape (N, M), got {concepts.shape}")
    if concept_names is not None:
        concepts = align_columns(concepts, read_names(concept_names), ruleset.concepts, str(concept_names), "concept")
    elif "concept_names" in keys:
        names = saved_names(preds_path, "concept_names")
        concepts = align_columns(concepts, names, ruleset.concepts, f"{preds_path}[concept_names]", "concept")
    if concepts.shape[1] != len(ruleset.concepts):
        raise AgainError(
            f"{preds_path}: has {concepts.shape[1]} concept columns but the rules declare {len(ruleset.concepts)}"
        )
    if not np.isfinite(concepts).all():
        raise AgainError(f"{preds_path}: concept predictions contain NaN or infinite values")
    if logits:
        concepts = 1.0 / (1.0 + np.exp(-concepts))
    elif concepts.size and (concepts.min() < 0 or concepts.max() > 1):
        raise AgainError(f"{preds_path}: concept probabilities must lie in [0, 1] (use --logits for logits)")
    ids = to_category_ids(categories, len(ruleset.categories), category_source)
    if len(ids) != len(concepts):
        raise AgainError(f"{category_source}: has {len(ids)} categories but {preds_path} has {len(concepts)} rows")
    return concepts.astype(np.float32), ids
