"""Ready-made datasets: latents under several regimes, mixed into observations."""

import numbers
from collections.abc import Callable, Sequence

import networkx as nx
import numpy as np

from causalrep.data import InterventionalData
from causalrep.validation import Seed, as_generator, check_positive

from .graphs import erdos_renyi
from .interventions import Intervention, do
from .mixing import PolynomialMixing
from .scm import LatentSCM, _check_intervention, _check_request, _propagate

__all__ = ["interventional", "ahuja2023"]

_AHUJA_LATENTS = ("uniform", "gaussian_mixture", "scm_sparse", "scm_dense")
# Expected neighbours per node of the sparse and dense SCM graphs: the
# reference code asks for 0.5 and 1 expected edges per node.
_AHUJA_DEGREE = {"scm_sparse": 1.0, "scm_dense": 2.0}
_AHUJA_DO_VALUE = 2.0


def interventional(
    scm: LatentSCM,
    mixing: Callable[[np.ndarray], np.ndarray],
    n_per_regime: int | Sequence[int],
    interventions: Sequence[Intervention],
    seed: Seed = 0,
) -> InterventionalData:
    r"""Sample an SCM observationally and under each intervention, then mix.

    Regime 0 is observational; regime k >= 1 follows ``interventions[k-1]``.
    Each regime gets its own independent stream of randomness spawned from
    ``seed``.

    Arguments:
        scm: A :class:`~simulators.LatentSCM` (or any latent model with
            ``latent_dim``, ``graph``, ``sample(n, intervention, seed)`` and
            ``to_dict()``).
        mixing: A mixing with ``latent_dim`` equal to the SCM's, called as
            ``mixing(z)``.
        n_per_regime: Samples per regime: an int for all, or a sequence of
            ``len(interventions) + 1`` ints, observational first.
        interventions: Sequence of :class:`~simulators.Intervention`.
        seed: int or numpy Generator.

    Returns:
        InterventionalData with X (n, D), regime, targets, Z (n, d), graph,
        and meta describing the SCM, mixing, interventions and seed.

    Example:
        >>> from simulators import LatentSCM, LinearMixing, chain, do
        >>> data = interventional(LatentSCM(chain(3)), LinearMixing(3, 5), 10,
        ...                       [do({0: 1.0}), do({2: -1.0})], seed=0)
        >>> data.counts(), dict(data.targets)
        ({0: 10, 1: 10, 2: 10}, {0: (), 1: (0,), 2: (2,)})
    """
    interventions = list(interventions)
    sizes = _regime_sizes(n_per_regime, len(interventions) + 1)
    if mixing.latent_dim != scm.latent_dim:
        raise ValueError(f"mixing takes {mixing.latent_dim} latents but the SCM has {scm.latent_dim}")
    for intervention in interventions:
        _check_intervention(intervention, scm.latent_dim)
    meta = {"setting": "interventional", "seed": _json_seed(seed)}
    return _assemble(scm, mixing, sizes, interventions, as_generator(seed), meta)


