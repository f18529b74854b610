"""Rep4Ex (Saengkyongam et al., ICLR 2024): the estimator, its control function
and the kernels of its invariance penalty."""

from ._control import ControlFunction
from ._estimator import Rep4Ex

__all__ = ["ControlFunction", "Rep4Ex"]
