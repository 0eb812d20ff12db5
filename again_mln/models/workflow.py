"""The two end-to-end steps behind ``again-mln train`` and ``again-mln predict``."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from again_mln.datasets import ConceptDataset, DataConfig, load_dataset
from again_mln.errors import AgainError
from again_mln.models.cbm import ConceptModel
from again_mln.models.checkpoint import load_checkpoint, save_checkpoint
from again_mln.models.factory import ModelConfig, build_model
from again_mln.devices import resolve_device
from again_mln.models.training import EpochCallback, TrainConfig, accuracies, fit, predict


@dataclass
class TrainResult:
    """A trained model with its per-epoch history, test metrics and training time."""

    model: ConceptModel
    history: list[dict[str, Any]]
    metrics: dict[str, float]
    seconds: float


def train_model(data_config: DataConfig, model_config: ModelConfig, train_config: TrainConfig,
                output: str | os.PathLike | None = None, device: str = "auto", progress: bool = True,
                callback: EpochCallback | None = None) -> TrainResult:
    """Load the dataset, build and train the model, measure it on the test split and (with
    ``output``) save a checkpoint that carries every config."""
    dev = resolve_device(device)
    train, test = load_dataset(data_config, "train"), load_dataset(data_config, "test")
    model_config = replace(model_config, input_shape=list(train.x.shape[1:]))  # resolves backbone "auto"
    torch.manual_seed(train_config.seed)
    model = build_model(model_config, train.concept_names, train.category_names, train_x=train.x)
    start = time.perf_counter()
    history = fit(model, train, train_config, dev, progress=progress, callback=callback)
    seconds = time.perf_counter() - start
    metrics = accuracies(predict(model, test, device=dev))
    if output is not None:
        save_checkpoint(output, model, model_config, data_config,
                        {"train_config": train_config.to_dict(), "metrics": metrics, "history": history,
                         "train_seconds": seconds})
    return TrainResult(model, history, metrics, seconds)


def checkpoint_dataset(payload: dict[str, Any], path: str | os.PathLike, split: str,
                       data_overrides: dict[str, Any] | None = None) -> ConceptDataset:
    """The split of the dataset a checkpoint was trained on, regenerated from its data config;
    ``data_overrides`` (``None`` values ignored) point at another data folder or file."""
    if payload.get("data_config") is None:
        raise AgainError(f"{path}: the checkpoint names no dataset; use the Python API with your own data")
    values = {**payload["data_config"], **{k: v for k, v in (data_overrides or {}).items() if v is not None}}
    return load_dataset(DataConfig.from_dict(values), split)


def predict_checkpoint(path: str | os.PathLike, split: str = "test", device: str = "auto",
                       data_overrides: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Predictions of a saved model on a split of the dataset it was trained on (regenerated from
    the checkpoint's data config; ``data_overrides`` e.g. points at another MNIST folder)."""
    model, payload = load_checkpoint(path)
    data = checkpoint_dataset(payload, path, split, data_overrides)
    arrays = predict(model, data, device=resolve_device(device))
    arrays["concept_names"] = np.array(model.concept_names)
    arrays["category_names"] = np.array(model.category_names)
    return arrays
