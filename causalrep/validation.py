"""Input checks shared by every layer: arrays, seeds, hyperparameters, graphs and interventions.

numpy only (no torch), so that :mod:`simulators`, :mod:`causalrep.data` and
:mod:`causalrep.identifiability` use the same checks as the estimators without
loading them. Every check raises ``ValueError`` or ``TypeError`` with a
message that names the argument.
"""

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike

from .exceptions import ParameterError

__all__ = [
    "ArrayLike",
    "Seed",
    "GraphLike",
    "as_float_array",
    "as_generator",
    "as_dag",
    "as_do",
    "check_positive",
    "check_fraction",
    "check_float32_range",
    "check_standardisable",
    "check_varying_columns",
    "column_stats",
    "Interval",
    "Options",
    "SEED",
    "check_param",
    "validate_params",
    "FLOAT32_LIMIT",
    "FLOAT64_LIMITS",
]

#: A seed: a non-negative int, a ``numpy.random.Generator`` (used as it is), or None (fresh entropy).
Seed: TypeAlias = int | np.random.Generator | None

#: A graph over latents as :func:`as_dag` reads it: a ``networkx.DiGraph``, an
#: iterable of ``(parent, child)`` int pairs, or ``{"nodes": [...], "edges": [...]}``.
GraphLike: TypeAlias = nx.DiGraph | Iterable[tuple[int, int]] | Mapping[str, Any]

#: Largest magnitude (and, inverted, smallest spread) the float32 networks accept:
#: standardising features of a larger magnitude overflows float32 (max 3.4e38).
FLOAT32_LIMIT = 1e30

#: Smallest standard deviation and largest magnitude of a column that estimators
#: standardising in float64 accept: below 1e-300 a spread nears float64's
#: subnormal numbers (precision is lost), above 1e305 decoded values overflow.
FLOAT64_LIMITS = (1e-300, 1e305)


# -- parameters declared once: constraints in scikit-learn's ``_parameter_constraints`` style --


class Interval:
    """Numbers of one kind in a range, as a parameter constraint.

    Arguments:
        kind: ``numbers.Integral`` (ints, numpy ints of any width; never bools)
            or ``numbers.Real`` (any finite real number, ints included).
        low: Lower bound, None for unbounded.
        high: Upper bound, None for unbounded.
        closed: Which bounds belong to the range: ``"both"``, ``"left"``,
            ``"right"`` or ``"neither"``.

    Example:
        >>> 0.5 in Interval(numbers.Real, 0, 1, closed="left"), "0.5" in Interval(numbers.Real, 0, 1)
        (True, False)
    """

    def __init__(self, kind: type, low: float | None, high: float | None, closed: str = "both"):
        if kind not in (numbers.Integral, numbers.Real) or closed not in ("both", "left", "right", "neither"):
            raise ValueError(
                f"Interval takes numbers.Integral or numbers.Real and a known closed, got {kind}, {closed}"
            )
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if self.kind is numbers.Real and not math.isfinite(value):
            return False
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and not (value >= self.low if left else value > self.low):
            return False
        return self.high is None or (value <= self.high if right else value < self.high)

    def __str__(self) -> str:
        what = "an int" if self.kind is numbers.Integral else "a number"
        if self.low is not None and self.high is not None:
            opening = "[" if self.closed in ("both", "left") else "("
            closing = "]" if self.closed in ("both", "right") else ")"
            return f"{what} in {opening}{self.low:g}, {self.high:g}{closing}"
        if self.low is not None:
            return f"{what} {'>=' if self.closed in ('both', 'left') else '>'} {self.low:g}"
        if self.high is not None:
            return f"{what} {'<=' if self.closed in ('both', 'right') else '<'} {self.high:g}"
        return what


class Options:
    """A fixed set of values (strings, usually), as a parameter constraint.

    Example:
        >>> str(Options("pearson", "spearman"))
        "one of 'pearson', 'spearman'"
    """

    def __init__(self, *values: Any):
        self.values = values

    def __contains__(self, value: object) -> bool:
        return any(type(value) is type(option) and value == option for option in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(option) for option in self.values)


#: Constraint: the value is an instance of this type (``bool`` for flags).
Constraint: TypeAlias = Interval | Options | type | None

