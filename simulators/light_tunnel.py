r"""Images of the Causal Chamber light tunnel (Gamella, Peters, Buhlmann, 2025).

The light tunnel is a physical testbed: a light source with red, green and
blue LEDs shines through two linear polarisers onto a camera. Its image
model F3 (the ``causalchamber`` package's ``ModelF3``, calibrated on the
real camera) renders a hexagon of colour

.. math::
    c = e\, W S\, (r, g, b)^\top / 255 \odot \big((T_p - T_c) \cos^2(\theta_1 - \theta_2) + T_c\big)

on a black background: :math:`S` the sensor's 3x3 colour response,
:math:`W` the white balance, :math:`e` the exposure, :math:`T_p, T_c` the
per-channel transmission of aligned and crossed polarisers (Malus' law).
:func:`light_tunnel` makes the physical inputs the latents of an SCM, with
do-interventions, and renders them with that model.

**Which inputs can be recovered.** The image is the colour 3-vector times a
fixed mask, so it holds at most three numbers:

- any one, two or three of ``red``, ``green``, ``blue`` (the polarisers
  fixed): the colour is linear in them through the invertible :math:`S`,
  so the map is injective and well conditioned (a degree-1 polynomial);
- one polariser angle alone: :math:`\cos^2` is monotone on the angle range
  (0 to 90 degrees);
- one polariser with one or two LEDs: injective only through the small
  per-channel differences of :math:`T_p, T_c` (the angle moves the hue
  slightly), so badly conditioned: measured on a grid, nearby colours come
  from inputs up to 100 (one LED) and 6,000 (two LEDs) times further apart
  than from RGB alone;
- **not injective**: both polarisers (only their difference reaches the
  image), or more than three inputs (a 3-vector cannot hold them). Such a
  choice warns (:class:`~causalrep.exceptions.IdentifiabilityWarning`).

Needs the optional ``causalchamber`` package (``pip install causalrep[chamber]``);
its image models are numpy code and need no download.
"""

import contextlib
import io
import warnings
from collections.abc import Sequence

import networkx as nx
import numpy as np

from causalrep.data import InterventionalData
from causalrep.exceptions import IdentifiabilityWarning, warn
from causalrep.validation import Seed, as_generator, check_positive

from .graphs import chain, check_dag
from .interventions import Intervention, do
from .scm import LatentSCM

__all__ = ["LIGHT_TUNNEL_INPUTS", "light_tunnel"]

#: The light tunnel's inputs that can be latents, and their (low, high) range:
#: LED brightness in 0-255 units, polariser angles in degrees.
LIGHT_TUNNEL_INPUTS = {
    "red": (64.0, 255.0),
    "green": (64.0, 255.0),
    "blue": (64.0, 255.0),
    "pol_1": (0.0, 90.0),
    "pol_2": (0.0, 90.0),
}
# Values of the inputs that are not latents: mid brightness, polarisers aligned.
_FIXED = {"red": 128.0, "green": 128.0, "blue": 128.0, "pol_1": 0.0, "pol_2": 0.0}
# Model F3's calibrated parameters (the causalchamber package's tutorial);
# the exposure is lowered from 2.5 to 1.5 so no channel clips at full brightness
# (clipping would make the image non-injective).
_F3 = {
    "S": np.array(
        [
            [0.2995802, 0.06920322, 0.028159],
            [0.04017132, 0.9209918, 0.31265],
            [0.00217392, 0.2071558, 0.75763],
        ]
    ),
    "w_r": 2.65625,
    "w_g": 1.0,
    "w_b": 1.77344,
    "Tp": np.array([[0.29, 0.35, 0.33]]).T,
    "Tc": np.array([[0.02, 0.08, 0.18]]).T,
    "exposure": 1.5,
    "center_x": 0.5,
    "center_y": 0.5,
    "radius": 0.22,
    "offset": 0,
}


