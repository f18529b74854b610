r"""Latent structural causal models with additive noise.

Node :math:`j` of the DAG takes the value

.. math:: z_j = \frac{f_j(z_{pa(j)}) - \mu_j}{\sigma_j} + s\,\varepsilon_j,

where :math:`f_j` is the node's mechanism, :math:`\varepsilon_j` a
zero-mean, unit-variance noise, :math:`s` the ``noise_scale``, and
:math:`\mu_j, \sigma_j` the mean and standard deviation of :math:`f_j` under
the observational distribution. Standardising the parent effect keeps every
node's variance near :math:`1 + s^2` (and :math:`s^2` for roots) whatever the
depth of the graph, where raw weights would make variances grow or vanish
geometrically along long paths.

The ``"polynomial"`` mechanism is the exception no rescaling can fix: a node
at depth k is a polynomial of degree :math:`2^k` in the noise, whose tails
grow doubly exponentially with k. It is meant for shallow graphs, and
:class:`LatentSCM` warns when the longest path has more than 3 edges.
"""

import numbers
import warnings
from typing import Any

import networkx as nx
import numpy as np

from causalrep.validation import Seed, as_generator, check_positive

from .graphs import check_dag
from .interventions import Intervention

__all__ = ["LatentSCM"]

_MECHANISMS = ("linear", "mlp", "polynomial")
_HIDDEN = 10
# Past this depth, quadratic mechanisms gave node standard deviations above
# 10 (and overflow by depth ~11) for some seeds under every noise law.
_POLYNOMIAL_MAX_DEPTH = 3
# Large enough that the estimated sigma_j is within ~1% of the truth.
_CALIBRATION_SIZE = 8192


def _gaussian(rng, shape):
    return rng.standard_normal(shape)


def _uniform(rng, shape):
    return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape)


def _laplace(rng, shape):
    return rng.laplace(0.0, np.sqrt(0.5), shape)


def _gmm(rng, shape):
    # Modes at +-0.8 with spread 0.6: bimodal (0.8 > 0.6), mean 0, variance 1.
    return np.where(rng.random(shape) < 0.5, -0.8, 0.8) + 0.6 * rng.standard_normal(shape)


def _student_t(rng, shape):
    # Three degrees of freedom: heavy tails, variance 3 scaled to 1.
    return rng.standard_t(3.0, shape) / np.sqrt(3.0)


_NOISES = {"gaussian": _gaussian, "uniform": _uniform, "laplace": _laplace, "gmm": _gmm, "student_t": _student_t}


