"""``again-mln train``: train a concept model on a dataset and save a checkpoint."""
from __future__ import annotations

import click

from again_mln.choices import DATASETS, MODEL_KINDS, TRAINING_MODES
from again_mln.cli.options import (cub_root_option, data_root_option, device_option, mnist_root_option,
                                   quiet_option, seed_option)


def _print_epoch(entry: dict) -> None:
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in entry.items() if isinstance(v, float))
    click.echo(f"[{entry['stage']} {entry['epoch']}] {metrics}")


@click.command("train")
@click.option("--dataset", type=click.Choice(DATASETS), required=True, help="Which dataset to train on.")
@click.option("--model", "kind", type=click.Choice(MODEL_KINDS), default="cbm", show_default=True,
              help="Concept bottleneck (cbm) or concept embedding model (cem).")
@click.option("--mode", type=click.Choice(TRAINING_MODES), default="joint", show_default=True,
              help="joint = end-to-end; sequential = by-step; independent = head on true concepts.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Checkpoint to write (.pt).")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Network epochs [mnist 4, others 20].")
@click.option("--head-epochs", type=click.IntRange(1), default=15, show_default=True,
              help="Category-head epochs of the two-step modes.")
@click.option("--batch-size", type=click.IntRange(1), default=128, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option("--concept-weight", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Weight of the concept loss in joint training.")
@click.option("--head", type=click.Choice(["linear", "mlp"]), default="linear", show_default=True,
              help="Category predictor.")
@click.option("--hidden", type=click.IntRange(1), default=128, show_default=True, help="Hidden width.")
@click.option("--embedding-size", type=click.IntRange(1), default=16, show_default=True, help="CEM only.")
@click.option("--n-train", type=click.IntRange(1), default=None, help="Generated training samples.")
@click.option("--n-test", type=click.IntRange(1), default=None, help="Generated test samples.")
@click.option("--noise", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Measurement/feature noise scale of the EWS and CUB simulators.")
@data_root_option
@mnist_root_option
@cub_root_option
@click.option("--ews-table", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Your own CSV of the 15 EWS columns instead of the simulator.")
@seed_option
@device_option
@quiet_option
def train_command(dataset, kind, mode, output, epochs, head_epochs, batch_size, lr, concept_weight, head, hidden,
                  embedding_size, n_train, n_test, noise, data_root, mnist_root, cub_root, ews_table, seed, device, quiet):
    """Train a concept model (cbm/cem) and save it with its configs to OUTPUT."""
    from again_mln.datasets import DataConfig
    from again_mln.models.factory import ModelConfig
    from again_mln.models.training import TrainConfig
    from again_mln.models.workflow import train_model

    data = DataConfig(dataset, seed=seed, n_train=n_train, n_test=n_test, data_root=data_root, mnist_root=mnist_root,
                      cub_root=cub_root, ews_table=ews_table, noise=noise)
    model = ModelConfig(kind, hidden=hidden, head=head, embedding_size=embedding_size)
    training = TrainConfig(mode=mode, epochs=epochs or (4 if dataset == "mnist" else 20), head_epochs=head_epochs,
                           batch_size=batch_size, lr=lr, concept_weight=concept_weight, seed=seed)
    result = train_model(data, model, training, output, device=device, progress=not quiet,
                         callback=None if quiet else _print_epoch)
    click.echo(f"trained {kind} ({mode}) on {dataset} in {result.seconds:.1f} s: test concept accuracy "
               f"{result.metrics['concept_accuracy']:.4f}, category accuracy "
               f"{result.metrics['category_accuracy']:.4f}; wrote {output}")
