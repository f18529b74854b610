r"""Small causal image scenes, rendered in numpy, with exact counterfactuals.

Two scenes, each a structural causal model over a few named variables whose
values are drawn and then drawn into grayscale images (values in [0, 1]):

* :func:`pendulum`: a pendulum lit by a sun. The pendulum's angle and the
  sun's position cause the length and the position of the pendulum's shadow
  on the floor (edges 0 -> 2, 0 -> 3, 1 -> 2, 1 -> 3), after the scene used
  by CausalVAE and CausalDiffAE.
* :func:`morpho_digits`: digits from a built-in 5x7 bitmap font whose stroke
  thickness causes their intensity (0 -> 1), after Morpho-MNIST.

Every mechanism is additive in its exogenous noise (on a known scale), and the
noise is kept in ``data.meta["noise"]``: :func:`pendulum_counterfactual` and
:func:`morpho_counterfactual` replay it under a do-intervention, which gives
the true counterfactual image of every sample, the ground truth that
counterfactual generators are scored against. Without the noise they abduct
it from the factual labels, which is exact too.

Rendering broadcasts over an (n, H, W) pixel grid (no loop over pixels or
samples) with one pixel of anti-aliasing, in chunks to bound memory.
"""

import numbers
from collections.abc import Mapping

import networkx as nx
import numpy as np

from causalrep.data import InterventionalData
from causalrep.validation import ArrayLike, Seed, as_do, as_float_array, as_generator, check_positive

__all__ = [
    "PENDULUM_VARIABLES",
    "MORPHO_VARIABLES",
    "pendulum",
    "pendulum_counterfactual",
    "pendulum_graph",
    "render_pendulum",
    "morpho_digits",
    "morpho_counterfactual",
    "render_digits",
]

PENDULUM_VARIABLES = ("angle", "light", "shadow_length", "shadow_position")
MORPHO_VARIABLES = ("thickness", "intensity")

_CHUNK = 512

# Pendulum scene, in scene units: the image is the unit square, y pointing up.
_PIVOT = np.array([0.5, 0.5])
_ARM = 0.22
_SUN_HEIGHT = 0.9
_FLOOR = 0.1
_ANGLE_RANGE = (-45.0, 45.0)  # degrees, 0 = hanging straight down
_LIGHT_RANGE = (0.25, 0.75)  # horizontal position of the sun
_SHADOW_NOISE = 0.03  # half-width of the uniform shadow noises
_MIN_SHADOW = 0.04  # a shadow seen edge-on still has some length


def pendulum(
    n: int, size: int = 32, seed: Seed = 0, do: Mapping[int | str, ArrayLike] | None = None
) -> InterventionalData:
    r"""Images of a pendulum whose shadow depends on its angle and the light.

    The sun sits at height 0.9 and horizontal position ``light``; its rays are
    parallel, along the line from the sun to the pendulum's pivot. The shadow
    of the arm (pivot to bob) on the floor spans the projections of both
    ends, :math:`p` (pivot) and :math:`b` (bob), so

    .. math::
        \text{shadow\_length} &= |p - b| + 0.04 + u_\ell, \\
        \text{shadow\_position} &= (p + b) / 2 + u_p,

    with :math:`u_\ell, u_p \sim U(-0.03, 0.03)`, ``angle`` (degrees) uniform
    on [-45, 45] and ``light`` uniform on [0.25, 0.75]. Positions and lengths
    are in scene units (the image width is 1).

    Arguments:
        n: Number of images.
        size: Height and width in pixels.
        seed: int or numpy Generator.
        do: Optional hard intervention applied to every sample,
            ``{variable: value}`` with the variable as index or name; its
            descendants follow from the mechanisms.

    Returns:
        InterventionalData with X (n, size * size) in [0, 1] (flattened
        images, ``meta["image_shape"] == [1, size, size]``), Z (n, 4) in the
        order of :data:`PENDULUM_VARIABLES`, the graph, and ``meta["noise"]``
        (n, 4): the exogenous values (angle, light, :math:`u_\ell`,
        :math:`u_p`). Regime 0 without ``do``, else regime 1 targeting the
        intervened variables.

    Example:
        >>> data = pendulum(8, size=16)
        >>> data.X.shape, data.Z.shape, sorted(data.graph.edges)
        ((8, 256), (8, 4), [(0, 2), (0, 3), (1, 2), (1, 3)])
    """
    check_positive(n, "n", integer=True)
    _check_size(size)
    do = _check_do(do, PENDULUM_VARIABLES, n)
    rng = as_generator(seed)
    noise = np.column_stack(
        [
            rng.uniform(*_ANGLE_RANGE, n),
            rng.uniform(*_LIGHT_RANGE, n),
            rng.uniform(-_SHADOW_NOISE, _SHADOW_NOISE, (n, 2)),
        ]
    )
    labels = _pendulum_scm(noise, do)
    return _assemble(
        render_pendulum(labels, size), labels, noise, do, size, seed, "pendulum", PENDULUM_VARIABLES, pendulum_graph()
    )


