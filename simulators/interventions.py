r"""Interventions on latent SCMs, as small immutable values.

Every latent SCM here is additive: node :math:`j` takes the value
:math:`z_j = f_j(z_{pa(j)}) + \varepsilon_j`, the *parent effect* plus the
exogenous noise. An intervention replaces that assignment on its targets:

- ``do({j: c})`` sets :math:`z_j = c` (hard, perfect); ``do({j: sampler})``
  draws :math:`z_j` from ``sampler(rng, n)``, independently of the parents;
- ``shift({j: delta})`` sets :math:`z_j = f_j(z_{pa(j)}) + \varepsilon_j + \delta`;
- ``soft({j: a})`` sets :math:`z_j = a f_j(z_{pa(j)}) + \varepsilon_j`, the
  parents' influence rescaled; ``soft({j: g})`` sets
  :math:`z_j = g(z_{pa(j)}, \varepsilon_j)`, any mechanism that may still use
  the parents (imperfect intervention).

The noise :math:`\varepsilon` is the one of the observational model, so an
intervened sample and an observational one drawn with the same seed are
counterfactual twins.
"""

import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

__all__ = ["Intervention", "do", "shift", "soft"]

_KINDS = ("do", "shift", "soft")

#: Node -> value, as a mapping or a sequence of pairs; a value is a number or a callable.
Values: TypeAlias = Mapping[int, float | Callable] | Iterable[tuple[int, float | Callable]]


@dataclass(frozen=True)
class Intervention:
    r"""A change of the mechanisms of some latent nodes.

    Build one with :func:`do`, :func:`shift` or :func:`soft` rather than
    directly.

    Arguments:
        kind: ``"do"``, ``"shift"`` or ``"soft"``.
        changes: Tuple of ``(node, value)`` pairs sorted by node, each node
            once; the value's meaning depends on ``kind`` (see the module
            docstring).
    """

    kind: str
    changes: tuple

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"unknown intervention kind {self.kind!r}; use one of {_KINDS}")
        object.__setattr__(self, "changes", _as_changes(self.kind, self.changes))

    @property
    def targets(self) -> tuple[int, ...]:
        """Sorted tuple of the intervened nodes."""
        return tuple(j for j, _ in self.changes)

    def check(self, n_nodes: int) -> None:
        """Raise ``ValueError`` if a target is not a node of a d-node model."""
        missing = [j for j in self.targets if j >= n_nodes]
        if missing:
            raise ValueError(
                f"{self.kind} intervention on node {missing[0]}, but the model has d={n_nodes} nodes (0..{n_nodes - 1})"
            )

    def apply(
        self, node: int, parents: np.ndarray, effect: np.ndarray, noise: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        r"""Value of an intervened node for a batch of samples.

        Arguments:
            node: The target node being computed.
            parents: Values of its parents, shape (n, p), p may be 0.
            effect: Observational parent effect :math:`f_j(z_{pa(j)})`, shape (n,).
            noise: Exogenous noise of the node, shape (n,).
            rng: numpy Generator, used by random do-values only.

        Returns:
            float64 array of shape (n,).
        """
        value = dict(self.changes)[node]
        n = noise.shape[0]
        if self.kind == "shift":
            return effect + noise + value
        if self.kind == "do" and not callable(value):
            return np.full(n, float(value))
        if self.kind == "do":
            return _checked(value(rng, n), n, node, "do sampler f(rng, n)")
        if callable(value):
            return _checked(value(parents, noise), n, node, "soft mechanism g(parents, noise)")
        if parents.shape[1] == 0:
            raise ValueError(
                f"soft intervention rescales the parents of node {node}, which has none; "
                "use shift or do on a root node, or give soft a mechanism g(parents, noise)"
            )
        return value * effect + noise

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description; callables appear by their qualified name."""
        return {
            "kind": self.kind,
            "targets": list(self.targets),
            "values": {
                str(j): getattr(v, "__qualname__", repr(v)) if callable(v) else float(v) for j, v in self.changes
            },
        }


def do(values: Values) -> Intervention:
    r"""Hard intervention: the targets no longer listen to their parents.

    Arguments:
        values: Mapping (or sequence of pairs) node -> value, where a value is
            a finite number (every sample gets it) or a callable
            ``f(rng, n) -> (n,)`` drawing the node independently of the rest.

    Returns:
        Intervention with ``kind == "do"``.

    Example:
        >>> do({2: 0.5, 0: 1.0}).targets
        (0, 2)
    """
    return Intervention("do", _pairs(values))


def shift(values: Values) -> Intervention:
    r"""Shift intervention: each target keeps its mechanism plus a constant.

    Arguments:
        values: Mapping (or sequence of pairs) node -> finite shift delta.

    Returns:
        Intervention with ``kind == "shift"``.
    """
    return Intervention("shift", _pairs(values))


def soft(values: Values) -> Intervention:
    r"""Imperfect intervention: each target gets a new mechanism of its parents.

    Arguments:
        values: Mapping (or sequence of pairs) node -> either a finite factor
            ``a`` other than 0 and 1, which rescales the parent effect
            (:math:`z_j = a f_j(z_{pa(j)}) + \varepsilon_j`; the node must have
            parents), or a callable ``g(parents (n, p), noise (n,)) -> (n,)``.

    Returns:
        Intervention with ``kind == "soft"``.
    """
    return Intervention("soft", _pairs(values))


def _pairs(values):
    if hasattr(values, "items"):
        return tuple(values.items())
    try:
        pairs = tuple(tuple(pair) for pair in values)
    except TypeError:
        raise TypeError(f"interventions take a dict node -> value, got {type(values).__name__}") from None
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError("interventions take (node, value) pairs")
    return pairs


def _as_changes(kind, changes):
    changes = _pairs(changes)
    if not changes:
        raise ValueError(f"{kind} intervention needs at least one target node")
    seen = set()
    clean = []
    for node, value in changes:
        if isinstance(node, bool) or not isinstance(node, numbers.Integral) or node < 0:
            raise ValueError(f"intervention targets must be node indices >= 0, got {node!r}")
        node = int(node)
        if node in seen:
            raise ValueError(f"node {node} is intervened on twice in one {kind} intervention")
        seen.add(node)
        clean.append((node, _as_value(kind, node, value)))
    return tuple(sorted(clean, key=lambda pair: pair[0]))


def _as_value(kind, node, value):
    if callable(value) and kind in ("do", "soft"):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        allowed = "a finite number" + ("" if kind == "shift" else " or a callable")
        raise ValueError(f"{kind} value for node {node} must be {allowed}, got {value!r}")
    if kind == "soft" and value in (0, 1):
        meaning = "cuts the parents off (use do)" if value == 0 else "changes nothing"
        raise ValueError(f"soft factor {value} for node {node} {meaning}")
    return float(value)


def _checked(values, n, node, what):
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n,):
        raise ValueError(f"{what} for node {node} returned shape {values.shape}, expected ({n},)")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} for node {node} returned non-finite values")
    return values
