"""Checkpoints: the weights plus everything needed to rebuild the model and regenerate its data
(model, data and training configs, concept and category names), loadable with
``torch.load(weights_only=True)``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from again_mln.io.atomic import atomic_path, note_input
from again_mln.datasets import DataConfig
from again_mln.errors import AgainError, short
from again_mln.models.cbm import ConceptModel
from again_mln.models.factory import ModelConfig, build_model

FORMAT = "again-mln-model/1"
#: what every checkpoint holds, and the Python type of each entry
_REQUIRED = {"model_config": dict, "data_config": (dict, type(None)), "concept_names": list,
             "category_names": list, "state_dict": dict}


def save_checkpoint(path: str | os.PathLike, model: ConceptModel, model_config: ModelConfig,
                    data_config: DataConfig | None = None, extra: dict[str, Any] | None = None) -> None:
    """Write ``model`` and its configs atomically; ``extra`` holds plain metadata (training
    config, metrics, history)."""
    payload = {
        "format": FORMAT,
        "model_config": model_config.to_dict(),
        "data_config": data_config.to_dict() if data_config is not None else None,
        "concept_names": list(model.concept_names),
        "category_names": list(model.category_names),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dictionary, with a clear error for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise AgainError(f"{path}: no such checkpoint")
    note_input(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt or foreign file
        raise AgainError(f"{path}: not a readable again-mln checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AgainError(f"{path}: not an again-mln model checkpoint (expected format {FORMAT})")
    for key, kind in _REQUIRED.items():
        if not isinstance(payload.get(key), kind):
            problem = "has no" if key not in payload else "has a malformed"
            raise AgainError(f"{path}: the checkpoint {problem} {key!r}")
    for key in ("concept_names", "category_names"):
        if not payload[key] or not all(isinstance(name, str) for name in payload[key]):
            raise AgainError(f"{path}: the checkpoint's {key!r} must be a non-empty list of names")
    return payload


def load_checkpoint(path: str | os.PathLike, backbone: nn.Module | None = None
                    ) -> tuple[ConceptModel, dict[str, Any]]:
    """Rebuild the model (pass ``backbone`` when it was trained with a user module) and return
    it in eval mode with the checkpoint's metadata."""
    payload = read_checkpoint(path)
    try:
        config = ModelConfig.from_dict(payload["model_config"])
        model = build_model(config, payload["concept_names"], payload["category_names"], backbone=backbone)
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as err:
        reason = short(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__, 100)[1:-1]
        raise AgainError(f"{path}: its model_config does not describe a model ({reason})") from None
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise AgainError(f"{path}: weights do not fit the model they describe ({short(first, 100)[1:-1]})") from None
    return model.eval(), payload
