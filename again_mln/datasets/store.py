"""Where third-party data sets live, whether they are complete, and how to fetch them.

MNIST and CUB-200-2011 are not shipped (their licences and sizes forbid it). They are looked for
in one *data folder*, chosen in this order: ``--data-root`` when given (and then only there),
``$AGAIN_DATA``, then a per-user folder (``platformdirs``) that ``again-mln data fetch`` fills.
Inside it each data set has the layout of its original distribution (``MNIST/raw/*.gz`` as
torchvision lays it out, ``cub/CUB_200_2011/`` with ``cub/attributes.txt`` beside it), so a copy
a user already has works when pointed at.

Fetching uses pooch: each official archive is downloaded to a temporary file, checked against its
published checksum, and only then kept; the data set is unpacked into a hidden folder beside its
final place and renamed into place in one step, so an interrupted or failed fetch leaves nothing
that looks like data.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from again_mln.io.atomic import cleanup_on_signals
from again_mln.errors import AgainError

APP_NAME = "again-mln"


@dataclass(frozen=True)
class Archive:
    """One file of an official distribution and its published checksum (``md5:...``)."""

    url: str
    known_hash: str
    unpack: bool  # a .tgz to extract; otherwise the file is kept as downloaded

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DataSet:
    """A third-party data set: its folder in the data folder, files that make it complete, origin."""

    name: str
    folder: str
    title: str
    licence: str
    homepage: str
    required: tuple[str, ...]  # paths relative to ``folder``
    archives: tuple[Archive, ...]
    archive_folder: str  # where the archives' files go inside ``folder``
    optional: tuple[str, ...] = ()  # parts only some uses need (CUB's images)


_MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # torchvision's mirror of LeCun's files
_MNIST_FILES = {  # md5 as published with torchvision's MNIST reader
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

DATA_SETS: dict[str, DataSet] = {
    "mnist": DataSet(
        name="mnist", folder="MNIST", title="MNIST handwritten digits (Synthetic-MNIST draws its digits from it)",
        licence="CC BY-SA 3.0 (Y. LeCun, C. Cortes, C. Burges)", homepage="http://yann.lecun.com/exdb/mnist/",
        required=tuple(f"raw/{name}" for name in _MNIST_FILES),
        archives=tuple(Archive(_MNIST_MIRROR + name, f"md5:{md5}", unpack=False) for name, md5 in _MNIST_FILES.items()),
        archive_folder="raw",
    ),
    "cub": DataSet(
        name="cub", folder="cub", title="Caltech-UCSD Birds-200-2011 (CUB rules, cub-sim, cub-koh, real CUB images)",
        licence="research and non-commercial use only (Caltech)",
        homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
        required=("CUB_200_2011/classes.txt", "CUB_200_2011/image_class_labels.txt",
                  "CUB_200_2011/attributes/class_attribute_labels_continuous.txt", "attributes.txt"),
        optional=("CUB_200_2011/images.txt", "CUB_200_2011/attributes/image_attribute_labels.txt",
                  "CUB_200_2011/train_test_split.txt"),
        archives=(Archive("https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
                          "md5:97eceeb196236b17998738112f37df78", unpack=True),),
        archive_folder="",
    ),
}


def data_set(name: str) -> DataSet:
    """The data set called ``name``, with a clear error for an unknown one."""
    if name not in DATA_SETS:
        raise AgainError(f"unknown data set {name!r}; expected one of {', '.join(DATA_SETS)}")
    return DATA_SETS[name]


def user_data_folder() -> Path:
    """The per-user data folder that ``again-mln data fetch`` fills by default."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME)) / "data"