#: The seeds every function takes: a non-negative int, a numpy Generator, or None.
SEED: tuple[Constraint, ...] = (Interval(numbers.Integral, 0, None), np.random.Generator, None)


def _satisfies(value, constraint):
    if constraint is None:
        return value is None
    if isinstance(constraint, type):
        if constraint is bool:
            return isinstance(value, (bool, np.bool_))
        return isinstance(value, constraint)
    return value in constraint


def _describe(constraint):
    if constraint is None:
        return "None"
    if constraint is bool:
        return "True or False"
    if isinstance(constraint, type):
        module = constraint.__module__
        if module == "builtins":
            return f"a {constraint.__name__}"
        package = "numpy.random" if module.startswith("numpy.random") else module.split(".")[0]
        return f"a {package}.{constraint.__name__}"
    return str(constraint)


def check_param(value: Any, name: str, *allowed: Constraint) -> Any:
    """Return ``value`` if it satisfies one of the constraints ``allowed``.

    Arguments:
        value: The argument given.
        name: The parameter's name, used in the message.
        allowed: Constraints: an :class:`Interval`, :class:`Options`, a type
            (``bool`` for flags) or None (None is accepted).

    Raises:
        causalrep.exceptions.ParameterError: (a ValueError and a TypeError)
            naming the parameter, the values it accepts and the value given.

    Example:
        >>> check_param("0.2", "test_fraction", Interval(numbers.Real, 0, 1, closed="neither"))
        Traceback (most recent call last):
        ...
        causalrep.exceptions.ParameterError: test_fraction must be a number in (0, 1), got '0.2' (a str)
    """
    if any(_satisfies(value, constraint) for constraint in allowed):
        return value
    accepted = [_describe(constraint) for constraint in allowed]
    text = accepted[0] if len(accepted) == 1 else ", ".join(accepted[:-1]) + " or " + accepted[-1]
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if not isinstance(value, (numbers.Number, type(None))):
        shown += f" (a {type(value).__name__})"
    raise ParameterError(f"{name} must be {text}, got {shown}")


_F = TypeVar("_F", bound=Callable[..., Any])


def validate_params(**constraints: Constraint | Sequence[Constraint]) -> Callable[[_F], _F]:
    """Declare a function's parameter constraints once; they are checked at every call.

    The constraints, one entry per parameter (a constraint or a list of them,
    any of which may hold: scikit-learn's ``_parameter_constraints`` shape),
    are kept on the function as ``_parameter_constraints``. Parameters not
    named are not checked here.

    Example:
        >>> @validate_params(fraction=Interval(numbers.Real, 0, 1), seed=SEED)
        ... def draw(fraction, seed=0):
        ...     return fraction
        >>> draw(fraction=2)
        Traceback (most recent call last):
        ...
        causalrep.exceptions.ParameterError: fraction must be a number in [0, 1], got 2
    """
    table = {
        name: tuple(allowed) if isinstance(allowed, (list, tuple)) else (allowed,)
        for name, allowed in constraints.items()
    }

    def decorate(function):
        signature = inspect.signature(function)
        unknown = set(table) - set(signature.parameters)
        if unknown:
            raise TypeError(f"{function.__qualname__} has no parameter(s) {sorted(unknown)}")

        @functools.wraps(function)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, allowed in table.items():
                check_param(bound.arguments[name], name, *allowed)
            return function(*args, **kwargs)

        checked._parameter_constraints = table
        return checked

    return decorate


def as_float_array(x: ArrayLike, name: str, ndim: int | None = None, allow_empty: bool = False) -> np.ndarray:
    """Return ``x`` as a finite float64 numpy array or raise naming ``name``.

    Arguments:
        x: numpy array, torch tensor, or nested sequence of numbers.
        name: Name of the argument, used in error messages.
        ndim: Required number of dimensions; a 1-d input is accepted where 2 is
            asked only if the caller reshapes it (no silent reshaping here).
        allow_empty: Whether zero rows are accepted.

    Returns:
        float64 numpy array (a copy when the input was not already float64).
    """
    if x is None:
        raise ValueError(f"{name} is required, got None")
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except ValueError as err:  # ragged nested sequences
        why = "its rows have different lengths" if "inhomogeneous" in str(err) else str(err).splitlines()[0]
        raise ValueError(f"{name} must be a rectangular array of numbers: {why}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if ndim is not None and arr.ndim != ndim:
        # scikit-learn's words, which its users (and its estimator checks) look for
        hint = ""
        if ndim == 2 and arr.ndim == 1:
            hint = f". Reshape your data: {name}.reshape(-1, 1) for one feature, {name}.reshape(1, -1) for one sample"
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {tuple(arr.shape)}{hint}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {tuple(arr.shape)})")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite values (NaN or inf)")
    return arr


