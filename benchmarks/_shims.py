"""Stub modules for reference code that imports packages its exercised path never calls.

Written to a folder put first on the import path, so that no file of a
reference checkout is changed and nothing heavy is installed for it.
"""

from pathlib import Path


def write_shims(folder: Path, shims: dict[str, str]) -> Path:
    """Write ``shims`` (relative path -> source) under ``folder``; returns ``folder``."""
    for name, text in shims.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder
