"""`again-mln data status|fetch` against a local HTTP server serving small stand-in archives.

The server runs on 127.0.0.1 and serves what each test puts in its folder; the data-set registry
is pointed at it with the stand-ins' own checksums. Nothing here touches the real network.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from again_mln.cli import main
from again_mln.datasets import store
from again_mln.datasets.cub import read_cub_scores
from again_mln.datasets.mnist import read_mnist

MNIST_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz"]


class _Handler(http.server.SimpleHTTPRequestHandler):
    truncate: set[str] = set()  # names sent with a Content-Length larger than the body

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        if name in self.truncate:
            body = (Path(self.directory) / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """(folder served, base URL, set of names to truncate)."""
    folder = tmp_path / "served"
    folder.mkdir()
    truncate: set[str] = set()
    handler = type("Handler", (_Handler,), {"truncate": truncate})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            lambda *a, **k: handler(*a, directory=str(folder), **k))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}/", truncate
    httpd.shutdown()
    httpd.server_close()


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def _idx(magic: int, shape: tuple[int, ...], values: np.ndarray) -> bytes:
    return gzip.compress(struct.pack(f">I{len(shape)}I", magic, *shape) + values.astype(np.uint8).tobytes())


def _mnist_stand_in(folder: Path, base: str, monkeypatch) -> dict[str, bytes]:
    """Tiny but valid idx files (5 digits per split) served at ``base``; the registry points at them."""
    rng = np.random.default_rng(0)
    files = {}
    for prefix in ("train", "t10k"):
        files[f"{prefix}-images-idx3-ubyte.gz"] = _idx(2051, (5, 28, 28), rng.integers(0, 256, (5, 28, 28)))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = _idx(2049, (5,), np.arange(5))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    archives = tuple(store.Archive(base + name, _md5(files[name]), unpack=False) for name in MNIST_NAMES)
    monkeypatch.setitem(store.DATA_SETS, "mnist", dataclasses.replace(store.DATA_SETS["mnist"], archives=archives))
    return files


def _tgz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _cub_members(n_categories: int = 200) -> dict[str, bytes]:
    """The annotation files of CUB_200_2011.tgz, with made-up scores, in the archive's layout."""
    rng = np.random.default_rng(1)
    scores = "\n".join(" ".join(f"{v:.2f}" for v in row) for row in rng.uniform(0, 100, (n_categories, 312)))
    return {
        "CUB_200_2011/classes.txt": "\n".join(f"{i + 1} {i + 1:03d}.Bird_{i}" for i in range(n_categories)).encode(),
        "CUB_200_2011/image_class_labels.txt": "\n".join(f"{i + 1} {i % n_categories + 1}" for i in range(400)).encode(),
        "CUB_200_2011/attributes/class_attribute_labels_continuous.txt": scores.encode(),
        "attributes.txt": "\n".join(f"{i + 1} has_part::value_{i}" for i in range(312)).encode(),
    }