def light_tunnel(
    n_per_regime: int | Sequence[int] = 1000,
    inputs: Sequence[str] = ("red", "green", "blue"),
    interventions: Sequence[Intervention] | None = None,
    graph: nx.DiGraph | None = None,
    mechanism: str = "linear",
    size: int = 16,
    pixel_noise: float = 0.0,
    seed: Seed = 0,
) -> InterventionalData:
    r"""Light-tunnel images whose latents are the tunnel's physical inputs.

    A :class:`~simulators.LatentSCM` over ``graph`` draws standardised values
    :math:`u`; input j is :math:`lo_j + (hi_j - lo_j)\,\sigma(u_j)` on its
    range (:data:`LIGHT_TUNNEL_INPUTS`), the other inputs stay at mid
    brightness / aligned polarisers, and model F3 renders the images.

    The image holds one colour, 3 numbers, so the inputs are recoverable
    only from an injective choice: up to three of ``red``, ``green``,
    ``blue`` (the colour is linear in them), or one polariser, alone or with
    one or two LEDs (injective, but badly conditioned: the angle moves only
    the hue). Both polarisers (only their difference reaches the image) or
    more than three inputs are not, and warn.

    Arguments:
        n_per_regime: Samples per regime: an int, or one int per regime
            (observational first).
        inputs: Names of the latent inputs, a subset of
            :data:`LIGHT_TUNNEL_INPUTS` (see the module docstring for which
            sets are injective; a non-injective set warns).
        interventions: Interventions on the standardised values :math:`u`
            (so ``do({j: 0.0})`` sets input j to the middle of its range); None
            gives ``do({j: 0.0})`` for every latent, one regime each.
        graph: DAG over the latents; None is a chain in the order of ``inputs``.
        mechanism: Mechanism of the SCM (``"linear"``, ``"mlp"``, ``"polynomial"``).
        size: Height and width of the images in pixels, >= 8.
        pixel_noise: Standard deviation of Gaussian noise added to every
            pixel (values in [0, 1]), >= 0.
        seed: int or numpy Generator.

    Returns:
        InterventionalData with X (n, 3 * size * size) (channel-first RGB
        images, ``meta["image_shape"] == [3, size, size]``), Z (n, d) the
        inputs in their physical units, the regimes, targets and graph.

    Raises:
        ImportError: when the ``causalchamber`` package is not installed.
        ValueError: for an unknown or repeated input, or a bad size or noise.

    Example:
        >>> data = light_tunnel(20, size=8, seed=0)  # doctest: +SKIP
        >>> data.X.shape, data.Z.shape                # doctest: +SKIP
        ((80, 192), (80, 3))
    """
    inputs = _check_inputs(inputs)
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    if isinstance(pixel_noise, bool) or not isinstance(pixel_noise, (int, float)) or not 0 <= pixel_noise < np.inf:
        raise ValueError(f"pixel_noise must be a finite number >= 0, got {pixel_noise!r}")
    d = len(inputs)
    graph = chain(d) if graph is None else graph
    check_dag(graph)
    if graph.number_of_nodes() != d:
        raise ValueError(f"graph has {graph.number_of_nodes()} nodes but inputs name {d} latents")
    interventions = [do({j: 0.0}) for j in range(d)] if interventions is None else list(interventions)
    model = _model_f3(size)
    rng = as_generator(seed)
    scm = LatentSCM(graph, mechanism=mechanism, seed=rng)
    sizes = _sizes(n_per_regime, len(interventions) + 1)
    streams = rng.spawn(len(sizes) + 1)
    u = np.concatenate(
        [scm.sample(n, iv, seed=s) for n, iv, s in zip(sizes, [None, *interventions], streams[:-1], strict=True)]
    )  # (n, d) standardised
    ranges = np.array([LIGHT_TUNNEL_INPUTS[name] for name in inputs])
    Z = ranges[:, 0] + (ranges[:, 1] - ranges[:, 0]) / (1.0 + np.exp(-u))
    images = _render(model, inputs, Z)  # (n, size, size, 3)
    X = images.transpose(0, 3, 1, 2).reshape(len(Z), -1)
    if pixel_noise:
        X = X + streams[-1].normal(0.0, pixel_noise, X.shape)
    meta = {
        "setting": "light_tunnel",
        "seed": int(seed) if isinstance(seed, int) else None,
        "inputs": list(inputs),
        "ranges": ranges.tolist(),
        "image_shape": [3, size, size],
        "pixel_noise": float(pixel_noise),
        "n_per_regime": sizes,
        "interventions": [iv.to_dict() for iv in interventions],
        "model": "causalchamber ModelF3",
    }
    return InterventionalData(
        X=X,
        regime=np.repeat(np.arange(len(sizes)), sizes),
        targets={0: (), **{k: iv.targets for k, iv in enumerate(interventions, start=1)}},
        Z=Z,
        graph=scm.graph,
        meta=meta,
    )


def _check_inputs(inputs):
    if isinstance(inputs, str):
        inputs = (inputs,)
    inputs = tuple(inputs)
    unknown = [name for name in inputs if name not in LIGHT_TUNNEL_INPUTS]
    if unknown or not inputs or len(set(inputs)) != len(inputs):
        raise ValueError(f"inputs must be distinct names from {tuple(LIGHT_TUNNEL_INPUTS)}, got {inputs!r}")
    if len(inputs) > 3:
        warn(
            f"{len(inputs)} light-tunnel inputs {inputs} are not identifiable from its images: "
            "the image holds one colour (3 numbers), so at most 3 inputs can be recovered",
            IdentifiabilityWarning,
        )
    elif {"pol_1", "pol_2"} <= set(inputs):
        warn(
            "pol_1 and pol_2 are not identifiable from the light tunnel's images: only their "
            "difference reaches the image (Malus' law); keep one polariser as a latent",
            IdentifiabilityWarning,
        )
    return inputs


def _sizes(n_per_regime, n_regimes):
    sizes = [n_per_regime] * n_regimes if isinstance(n_per_regime, int) else list(n_per_regime)
    if len(sizes) != n_regimes:
        raise ValueError(f"n_per_regime has {len(sizes)} entries but there are {n_regimes} regimes")
    return [int(check_positive(n, "n_per_regime", integer=True)) for n in sizes]


def _model_f3(size):
    try:
        # The package prints its citation on import; its simulators try torchvision.
        with contextlib.redirect_stdout(io.StringIO()):
            from causalchamber.simulators.lt import ModelF3
    except ImportError as err:
        raise ImportError(
            "simulators.light_tunnel needs the causalchamber package: pip install causalrep[chamber]"
        ) from err
    return ModelF3(image_size=size, **_F3)


def _render(model, inputs, Z):
    import pandas as pd  # a dependency of causalchamber

    frame = pd.DataFrame({name: np.full(len(Z), value) for name, value in _FIXED.items()})
    for j, name in enumerate(inputs):
        frame[name] = Z[:, j]
    with warnings.catch_warnings():
        # Its hexagon mask takes np.cross of 2-vectors, deprecated in numpy 2.
        warnings.simplefilter("ignore", DeprecationWarning)
        return model.simulate_from_inputs(frame)
