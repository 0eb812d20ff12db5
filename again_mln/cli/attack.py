"""``again-mln attack``: attack a trained model's explanations on its dataset's test split."""
from __future__ import annotations

from functools import partial

import click

from again_mln.choices import ATTACK_KINDS, ATTACK_TARGETS, SPLITS
from again_mln.cli.options import (cub_root_option, data_root_option, device_option, mnist_root_option,
                                   quiet_option, seed_option)


@click.command("attack")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="Predictions on the adversarial inputs (.npz, the layout of `predict`).")
@click.option("--kind", type=click.Choice(ATTACK_KINDS), default="confounding", show_default=True)
@click.option("--eps", type=click.FloatRange(0, 255), default=8.0, show_default=True,
              help="L-inf budget in units of 1/255 of the input (or each feature's) range.")
@click.option("--steps", type=click.IntRange(1), default=10, show_default=True, help="PGD steps.")
@click.option("--n-targets", type=click.IntRange(1), default=2, show_default=True,
              help="Concepts to erase and/or introduce per sample.")
@click.option("--targets", type=click.Choice(ATTACK_TARGETS), default="random", show_default=True,
              help="random, or damaging: the concepts whose flip breaks the rules most (needs --mln).")
@click.option("--mln", "mln_path", type=click.Path(dir_okay=False), help="Rules (.mln) for --targets damaging.")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("--limit", type=click.IntRange(1), default=None, help="Attack only the first N samples.")
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@data_root_option
@mnist_root_option
@cub_root_option
@seed_option
@device_option
@quiet_option
def attack_command(checkpoint, output, kind, eps, steps, n_targets, targets, mln_path, split, limit, batch_size,
                   data_root, mnist_root, cub_root, seed, device, quiet):
    """Attack CHECKPOINT's explanations (L-inf PGD that keeps the predicted category) and write the
    model's predictions on the adversarial inputs, with the clean ones beside them, to OUTPUT."""
    import numpy as np
    from tqdm import tqdm

    from again_mln.io.atomic import save_npz
    from again_mln.evaluation.attacks import AttackConfig, attack_checkpoint, attack_summary
    from again_mln.devices import resolve_device
    from again_mln.again.graph import FactorGraph
    from again_mln.again.mlnfile import read_mln
    from again_mln.models.training import accuracies, predict

    graph = None if mln_path is None else FactorGraph(read_mln(mln_path), device=device)
    config = AttackConfig(kind, eps, steps, n_targets, targets)
    progress = None if quiet else partial(tqdm, desc="attack", leave=False)
    run = attack_checkpoint(checkpoint, config, split, seed, graph, limit, batch_size, device,
                            {"data_root": data_root, "mnist_root": mnist_root, "cub_root": cub_root}, progress)
    clean = predict(run.model, run.clean, device=resolve_device(device))
    arrays = predict(run.model, run.adversarial, device=resolve_device(device))
    summary = attack_summary(clean["concepts"], arrays["concepts"], run.result)
    kept = float((arrays["categories"].argmax(1) == clean["categories"].argmax(1)).mean())
    save_npz(output, {**arrays, "clean_concepts": clean["concepts"], "clean_categories": clean["categories"],
                      "erase_targets": run.result.erase.cpu().numpy(),
                      "introduce_targets": run.result.introduce.cpu().numpy(),
                      "concept_names": np.array(run.model.concept_names),
                      "category_names": np.array(run.model.category_names)})
    before, after = accuracies(clean), accuracies(arrays)
    click.echo(f"attack   {config.name} at eps {eps:g}/255, {steps} steps, {n_targets} target(s) per direction, "
               f"{len(run.clean)} {split} samples")
    click.echo(f"moved    {100 * summary['target_rate']:.1f}% of target concepts; "
               f"{100 * summary['changed']:.1f}% of explanations changed; category kept for {100 * kept:.1f}%")
    click.echo(f"concept  accuracy {100 * before['concept_accuracy']:.2f}% -> {100 * after['concept_accuracy']:.2f}%")
    click.echo(f"wrote    {output}")

