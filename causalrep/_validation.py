"""Former name of :mod:`causalrep.validation`, kept until the modules that import it move over.

Import from :mod:`causalrep.validation` instead; this module is removed once no
module of the package imports it.
"""

from .validation import *  # noqa: F403
from .validation import __all__  # noqa: F401
