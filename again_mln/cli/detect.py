"""``again-mln detect``: score explanations with a detector, optionally calibrated on clean ones.

Writes per explanation the detector's score relative to its category's cutoff (``scores``;
flagged where <= 0), the raw score (``raw_scores``), the flags and the category it was judged
under (``category``: the argmax, or the one ``mixture`` settles on), plus the calibration
(``detector``, ``cutoffs``, ``lam``, ``target_sr``) that ``rectify --detector OUT.npz`` reuses.
"""
from __future__ import annotations

import click

from again_mln.choices import AUTO, DETECTORS
from again_mln.cli.options import device_option, lam_option, quiet_option, seed_option, target_sr_option, threshold_option


@click.command("detect")
@click.argument("preds", type=click.Path(dir_okay=False))
@click.option("--mln", "mln_path", required=True, type=click.Path(dir_okay=False), help="Rule file (.mln).")
@click.option("--categories", "categories_path", type=click.Path(dir_okay=False),
              help="Category ids (N,), or probabilities or logits (N, K), .npy; optional when PREDS is an .npz "
                   "holding 'categories'.")
@click.option("--calibrate", "clean_path", type=click.Path(dir_okay=False),
              help="Clean validation predictions (.npz with concepts and categories) to calibrate on.")
@target_sr_option(0.98, "Pass rate on the clean predictions that the calibration guarantees.")
@click.option("--detector", default=None, type=click.Choice(DETECTORS + (AUTO,)),
              help="Detector [auto with --calibrate: best validation AUROC against a flip of the least sure concept; "
                   "else paper at --threshold].")
@threshold_option(0.9, "The paper's relaxation d when not calibrated.")
@lam_option(1.0, "Weight of the network's confidence.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .npz.")
@click.option("--logits", is_flag=True, help="PREDS (and CLEAN) hold concept logits, not probabilities.")
@seed_option
@device_option
@quiet_option
def detect_command(preds, mln_path, categories_path, clean_path, target_sr, detector, threshold, lam, output, logits,
                   seed, device, quiet):
    """Flag the explanations in PREDS that a detector finds implausible under the rules."""
    import torch

    from again_mln.again.rectifier import Rectifier
    from again_mln.again.selection import AUTO_CORRUPTION, select_detectors
    from again_mln.errors import AgainError
    from again_mln.io.atomic import save_npz
    from again_mln.io.cache import compiled_rules
    from again_mln.io.inputs import load_predictions

    compiled, _ = compiled_rules(mln_path, device)
    ruleset = compiled.graph.ruleset
    probs, categories = (torch.from_numpy(a) for a in load_predictions(preds, ruleset, categories_path, logits))
    if clean_path is None:
        if detector not in (None, "paper"):
            raise AgainError(f"detector {detector!r} is calibrated: give clean predictions with --calibrate")
        chosen = Rectifier(compiled, "map", threshold=threshold)  # detection only: map builds no repair tables
        note = f"paper at d = {threshold:g} (not calibrated)"
    else:
        clean, clean_categories = (torch.from_numpy(a) for a in load_predictions(clean_path, ruleset, logits=logits))
        selection = select_detectors((detector or AUTO,), compiled, clean, clean_categories, target_sr, lam, seed, "map")
        chosen = next(iter(selection.detectors.values()))
        note = (f"{chosen.detector}, calibrated on {len(clean)} clean explanations for SR >= {target_sr:g} "
                f"(validation SR {100 * selection.validation_sr[chosen.detector]:.1f}%)")
        if selection.auto is not None:
            note += f"; auto chose it by validation AUROC against a {AUTO_CORRUPTION}: " + ", ".join(
                f"{n} {a:.3f}" for n, a in selection.validation_auroc[AUTO_CORRUPTION].items())
    raw, judged = chosen.raw_scores(probs, categories), chosen.categories(probs, categories)
    scores = chosen.relative(raw, judged)
    flags = scores <= 0
    save_npz(output, {"scores": scores.cpu().numpy(), "raw_scores": raw.cpu().numpy(),
                      "flagged": flags.cpu().numpy(), "category": judged.cpu().numpy(), **chosen.arrays()})
    if not quiet:
        click.echo(f"detector     {note}")
        click.echo(f"flagged      {int(flags.sum())} of {len(flags)} explanations "
                   f"({100.0 * float(flags.double().mean()) if len(flags) else 0.0:.1f}%)")
        click.echo(f"wrote        {output}")
