"""Corrupted checkpoints through ``predict`` and ``attack``: byte-wise damage to the file and
well-formed files with entries missing or of the wrong type. Each run works or fails with one
clean line, leaves no stray file and changes no input; nothing is ever unpickled."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from hostile import assert_clean, corrupted, fuzz_settings, run, snapshot

COMMANDS = {
    "predict": ["--device", "cpu", "--split", "test"],
    "attack": ["--device", "cpu", "--steps", "1", "--limit", "4", "--quiet"],
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> bytes:
    """A tiny EWS model, trained once for the module."""
    path = tmp_path_factory.mktemp("model") / "m.pt"
    result = run("train", "--dataset", "ews", "--n-train", "200", "--n-test", "20", "--epochs", "1",
                 "--head-epochs", "1", "--hidden", "8", "--quiet", "--device", "cpu", "-o", path)
    assert result.exit_code == 0, result.output
    return path.read_bytes()


def _check(command: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="again-fuzz-") as tmp:
        folder = Path(tmp)
        (folder / "m.pt").write_bytes(data)
        before = snapshot(folder)
        output = folder / "out.npz"
        assert_clean(run(command, folder / "m.pt", "-o", output, *COMMANDS[command]), folder, before, output)


@fuzz_settings(120)
@given(data=st.data())
def test_corrupted_checkpoint_files(checkpoint, data):
    command = data.draw(st.sampled_from(sorted(COMMANDS)))
    _check(command, data.draw(corrupted(checkpoint)))


ODD_VALUES = [None, 0, -1, 1.5, "x", "", [], ["A"], {}, {"kind": "cbm"}, torch.zeros(2)]


@fuzz_settings(80)
@given(data=st.data())
def test_checkpoints_with_missing_or_malformed_entries(checkpoint, data):
    payload = torch.load(io.BytesIO(checkpoint), weights_only=True)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(payload)))
        where = data.draw(st.sampled_from(["drop", "replace", "config"]))
        if where == "drop":
            payload.pop(key)
        elif where == "replace":
            payload[key] = data.draw(st.sampled_from(ODD_VALUES))
        elif isinstance(payload.get("model_config"), dict) and payload["model_config"]:
            field = data.draw(st.sampled_from(sorted(payload["model_config"])))
            payload["model_config"][field] = data.draw(st.sampled_from(ODD_VALUES))
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    _check(data.draw(st.sampled_from(sorted(COMMANDS))), buffer.getvalue())
