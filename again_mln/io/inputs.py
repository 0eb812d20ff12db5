"""The one way arrays are read: ``.npy`` files and ``.npz`` archives checked for container, dtype,
shape and finiteness before use, so every command reports bad input the same way.

Nothing is ever unpickled. The header of an array is read and checked first (dtype, and that
the file really holds as many bytes as the shape needs), so a truncated or bit-flipped file is
an error naming the file, never a traceback or a huge allocation. ``mmap=True`` maps a ``.npy``
file, or an uncompressed member of an ``.npz`` (what ``np.savez`` writes), without reading it,
for commands that stream large inputs.
"""
from __future__ import annotations

import os
import struct
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from again_mln.io.atomic import note_input
from again_mln.errors import AgainError, short
from again_mln.again.logic import RuleSet, unsatisfiable_categories

#: dtype kinds of numeric data: bool, signed and unsigned integers, real floating point
NUMBERS = "biuf"
#: dtype kind of name arrays (``concept_names``, ``category_names``)
NAMES = "U"
_KIND_NAMES = {"b": "bool", "i": "integer", "u": "unsigned integer", "f": "float", "U": "text"}
_NPY_MAGIC, _ZIP_MAGICS = b"\x93NUMPY", (b"PK\x03\x04", b"PK\x05\x06")
#: what a corrupt file can raise while numpy or zipfile read it
_READ_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, struct.error,
                NotImplementedError, RuntimeError, MemoryError, SyntaxError, tokenize.TokenError)
_FINITE_BLOCK = 1 << 22  # elements checked at a time in a memory-mapped array


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise AgainError(f"{path}: no such file")
    note_input(path)
    return path


