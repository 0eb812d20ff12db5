"""Build a concept model from a plain config, so a checkpoint can rebuild what it was saved from."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from torch import Tensor, nn

from again_mln.choices import MODEL_KINDS
from again_mln.models.backbones import MLP, SmallCNN, category_head
from again_mln.models.cbm import ConceptBottleneckModel, ConceptModel
from again_mln.models.cem import ConceptEmbeddingModel



@dataclass
class ModelConfig:
    """Architecture of a concept model. ``backbone`` ``auto`` picks the CNN for image inputs
    ``(C, H, W)`` and the MLP for feature vectors."""

    kind: str = "cbm"
    input_shape: list[int] = field(default_factory=list)
    backbone: str = "auto"
    hidden: int = 128
    head: str = "linear"
    embedding_size: int = 16

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"unknown model kind {self.kind!r}; expected one of {', '.join(MODEL_KINDS)}")
        if self.backbone == "auto" and self.input_shape:
            self.backbone = "cnn" if len(self.input_shape) == 3 else "mlp"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def build_backbone(config: ModelConfig, out_features: int) -> nn.Module:
    """The configured concept predictor body with ``out_features`` outputs."""
    if config.backbone == "cnn":
        return SmallCNN(config.input_shape, out_features, hidden=config.hidden)
    if config.backbone == "mlp":
        (n_features,) = config.input_shape
        return MLP(n_features, out_features, hidden=config.hidden)
    raise ValueError(f"unknown backbone {config.backbone!r}; expected 'cnn' or 'mlp'")


def build_model(config: ModelConfig, concept_names: list[str], category_names: list[str],
                train_x: Tensor | None = None, backbone: nn.Module | None = None) -> ConceptModel:
    """A fresh model; ``train_x`` sets an MLP's input standardisation, ``backbone`` replaces the
    built-in concept predictor body by a user module (``x -> (N, M)`` logits for a CBM,
    ``x -> (N, hidden)`` for a CEM)."""
    m, k = len(concept_names), len(category_names)
    if config.kind == "cbm":
        body = backbone if backbone is not None else build_backbone(config, m)
        head = category_head(m, k, config.head)
        model: ConceptModel = ConceptBottleneckModel(body, head, concept_names, category_names)
    else:
        body = backbone if backbone is not None else build_backbone(config, config.hidden)
        head = category_head(m * config.embedding_size, k, config.head)
        model = ConceptEmbeddingModel(body, config.hidden, config.embedding_size, head, concept_names,
                                      category_names)
    if train_x is not None and isinstance(body, MLP):
        body.standardize.fit(train_x.flatten(1).float())
    return model
