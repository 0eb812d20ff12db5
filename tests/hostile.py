"""Shared by the hostile-input tests: run a command in-process and check that it either worked or
failed cleanly (one ``Error:`` line, exit status 1, no traceback, nothing left behind, inputs intact)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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
                 usage_ok: bool = False, unexpected_ok: bool = False) -> None:
    """Exit 0 with a complete ``output``, or exit 1 with one short ``Error:`` line and no new file;
    no traceback either way, every input byte-identical. The error must be an input error that the
    library anticipated (``file: what was expected``), not the guard's catch-all, unless
    ``unexpected_ok``."""
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
        assert "--debug" not in errors[0] or unexpected_ok, f"not an AgainError, so not precise: {errors[0]}"
        assert [line for line in text.splitlines() if line.strip()][-1] == errors[0], text
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "a temporary file was left behind"


# ------------------------------------------------------------------------- corruption strategies
def fuzz_settings(examples: int) -> settings:
    """Deterministic and CI-sized: the same cases on every run, no example database, no deadline."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


#: Pieces of text that break parsers: operators, deep nesting, huge or odd numbers, odd characters.
SNIPPETS = [b"(", b")", b"=>", b"<=>", b"!", b"^", b" v ", b".", b",", b"{", b"}", b"=", b"\"", b"//", b"#",
            b"1e39 ", b"nan ", b"inf ", b"-0 ", b"1e-320 ", b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\r", b"\r\n",
            b"\t", b"label(Y)", b"active(A)", b"active(Q)", b"concept = {A, A}", b"(" * 200, b"!" * 300,
            b"x" * 5000, b"\xe2\x80\xa6", b"---", b"diagnosis", b",,,", b"1,1"]


@st.composite
def corrupted(draw, data: bytes) -> bytes:
    """``data`` truncated, bit-flipped, overwritten, spliced with random bytes or parser-hostile
    snippets, duplicated, or given a byte-order mark / CRLF line ends (or a mix)."""
    def position(end: int) -> int:
        return draw(st.integers(0, max(end, 0)))

    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "snippet", "random", "bom", "crlf",
                                     "duplicate", "delete"]))
        n = len(data)
        if kind == "truncate":
            data = data[:position(n - 1)]
        elif kind == "flip" and n:
            flipped = bytearray(data)
            for at in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=8)):
                flipped[at] ^= 1 << draw(st.integers(0, 7))
            data = bytes(flipped)
        elif kind == "overwrite":
            at = position(n - 1)
            patch = draw(st.binary(min_size=1, max_size=64))
            data = data[:at] + patch + data[at + len(patch):]
        elif kind == "insert":
            at = position(n)
            data = data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
        elif kind == "snippet":
            at = position(n)
            data = data[:at] + draw(st.sampled_from(SNIPPETS)) + data[at:]
        elif kind == "random":
            data = draw(st.binary(max_size=512))
        elif kind == "bom":
            data = b"\xef\xbb\xbf" + data
        elif kind == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif kind == "duplicate" and n:
            start = position(n - 1)
            data = data + data[start:start + draw(st.integers(1, 200))]
        elif kind == "delete" and n:
            start = position(n - 1)
            data = data[:start] + data[start + draw(st.integers(1, 64)):]
    return data