def ahuja2023(
    latent_dim: int = 6,
    obs_dim: int = 200,
    degree: int = 2,
    latents: str = "uniform",
    n_obs: int = 10000,
    n_int: int = 10000,
    seed: Seed = 0,
) -> InterventionalData:
    r"""The synthetic polynomial-mixing setting of Interventional CRL.

    Reproduces the synthetic data of Ahuja, Mahajan, Wang and Bengio,
    "Interventional Causal Representation Learning" (ICML 2023), following
    their public code:

    - ``latents="uniform"``: :math:`z_i \sim U(-5, 5)` independently;
    - ``"gaussian_mixture"``: with probability 1/2 all of :math:`z` is drawn
      from :math:`N(0, I)`, otherwise from :math:`N(1, 4I)` (one shared
      component, so the latents are dependent without any DAG);
    - ``"scm_sparse"`` / ``"scm_dense"``: a linear Gaussian SCM on an
      Erdos-Renyi DAG with 0.5 / 1 expected edges per node; roots are
      :math:`N(0, 1)`, edge weights have a random sign and magnitude in
      [0.25, 1], and a non-root node's noise is
      :math:`0.4 (s_j \varepsilon + m_j)`, :math:`s_j \sim U(0, 1)`,
      :math:`m_j = \pm 2`.

    ``"uniform"`` and ``"gaussian_mixture"`` come with the empty DAG.
    Regime k = 1..d sets latent k-1 to 2.0 by a hard do; ``n_int`` is split
    evenly over these d regimes. The mixing is
    :class:`~simulators.PolynomialMixing` of the given degree with its
    degree >= 2 part rescaled, as in the reference code, so that its largest
    absolute value is twice that of the affine part on observational data.

    Two departures from the reference code, both to make the data one
    well-defined distribution: the reference redraws each noise's
    :math:`s_j, m_j` and the rescaling constant for every data split, while
    here they are drawn once per seed (the constant on an independent
    observational sample of size ``n_obs``); and the reference assigns each
    interventional sample a uniformly random target, here the counts are
    equal.

    Arguments:
        latent_dim: d.
        obs_dim: D; must be at least the number of monomials of the mixing.
        degree: Degree of the polynomial mixing.
        latents: ``"uniform"``, ``"gaussian_mixture"``, ``"scm_sparse"`` or
            ``"scm_dense"``.
        n_obs: Observational samples (regime 0).
        n_int: Interventional samples in total, >= d.
        seed: int or numpy Generator.

    Returns:
        InterventionalData with d + 1 regimes, Z, graph and meta.
    """
    if latents not in _AHUJA_LATENTS:
        raise ValueError(f"unknown latents {latents!r}; use one of {_AHUJA_LATENTS}")
    check_positive(latent_dim, "latent_dim", integer=True)
    check_positive(n_obs, "n_obs", integer=True)
    check_positive(n_int, "n_int", integer=True)
    if n_int < latent_dim:
        raise ValueError(f"n_int={n_int} is too small to give each of the {latent_dim} do-regimes a sample")
    rng = as_generator(seed)
    graph_seed, scm_seed, mixing_seed, calibration_seed = (int(s) for s in rng.integers(0, 2**32, size=4))
    if latents in _AHUJA_DEGREE:
        expected_degree = min(_AHUJA_DEGREE[latents], latent_dim - 1)
        model = _LinearSCM(erdos_renyi(latent_dim, expected_degree, seed=graph_seed), scm_seed)
    else:
        model = _UnstructuredLatents(latent_dim, latents)
    mixing = PolynomialMixing(latent_dim, obs_dim, degree, seed=mixing_seed)
    if degree >= 2:
        mixing = PolynomialMixing(
            latent_dim,
            obs_dim,
            degree,
            nonlinear_scale=_nonlinear_scale(mixing, model.sample(n_obs, seed=calibration_seed)),
            seed=mixing_seed,
        )
    per_target, extra = divmod(n_int, latent_dim)
    sizes = [n_obs] + [per_target + (k < extra) for k in range(latent_dim)]
    interventions = [do({k: _AHUJA_DO_VALUE}) for k in range(latent_dim)]
    meta = {
        "setting": "ahuja2023",
        "seed": _json_seed(seed),
        "latents": latents,
        "latent_dim": latent_dim,
        "obs_dim": obs_dim,
        "degree": degree,
        "n_obs": n_obs,
        "n_int": n_int,
    }
    return _assemble(model, mixing, sizes, interventions, rng, meta)


def _assemble(model, mixing, sizes, interventions, rng, meta):
    streams = rng.spawn(len(sizes))
    Z = np.concatenate(
        [
            model.sample(n, intervention, seed=stream)
            for n, intervention, stream in zip(sizes, [None] + interventions, streams, strict=True)
        ]
    )
    targets = {0: ()}
    targets.update({k: iv.targets for k, iv in enumerate(interventions, start=1)})
    meta = {
        **meta,
        "n_per_regime": sizes,
        "interventions": [iv.to_dict() for iv in interventions],
        "latent_model": model.to_dict(),
        "mixing": mixing.to_dict(),
    }
    return InterventionalData(
        X=mixing(Z),
        regime=np.repeat(np.arange(len(sizes)), sizes),
        targets=targets,
        Z=Z,
        graph=model.graph,
        meta=meta,
    )


