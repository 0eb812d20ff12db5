"""One registry of rule builders, so the command line, the evaluation and users find every rule
source in one place and a new source is one entry.

Each source names its builder (imported on first use: the CUB reader and the simulators are not
needed to list the sources), the flat options it reads beside the shared ones, and how those map
onto the builder's keyword arguments. The estimated sources (``ews``, ``table``) take the four
:class:`~again_mln.rulegen.estimate.EstimateThresholds` as flat options too.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from again_mln.errors import AgainError

if TYPE_CHECKING:  # the builders' modules are imported on use: listing the sources needs none of them
    from again_mln.again.logic import RuleSet

#: Options every builder reads: how rules are weighted and read, and the simulated incompleteness.
SHARED_OPTIONS = ("weights", "semantics", "drop_fraction", "seed")
#: The thresholds of the estimated sources, given flat and gathered into one EstimateThresholds.
ESTIMATE_OPTIONS = ("p_high", "p_low", "cos_above", "min_support")


@dataclass(frozen=True)
class RuleSource:
    """A rule builder and the options it reads (flat option name -> the builder's argument)."""

    name: str
    target: str  # "module:function" of the builder
    description: str
    arguments: dict[str, str] = field(default_factory=dict)
    estimated: bool = False  # reads ESTIMATE_OPTIONS
    required: tuple[str, ...] = ()

    @property
    def options(self) -> tuple[str, ...]:
        """Every flat option this source reads."""
        return (*self.arguments, *(ESTIMATE_OPTIONS if self.estimated else ()), *SHARED_OPTIONS)

    def builder(self) -> Callable[..., RuleSet]:
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)

    def build(self, **options: Any) -> RuleSet:
        """The rules from these flat options (``None`` values mean the builder's default)."""
        foreign = sorted(set(options) - set(self.options))
        if foreign:
            raise AgainError(f"{', '.join(foreign)}: not an option of {self.name} rules "
                             f"(they read {', '.join(self.options)})")
        missing = [name for name in self.required if options.get(name) is None]
        if missing:
            flags = ", ".join("--" + name.replace("_", "-") for name in missing)
            raise AgainError(f"{self.name} rules need {' and '.join(missing)} ({flags} on the command line)")
        given = {name: value for name, value in options.items() if value is not None}
        kwargs = {self.arguments.get(name, name): value for name, value in given.items() if name not in ESTIMATE_OPTIONS}
        if self.estimated:
            from again_mln.rulegen.estimate import EstimateThresholds

            kwargs["thresholds"] = EstimateThresholds(**{k: v for k, v in given.items() if k in ESTIMATE_OPTIONS})
        return self.builder()(**kwargs)


RULE_SOURCES: dict[str, RuleSource] = {source.name: source for source in (
    RuleSource("cub", "again_mln.rulegen.cub:build_cub_rules",
               "CUB-200-2011 attribute annotations (association scores and concept correlations)",
               {"cub_root": "root", "data_root": "data_root", "concepts": "concepts", "coexist_above": "coexist_above",
                "exclude_below": "exclude_below", "corr_above": "corr_above", "corr_below": "corr_below"}),
    RuleSource("ews", "again_mln.rulegen.ews:build_ews_rules",
               "estimated from the built-in early-warning-score simulator", {"n_samples": "n_samples"}, estimated=True),
    RuleSource("mnist", "again_mln.rulegen.mnist:build_mnist_rules",
               "Synthetic-MNIST: each category's set of digits", {"mapping": "mapping"}),
    RuleSource("table", "again_mln.rulegen.table:build_table_rules",
               "estimated from a user's concept table (.csv or .npz)",
               {"table": "path", "category_column": "category_column"}, estimated=True,
               required=("table", "category_column")),
)}


def build_rules(source: str, **options: Any) -> RuleSet:
    """The rules of ``source`` (a key of :data:`RULE_SOURCES`) built with ``options``."""
    from again_mln.validation import check_choice

    return RULE_SOURCES[check_choice(source, tuple(RULE_SOURCES), "rule source")].build(**options)
