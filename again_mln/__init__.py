"""again-mln: Markov logic rules that detect and rectify wrong concept-level explanations.

Two layers (docs/architecture.md): the Markov logic engine (:mod:`again_mln.mln`, exact inference
in :mod:`again_mln.mln.inference`) and the AGAIN method on it (:mod:`again_mln.again`); around them
:mod:`again_mln.evaluation`, :mod:`again_mln.io`, the concept models, data sets, rule builders and
the command line.
"""
from again_mln.errors import AgainError

__version__ = "0.1.0"
__all__ = ["AgainError", "__version__"]
