"""The version of causalrep, read once from the installed package's metadata.

``pyproject.toml`` is the one place the version is written; an installed copy
(editable included) carries it in its metadata, which this module reads.
"""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__: str = version("causalrep")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
