"""The analysis notebooks in ``notebooks/`` run top to bottom without an error, write nothing, and
are committed without outputs.

Each notebook runs in its own empty working folder on a kernel that is this very interpreter (a
kernelspec written to a temporary ``JUPYTER_PATH``), so it sees the environment under test and
never a kernel installed elsewhere on the machine.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import data_folder

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "again-mln-tests"
#: Seconds one cell may run; each notebook is meant to finish in well under three minutes.
CELL_TIMEOUT = 300


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory) -> Path:
    """A Jupyter data folder whose only kernel runs ``sys.executable``."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "again-mln tests",
        "language": "python",
    }))
    return root


def test_the_notebooks_are_there():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"], [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert code and book.cells[0].cell_type == "markdown"
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, f"{path.name}: outputs not stripped"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_clean(path: Path, jupyter_path: Path, tmp_path: Path, monkeypatch):
    book = nbformat.read(path, as_version=4)
    for name in book.metadata.get("again_mln", {}).get("data", []):  # skips (or fails in CI) when absent
        data_folder(name)
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_path))
    NotebookClient(book, kernel_name=KERNEL, timeout=CELL_TIMEOUT,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [output for cell in book.cells for output in cell.get("outputs", [])
              if output.output_type == "error"]
    assert not errors
    figures = [output for cell in book.cells for output in cell.get("outputs", [])
               if "image/png" in output.get("data", {})]
    assert figures, f"{path.name} shows no figure"
    assert not list(tmp_path.iterdir()), f"{path.name} wrote files: {sorted(p.name for p in tmp_path.iterdir())}"
