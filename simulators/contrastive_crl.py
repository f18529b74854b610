r"""The synthetic setting of Contrastive CRL (Buchholz et al., NeurIPS 2023).

"Learning Linear Causal Representations from Interventions under General
Nonlinear Mixing" (Buchholz, Rajendran, Rosenfeld, Aragam, Scholkopf,
Ravikumar): a linear Gaussian SCM over the latents,

.. math::

    z_j = \sum_{i \in pa(j)} w_{ij} z_i + \sigma_j \varepsilon_j, \qquad
    \varepsilon_j \sim N(0, 1),

observed once without intervention and once under a perfect stochastic
intervention on each latent, :math:`z_t \leftarrow \eta_t + \tau_t \varepsilon_t`
independently of its parents, all through one randomly initialised MLP
:math:`x = g(z)`. Written from the paper's description of its data.
"""

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from causalrep.data import InterventionalData
from causalrep.validation import Seed, as_generator, check_positive

from .graphs import erdos_renyi
from .interventions import do
from .mixing import RandomMLPMixing
from .scm import _NOISES, _check_request, _propagate
from .settings import _assemble, _json_seed, _regime_sizes

__all__ = ["contrastive_crl"]


def contrastive_crl(
    latent_dim: int = 5,
    obs_dim: int = 100,
    n_per_regime: int | Sequence[int] = 10000,
    expected_degree: float = 4.0,
    hidden: Sequence[int] = (512, 512, 512),
    noise: str = "gaussian",
    n_targets: int = 1,
    seed: Seed = 0,
) -> InterventionalData:
    r"""A linear Gaussian SCM under single-node perfect interventions, mixed by a random MLP.

    The model is drawn from ``seed`` alone, independently of the sample sizes:

    - the DAG: Erdos-Renyi with ``min(expected_degree, d - 1)`` expected
      neighbours per node and a random causal order (at the default 4 and
      d <= 5 every pair of latents is linked, as in the paper's data);
    - edge weights :math:`w_{ij}`: random sign, magnitude uniform in [0.25, 1];
    - observational noise: mean 0, variance :math:`\sigma_j^2 \sim U(1, 2)`;
    - regime k = 1..d intervenes on latent k - 1: it draws
      :math:`z_{k-1} = \eta + \tau \varepsilon` independently of its parents,
      with :math:`|\eta| \sim U(1, 2)` of random sign and
      :math:`\tau^2 \sim U(1, 2)` (each latent has its own);
    - the mixing: :class:`~simulators.mixing.RandomMLPMixing`, an MLP
      ``d -> hidden... -> obs_dim`` with leaky-ReLU (slope 0.2) after every
      hidden layer and PyTorch's default initialisation; with hidden layers
      wider than d it is injective for almost every draw.

    Two options break the assumptions on purpose, as negative controls:
    ``noise`` other than ``"gaussian"`` draws every :math:`\varepsilon` (the
    interventional ones too) from that law, standardised to mean 0 and
    variance 1 (``"student_t"`` has heavy tails); ``n_targets=2`` makes
    regime k intervene on latents k - 1 and k (mod d).

    The reference implementation's mixing has one hidden layer more:
    ``hidden=(512, 512, 512, 512)`` reproduces its shape.

    Arguments:
        latent_dim: d >= 2.
        obs_dim: D >= d.
        n_per_regime: Samples per regime: an int for all, or d + 1 ints,
            observational first.
        expected_degree: Expected neighbours per node, >= 0 (capped at d - 1).
        hidden: Widths of the mixing's hidden layers, each >= d.
        noise: Law of the exogenous noise: ``"gaussian"``, ``"uniform"``,
            ``"laplace"``, ``"gmm"`` or ``"student_t"``.
        n_targets: Latents each regime intervenes on, in [1, d].
        seed: int or numpy Generator.

    Returns:
        InterventionalData with X (n, D), Z (n, d), ``regime`` 0..d,
        ``targets`` ``{0: (), k: (k - 1, ...)}``, the graph, and ``meta``
        with the SCM (``weights[i][j]`` of the edge i -> j, ``noise_var``,
        ``intervention_mean``, ``intervention_var``).

    Raises:
        ValueError: for a bad size, degree, width, noise law or ``n_targets``.

    Example:
        >>> data = contrastive_crl(latent_dim=3, obs_dim=10, n_per_regime=20, hidden=(16,), seed=0)
        >>> data.counts(), dict(data.targets)
        ({0: 20, 1: 20, 2: 20, 3: 20}, {0: (), 1: (0,), 2: (1,), 3: (2,)})
    """
    check_positive(latent_dim, "latent_dim", integer=True)
    if latent_dim < 2:
        raise ValueError(f"latent_dim must be at least 2 (a graph and an intervention per latent), got {latent_dim}")
    if isinstance(expected_degree, bool) or not isinstance(expected_degree, numbers.Real) or expected_degree < 0:
        raise ValueError(f"expected_degree must be a number >= 0, got {expected_degree!r}")
    if noise not in _NOISES:
        raise ValueError(f"unknown noise {noise!r}; use one of {tuple(_NOISES)}")
    if isinstance(n_targets, bool) or not isinstance(n_targets, numbers.Integral) or not 1 <= n_targets <= latent_dim:
        raise ValueError(f"n_targets must be an int in [1, latent_dim={latent_dim}], got {n_targets!r}")
    sizes = _regime_sizes(n_per_regime, latent_dim + 1)
    rng = as_generator(seed)
    graph_seed, scm_seed, mixing_seed = (int(s) for s in rng.integers(0, 2**32, size=3))
    degree = min(float(expected_degree), latent_dim - 1.0)
    mixing = RandomMLPMixing(latent_dim, obs_dim, hidden, mixing_seed)  # checks obs_dim and hidden
    model = _GaussianSCM(erdos_renyi(latent_dim, degree, seed=graph_seed), noise, scm_seed)
    interventions = [
        do({t % latent_dim: model.intervention(t % latent_dim) for t in range(k, k + n_targets)})
        for k in range(latent_dim)
    ]
    meta = {
        "setting": "contrastive_crl",
        "seed": _json_seed(seed),
        "latent_dim": int(latent_dim),
        "obs_dim": int(obs_dim),
        "expected_degree": degree,
        "hidden": list(mixing.hidden),
        "noise": noise,
        "n_targets": int(n_targets),
        "weights": model.weights.tolist(),
        "noise_var": model.noise_var.tolist(),
        "intervention_mean": model.intervention_mean.tolist(),
        "intervention_var": model.intervention_var.tolist(),
    }
    return _assemble(model, mixing, sizes, interventions, rng, meta)