class LatentSCM:
    r"""A DAG with one additive-noise mechanism per node.

    Mechanisms, for a node with parents :math:`u \in \mathbb{R}^p`; every
    weight has a random sign and a magnitude uniform in [0.5, 1.5]:

    - ``"linear"``: :math:`f(u) = w^\top u`;
    - ``"polynomial"``: :math:`f(u) = w^\top u + \sum_{i \le k} v_{ik} u_i u_k`
      (shallow graphs only, see the module docstring);
    - ``"mlp"``: :math:`f(u) = w^\top \tanh(A u + b)` with 10 hidden units,
      :math:`A_{hi} \sim N(0, 1/p)` and :math:`b_h \sim U(-1, 1)`.

    Each parent effect is then standardised with its mean and standard
    deviation estimated once, at construction, on 8192 observational samples
    drawn from the construction seed (see the module docstring); roots have
    no parent effect. Noise laws are standardised to mean 0 and variance 1
    before scaling by ``noise_scale``: ``"gaussian"``, ``"uniform"``,
    ``"laplace"``, ``"gmm"`` (an even mixture of N(-0.8, 0.36) and
    N(0.8, 0.36)), and ``"student_t"`` (3 degrees of freedom: heavy tails).

    Arguments:
        graph: DAG over nodes 0..d-1 (see :func:`simulators.check_dag`).
        mechanism: ``"linear"``, ``"mlp"`` or ``"polynomial"``.
        noise: ``"gaussian"``, ``"uniform"``, ``"laplace"``, ``"gmm"`` or ``"student_t"``.
        noise_scale: Standard deviation s of the exogenous noise, > 0.
        seed: int or numpy Generator for the weights and the calibration.

    Example:
        >>> from simulators import chain, do
        >>> scm = LatentSCM(chain(3), seed=0)
        >>> scm.sample(5, do({1: 2.0}), seed=1)[:, 1]
        array([2., 2., 2., 2., 2.])
    """

    def __init__(
        self,
        graph: nx.DiGraph,
        mechanism: str = "linear",
        noise: str = "gaussian",
        noise_scale: float = 1.0,
        seed: Seed = 0,
    ):
        check_dag(graph)
        if mechanism not in _MECHANISMS:
            raise ValueError(f"unknown mechanism {mechanism!r}; use one of {_MECHANISMS}")
        if noise not in _NOISES:
            raise ValueError(f"unknown noise {noise!r}; use one of {tuple(_NOISES)}")
        check_positive(noise_scale, "noise_scale")
        depth = nx.dag_longest_path_length(graph)
        if mechanism == "polynomial" and depth > _POLYNOMIAL_MAX_DEPTH:
            warnings.warn(
                f"mechanism='polynomial' on a graph with a path of {depth} edges: the "
                f"deepest node is a polynomial of degree 2**{depth} in the noise, so its "
                f"tails explode; keep paths to {_POLYNOMIAL_MAX_DEPTH} edges or use 'mlp'",
                stacklevel=2,
            )
        self.graph = nx.freeze(graph.copy())
        self.mechanism = mechanism
        self.noise = noise
        self.noise_scale = float(noise_scale)
        self.seed = seed if isinstance(seed, numbers.Integral) else None
        rng = as_generator(seed)
        d = graph.number_of_nodes()
        self._order = tuple(nx.topological_sort(graph))
        self._parents = tuple(tuple(sorted(graph.predecessors(j))) for j in range(d))
        self._weights = [_draw_weights(mechanism, len(pa), rng) if pa else None for pa in self._parents]
        self._mean = np.zeros(d)
        self._std = np.ones(d)
        self._calibrate(rng)

    @property
    def latent_dim(self) -> int:
        """Number of latent nodes d."""
        return self.graph.number_of_nodes()

    def parents(self, j: int) -> tuple[int, ...]:
        """Sorted tuple of the parents of node ``j``."""
        if not isinstance(j, numbers.Integral) or not 0 <= j < self.latent_dim:
            raise ValueError(f"node {j!r} is not in the graph (nodes 0..{self.latent_dim - 1})")
        return self._parents[j]

    def sample(self, n: int, intervention: Intervention | None = None, seed: Seed = None) -> np.ndarray:
        r"""Draw latents, observationally or under an intervention.

        The noise of all nodes is drawn first, from ``seed``, then pushed
        through the graph in topological order; samples drawn with the same
        seed with and without an intervention therefore share their noise,
        and nodes that do not descend from a target are identical.

        Arguments:
            n: Number of samples, > 0.
            intervention: An :class:`~simulators.Intervention`, or None.
            seed: int, numpy Generator, or None for fresh entropy.

        Returns:
            float64 array of shape (n, d), columns in node order.
        """
        _check_request(n, intervention, self.latent_dim)
        rng = as_generator(seed)
        noise = self._draw_noise(rng, n)
        return _propagate(noise, self._order, self._parents, self._effect, intervention, rng)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe constructor arguments (the graph is stored apart)."""
        return {
            "class": "LatentSCM",
            "mechanism": self.mechanism,
            "noise": self.noise,
            "noise_scale": self.noise_scale,
            "seed": None if self.seed is None else int(self.seed),
        }

    def __repr__(self):
        return (
            f"LatentSCM(d={self.latent_dim}, edges={self.graph.number_of_edges()}, "
            f"mechanism={self.mechanism!r}, noise={self.noise!r}, "
            f"noise_scale={self.noise_scale})"
        )

    def _draw_noise(self, rng, n):
        # Drawn as (d, n) and transposed so that each node's noise is contiguous.
        noise = _NOISES[self.noise](rng, (self.latent_dim, n)).T
        noise *= self.noise_scale
        return noise

    def _raw_effect(self, j, parents):
        weights = self._weights[j]
        if self.mechanism == "linear":
            return parents @ weights
        if self.mechanism == "polynomial":
            linear, quadratic = weights
            return parents @ linear + ((parents @ quadratic) * parents).sum(axis=1)
        hidden_in, bias, out = weights
        return np.tanh(parents @ hidden_in + bias) @ out

    def _effect(self, j, parents):
        if not self._parents[j]:
            return np.zeros(parents.shape[0])
        return (self._raw_effect(j, parents) - self._mean[j]) / self._std[j]

    def _calibrate(self, rng):
        z = self._draw_noise(rng, _CALIBRATION_SIZE)
        for j in self._order:
            parents = self._parents[j]
            if parents:
                raw = self._raw_effect(j, z[:, parents])
                self._mean[j], self._std[j] = raw.mean(), raw.std()
                z[:, j] += (raw - self._mean[j]) / self._std[j]


def _check_request(n, intervention, n_nodes):
    check_positive(n, "n", integer=True)
    if intervention is not None:
        _check_intervention(intervention, n_nodes)


def _check_intervention(intervention, n_nodes):
    if not isinstance(intervention, Intervention):
        raise TypeError(f"intervention must be built with do, shift or soft, got {type(intervention).__name__}")
    intervention.check(n_nodes)


def _propagate(noise, order, parents, effect, intervention, rng):
    r"""Push exogenous noise through an additive-noise SCM, in place.

    Shared by every latent model of this package so that interventions mean
    the same thing everywhere. Column j of ``noise`` is only read to compute
    node j, so it is overwritten by the node's value.

    Arguments:
        noise: Exogenous noise, shape (n, d); overwritten and returned.
        order: Topological order of the nodes.
        parents: Tuple of the parents of each node (sorted tuples).
        effect: ``effect(j, z_parents (n, p)) -> (n,)``, the parent effect of
            node j (zeros for a root).
        intervention: An Intervention already checked against d, or None.
        rng: numpy Generator passed to random do-values.

    Returns:
        The latents, float64 array of shape (n, d).
    """
    z = noise
    targets = () if intervention is None else intervention.targets
    for j in order:
        if not parents[j] and j not in targets:
            continue
        z_parents = z[:, parents[j]]
        parent_effect = effect(j, z_parents)
        if j in targets:
            z[:, j] = intervention.apply(j, z_parents, parent_effect, z[:, j], rng)
        else:
            z[:, j] += parent_effect
    return z


def _signed(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)


def _draw_weights(mechanism, p, rng):
    if mechanism == "linear":
        return _signed(rng, p)
    if mechanism == "polynomial":
        return _signed(rng, p), np.triu(_signed(rng, (p, p)))
    return (
        rng.standard_normal((p, _HIDDEN)) / np.sqrt(p),
        rng.uniform(-1.0, 1.0, _HIDDEN),
        _signed(rng, _HIDDEN),
    )