def _container(path: Path) -> str:
    """``"npy"`` or ``"npz"``, by content; a suffix that says otherwise is an error."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(6)
    except OSError as err:
        raise AgainError(f"{path}: cannot read ({err.strerror})") from None
    kind = "npy" if magic == _NPY_MAGIC else "npz" if magic[:4] in _ZIP_MAGICS else None
    if kind is None:
        raise AgainError(f"{path}: not a .npy or .npz file (no NumPy or zip header)")
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz") and suffix[1:] != kind:
        raise AgainError(f"{path}: is a .{kind} file despite its name; rename it .{kind}")
    return kind


def _reason(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return short(lines[0], 80)[1:-1] if lines else type(err).__name__


def _read_header(handle: BinaryIO, available: int, source: str, kinds: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, Fortran order, dtype and data offset of an array, checked before any data is read."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise AgainError(f"{source}: unsupported .npy format version {version[0]}.{version[1]}")
    _check_dtype(dtype, source, kinds)
    offset = handle.tell()
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if needed > available - offset:
        raise AgainError(f"{source}: truncated: shape {shape} needs {needed} bytes of data, "
                         f"the file holds {max(available - offset, 0)}")
    return shape, fortran, dtype, offset


def _check_dtype(dtype: np.dtype, source: str, kinds: str) -> None:
    plain = dtype.fields is None and dtype.subdtype is None and not dtype.hasobject
    if not plain or dtype.kind not in kinds:
        wanted = ", ".join(_KIND_NAMES[k] for k in kinds)
        what = "structured" if dtype.fields is not None else "object" if dtype.hasobject else str(dtype)
        raise AgainError(f"{source}: expected {wanted} values, got dtype {what}")


def array_names(path: str | os.PathLike) -> list[str]:
    """The array names of an ``.npz`` archive; ``[]`` for a ``.npy`` file."""
    path = _existing(path)
    if _container(path) == "npy":
        return []
    try:
        with zipfile.ZipFile(path) as archive:
            return [name[:-4] for name in archive.namelist() if name.endswith(".npy")]
    except _READ_ERRORS as err:
        raise AgainError(f"{path}: truncated or corrupt .npz archive ({_reason(err)})") from None


def load_array(
    path: str | os.PathLike,
    key: str | None = None,
    *,
    kinds: str = NUMBERS,
    ndim: int | tuple[int, ...] | None = None,
    mmap: bool = False,
    allow_empty: bool = False,
) -> np.ndarray:
    """One checked array: a ``.npy`` file, or the array ``key`` of an ``.npz`` archive (``key=None``
    accepts an archive holding a single array).

    ``kinds`` are the allowed dtype kinds (:data:`NUMBERS` or :data:`NAMES`); floats must be
    finite; ``ndim`` the allowed number(s) of dimensions; an array without values is an error
    unless ``allow_empty``. With ``mmap`` the data stay on disk (read-only) where possible.
    """
    path = _existing(path)
    container = _container(path)
    if container == "npy" and key is not None:
        raise AgainError(f"{path}: expected an .npz archive holding {key!r}, got a .npy array")
    try:
        if container == "npy":
            source = str(path)
            with path.open("rb") as handle:
                _read_header(handle, path.stat().st_size, source, kinds)
            array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        else:
            array, source = _load_member(path, key, kinds, mmap)
    except AgainError:
        raise
    except _READ_ERRORS as err:
        raise AgainError(f"{path}: truncated or corrupt .{container} file ({_reason(err)})") from None
    _check_values(array, source, ndim, allow_empty)
    return array


def _load_member(path: Path, key: str | None, kinds: str, mmap: bool) -> tuple[np.ndarray, str]:
    with zipfile.ZipFile(path) as archive:
        members = [name[:-4] for name in archive.namelist() if name.endswith(".npy")]
        if key is None and len(members) == 1:
            key = members[0]
        if key not in members:
            wanted = f"an array named {key!r}" if key else "a single array"
            held = ", ".join(short(m, 30) for m in members[:10]) or "nothing"
            raise AgainError(f"{path}: expected {wanted}; it holds {held}")
        source = f"{path}[{key}]"
        info = archive.getinfo(key + ".npy")
        with archive.open(info) as handle:
            shape, fortran, dtype, offset = _read_header(handle, info.file_size, source, kinds)
        if mmap and info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
            with path.open("rb") as raw:  # the member's data start after its local header
                raw.seek(info.header_offset + 26)
                name_length, extra_length = struct.unpack("<HH", raw.read(4))
            start = info.header_offset + 30 + name_length + extra_length + offset
            if shape and 0 not in shape:  # numpy cannot map an empty or 0-d array
                return np.memmap(path, dtype, "r", start, shape, "F" if fortran else "C"), source
        with archive.open(info) as handle:
            return np.lib.format.read_array(handle, allow_pickle=False), source


def _check_values(array: np.ndarray, source: str, ndim: int | tuple[int, ...] | None, allow_empty: bool) -> None:
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and array.ndim not in allowed:
        wanted = " or ".join(f"{d} dimension{'s' if d != 1 else ''}" for d in allowed)
        raise AgainError(f"{source}: expected {wanted}, got shape {array.shape}")
    if array.size == 0 and not allow_empty:
        raise AgainError(f"{source}: holds no values (shape {array.shape})")
    if array.dtype.kind == "f":
        flat = array.reshape(-1) if array.flags.c_contiguous or array.flags.f_contiguous else array.ravel()
        for start in range(0, flat.size, _FINITE_BLOCK):  # blocks keep a memory map's check small
            block = flat[start:start + _FINITE_BLOCK]
            if not np.isfinite(block).all():
                raise AgainError(f"{source}: values contain NaN or infinity "
                                 f"(first at flat index {start + int(np.argmin(np.isfinite(block)))})")


def align_columns(values: np.ndarray, names: list[str], wanted: tuple[str, ...], source: str, kind: str) -> np.ndarray:
    """Reorder the columns of ``values``, named ``names``, into the order ``wanted`` by the rules."""
    if len(names) != values.shape[1]:
        raise AgainError(f"{source}: names {len(names)} {kind}s but has {values.shape[1]} columns")
    position = {name: i for i, name in enumerate(names)}
    missing = [name for name in wanted if name not in position]
    if missing or len(position) != len(names) or len(names) != len(wanted):
        problem = f"{kind} {short(missing[0])} of the rules is missing" if missing else f"its {kind} names do not match the rules'"
        raise AgainError(f"{source}: {problem}")
    return values[:, [position[name] for name in wanted]]


def saved_names(path: str | os.PathLike, key: str) -> list[str] | None:
    """The names array ``key`` of an ``.npz`` (``concept_names``, ``category_names``), if it has one."""
    if key not in array_names(path):
        return None
    return [str(n) for n in load_array(path, key, kinds=NAMES, ndim=1)]


def names_of_ids(ids: np.ndarray, names: list[str], source: str) -> np.ndarray:
    """Category ids that index into ``names`` (saved beside them) turned into the names themselves."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" or (ids.size and (ids.min() < 0 or ids.max() >= len(names))):
        raise AgainError(f"{source}: category ids must index the saved category_names (0..{len(names) - 1})")
    return np.asarray(names)[ids]


