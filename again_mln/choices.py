"""The closed sets of names the library accepts, and the defaults the command line shows.

They are defined here, in a module that imports nothing heavy, so that the command line can declare
its options and print ``--help`` without loading torch. The library imports each set from here
and checks values against it (one check per set, e.g. :func:`check_detectors`).
"""
from __future__ import annotations

from typing import Sequence

from again_mln.errors import AgainError

# rectification (again_mln.again.rectifier, again_mln.again.rectification)
#: Strategies whose interventions are hard 0/1 concepts; ``marginal`` returns probabilities.
HARD_STRATEGIES: tuple[str, ...] = ("switch", "iterate", "map")
STRATEGIES: tuple[str, ...] = HARD_STRATEGIES + ("marginal",)
#: Strategies that read the intervention switch's candidates (its tables are built with the rectifier).
SWITCH_STRATEGIES: tuple[str, ...] = ("switch", "iterate")
#: Rows per chunk: large enough that per-call overheads vanish, small enough that one chunk's
#: working tensors stay near 100 MB at CUB scale (about 13 kB per explanation with ``switch``).
DEFAULT_CHUNK_ROWS = 8_192

# detection (again_mln.again.rectifier, again_mln.again.selection)
DETECTORS: tuple[str, ...] = ("paper", "per-category", "confidence", "map-gap", "weighted-damage", "mixture")
#: detectors that weigh the rules under the network's category distribution, not its argmax
DISTRIBUTION_DETECTORS: tuple[str, ...] = ("mixture",)
#: stands for the detector ``auto_pick`` chooses by validation AUROC against a synthetic corruption
AUTO = "auto"


def check_detectors(names: Sequence[str], allow_auto: bool = True) -> tuple[str, ...]:
    """The one check of detector names: ``names`` as a tuple when each is one of :data:`DETECTORS`
    (or :data:`AUTO`, unless ``allow_auto`` is false), else an error naming the first unknown one."""
    known = DETECTORS + (AUTO,) if allow_auto else DETECTORS
    bad = [name for name in names if name not in known]
    if bad:
        raise AgainError(f"unknown detector {bad[0]!r}; expected one of {', '.join(known)}")
    return tuple(names)

# attacks (again_mln.evaluation.attacks)
ATTACK_KINDS: tuple[str, ...] = ("erasure", "introduction", "confounding")
ATTACK_TARGETS: tuple[str, ...] = ("random", "damaging")

# data sets, models and evaluation (again_mln.datasets, again_mln.models, again_mln.evaluation.experiments)
DATASETS: tuple[str, ...] = ("mnist", "ews", "cub-sim", "cub-koh", "cub")
SPLITS: tuple[str, ...] = ("train", "test")
EVALUATION_DATASETS: tuple[str, ...] = ("mnist", "ews", "cub-sim", "cub-koh")
MODEL_KINDS: tuple[str, ...] = ("cbm", "cem")
TRAINING_MODES: tuple[str, ...] = ("independent", "sequential", "joint")
INTERVENTION_POLICIES: tuple[str, ...] = ("random", "uncertainty", "rules", "rules+rectify")

# rule building (again_mln.rulegen)
#: how a rule is read: the implication of docs/method.md, or the paper's literal equivalence / xor
SEMANTICS: tuple[str, ...] = ("implication", "paper")
#: how rules are weighted: log-odds of each rule's confidence, or all 1.0
WEIGHTINGS: tuple[str, ...] = ("prior", "uniform")
#: CUB's concepts: the 112 attributes of concept bottleneck work, or all 312
CUB_CONCEPTS: tuple[str, ...] = ("cbm", "all")
