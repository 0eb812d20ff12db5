"""The one place that turns a user's device name into a torch device, and says what ran."""
from __future__ import annotations

import os
import platform

import torch

from again_mln.errors import AgainError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"`` -> cuda when present, else cpu; anything else as torch reads it, with
    a one-line error for unknown names and for cuda without a GPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise AgainError(f"unknown device {device!r}; expected auto, cpu or cuda[:N]") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise AgainError("device 'cuda' requested but no CUDA device is available")
    return resolved


def describe_machine(device: str | torch.device | None = "cpu") -> str:
    """One line saying where a measurement ran (CPU, torch threads, the GPU when ``device`` is
    one), taken when it runs so that a report merged later still says how each part ran."""
    threads = torch.get_num_threads()
    line = (f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
            f"({threads} thread{'s' * (threads != 1)}), Python {platform.python_version()}")
    resolved = torch.device(device) if device is not None else torch.device("cpu")
    if resolved.type == "cuda":
        line += f", GPU {torch.cuda.get_device_name(resolved)}"
    return line
