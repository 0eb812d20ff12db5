"""Shared by the hostile-input tests: run a command in-process and check that it either worked or
failed cleanly (one ``Error:`` line, exit status 1, no traceback, nothing left behind, inputs intact)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result

from again_mln.cli import main
from again_mln.errors import MAX_MESSAGE

RULES = """concept = {A, B, C}
category = {Y, Z}
active(concept)
label(category!)
1.0 label(Y) => active(A)
-0.5 label(Z) => active(A)
2.0 active(A) <=> active(B)
0.7 active(B) v !active(C)
label(Z) => !active(C).
"""
CSV = "fever,cough,rash,diagnosis\n" + "1,1,0,flu\n" * 12 + "0,0,1,measles\n" * 12 + "0,1,0,cold\n" * 12


def predictions(n: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """A valid ``predict``-layout archive for :data:`RULES` (categories as scores, names saved)."""
    rng = np.random.default_rng(seed)
    return {"concepts": rng.random((n, 3)).astype(np.float32), "categories": rng.random((n, 2)).astype(np.float32),
            "concept_names": np.array(["A", "B", "C"]), "category_names": np.array(["Y", "Z"])}


def training_data(n: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """0/1 concepts and category ids that break no hard rule of :data:`RULES`."""
    rng = np.random.default_rng(seed)
    concepts = (rng.random((n, 3)) < 0.5).astype(np.uint8)
    categories = rng.integers(0, 2, n)
    concepts[categories == 1, 2] = 0
    return {"concepts": concepts, "categories": categories}


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def assert_clean(result: Result, folder: Path, before: dict[str, bytes], output: Path | None = None,
                 usage_ok: bool = False) -> None:
    """Exit 0 with a complete ``output``, or exit 1 with one short ``Error:`` line and no new file;
    no traceback either way, every input byte-identical."""
    text = result.output
    assert "Traceback" not in text, text
    assert result.exit_code in ((0, 1, 2) if usage_ok else (0, 1)), (result.exit_code, text, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    after = snapshot(folder)
    assert {k: after[k] for k in before} == before, "an input was changed"
    new = sorted(set(after) - set(before))
    if result.exit_code == 0:
        assert new == ([output.name] if output is not None else []), new
        if output is not None and output.suffix == ".npz":
            with np.load(output) as arrays:  # complete: every member reads back
                assert all(arrays[k].size >= 0 for k in arrays.files)
    else:
        assert new == [], new
        errors = [line for line in text.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1, text
        assert len(errors[0]) <= len("Error: ") + MAX_MESSAGE, errors[0][:400]
        assert [line for line in text.splitlines() if line.strip()][-1] == errors[0], text
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "a temporary file was left behind"