def _regime_sizes(n_per_regime, n_regimes):
    if isinstance(n_per_regime, numbers.Integral):
        sizes = [n_per_regime] * n_regimes
    else:
        sizes = list(n_per_regime)
        if len(sizes) != n_regimes:
            raise ValueError(
                f"n_per_regime has {len(sizes)} entries but there are {n_regimes} regimes "
                "(observational + one per intervention)"
            )
    for size in sizes:
        check_positive(size, "n_per_regime", integer=True)
    return [int(size) for size in sizes]


def _json_seed(seed):
    return int(seed) if isinstance(seed, numbers.Integral) else None


def _nonlinear_scale(mixing, z):
    """Factor making max|degree>=2 part| twice max|affine part| on ``z``."""
    features = mixing.features(z)
    linear = mixing.exponents.sum(axis=1) == 1
    affine = features[:, linear] @ mixing.weight[linear] + mixing.bias
    nonlinear = features[:, ~linear] @ mixing.weight[~linear]
    return 2.0 * np.abs(affine).max() / np.abs(nonlinear).max()


class _UnstructuredLatents:
    """Latents of ahuja2023 with no DAG: a box or a two-component mixture."""

    def __init__(self, latent_dim, law):
        self.latent_dim = latent_dim
        self.law = law
        graph = nx.DiGraph()
        graph.add_nodes_from(range(latent_dim))
        self.graph = nx.freeze(graph)

    def sample(self, n, intervention=None, seed=None):
        _check_request(n, intervention, self.latent_dim)
        rng = as_generator(seed)
        shape = (self.latent_dim, n)
        if self.law == "uniform":
            values = rng.uniform(-5.0, 5.0, shape).T
        else:
            first = rng.random(n) < 0.5
            values = np.where(first[:, None], rng.standard_normal(shape).T, rng.normal(1.0, 2.0, shape).T)
        no_parents = ((),) * self.latent_dim
        return _propagate(values, range(self.latent_dim), no_parents, lambda j, parents: np.zeros(n), intervention, rng)

    def to_dict(self):
        return {"class": "ahuja2023 latents", "law": self.law}


class _LinearSCM:
    """The linear Gaussian SCM of ahuja2023 (see its docstring)."""

    def __init__(self, graph, seed):
        rng = as_generator(seed)
        self.graph = nx.freeze(graph)
        self.latent_dim = graph.number_of_nodes()
        self.seed = seed
        self._order = tuple(nx.topological_sort(graph))
        self._parents = tuple(tuple(sorted(graph.predecessors(j))) for j in range(self.latent_dim))
        self._weights = [rng.choice([-1.0, 1.0], len(pa)) * rng.uniform(0.25, 1.0, len(pa)) for pa in self._parents]
        has_parents = np.array([bool(pa) for pa in self._parents])
        self._noise_std = np.where(has_parents, 0.4 * rng.uniform(0.0, 1.0, self.latent_dim), 1.0)
        self._noise_mean = np.where(has_parents, 0.4 * rng.choice([-2.0, 2.0], self.latent_dim), 0.0)

    def sample(self, n, intervention=None, seed=None):
        _check_request(n, intervention, self.latent_dim)
        rng = as_generator(seed)
        eps = rng.standard_normal((self.latent_dim, n)).T
        noise = self._noise_mean + self._noise_std * eps
        return _propagate(
            noise, self._order, self._parents, lambda j, parents: parents @ self._weights[j], intervention, rng
        )

    def to_dict(self):
        return {"class": "ahuja2023 linear SCM", "seed": self.seed}