def read_names(path: str | os.PathLike) -> list[str]:
    """Names listed one per line (blank lines ignored; a UTF-8 byte-order mark is skipped)."""
    path = _existing(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise AgainError(f"{path}: cannot read the list of names ({_reason(err)})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


#: how far a row of category probabilities may sum from 1 (float32 softmax outputs stay well within)
_PROBABILITY_SUM_TOLERANCE = 1e-3


def category_log_probs(scores: np.ndarray) -> np.ndarray:
    """(N, K) log-probabilities from stored category scores: probabilities (every entry in [0, 1]
    and every row summing to 1, what ``again-mln predict`` writes) are logged, anything else is
    read as logits and log-softmaxed (:func:`load_array` has checked they are finite). The argmax is the same either way; ``mixture`` needs the
    distribution itself."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size and (scores.min() >= 0 and scores.max() <= 1
                        and np.abs(scores.sum(1) - 1).max() <= _PROBABILITY_SUM_TOLERANCE):
        with np.errstate(divide="ignore"):
            return np.log(scores / scores.sum(1, keepdims=True))
    shifted = scores - scores.max(1, keepdims=True, initial=-np.inf)
    return shifted - np.log(np.exp(shifted).sum(1, keepdims=True))


def to_category_ids(values: np.ndarray, num_categories: int, source: str) -> np.ndarray:
    """(N,) integer ids, or (N, K) scores reduced by argmax, checked against K categories."""
    values = np.asarray(values)
    if values.ndim == 2:
        if values.shape[1] != num_categories:
            raise AgainError(f"{source}: expected {num_categories} category scores per row, got {values.shape[1]}")
        return values.argmax(1)
    if values.ndim != 1:
        raise AgainError(f"{source}: expected category ids (N,) or scores (N, K), got shape {values.shape}")
    if values.dtype.kind == "f" and (values != np.round(values)).any():
        raise AgainError(f"{source}: category ids must be whole numbers")
    ids = values.astype(np.int64)
    bad = (ids < 0) | (ids >= num_categories)
    if bad.any():
        raise AgainError(f"{source}: unknown category id {ids[bad][0]} (the rules have ids 0..{num_categories - 1})")
    return ids


@dataclass(frozen=True)
class Predictions:
    """Concept predictions and categories opened for reading in row blocks.

    The arrays stay memory-mapped where they can (``.npy`` files and uncompressed ``.npz``
    members), so ``rectify`` streams inputs larger than memory; :meth:`rows` checks and converts
    one block at a time.
    """

    concepts: np.ndarray  # (N, M') as stored
    categories: np.ndarray  # (N,) ids or (N, K') scores as stored
    concept_columns: np.ndarray | None  # stored columns in the rules' concept order
    category_columns: np.ndarray | None  # stored score columns in the rules' category order
    category_names: tuple[str, ...]  # the rules' categories
    impossible: np.ndarray  # category ids that the hard rules rule out
    logits: bool
    source: str
    category_source: str

    def __len__(self) -> int:
        return len(self.concepts)

    def rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Concept probabilities (n, M) float32 in the rules' order and the categories of rows
        ``start:stop``: ids (n,) where ids are stored, log-probabilities (n, K) float64 in the
        rules' order where scores are (:func:`category_log_probs`)."""
        concepts = np.asarray(self.concepts[start:stop], dtype=np.float64)
        if self.concept_columns is not None:
            concepts = concepts[:, self.concept_columns]
        if self.logits:
            concepts = 1.0 / (1.0 + np.exp(-concepts))
        elif concepts.size and (concepts.min() < 0 or concepts.max() > 1):
            raise AgainError(f"{self.source}: concept probabilities must lie in [0, 1] (use --logits for logits)")
        categories = np.asarray(self.categories[start:stop])
        if self.category_columns is not None:
            categories = categories[:, self.category_columns]
        ids = to_category_ids(categories, len(self.category_names), self.category_source)
        hit = np.isin(ids, self.impossible)
        if hit.any():
            raise AgainError(f"{self.category_source}: {int(hit.sum())} sample(s) of category "
                             f"{short(self.category_names[ids[hit][0]])}, which the hard rules make impossible")
        if categories.ndim == 2:
            return concepts.astype(np.float32), category_log_probs(categories)
        return concepts.astype(np.float32), ids


def _column_order(names: list[str], columns: int, wanted: tuple[str, ...], source: str, kind: str) -> np.ndarray:
    """Where each of the rules' names sits among the stored ``columns`` named ``names``."""
    return align_columns(np.arange(columns)[None, :], names, wanted, source, kind)[0]


def open_predictions(
    preds_path: str | os.PathLike,
    ruleset: RuleSet,
    categories_path: str | os.PathLike | None = None,
    logits: bool = False,
    concept_names: str | os.PathLike | None = None,
    mmap: bool = True,
) -> Predictions:
    """Open concept predictions and categories for block-wise reading; see :func:`load_predictions`.

    Shapes, dtypes, finiteness and names are checked here; value ranges and ids block by block.
    """
    preds_path = Path(preds_path)
    keys = array_names(preds_path)
    concepts = load_array(preds_path, "concepts" if keys else None, ndim=2, mmap=mmap)
    category_columns = None
    if categories_path is not None:
        categories = load_array(categories_path, "categories" if array_names(categories_path) else None,
                                ndim=(1, 2), mmap=mmap)
        category_source = str(categories_path)
    elif "categories" in keys:
        categories, category_source = load_array(preds_path, "categories", ndim=(1, 2), mmap=mmap), f"{preds_path}[categories]"
        if "category_names" in keys and categories.ndim == 2:
            category_columns = _column_order(saved_names(preds_path, "category_names"), categories.shape[1],
                                             ruleset.categories, f"{preds_path}[category_names]", "category")
    else:
        raise AgainError(f"{preds_path}: no categories; pass --categories FILE or an .npz with a 'categories' array")
    concept_columns = None
    if concept_names is not None:
        concept_columns = _column_order(read_names(concept_names), concepts.shape[1], ruleset.concepts,
                                        str(concept_names), "concept")
    elif "concept_names" in keys:
        concept_columns = _column_order(saved_names(preds_path, "concept_names"), concepts.shape[1],
                                        ruleset.concepts, f"{preds_path}[concept_names]", "concept")
    if concept_columns is None and concepts.shape[1] != len(ruleset.concepts):
        raise AgainError(
            f"{preds_path}: has {concepts.shape[1]} concept columns but the rules declare {len(ruleset.concepts)}"
        )
    to_category_ids(categories[:0], len(ruleset.categories), category_source)  # shape checks before any row
    if len(categories) != len(concepts):
        raise AgainError(f"{category_source}: has {len(categories)} categories but {preds_path} has {len(concepts)} rows")
    impossible = np.array([ruleset.category_index[name] for name in unsatisfiable_categories(ruleset)], dtype=np.int64)
    return Predictions(concepts, categories, concept_columns, category_columns, ruleset.categories,
                       impossible, logits, str(preds_path), category_source)


def load_predictions(
    preds_path: str | os.PathLike,
    ruleset: RuleSet,
    categories_path: str | os.PathLike | None = None,
    logits: bool = False,
    concept_names: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Concept probabilities (N, M) in the rules' concept order and the categories: ids (N,), or
    log-probabilities (N, K) where scores are stored (:meth:`Predictions.rows`).

    ``preds_path`` is an ``.npy`` array (N, M), or an ``.npz`` with ``concepts`` and (unless
    ``categories_path`` is given) ``categories`` — the layout ``again-mln predict`` writes. Its
    ``concept_names`` / ``category_names``, when present, put the columns into the rules' order
    (so do the names in the file ``concept_names``). Samples of a category that the hard rules
    make impossible are an error: detection would flag every one of them.
    """
    predictions = open_predictions(preds_path, ruleset, categories_path, logits, concept_names, mmap=False)
    return predictions.rows(0, len(predictions))
