"""Concept models (CBM, CEM), their training regimes, checkpoints and the rectification bridge
(``again_mln.models.bridge``, kept out of this namespace so the models do not need the rules)."""
from again_mln.models.backbones import MLP, SmallCNN
from again_mln.models.cbm import ConceptBottleneckModel, ConceptModel, Encoding
from again_mln.models.cem import ConceptEmbeddingModel
from again_mln.models.checkpoint import load_checkpoint, save_checkpoint
from again_mln.models.factory import ModelConfig, build_model
from again_mln.models.training import MODES, TrainConfig, accuracies, evaluate, fit, predict
from again_mln.models.workflow import TrainResult, predict_checkpoint, train_model

__all__ = [
    "MLP", "SmallCNN", "ConceptModel", "ConceptBottleneckModel", "ConceptEmbeddingModel", "Encoding",
    "ModelConfig", "build_model", "MODES", "TrainConfig", "fit", "predict", "evaluate", "accuracies",
    "load_checkpoint", "save_checkpoint", "TrainResult", "train_model", "predict_checkpoint",
]
