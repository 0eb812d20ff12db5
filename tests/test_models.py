"""Concept models: shapes, the three training regimes, CEM contributions, checkpoints."""
import numpy as np
import pytest
import torch
from torch import nn

from again_mln.datasets import DataConfig, load_dataset
from again_mln.datasets.base import ConceptDataset
from again_mln.errors import AgainError
from again_mln.models import (ConceptEmbeddingModel, ModelConfig, TrainConfig, build_model, evaluate, fit,
                              load_checkpoint, predict, save_checkpoint)


def toy_data(n=600, seed=0):
    """Concepts are thresholds of the features and the category is the first three concepts'
    binary code, so a working model learns both fast."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g) * 3 + 5  # un-standardised on purpose
    concepts = (x[:, :4] > 5).float()
    categories = (concepts[:, :3] * torch.tensor([1.0, 2.0, 4.0])).sum(1).long()
    return ConceptDataset(x, concepts, categories, [f"c{i}" for i in range(4)], [f"y{k}" for k in range(8)])


@pytest.mark.parametrize("kind", ["cbm", "cem"])
@pytest.mark.parametrize("mode", ["independent", "sequential", "joint"])
def test_every_regime_learns_the_toy_task(kind, mode):
    train, test = toy_data(), toy_data(300, seed=1)
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind, input_shape=[8], hidden=32, embedding_size=4),
                        train.concept_names, train.category_names, train_x=train.x)
    history = fit(model, train, TrainConfig(mode=mode, epochs=25, head_epochs=40, batch_size=64, lr=3e-3),
                  progress=False)
    stages = {h["stage"] for h in history}
    assert stages == ({"joint"} if mode == "joint" else {"concepts", "head"})
    scores = evaluate(model, test)
    assert scores["concept_accuracy"] > 0.9 and scores["category_accuracy"] > 0.6


def test_sequential_keeps_the_concept_predictor_fixed_while_the_head_trains():
    train = toy_data()
    model = build_model(ModelConfig("cbm", input_shape=[8], hidden=16), train.concept_names,
                        train.category_names, train_x=train.x)
    seen = {}

    def snapshot(entry):
        if entry["stage"] == "head" and entry["epoch"] == 1:
            seen["body"] = [p.detach().clone() for p in model.concept_parameters()]
    fit(model, train, TrainConfig(mode="sequential", epochs=2, head_epochs=3), progress=False, callback=snapshot)
    assert all(torch.equal(a, b) for a, b in zip(seen["body"], model.concept_parameters()))


def test_same_seed_same_model():
    train = toy_data()
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(ModelConfig("cbm", input_shape=[8], hidden=16), train.concept_names,
                            train.category_names, train_x=train.x)
        fit(model, train, TrainConfig(epochs=2, seed=3), progress=False)
        outs.append(predict(model, train)["concepts"])
    np.testing.assert_array_equal(*outs)


def test_cem_contributions_decompose_a_linear_head():
    train = toy_data(64)
    model = build_model(ModelConfig("cem", input_shape=[8], hidden=16, embedding_size=4), train.concept_names,
                        train.category_names, train_x=train.x)
    assert isinstance(model, ConceptEmbeddingModel)
    scores = model.contributions(train.x)
    _, logits = model(train.x)
    bias = model.category_head.bias[logits.argmax(1)]
    torch.testing.assert_close(scores.sum(1) + bias, logits.max(1).values, rtol=1e-4, atol=1e-4)



def test_cem_contributions_of_given_concepts_decompose_the_head_on_them():
    train = toy_data(64)
    model = build_model(ModelConfig("cem", input_shape=[8], hidden=16, embedding_size=4), train.concept_names,
                        train.category_names, train_x=train.x)
    rectified = train.concepts  # any concept probabilities, e.g. rectified ones
    categories = torch.zeros(len(train), dtype=torch.long)
    scores = model.contributions(train.x, categories, concept_probs=rectified)
    logits = model.classify(model.encode(train.x), rectified)
    torch.testing.assert_close(scores.sum(1) + model.category_head.bias[0], logits[:, 0], rtol=1e-4, atol=1e-4)

@pytest.mark.data("mnist")
def test_cnn_on_synthetic_mnist_one_short_epoch():
    data = load_dataset(DataConfig("mnist", n_train=256, n_test=64), "train")
    model = build_model(ModelConfig("cbm", input_shape=[1, 56, 56]), data.concept_names, data.category_names)
    fit(model, data, TrainConfig(epochs=1, batch_size=64), progress=False)
    out = predict(model, data)
    assert out["concepts"].shape == (256, 10) and out["categories"].shape == (256, 12)
    np.testing.assert_allclose(out["categories"].sum(1), 1.0, rtol=1e-5)


def test_checkpoint_round_trip_and_user_backbone(tmp_path):
    train = toy_data()
    config = ModelConfig("cbm", input_shape=[8], hidden=16)
    model = build_model(config, train.concept_names, train.category_names, train_x=train.x)
    save_checkpoint(tmp_path / "m.pt", model, config, extra={"metrics": {"concept_accuracy": 0.5}})
    loaded, payload = load_checkpoint(tmp_path / "m.pt")
    assert payload["concept_names"] == train.concept_names and payload["metrics"]["concept_accuracy"] == 0.5
    np.testing.assert_array_equal(predict(model, train)["concepts"], predict(loaded, train)["concepts"])

    user = nn.Sequential(nn.Linear(8, 4))
    custom = build_model(config, train.concept_names, train.category_names, backbone=user)
    save_checkpoint(tmp_path / "u.pt", custom, config)
    again, _ = load_checkpoint(tmp_path / "u.pt", backbone=nn.Sequential(nn.Linear(8, 4)))
    torch.testing.assert_close(again(train.x)[0], custom.eval()(train.x)[0])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AgainError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
