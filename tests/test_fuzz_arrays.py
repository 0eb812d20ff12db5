"""Byte-wise corrupted ``.npy``/``.npz`` inputs, and well-formed arrays of the wrong dtype or
shape, through every command that reads arrays: each run works or fails with one clean line,
leaves no stray file and changes no input."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from hostile import RULES, assert_clean, corrupted, fuzz_settings, predictions, run, snapshot, training_data


def _bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=array.dtype.hasobject)
    return buffer.getvalue()


PREDS, TRAIN = _bytes(**predictions()), _bytes(**training_data())
TABLE = _bytes(**training_data(), diagnosis=np.arange(40) % 3)
PREDS_NPY, CATS_NPY = _npy(predictions()["concepts"]), _npy(np.arange(12) % 2)


def _command(command: str, folder: Path, name: str) -> tuple[list, Path]:
    output = folder / ("w.mln" if command != "rectify" else "out.npz")
    return {
        "rectify": ["rectify", folder / name, "--mln", folder / "r.mln", "-o", output, "--no-cache", "--device", "cpu"],
        "learn-weights": ["learn-weights", folder / "r.mln", "--data", folder / name, "-o", output, "--device", "cpu",
                          "--max-iter", "20"],
        "build-rules": ["build-rules", "--dataset", "table", "--table", folder / name, "--category-column",
                        "diagnosis", "--min-support", "1", "-o", output],
    }[command], output


def _check(command: str, files: dict[str, bytes], name: str, *extra: str) -> None:
    with tempfile.TemporaryDirectory(prefix="again-fuzz-") as tmp:
        folder = Path(tmp)
        (folder / "r.mln").write_text(RULES)
        for file, data in files.items():
            (folder / file).write_bytes(data)
        before = snapshot(folder)
        args, output = _command(command, folder, name)
        extra = [folder / arg[1:] if arg.startswith("@") else arg for arg in extra]  # "@name": a file here
        assert_clean(run(*args, *extra), folder, before, output)


@fuzz_settings(150)
@given(corrupted(PREDS))
def test_corrupted_prediction_archives(data):
    _check("rectify", {"preds.npz": data}, "preds.npz")


@fuzz_settings(100)
@given(corrupted(PREDS_NPY), corrupted(CATS_NPY) | st.just(CATS_NPY))
def test_corrupted_prediction_and_category_arrays(preds, cats):
    _check("rectify", {"preds.npy": preds, "cats.npy": cats}, "preds.npy", "--categories", "@cats.npy")


@fuzz_settings(80)
@given(corrupted(TRAIN))
def test_corrupted_training_data(data):
    _check("learn-weights", {"train.npz": data}, "train.npz")


@fuzz_settings(100)
@given(corrupted(TABLE))
def test_corrupted_concept_tables(data):
    _check("build-rules", {"table.npz": data}, "table.npz")


DTYPES = ["bool", "int8", "uint64", "float16", "float32", "float64", "complex64", "U3", "S3", "datetime64[D]",
          "timedelta64[s]", "object", [("a", "f4"), ("b", "i2")]]
SPECIAL = [0.0, 1.0, 0.5, -1.0, 2.0, 7.0, np.nan, np.inf, -np.inf, 1e39]


@st.composite
def odd_arrays(draw) -> np.ndarray:
    """Arrays of any dtype NumPy saves, of 0 to 3 dimensions, holding odd values (NaN, inf, huge)."""
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    size = int(np.prod(shape))
    values = np.array(draw(st.lists(st.sampled_from(SPECIAL), min_size=size, max_size=size)), dtype=float)
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    if dtype.fields is not None:
        return np.zeros(shape, dtype)
    with np.errstate(all="ignore"):
        finite = np.nan_to_num(values, posinf=9, neginf=-9)
        if dtype.kind in "US":
            array = values.astype(str).astype(dtype)
        elif dtype.kind in "Mm":
            array = finite.astype(np.int64).astype(dtype)
        elif dtype.kind in "biu":
            array = finite.astype(dtype)
        else:
            array = values.astype(dtype)
    return array.reshape(shape)


@fuzz_settings(150)
@given(st.sampled_from(["rectify", "learn-weights"]), st.sampled_from(["concepts", "categories"]), odd_arrays())
def test_arrays_of_the_wrong_dtype_or_shape(command, key, array):
    arrays = predictions(4) if command == "rectify" else training_data(4)
    arrays[key] = array
    name = "preds.npz" if command == "rectify" else "train.npz"
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, allow_pickle=True) if array.dtype.hasobject else np.savez(buffer, **arrays)
    _check(command, {name: buffer.getvalue()}, name)
