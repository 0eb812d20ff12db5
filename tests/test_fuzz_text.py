"""Byte-wise corrupted ``.mln``, ``.db`` and CSV files through the commands that read them: each
run either works or fails with one clean line, leaves no stray file and changes no input."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from again_mln.errors import AgainError
from again_mln.again.mlnfile import format_db, parse_mln, read_db
from hostile import CSV, RULES, assert_clean, corrupted, fuzz_settings, predictions, run, snapshot, training_data

COMMANDS = ["rectify", "learn-weights", "inspect"]


def _folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="again-fuzz-")


@fuzz_settings(300)
@given(st.sampled_from(COMMANDS), corrupted(RULES.encode()))
def test_corrupted_rule_files(command, data):
    with _folder() as name:
        folder = Path(name)
        (folder / "r.mln").write_bytes(data)
        np.savez(folder / "preds.npz", **predictions())
        np.savez(folder / "train.npz", **training_data())
        before = snapshot(folder)
        output = {"rectify": folder / "out.npz", "learn-weights": folder / "w.mln", "inspect": None}[command]
        args = {"rectify": ["rectify", folder / "preds.npz", "--mln", folder / "r.mln", "-o", output, "--no-cache",
                            "--device", "cpu"],
                "learn-weights": ["learn-weights", folder / "r.mln", "--data", folder / "train.npz", "-o", output,
                                  "--device", "cpu", "--max-iter", "20"],
                "inspect": ["inspect", folder / "r.mln"]}[command]
        assert_clean(run(*args), folder, before, output)


@fuzz_settings(200)
@given(corrupted(CSV.encode()), st.sampled_from(["diagnosis", "fever"]))
def test_corrupted_csv_tables(data, column):
    with _folder() as name:
        folder = Path(name)
        (folder / "t.csv").write_bytes(data)
        before = snapshot(folder)
        result = run("build-rules", "--dataset", "table", "--table", folder / "t.csv", "--category-column", column,
                     "--min-support", "1", "-o", folder / "out.mln")
        assert_clean(result, folder, before, folder / "out.mln")


DB = format_db(parse_mln(RULES), training_data(6)["concepts"], training_data(6)["categories"]).encode()


@fuzz_settings(300)
@given(corrupted(DB))
def test_corrupted_evidence_files(data):
    """No command reads ``.db`` files; the reader itself must answer with data or an AgainError."""
    ruleset = parse_mln(RULES)
    with _folder() as name:
        path = Path(name) / "e.db"
        path.write_bytes(data)
        try:
            concepts, categories = read_db(path, ruleset)
        except AgainError as err:
            assert "\n" not in str(err) and str(err).startswith(str(path))
            return
        assert concepts.shape == (len(categories), 3) and set(np.unique(concepts)) <= {0, 1}
        assert ((categories >= 0) & (categories < 2)).all()