def data_folders(data_root: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The data folders looked in, in order, each with where it came from."""
    if data_root is not None:
        return [("--data-root", Path(data_root))]
    folders = [("$AGAIN_DATA", Path(os.environ["AGAIN_DATA"]))] if os.environ.get("AGAIN_DATA") else []
    return folders + [("per-user folder", user_data_folder())]


def missing_files(spec: DataSet, folder: Path) -> list[str]:
    """The required files of ``spec`` that ``folder`` (the data set's own folder) lacks."""
    return [name for name in spec.required if not (folder / name).is_file()]


def locate(name: str, data_root: str | os.PathLike | None = None) -> Path:
    """The folder of data set ``name`` in the first data folder where it is complete."""
    spec = data_set(name)
    looked = [root / spec.folder for _, root in data_folders(data_root)]
    for folder in looked:
        if not missing_files(spec, folder):
            return folder
    raise AgainError(f"{spec.name}: not found in the data folder (looked in {', '.join(map(str, looked))}); "
                     f"run `again-mln data fetch {spec.name}` (offline: see `again-mln data fetch --help`) "
                     f"or pass --data-root")


@dataclass(frozen=True)
class Status:
    """One row of ``again-mln data status``."""

    name: str
    origin: str
    folder: Path
    missing: list[str]
    optional_missing: list[str]

    @property
    def complete(self) -> bool:
        return not self.missing


def status(data_root: str | os.PathLike | None = None) -> list[Status]:
    """Every data set in every data folder looked in, complete or not."""
    rows = []
    for spec in DATA_SETS.values():
        for origin, root in data_folders(data_root):
            folder = root / spec.folder
            rows.append(Status(spec.name, origin, folder, missing_files(spec, folder),
                               [n for n in spec.optional if not (folder / n).is_file()]))
    return rows


def fetch(name: str, to: str | os.PathLike | None = None, archives: str | os.PathLike | None = None,
          progress: bool = True, log: Callable[[str], None] = lambda _: None) -> Path:
    """Download (or take from ``archives``), verify and unpack data set ``name`` into the data
    folder ``to`` (default: the per-user folder); return the data set's folder.

    An archive already in ``archives`` (or in the download folder) with the right checksum is not
    downloaded again; one with a wrong checksum is an error. Nothing is written in place of the
    data set unless every archive verified and unpacked.
    """
    spec = data_set(name)
    root = Path(to) if to is not None else user_data_folder()
    target = root / spec.folder
    if target.exists():
        if not missing_files(spec, target):
            log(f"{spec.name}: already complete in {target}")
            return target
        raise AgainError(f"{target}: exists but lacks {missing_files(spec, target)[0]}; move it away or "
                         f"pass --to another data folder")
    root.mkdir(parents=True, exist_ok=True)
    downloads = Path(archives) if archives is not None else root / ".downloads"
    with cleanup_on_signals():
        return _fetch_into(spec, root, downloads, own_downloads=archives is None, progress=progress, log=log)


def _fetch_into(spec: DataSet, root: Path, downloads: Path, own_downloads: bool, progress: bool,
                log: Callable[[str], None]) -> Path:
    target = root / spec.folder
    files = [_retrieve(archive, downloads, progress, log) for archive in spec.archives]
    with _staging(root, spec.folder) as staging:
        destination = staging / spec.archive_folder
        destination.mkdir(parents=True, exist_ok=True)
        for archive, path in zip(spec.archives, files):
            log(f"{spec.name}: unpacking {path.name}")
            if archive.unpack:
                _extract(path, destination)
            else:
                shutil.copy2(path, destination / archive.name)  # the download is removed below
        still_missing = missing_files(spec, staging)
        if still_missing:
            raise AgainError(f"{spec.name}: the archives lack {still_missing[0]}; nothing was written")
        os.replace(staging, target)
    if own_downloads:  # keep what the user downloaded; drop our own downloads
        for path in files:
            path.unlink(missing_ok=True)
        _remove_if_empty(downloads)
    log(f"{spec.name}: complete in {target}")
    return target


def _retrieve(archive: Archive, folder: Path, progress: bool, log: Callable[[str], None]) -> Path:
    """The verified archive in ``folder``: pooch downloads it unless a verified copy is there."""
    import pooch
    import requests

    pooch.get_logger().setLevel("WARNING")  # our own log says what is downloaded

    local = folder / archive.name
    algorithm, digest = archive.known_hash.split(":")
    if local.is_file() and pooch.file_hash(str(local), algorithm) != digest:
        raise AgainError(f"{local}: checksum does not match the published {archive.known_hash}; delete it "
                         f"and fetch again")
    if not local.is_file():
        log(f"downloading {archive.url}")
    try:
        path = pooch.retrieve(archive.url, known_hash=archive.known_hash, fname=archive.name, path=folder,
                              progressbar=progress)
    except ValueError as err:  # pooch: checksum mismatch after download
        raise AgainError(f"{archive.url}: the download does not match the published checksum "
                         f"{archive.known_hash} ({_first_line(err)})") from None
    except (requests.RequestException, OSError) as err:
        reason = "no connection" if isinstance(err, requests.ConnectionError) else _first_line(err)
        raise AgainError(f"{archive.url}: cannot download ({reason}); download it by hand and pass the folder "
                         f"holding it with --archives") from None
    finally:
        _remove_if_empty(folder)
    return Path(path)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else err.__class__.__name__)[:200]


def _extract(archive: Path, destination: Path) -> None:
    """Extract a .tgz, refusing members that would land outside ``destination``."""
    if not hasattr(tarfile, "data_filter"):
        raise AgainError(f"{archive}: unpacking safely needs Python >= 3.10.12 or >= 3.11.4 (tarfile filters)")
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(destination, filter="data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise AgainError(f"{archive}: cannot unpack ({_first_line(err)})") from None


@contextlib.contextmanager
def _staging(root: Path, folder: str) -> Iterator[Path]:
    """An empty hidden folder in ``root``, removed on exit (errors and interruptions included)
    unless it was renamed into place first."""
    path = Path(tempfile.mkdtemp(prefix=f".{folder}.partial-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
