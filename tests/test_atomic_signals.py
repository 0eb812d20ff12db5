"""A signal in the middle of a large write leaves nothing behind: not the output, not the temporary
file. Run in subprocesses, because the signal must really arrive while bytes are being written."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hostile import RULES

WRITER = """
import signal, sys, time
# Ctrl-C raises KeyboardInterrupt, as in a terminal, even when the test runs as a background job
# (which starts with SIGINT ignored, and atomic_path then rightly leaves SIGINT alone)
signal.signal(signal.SIGINT, signal.default_int_handler)
from again_mln.io.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp, open(tmp, "wb") as handle:
    handle.write(b"x" * 1024)
    handle.flush()
    print("writing", flush=True)
    # about a minute of 256 KiB blocks, far longer than the test waits; 1 MiB blocks filled the page
    # cache so fast on a busy disk that one write, and the signal handler after it, stalled for 30 s
    for _ in range(6000):
        handle.write(bytes(1 << 18))
        time.sleep(0.01)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_a_large_write_removes_the_temporary_file(tmp_path, signum):
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "out.bin")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    assert len(list(tmp_path.iterdir())) == 1  # the temporary file, growing
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=90)
    assert process.returncode != 0
    if signum != signal.SIGINT:
        assert process.returncode == 128 + signum and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


EARLY = """
import os, signal, sys, tempfile
from again_mln.io.atomic import atomic_path
real = tempfile.mkstemp
def mkstemp(*args, **kwargs):
    made = real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)  # the moment the temporary file exists
    return made
tempfile.mkstemp = mkstemp
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("never")
"""


def test_a_signal_right_after_the_temporary_file_is_made_removes_it(tmp_path):
    """The signal comes before the clean-up is in place; it must wait for it, not skip it."""
    process = subprocess.run([sys.executable, "-c", EARLY, str(tmp_path / "out.txt")], capture_output=True,
                             text=True, timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, process.stderr
    assert list(tmp_path.iterdir()) == []


def _wait_for_temporary(folder: Path, process: subprocess.Popen, seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        if any(p.name.startswith(".out.npz") for p in folder.iterdir()):
            return True
        time.sleep(0.005)
    return False


def test_sigterm_while_rectify_writes_leaves_nothing(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "preds.npy", rng.random((3_000_000, 3), dtype=np.float32))
    np.save(tmp_path / "cats.npy", rng.integers(0, 2, 3_000_000))
    (tmp_path / "r.mln").write_text(RULES)
    inputs = sorted(p.name for p in tmp_path.iterdir())
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("again-mln")), "rectify", "preds.npy", "--categories", "cats.npy", "--mln", "r.mln",
         "-o", "out.npz", "--no-cache", "--quiet", "--device", "cpu", "--chunk-size", "20000"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = _wait_for_temporary(tmp_path, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert started, f"rectify finished before a temporary file was seen: {stderr}"
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == inputs
