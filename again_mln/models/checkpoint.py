"""Checkpoints: the weights plus everything needed to rebuild the model and regenerate its data
(model, data and training configs, concept and category names), loadable with
``torch.load(weights_only=True)``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from again_mln.atomic import atomic_path
from again_mln.datasets import DataConfig
from again_mln.errors import AgainError
from again_mln.models.cbm import ConceptModel
from again_mln.models.factory import ModelConfig, build_model

FORMAT = "again-mln-model/1"


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
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt or foreign file
        raise AgainError(f"{path}: not a readable again-mln checkpoint ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AgainError(f"{path}: not an again-mln model checkpoint (expected format {FORMAT})")
    return payload


def load_checkpoint(path: str | os.PathLike, backbone: nn.Module | None = None
                    ) -> tuple[ConceptModel, dict[str, Any]]:
    """Rebuild the model (pass ``backbone`` when it was trained with a user module) and return
    it in eval mode with the checkpoint's metadata."""
    payload = read_checkpoint(path)
    config = ModelConfig.from_dict(payload["model_config"])
    model = build_model(config, payload["concept_names"], payload["category_names"], backbone=backbone)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise AgainError(f"{path}: weights do not fit the model they describe ({str(err).splitlines()[0]})") from None
    return model.eval(), payload
