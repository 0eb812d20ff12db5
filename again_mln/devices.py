"""The one place that turns a user's device name into a torch device."""
from __future__ import annotations

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
