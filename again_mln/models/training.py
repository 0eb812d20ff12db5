"""Training and batched prediction of concept models in the three regimes of concept bottleneck
work: ``independent`` (the category head learns from the true concepts), ``sequential`` (from the
frozen concept predictor's outputs; AGCM's by-step) and ``joint`` (concept and category losses
together, end to end)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F
from tqdm import tqdm

from again_mln.choices import TRAINING_MODES as MODES
from again_mln.datasets.base import ConceptDataset
from again_mln.errors import AgainError
from again_mln.models.cbm import ConceptModel, Encoding
from again_mln.validation import binarize



@dataclass
class TrainConfig:
    """Optimisation settings. ``epochs`` trains the network (joint: everything; otherwise the
    concept predictor); ``head_epochs`` trains the category head in the two-step modes."""

    mode: str = "joint"
    epochs: int = 10
    head_epochs: int = 15
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 4e-5  # the paper's value
    concept_weight: float = 1.0  # weight of the concept loss against the category loss (joint)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AgainError(f"unknown training mode {self.mode!r}; expected one of {', '.join(MODES)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


EpochCallback = Callable[[dict[str, Any]], None]
#: ``(model, x, concepts, categories) -> x'``: replaces each training batch's inputs (adversarial training)
Perturbation = Callable[[ConceptModel, Tensor, Tensor, Tensor], Tensor]


def fit(model: ConceptModel, data: ConceptDataset, config: TrainConfig, device: torch.device | str = "cpu",
        progress: bool = True, callback: EpochCallback | None = None,
        perturb: Perturbation | None = None) -> list[dict[str, Any]]:
    """Train ``model`` on ``data`` in place; returns one metrics dict per epoch (also passed to
    ``callback`` as each epoch ends). ``perturb`` replaces the network's training inputs batch by
    batch (e.g. by adversarial examples), never the category head's second step."""
    device = torch.device(device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model.to(device)
    history: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        history.append(entry)
        if callback is not None:
            callback(entry)

    if config.mode == "joint":
        _train_network(model, data, config, device, model.parameters(), True, generator, progress, record, perturb)
    else:
        _train_network(model, data, config, device, model.concept_parameters(), False, generator, progress,
                       record, perturb)
        _train_head(model, data, config, device, generator, progress, record)
    return history


def concept_loss(logits: Tensor, concepts: Tensor) -> Tensor:
    """Binary cross-entropy summed over the concepts and averaged over the batch (Koh et al.
    2020): each concept weighs as much as in its own classifier, whatever the number of concepts."""
    return F.binary_cross_entropy_with_logits(logits, concepts, reduction="none").sum(1).mean()


def _optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _train_network(model: ConceptModel, data: ConceptDataset, config: TrainConfig, device: torch.device,
                   params, with_category: bool, generator: torch.Generator, progress: bool,
                   record: Callable[[dict[str, Any]], None], perturb: Perturbation | None = None) -> None:
    """Epochs over the inputs: the concept loss, plus the category loss when ``with_category``."""
    optimizer = _optimizer(params, config)
    stage = "joint" if with_category else "concepts"
    for epoch in range(1, config.epochs + 1):
        model.train()
        totals = torch.zeros(4, device=device)  # loss sum, concept hits, category hits, samples
        batches = tqdm(data.batches(config.batch_size, shuffle=True, generator=generator),
                       total=data.n_batches(config.batch_size), desc=f"{stage} {epoch}/{config.epochs}",
                       disable=not progress, leave=False)
        for x, concepts, categories in batches:
            x, concepts, categories = x.to(device), concepts.to(device), categories.to(device)
            if perturb is not None:
                x = perturb(model, x, concepts, categories)
            encoding = model.encode(x)
            loss = config.concept_weight * concept_loss(encoding.concept_logits, concepts)
            if with_category:
                category_logits = model.classify(encoding, torch.sigmoid(encoding.concept_logits))
                loss = loss + F.cross_entropy(category_logits, categories)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                n = x.shape[0]
                hits = ((encoding.concept_logits > 0) == binarize(concepts)).float().mean(1).sum()
                cat_hits = (category_logits.argmax(1) == categories).sum() if with_category else 0
                totals += torch.stack([loss.detach() * n, hits, torch.as_tensor(cat_hits, device=device),
                                       torch.as_tensor(n, device=device)]).float()
        loss_sum, hits, cat_hits, n = totals.tolist()
        entry = {"stage": stage, "epoch": epoch, "loss": loss_sum / n, "train_concept_accuracy": hits / n}
        if with_category:
            entry["train_category_accuracy"] = cat_hits / n
        record(entry)


def _train_head(model: ConceptModel, data: ConceptDataset, config: TrainConfig, device: torch.device,
                generator: torch.Generator, progress: bool, record: Callable[[dict[str, Any]], None]) -> None:
    """The second step: the concept predictor is frozen, so its outputs are computed once and the
    head trains on them (``sequential``) or on the true concepts (``independent``)."""
    encoding = encode(model, data, config.batch_size, device)
    inputs = torch.sigmoid(encoding.concept_logits) if config.mode == "sequential" else data.concepts.to(device)
    categories = data.categories.to(device)
    head = model.head_parameters()
    optimizer = _optimizer(head, config)
    model.eval()  # frozen body: batch-norm statistics stay as trained
    n = len(data)
    for epoch in range(1, config.head_epochs + 1):
        order = torch.randperm(n, generator=generator).to(device)
        totals = torch.zeros(2, device=device)
        steps = tqdm(range(0, n, config.batch_size), desc=f"head {epoch}/{config.head_epochs}",
                     disable=not progress, leave=False)
        for start in steps:
            index = order[start:start + config.batch_size]
            logits = model.classify(_take(encoding, index), inputs[index])
            loss = F.cross_entropy(logits, categories[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            totals += torch.stack([loss.detach() * index.numel(), (logits.argmax(1) == categories[index]).sum()])
        loss_sum, hits = totals.tolist()
        record({"stage": "head", "epoch": epoch, "loss": loss_sum / n, "train_category_accuracy": hits / n})


def _take(encoding: Encoding, index: Tensor) -> Encoding:
    context = encoding.context[index] if encoding.context is not None else None
    return Encoding(encoding.concept_logits[index], context)


@torch.no_grad()
def encode(model: ConceptModel, data: ConceptDataset, batch_size: int = 512,
           device: torch.device | str = "cpu") -> Encoding:
    """The model's encoding of every sample, batched, in eval mode, on ``device``."""
    model.eval().to(device)
    parts = [model.encode(x.to(device)) for x, _, _ in data.batches(batch_size)]
    context = torch.cat([p.context for p in parts]) if parts[0].context is not None else None
    return Encoding(torch.cat([p.concept_logits for p in parts]), context)


@torch.no_grad()
def predict(model: ConceptModel, data: ConceptDataset, batch_size: int = 512,
            device: torch.device | str = "cpu") -> dict[str, np.ndarray]:
    """Concept probabilities ``(N, M)``, category probabilities ``(N, K)`` and the true labels,
    as numpy arrays ready for ``again-mln rectify`` and ``learn-weights``."""
    encoding = encode(model, data, batch_size, device)
    probs = torch.sigmoid(encoding.concept_logits)
    categories = torch.softmax(model.classify(encoding, probs), dim=1)
    return {
        "concepts": probs.cpu().numpy().astype(np.float32),
        "categories": categories.cpu().numpy().astype(np.float32),
        "true_concepts": data.concepts.numpy().astype(np.uint8),
        "true_categories": data.categories.numpy().astype(np.int64),
    }


def accuracies(predictions: dict[str, np.ndarray]) -> dict[str, float]:
    """Concept accuracy (mean over samples and concepts of the binarised probabilities) and
    category accuracy of a :func:`predict` result."""
    concept_hits = binarize(predictions["concepts"]) == binarize(predictions["true_concepts"])
    category_hits = predictions["categories"].argmax(1) == predictions["true_categories"]
    return {"concept_accuracy": float(concept_hits.mean()), "category_accuracy": float(category_hits.mean())}


def evaluate(model: ConceptModel, data: ConceptDataset, batch_size: int = 512,
             device: torch.device | str = "cpu") -> dict[str, float]:
    """:func:`accuracies` of ``model`` on ``data``."""
    return accuracies(predict(model, data, batch_size, device))
