"""Third-party data sets for the tests (MNIST, CUB-200-2011).

A test that reads one is marked ``@pytest.mark.data("mnist")`` (or asks for the ``mnist_folder`` /
``cub_folder`` fixture). The data set is looked for where the package looks (``$AGAIN_DATA``, then
the per-user folder). When it is absent the test is skipped with the command that fetches it;
with ``AGAIN_REQUIRE_DATA=1`` (CI) it fails instead, so CI never silently skips a data test.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from again_mln.datasets.store import locate
from again_mln.errors import AgainError


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "data(*names): the test reads these third-party data sets")


def data_folder(name: str) -> Path:
    """The data set's folder, or skip (fail under ``AGAIN_REQUIRE_DATA=1``) when it is absent."""
    try:
        return locate(name)
    except AgainError as err:
        if os.environ.get("AGAIN_REQUIRE_DATA") == "1":
            pytest.fail(f"AGAIN_REQUIRE_DATA=1 but {err}")
        pytest.skip(f"{name} data set absent: run `again-mln data fetch {name}` (or set AGAIN_DATA)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("data"):
        for name in mark.args:
            data_folder(name)


@pytest.fixture(scope="session")
def mnist_folder() -> Path:
    return data_folder("mnist")


@pytest.fixture(scope="session")
def cub_folder() -> Path:
    """The folder holding ``CUB_200_2011/`` and ``attributes.txt``."""
    return data_folder("cub")


def shared_folder(name: str) -> Path:
    """A folder of the data folder that no data set registers (pracmln's examples, the Markov
    logic benchmarks): ``$AGAIN_DATA/name``, or skip (fail under ``AGAIN_REQUIRE_DATA=1``)."""
    root = os.environ.get("AGAIN_DATA")
    folder = Path(root) / name if root else None
    if folder is None or not folder.is_dir():
        if os.environ.get("AGAIN_REQUIRE_DATA") == "1":
            pytest.fail(f"AGAIN_REQUIRE_DATA=1 but {name} is not in AGAIN_DATA ({root})")
        pytest.skip(f"{name} absent: set AGAIN_DATA to the shared data folder")
    return folder
