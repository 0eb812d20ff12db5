"""again-mln: Markov logic rules that detect and rectify wrong concept-level explanations."""
from again_mln.errors import AgainError

__version__ = "0.1.0"
__all__ = ["AgainError", "__version__"]