def pendulum_graph() -> nx.DiGraph:
    """The pendulum scene's DAG: angle and light cause both shadow variables."""
    return nx.DiGraph([(0, 2), (0, 3), (1, 2), (1, 3)])


def pendulum_counterfactual(
    labels: ArrayLike, noise: ArrayLike | None, do: Mapping[int | str, ArrayLike], size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    r"""The true counterfactual pendulum images under ``do``.

    The factual world is ``labels`` (its roots) and ``noise`` (its shadow
    noises); ``do`` replaces the mechanisms of the intervened variables and
    every descendant is recomputed with the same noise.

    Arguments:
        labels: Factual variables, shape (n, 4), as ``data.Z``.
        noise: Exogenous values, shape (n, 4), as ``data.meta["noise"]``; its
            first two columns (the roots) are ignored in favour of ``labels``.
            None abducts the shadow noises from ``labels``.
        do: ``{variable: value}`` with the variable as index or name and the
            value a number or an array of shape (n,).
        size: Height and width in pixels.

    Returns:
        Tuple (images (n, size * size), labels (n, 4)) of the counterfactual.

    Example:
        >>> data = pendulum(4, size=16)
        >>> images, z = pendulum_counterfactual(data.Z, data.meta["noise"], {"light": 0.3})
        >>> bool(np.allclose(z[:, 0], data.Z[:, 0])), bool(np.allclose(z[:, 1], 0.3))
        (True, True)
    """
    labels = _check_labels(labels, len(PENDULUM_VARIABLES), "labels")
    n = labels.shape[0]
    if noise is None:
        shadow = _pendulum_shadow(labels[:, 0], labels[:, 1])
        noise = np.column_stack([labels[:, :2], labels[:, 2] - shadow[0] - _MIN_SHADOW, labels[:, 3] - shadow[1]])
    else:
        noise = _check_labels(noise, len(PENDULUM_VARIABLES), "noise", rows=n).copy()
        noise[:, :2] = labels[:, :2]
    _check_size(size)
    values = _pendulum_scm(noise, _check_do(do, PENDULUM_VARIABLES, n))
    return render_pendulum(values, size), values


def render_pendulum(labels: ArrayLike, size: int = 32) -> np.ndarray:
    """Draw pendulum scenes from their four variables.

    Arguments:
        labels: Shape (n, 4): angle (degrees), light, shadow length and
            shadow position (scene units).
        size: Height and width in pixels.

    Returns:
        Images flattened to shape (n, size * size), values in [0, 1].
    """
    labels = _check_labels(labels, len(PENDULUM_VARIABLES), "labels")
    _check_size(size)
    grid = _grid(size)
    pixel = 1.0 / size
    arm_width = max(0.015, 0.6 * pixel)
    shadow_width = max(0.03, 0.75 * pixel)

    def draw(chunk):
        theta = np.deg2rad(chunk[:, 0])
        bob = _PIVOT + _ARM * np.column_stack([np.sin(theta), -np.cos(theta)])
        pivot = np.broadcast_to(_PIVOT, bob.shape)
        sun = np.column_stack([chunk[:, 1], np.full(len(chunk), _SUN_HEIGHT)])
        half = chunk[:, 2:3] / 2
        floor = np.full((len(chunk), 1), _FLOOR)
        left = np.column_stack([chunk[:, 3:4] - half, floor])
        right = np.column_stack([chunk[:, 3:4] + half, floor])
        layers = [
            1.0 * _cover(_segment_distance(grid, sun, sun), 0.06, pixel),
            0.7 * _cover(_segment_distance(grid, pivot, bob), arm_width, pixel),
            0.85 * _cover(_segment_distance(grid, bob, bob), 0.055, pixel),
            0.5 * _cover(_segment_distance(grid, left, right), shadow_width, pixel),
        ]
        return np.maximum.reduce(layers)

    return _chunked(draw, labels, size)


def _pendulum_shadow(angle, light):
    """Length (without noise and floor) and middle of the arm's shadow."""
    theta = np.deg2rad(angle)
    bob_x = _PIVOT[0] + _ARM * np.sin(theta)
    bob_y = _PIVOT[1] - _ARM * np.cos(theta)
    slope = (_PIVOT[0] - light) / (_SUN_HEIGHT - _PIVOT[1])
    pivot_shadow = _PIVOT[0] + (_PIVOT[1] - _FLOOR) * slope
    bob_shadow = bob_x + (bob_y - _FLOOR) * slope
    return np.abs(pivot_shadow - bob_shadow), (pivot_shadow + bob_shadow) / 2


def _pendulum_scm(noise, do):
    values = noise.copy()
    for j in (0, 1):
        if j in do:
            values[:, j] = do[j]
    length, middle = _pendulum_shadow(values[:, 0], values[:, 1])
    values[:, 2] = do[2] if 2 in do else length + _MIN_SHADOW + noise[:, 2]
    values[:, 3] = do[3] if 3 in do else middle + noise[:, 3]
    return values


# Morpho digits ----------------------------------------------------------------

# A 5x7 bitmap font of the ten digits ('#' = ink), rows top to bottom.
_FONT = """
.###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###.
#...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...#
#...# ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...#
#...# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .####
#...# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....#
#...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#.
.###. .###. ##### .###. ...#. .###. .###. .#... .###. .##..
"""
_GLYPHS = np.array(
    [[[c == "#" for c in word] for word in line.split()] for line in _FONT.split("\n") if line.strip()]
).transpose(1, 0, 2)
_REFERENCE_SIZE = 28  # thickness is measured in pixels of a 28x28 image
_CELL = 3.5  # spacing of the font's cells, same units
_THICKNESS_SHAPE, _THICKNESS_SCALE, _THICKNESS_MIN = 10.0, 0.15, 1.0


def morpho_digits(
    n: int, size: int = 28, seed: Seed = 0, do: Mapping[int | str, ArrayLike] | None = None
) -> InterventionalData:
    r"""Digits whose stroke thickness causes their brightness.

    A digit (uniform over 0-9) is drawn from a 5x7 bitmap font as the line
    segments joining neighbouring ink cells (its skeleton), dilated by a disk
    of diameter ``thickness``: the pixels whose distance to the skeleton is
    below ``thickness / 2`` (a threshold of the skeleton's distance map, with
    one pixel of anti-aliasing), painted with ``intensity``. After
    Morpho-MNIST's thickness -> intensity model:

    .. math::
        \text{thickness} &= 1 + g, \quad g \sim \Gamma(10, \text{scale}=0.15), \\
        \text{intensity} &= 0.25 + 0.75\,\sigma(2\,\text{thickness} - 5 + u_i),
        \quad u_i \sim N(0, 0.5^2),

    with the thickness in pixels of a 28x28 image (scaled with ``size``).

    Arguments:
        n: Number of images.
        size: Height and width in pixels (28 as MNIST; 16 renders faster).
        seed: int or numpy Generator.
        do: Optional hard intervention on every sample, ``{variable: value}``.

    Returns:
        InterventionalData with X (n, size * size) in [0, 1], Z (n, 2)
        (thickness, intensity), the graph 0 -> 1, and in ``meta``:
        ``image_shape``, ``digit`` (n,) and ``noise`` (n, 2), the exogenous
        (thickness, :math:`u_i`).

    Example:
        >>> data = morpho_digits(6, size=16)
        >>> data.X.shape, data.Z.shape, list(data.graph.edges)
        ((6, 256), (6, 2), [(0, 1)])
    """
    check_positive(n, "n", integer=True)
    _check_size(size)
    do = _check_do(do, MORPHO_VARIABLES, n)
    rng = as_generator(seed)
    digits = rng.integers(0, 10, n)
    noise = np.column_stack(
        [
            _THICKNESS_MIN + rng.gamma(_THICKNESS_SHAPE, _THICKNESS_SCALE, n),
            rng.normal(0.0, 0.5, n),
        ]
    )
    labels = _morpho_scm(noise, do)
    data = _assemble(
        render_digits(labels, digits, size),
        labels,
        noise,
        do,
        size,
        seed,
        "morpho_digits",
        MORPHO_VARIABLES,
        nx.DiGraph([(0, 1)]),
    )
    return InterventionalData(
        X=data.X,
        regime=data.regime,
        targets=dict(data.targets),
        Z=data.Z,
        graph=data.graph,
        meta={**data.meta, "digit": digits.tolist()},
    )


def morpho_counterfactual(
    labels: ArrayLike, noise: ArrayLike | None, digits: ArrayLike, do: Mapping[int | str, ArrayLike], size: int = 28
) -> tuple[np.ndarray, np.ndarray]:
    """The true counterfactual digit images under ``do``.

    Arguments:
        labels: Factual (thickness, intensity), shape (n, 2), as ``data.Z``.
        noise: Exogenous values, shape (n, 2), as ``data.meta["noise"]``; the
            thickness column is ignored in favour of ``labels``. None abducts
            the intensity noise from ``labels``.
        digits: Digit classes, shape (n,), as ``data.meta["digit"]``.
        do: ``{variable: value}``, variable as index or name, value a number or
            an array of shape (n,).
        size: Height and width in pixels.

    Returns:
        Tuple (images (n, size * size), labels (n, 2)) of the counterfactual.
    """
    labels = _check_labels(labels, len(MORPHO_VARIABLES), "labels")
    n = labels.shape[0]
    if noise is None:
        fraction = np.clip((labels[:, 1] - 0.25) / 0.75, 1e-12, 1 - 1e-12)
        noise = np.column_stack([labels[:, 0], np.log(fraction / (1 - fraction)) - 2 * labels[:, 0] + 5])
    else:
        noise = _check_labels(noise, len(MORPHO_VARIABLES), "noise", rows=n).copy()
        noise[:, 0] = labels[:, 0]
    digits = _check_digits(digits, n)
    values = _morpho_scm(noise, _check_do(do, MORPHO_VARIABLES, n))
    return render_digits(values, digits, size), values


def render_digits(labels: ArrayLike, digits: ArrayLike, size: int = 28) -> np.ndarray:
    """Draw digits of given thickness and intensity.

    Arguments:
        labels: Shape (n, 2): thickness (pixels at 28x28) and intensity.
        digits: Digit classes, shape (n,), ints in 0..9.
        size: Height and width in pixels.

    Returns:
        Images flattened to shape (n, size * size), values in [0, 1].
    """
    labels = _check_labels(labels, len(MORPHO_VARIABLES), "labels")
    digits = _check_digits(digits, labels.shape[0])
    _check_size(size)
    distance = _skeleton_distances(size)  # (10, size, size), pixels
    scale = size / _REFERENCE_SIZE
    radius = np.maximum(labels[:, 0], 0.0) * scale / 2
    ink = np.clip(radius[:, None, None] - distance[digits] + 0.5, 0.0, 1.0)
    images = np.clip(labels[:, 1], 0.0, 1.0)[:, None, None] * ink
    return images.reshape(len(labels), -1)


def _morpho_scm(noise, do):
    values = noise.copy()
    if 0 in do:
        values[:, 0] = do[0]
    values[:, 1] = do[1] if 1 in do else 0.25 + 0.75 / (1 + np.exp(-(2 * values[:, 0] - 5 + noise[:, 1])))
    return values


def _skeleton_distances(size):
    """Distance (in pixels) from each pixel to each digit's skeleton."""
    scale = size / _REFERENCE_SIZE
    cell = _CELL * scale
    origin = np.array([size / 2 - 2 * cell, size / 2 - 3 * cell])  # (x, y) of cell (0, 0)
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    grid = np.stack([cols, rows], axis=-1)
    maps = []
    for glyph in _GLYPHS:
        starts, ends = _glyph_segments(glyph)
        a = origin + starts[:, ::-1] * cell
        b = origin + ends[:, ::-1] * cell
        maps.append(_segment_distance(grid, a, b).min(axis=0))
    return np.stack(maps)


def _glyph_segments(glyph):
    """Segments between neighbouring ink cells, as (row, col) start/end pairs.

    Horizontal and vertical neighbours are joined; diagonal neighbours only
    when no two-step path through an ink cell joins them already (keeps
    corners round instead of filling triangles). Lone cells are dots.
    """
    ink = {tuple(cell) for cell in np.argwhere(glyph)}
    pairs = []
    for r, c in sorted(ink):
        linked = False
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            if (r + dr, c + dc) in ink:
                linked = True
                if (dr, dc) in ((0, 1), (1, 0)):
                    pairs.append(((r, c), (r + dr, c + dc)))
        for dr, dc in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            if (r + dr, c + dc) in ink and (r + dr, c) not in ink and (r, c + dc) not in ink:
                linked = True
                if dr == 1:
                    pairs.append(((r, c), (r + dr, c + dc)))
        if not linked:
            pairs.append(((r, c), (r, c)))
    starts, ends = np.array(pairs, dtype=float).transpose(1, 0, 2)
    return starts, ends


# Shared helpers -----------------------------------------------------------------


def _grid(size):
    """Pixel centres in scene units, shape (size, size, 2), y pointing up."""
    centres = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid(centres, 1.0 - centres)
    return np.stack([x, y], axis=-1)


def _segment_distance(grid, a, b):
    """Distance from each grid point to segments a[k] -> b[k], shape (k, H, W)."""
    a, b = a[:, None, None, :], b[:, None, None, :]
    ab = b - a
    length2 = np.maximum((ab**2).sum(-1), 1e-12)
    t = np.clip(((grid - a) * ab).sum(-1) / length2, 0.0, 1.0)
    return np.linalg.norm(grid - (a + t[..., None] * ab), axis=-1)


def _cover(distance, radius, pixel):
    """Anti-aliased coverage of a shape of the given radius around a skeleton."""
    return np.clip((radius - distance) / pixel + 0.5, 0.0, 1.0)


def _chunked(draw, labels, size):
    out = np.empty((len(labels), size * size))
    for start in range(0, len(labels), _CHUNK):
        chunk = labels[start : start + _CHUNK]
        out[start : start + len(chunk)] = draw(chunk).reshape(len(chunk), -1)
    return out


def _assemble(images, labels, noise, do, size, seed, setting, variables, graph):
    regime = np.zeros(len(labels), dtype=np.int64) if not do else np.ones(len(labels), np.int64)
    targets = {0: ()} if not do else {1: tuple(sorted(do))}
    meta = {
        "setting": setting,
        "seed": int(seed) if isinstance(seed, numbers.Integral) else None,
        "size": int(size),
        "image_shape": [1, int(size), int(size)],
        "variables": list(variables),
        "do": {variables[j]: float(np.mean(v)) for j, v in do.items()},
        "noise": noise.tolist(),
    }
    return InterventionalData(X=images, regime=regime, targets=targets, Z=labels, graph=graph, meta=meta)


def _check_size(size):
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")


def _check_labels(values, width, name, rows=None):
    values = as_float_array(values, name, ndim=2)
    if values.shape[1] != width:
        raise ValueError(f"{name} must have {width} columns, got shape {values.shape}")
    if rows is not None and values.shape[0] != rows:
        raise ValueError(f"{name} has {values.shape[0]} rows but labels have {rows}")
    return values


def _check_digits(digits, n):
    digits = np.asarray(digits)
    valid = digits.shape == (n,) and digits.dtype.kind in "iu"
    if not valid or not np.all((0 <= digits) & (digits <= 9)):
        raise ValueError(f"digits must be {n} ints in 0..9, got shape {digits.shape}, dtype {digits.dtype}")
    return digits.astype(np.int64)


def _check_do(do, variables, n):
    """``{index or name: value}`` -> ``{index: (n,) array}``; None is no intervention."""
    return {} if do is None else as_do(do, variables, n)
