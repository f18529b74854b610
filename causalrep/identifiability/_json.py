"""JSON-safe conversion shared by the result dataclasses of the verification layer."""

from dataclasses import fields

import numpy as np


def json_safe(value):
    """Arrays and tuples to lists, numpy scalars to Python numbers, recursively."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return value


class JSONFields:
    """Mixin for a dataclass whose ``to_dict`` is every field, made JSON-safe."""

    def to_dict(self):
        """Return every field as JSON-safe plain types."""
        return {f.name: json_safe(getattr(self, f.name)) for f in fields(self)}