def as_generator(seed: Seed) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` from an int, a Generator or None."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and seed >= 0):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be a non-negative int, a numpy Generator or None, got {seed!r}")


def check_positive(value: float, name: str, integer: bool = False) -> float:
    """Raise ``ValueError`` unless ``value`` is a finite positive (int) number."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not 0 < value < np.inf:
        what = "a positive int" if integer else "a positive number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def check_fraction(value: float, name: str, allow_zero: bool = True) -> float:
    """Raise :class:`~causalrep.exceptions.ParameterError` unless ``value`` is a number in [0, 1) (or (0, 1))."""
    return check_param(value, name, Interval(numbers.Real, 0, 1, closed="left" if allow_zero else "neither"))


def check_float32_range(arr: np.ndarray, name: str, owner: str) -> np.ndarray:
    """Raise ``ValueError`` unless a float64 array survives float32 networks.

    The networks compute in float32 on per-feature standardised inputs, so any
    scale works as long as the magnitudes stay within ``FLOAT32_LIMIT`` and
    the array varies by at least ``1 / FLOAT32_LIMIT`` in some column (a
    single column varying by less is harmless: it is constant in float32).

    Arguments:
        arr: Finite float64 array, (n,) or (n, k).
        name: Name of the argument, used in the message.
        owner: Who needs float32 (e.g. ``"Autoencoder"``), used in the message.
    """
    if arr.size == 0:
        return arr
    largest = float(np.max(np.abs(arr)))
    if largest > FLOAT32_LIMIT:
        raise ValueError(
            f"{name} has values up to {largest:.3g} in magnitude; {owner} computes in "
            f"float32 and accepts magnitudes up to {FLOAT32_LIMIT:g}: rescale {name}"
        )
    if arr.shape[0] > 1:
        spread = float(np.max(np.std(arr.reshape(arr.shape[0], -1), axis=0)))
        if 0 < spread < 1 / FLOAT32_LIMIT:
            raise ValueError(
                f"{name} varies by less than {1 / FLOAT32_LIMIT:g} in every column (largest "
                f"standard deviation {spread:.3g}); {owner} computes in float32 and accepts "
                f"spreads down to {1 / FLOAT32_LIMIT:g}: rescale {name}"
            )
    return arr


def column_stats(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and standard deviation of a float64 array, free of over- and underflow.

    Each column is divided by its largest magnitude before it is summed and
    again, once centred, before it is squared, so that a column of values
    near 1e300 or 1e-300 gets exact statistics. A column is constant (std 0)
    exactly when all its values are equal: the spread is judged on the
    values themselves, never against their magnitude, so 1e15 + noise of
    standard deviation 3 varies (its values are distinct float64 numbers).

    Arguments:
        arr: Finite float64 array, shape (n, k), n >= 1.

    Returns:
        Tuple (mean, std), each of shape (k,), float64; std uses ``ddof=0``.
    """
    peak = np.max(np.abs(arr), axis=0)
    unit = np.where(peak > 0, peak, 1.0)
    mean = np.mean(arr / unit, axis=0) * unit
    centred = arr - mean
    spread = np.max(np.abs(centred), axis=0)
    unit_c = np.where(spread > 0, spread, 1.0)
    std = np.std(centred / unit_c, axis=0) * unit_c
    std[np.all(arr == arr[:1], axis=0)] = 0.0
    return mean, std


def check_standardisable(arr: np.ndarray, name: str, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """Refuse an array whose columns cannot be standardised in float64; return its stats.

    Estimators standardise each column in float64 (before any float32 cast),
    which works at any offset and scale as long as every column's spread and
    magnitude lie within :data:`FLOAT64_LIMITS`, and some column varies.

    Arguments:
        arr: Finite float64 array, shape (n, k).
        name: Name of the argument, used in the message.
        owner: Who standardises (e.g. ``"Autoencoder"``), used in the message.

    Returns:
        Tuple (mean, std) of :func:`column_stats`.

    Raises:
        ValueError: naming the first column out of range, or saying that
            every column is constant.
    """
    low, high = FLOAT64_LIMITS
    arr2 = arr.reshape(arr.shape[0], -1)
    peak = np.max(np.abs(arr2), axis=0)
    for j in np.flatnonzero(peak > high)[:1]:
        raise ValueError(
            f"{name} column {j} has values up to {peak[j]:.3g} in magnitude; {owner} "
            f"accepts magnitudes up to {high:g} (its decoded values would overflow "
            f"float64): rescale {name}"
        )
    mean, std = column_stats(arr2)
    for j in np.flatnonzero((std > 0) & (std < low))[:1]:
        raise ValueError(
            f"{name} column {j} has standard deviation {std[j]:.3g}, below {low:g}: "
            f"{owner} cannot represent so small a spread in float64: rescale {name}"
        )
    if arr2.shape[0] > 1 and not np.any(std > 0):
        raise ValueError(
            f"{name} is constant: all {arr2.shape[0]} rows are identical, so {owner} has nothing to learn from"
        )
    return mean, std


def check_varying_columns(arr: np.ndarray, name: str, owner: str, why: str) -> np.ndarray:
    """Refuse a 2-d array with a constant column or linearly dependent columns.

    Arguments:
        arr: Finite float64 array, shape (n, k).
        name: Name of the argument, used in the message.
        owner: Who needs the columns to vary (e.g. ``"Rep4Ex"``).
        why: The reason, ending the message.

    Raises:
        ValueError: naming the first constant column, or giving the rank.
    """
    mean, std = column_stats(arr)
    for j in np.flatnonzero(std == 0)[:1]:
        raise ValueError(
            f"{name} column {j} is constant (every row holds {arr[0, j]:.6g}): {owner} needs {name} to vary, {why}"
        )
    unit = (arr - mean) / std
    rank = int(np.linalg.matrix_rank(unit, tol=1e-10 * np.sqrt(arr.shape[0])))
    if rank < arr.shape[1]:
        raise ValueError(
            f"the {arr.shape[1]} columns of {name} are linearly dependent "
            f"(rank {rank}): {owner} needs them independent, {why}"
        )
    return arr


def as_dag(graph: GraphLike, n_nodes: int | None = None) -> nx.DiGraph:
    """A directed acyclic graph on the nodes ``0..d-1``, as a fresh ``networkx.DiGraph``.

    The one reader of graphs over latents: data containers, simulators and
    estimators all accept what it accepts and refuse what it refuses, with the
    same messages.

    Arguments:
        graph: A ``networkx.DiGraph``; an iterable of ``(parent, child)``
            pairs of ints; or a dict ``{"nodes": [...], "edges": [...]}``
            (the form checkpoints store).
        n_nodes: Required number of nodes d, or None to accept any. For an
            iterable of edges, the nodes are ``0..n_nodes-1`` (by default,
            up to the largest index in an edge).

    Returns:
        A new DiGraph whose nodes are the Python ints ``0..d-1`` (numpy ints
        become ints, so it saves as JSON and loads back equal), with the
        same edges.

    Raises:
        TypeError: for something that is none of these (an undirected graph
            or an array included), or a node that is not an int.
        ValueError: for a multigraph, nodes other than ``0..d-1``, a number
            of nodes other than ``n_nodes``, or a cycle (self-loops
            included), which the message names.

    Example:
        >>> as_dag([(0, 1), (1, 0)])
        Traceback (most recent call last):
        ...
        ValueError: graph has a cycle: 0 -> 1 -> 0
    """
    if isinstance(graph, nx.Graph):
        if not graph.is_directed():
            raise TypeError(f"graph must be a networkx.DiGraph, got an undirected {type(graph).__name__}")
        if graph.is_multigraph():
            raise ValueError("graph must be a simple DiGraph, got a multigraph")
        nodes, edges = list(graph.nodes), list(graph.edges)
    else:
        nodes, edges = _nodes_and_edges(graph)
        if nodes is None:
            count = n_nodes if n_nodes is not None else max((max(e) for e in edges), default=-1) + 1
            nodes = list(range(count))
    odd = [node for node in nodes if not _is_int(node)]
    if odd:
        raise TypeError(f"graph nodes must be the ints 0..d-1, got node {odd[0]!r} of type {type(odd[0]).__name__}")
    clean = nx.DiGraph()
    clean.add_nodes_from(sorted(int(node) for node in nodes))
    clean.add_edges_from((int(a), int(b)) for a, b in edges)
    labels = list(clean.nodes)
    if labels != list(range(len(labels))):
        raise ValueError(f"graph nodes must be 0..d-1, got {labels[:10]}" + (" ..." if len(labels) > 10 else ""))
    if n_nodes is not None and len(labels) != n_nodes:
        raise ValueError(f"graph has {len(labels)} nodes, expected {n_nodes}")
    try:
        cycle = nx.find_cycle(clean)
    except nx.NetworkXNoCycle:
        return clean
    path = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[-1][1]}"
    raise ValueError(f"graph has a cycle: {path}")


def _nodes_and_edges(graph):
    """(nodes or None, edges as int pairs) of an edge iterable or a nodes/edges dict."""
    what = "graph must be a networkx.DiGraph, an iterable of (parent, child) edges or a dict with 'nodes' and 'edges'"
    if isinstance(graph, (str, bytes, np.ndarray)) or not hasattr(graph, "__iter__"):
        raise TypeError(f"{what}, got {type(graph).__name__}")
    nodes = None
    if isinstance(graph, dict):
        if set(graph) - {"nodes", "edges"}:
            raise ValueError(f"graph dict takes 'nodes' and 'edges', got {sorted(graph)}")
        nodes, graph = graph.get("nodes"), graph.get("edges", ())
        nodes = None if nodes is None else list(nodes)
    edges = []
    for edge in graph:
        pair = tuple(edge) if hasattr(edge, "__iter__") and not isinstance(edge, str) else ()
        if len(pair) != 2 or not all(_is_int(end) for end in pair):
            raise TypeError(f"{what}; an edge must be a pair of ints, got {edge!r}")
        edges.append((int(pair[0]), int(pair[1])))
    return nodes, edges


def as_do(do: Mapping[int | str, ArrayLike], variables: Sequence[str] | int, n: int) -> dict[int, np.ndarray]:
    """Hard-intervention values ``{node: value}`` as ``{index: (n,) float64 array}``.

    The one reader of ``do`` arguments, in simulators and estimators alike.

    Arguments:
        do: Mapping from a node (its index, or its name when ``variables``
            names them) to a number (the same value for every sample) or an
            array of shape (n,).
        variables: The nodes' names (a sequence of str), or their number d
            when they have none.
        n: Number of samples the values apply to.

    Returns:
        dict from node index to a float64 array of shape (n,), in index order.

    Raises:
        TypeError: if ``do`` is not a mapping.
        ValueError: for an unknown node, one node given twice (by index and
            by name), a non-finite value or a value of another shape.
    """
    if not hasattr(do, "items"):
        raise TypeError(f"do must be a dict node -> value, got {type(do).__name__}")
    names = [] if isinstance(variables, numbers.Integral) else list(variables)
    d = int(variables) if isinstance(variables, numbers.Integral) else len(names)
    clean = {}
    for key, value in do.items():
        if isinstance(key, str) and key in names:
            j = names.index(key)
        elif _is_int(key) and 0 <= key < d:
            j = int(key)
        else:
            known = f"indices 0..{d - 1}" + (f" or names {names}" if names else "")
            raise ValueError(f"unknown do node {key!r}; use {known}")
        if j in clean:
            raise ValueError(f"do names node {j} twice")
        value = as_float_array(value, f"do[{key!r}]")
        if value.ndim == 0:
            value = np.full(n, float(value))
        elif value.shape != (n,):
            raise ValueError(f"do[{key!r}] must be a number or have shape ({n},), got {value.shape}")
        clean[j] = value
    return dict(sorted(clean.items()))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
