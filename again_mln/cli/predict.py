"""``again-mln predict``: a trained model's concept and category predictions on a split."""
from __future__ import annotations

import click

from again_mln.choices import SPLITS
from again_mln.cli.options import cub_root_option, data_root_option, device_option, mnist_root_option


@click.command("predict")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Predictions to write (.npz).")
@data_root_option
@mnist_root_option
@cub_root_option
@click.option("--ews-table", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Override the EWS table.")
@device_option
def predict_command(checkpoint, split, output, data_root, mnist_root, cub_root, ews_table, device):
    """Write concepts (N, M) probabilities, categories (N, K) probabilities, true_concepts and
    true_categories of CHECKPOINT's dataset split to OUTPUT (.npz)."""
    from again_mln.io.atomic import save_npz
    from again_mln.models.training import accuracies
    from again_mln.models.workflow import predict_checkpoint

    arrays = predict_checkpoint(checkpoint, split, device,
                                {"data_root": data_root, "mnist_root": mnist_root, "cub_root": cub_root,
                                 "ews_table": ews_table})
    save_npz(output, arrays)
    scores = accuracies(arrays)
    n, m = arrays["concepts"].shape
    click.echo(f"{split}: {n} samples, {m} concepts, {arrays['categories'].shape[1]} categories; concept "
               f"accuracy {scores['concept_accuracy']:.4f}, category accuracy {scores['category_accuracy']:.4f}; "
               f"wrote {output}")