def _serve_cub(folder: Path, base: str, monkeypatch, members: dict[str, bytes]) -> None:
    data = _tgz(members)
    (folder / "CUB_200_2011.tgz").write_bytes(data)
    archive = store.Archive(base + "CUB_200_2011.tgz", _md5(data), unpack=True)
    monkeypatch.setitem(store.DATA_SETS, "cub", dataclasses.replace(store.DATA_SETS["cub"], archives=(archive,)))


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def _everything(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_fetch_mnist_verifies_unpacks_and_status_sees_it(server, tmp_path, monkeypatch):
    folder, base, _ = server
    files = _mnist_stand_in(folder, base, monkeypatch)
    target = tmp_path / "data"
    result = _run("data", "fetch", "mnist", "--to", str(target), "--quiet")
    assert result.exit_code == 0, result.output
    assert _everything(target) == ["MNIST", "MNIST/raw"] + [f"MNIST/raw/{n}" for n in sorted(MNIST_NAMES)]
    assert all((target / "MNIST" / "raw" / name).read_bytes() == data for name, data in files.items())
    images, labels = read_mnist(target / "MNIST", "test")
    assert images.shape == (5, 28, 28) and labels.tolist() == [0, 1, 2, 3, 4]
    status = _run("data", "status", "--data-root", str(target))
    assert status.exit_code == 0 and f"{target / 'MNIST'}: complete" in status.output
    again = _run("data", "fetch", "mnist", "--to", str(target), "--quiet")
    assert again.exit_code == 0 and "already complete" in again.output


def test_wrong_checksum_leaves_nothing(server, tmp_path, monkeypatch):
    folder, base, _ = server
    _mnist_stand_in(folder, base, monkeypatch)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not what was published")
    target = tmp_path / "data"
    result = _run("data", "fetch", "mnist", "--to", str(target), "--quiet")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "published checksum" in errors[0] and result.output.endswith(errors[0] + "\n")
    assert not (target / "MNIST").exists()
    assert [p for p in _everything(target) if "partial" in p or p.endswith(".gz") and "t10k-labels" in p] == []


def test_interrupted_transfer_leaves_nothing(server, tmp_path, monkeypatch):
    folder, base, truncate = server
    _serve_cub(folder, base, monkeypatch, _cub_members())
    truncate.add("CUB_200_2011.tgz")
    target = tmp_path / "data"
    result = _run("data", "fetch", "cub", "--to", str(target), "--quiet")
    assert result.exit_code == 1 and "cannot download" in result.output, result.output
    assert _everything(target) == []


def test_offline_says_what_to_download_and_archives_folder_works(server, tmp_path, monkeypatch):
    folder, base, _ = server
    _serve_cub(folder, base, monkeypatch, _cub_members())
    dead = "http://127.0.0.1:9/"  # the discard port: nothing listens there
    spec = store.DATA_SETS["cub"]
    offline = dataclasses.replace(spec.archives[0], url=dead + "CUB_200_2011.tgz")
    monkeypatch.setitem(store.DATA_SETS, "cub", dataclasses.replace(spec, archives=(offline,)))
    target = tmp_path / "data"
    result = _run("data", "fetch", "cub", "--to", str(target), "--quiet")
    assert result.exit_code == 1
    assert "cannot download (no connection)" in result.output and "--archives" in result.output
    assert not (target / "cub").exists()
    # the user downloads the archive by hand: it is verified and unpacked, the download kept
    result = _run("data", "fetch", "cub", "--to", str(target), "--archives", str(folder), "--quiet")
    assert result.exit_code == 0, result.output
    assert (folder / "CUB_200_2011.tgz").is_file()
    scores = read_cub_scores(target / "cub")
    assert scores.scores.shape == (200, 312) and scores.category_names[0] == "001.Bird_0"


def test_unsafe_or_incomplete_archive_is_refused(server, tmp_path, monkeypatch):
    folder, base, _ = server
    _serve_cub(folder, base, monkeypatch, {**_cub_members(), "../escaped.txt": b"x"})
    target = tmp_path / "data"
    result = _run("data", "fetch", "cub", "--to", str(target), "--quiet")
    assert result.exit_code == 1 and "cannot unpack" in result.output, result.output
    assert not (tmp_path / "escaped.txt").exists() and not (target / "cub").exists()
    members = _cub_members()
    del members["attributes.txt"]
    _serve_cub(folder, base, monkeypatch, members)
    target = tmp_path / "data2"
    result = _run("data", "fetch", "cub", "--to", str(target), "--quiet")
    assert result.exit_code == 1 and "lack attributes.txt" in result.output
    # only the verified download is kept, so that a retry needs no new download
    assert _everything(target) == [".downloads", ".downloads/CUB_200_2011.tgz"]


def test_an_incomplete_folder_in_the_way_is_not_touched(server, tmp_path, monkeypatch):
    folder, base, _ = server
    _mnist_stand_in(folder, base, monkeypatch)
    mine = tmp_path / "data" / "MNIST" / "raw"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    result = _run("data", "fetch", "mnist", "--to", str(tmp_path / "data"), "--quiet")
    assert result.exit_code == 1 and "exists but lacks" in result.output
    assert _everything(tmp_path / "data") == ["MNIST", "MNIST/raw", "MNIST/raw/notes.txt"]


def test_data_folder_order_and_a_clear_error_when_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("AGAIN_DATA", str(tmp_path / "env"))
    origins = [origin for origin, _ in store.data_folders()]
    assert origins == ["$AGAIN_DATA", "per-user folder"]
    assert store.data_folders(tmp_path / "given") == [("--data-root", tmp_path / "given")]
    with pytest.raises(store.AgainError, match=r"mnist: not found in the data folder .*again-mln data fetch mnist"):
        store.locate("mnist", tmp_path / "given")