@dataclass(frozen=True)
class _Draw:
    """A perfect stochastic intervention's new law: ``mean + std * noise`` (standardised noise)."""

    mean: float
    std: float
    noise: str

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.mean + self.std * _NOISES[self.noise](rng, n)


class _GaussianSCM:
    """The linear SCM of :func:`contrastive_crl` (see its docstring)."""

    def __init__(self, graph: nx.DiGraph, noise: str, seed: int):
        rng = as_generator(seed)
        d = graph.number_of_nodes()
        self.graph = nx.freeze(graph)
        self.latent_dim = d
        self.noise = noise
        self.seed = seed
        self.weights = np.zeros((d, d))
        for i, j in sorted(graph.edges):
            self.weights[i, j] = rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 1.0)
        self.noise_var = rng.uniform(1.0, 2.0, d)
        self.intervention_mean = rng.choice([-1.0, 1.0], d) * rng.uniform(1.0, 2.0, d)
        self.intervention_var = rng.uniform(1.0, 2.0, d)
        self._order = tuple(nx.topological_sort(graph))
        self._parents = tuple(tuple(sorted(graph.predecessors(j))) for j in range(d))

    def intervention(self, t: int) -> _Draw:
        """The new law of latent ``t`` under its intervention."""
        return _Draw(float(self.intervention_mean[t]), float(np.sqrt(self.intervention_var[t])), self.noise)

    def sample(self, n: int, intervention=None, seed: Seed = None) -> np.ndarray:
        _check_request(n, intervention, self.latent_dim)
        rng = as_generator(seed)
        eps = _NOISES[self.noise](rng, (self.latent_dim, n)).T * np.sqrt(self.noise_var)
        return _propagate(
            eps,
            self._order,
            self._parents,
            lambda j, parents: parents @ self.weights[self._parents[j], j],
            intervention,
            rng,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"class": "contrastive_crl linear SCM", "noise": self.noise, "seed": self.seed}
