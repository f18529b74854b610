r"""Latent polynomial causal models that change across environments (Liu et al., ICLR 2024).

"Identifiable Latent Polynomial Causal Models Through the Lens of Change"
(Liu, Zhang, Gong, Huang, Zhang): in environment :math:`e`, latent :math:`i`
is a polynomial of its parents plus exponential-family noise,

.. math::

    z_i = \sum_{k} \lambda_{i,k}(e)\, m_k(z_{pa(i)}) + n_i, \qquad
    n_i \sim p(n_i \mid \eta_i(e)),

where :math:`m_k` runs over the monomials of degree 1 to ``degree`` in the
parents, and both the coefficients :math:`\lambda(e)` and the noise
parameters :math:`\eta(e)` change with :math:`e`; the observations are
:math:`x = g(z)` for an injective mixing :math:`g` that is the same in every
environment.

Environment 0 is the *reference*: there the coefficients of every changing
mechanism are 0 (the discrete form of the paper's condition
:math:`\lambda(u = 0) = 0`; without such an anchor :math:`z_i` and
:math:`z_i - c\, z_j` for a parent :math:`j` fit every environment equally
well). Latents listed in ``unchanged`` keep one set of coefficients in every
environment, the reference included: the paper's partial-identifiability
case, in which such a latent is identified only up to a polynomial of its
parents.

The environment of each sample is ``data.regime`` (0 = reference,
1..n_envs-1). Environments are not interventions: ``data.targets[k]`` lists
the latents whose mechanism (coefficients or noise) differs from the
reference in environment ``k``, which is every latent, since the noise
parameters of every latent change.
"""

import itertools
import numbers
from collections.abc import Iterable, Sequence

import networkx as nx
import numpy as np

from causalrep.data import InterventionalData
from causalrep.validation import Seed, as_float_array, as_generator, check_positive

from .graphs import check_dag, erdos_renyi
from .mixing import MLPMixing

__all__ = ["multienv", "multienv_noise"]

NOISES = ("gaussian", "gamma")
# Sufficient statistics per latent of each noise family (both have two:
# (n, n^2) and (log n, n)); the theory asks for 2 * this + 1 environments.
N_STATISTICS = 2
_CALIBRATION = 2000


def multienv(
    latent_dim: int = 3,
    obs_dim: int = 10,
    n_envs: int = 5,
    n_per_env: int | Sequence[int] = 1000,
    degree: int = 2,
    noise: str = "gaussian",
    unchanged: int | Iterable[int] = (),
    graph: nx.DiGraph | None = None,
    mixing_layers: int = 3,
    seed: Seed = 0,
) -> InterventionalData:
    r"""Samples of a latent polynomial SCM in several environments, mixed by an MLP.

    The model is drawn from ``seed`` alone:

    - the DAG: ``graph`` if given, else an Erdos-Renyi DAG with
      ``min(1.5, d - 1)`` expected neighbours per node (random causal order);
    - the coefficients: degree-1 monomials of the parents get
      :math:`\pm U(0.5, 1.5)`, higher ones :math:`\pm U(0.1, 0.4)`, drawn
      afresh in each environment 1..n_envs-1 and 0 in the reference
      environment, except for ``unchanged`` latents, drawn once for all;
    - the noise, per latent and environment: ``"gaussian"``,
      :math:`N(\mu, \sigma^2)` with :math:`\mu \sim U(-2, 2)` and
      :math:`\sigma` log-uniform on [0.2, 2]; ``"gamma"``, shape
      :math:`\sim U(1, 6)` and scale log-uniform on [0.1, 1] (changes of this
      size, a factor 10 in scale, are what VAE-based estimators need to see
      the change in practice);
    - each latent is divided by a constant (its standard deviation over all
      environments on a calibration draw), so variances stay near 1 along
      the graph; ``meta`` holds the coefficients and noise after that
      rescaling, i.e. the exact model of ``Z``;
    - the mixing: :class:`~simulators.MLPMixing` with ``mixing_layers`` layers.

    Arguments:
        latent_dim: d.
        obs_dim: D >= d.
        n_envs: Environments, >= 2 (the theory asks for 2 * 2 + 1 = 5).
        n_per_env: Samples per environment: an int, or one int per environment.
        degree: Highest degree of the polynomial mechanisms, >= 1.
        noise: ``"gaussian"`` or ``"gamma"``.
        unchanged: Latents whose coefficients stay the same in every
            environment; each must have parents.
        graph: A ``networkx.DiGraph`` over ``0..d-1``, or None for a random one.
        mixing_layers: Leaky-ReLU layers of the mixing.
        seed: int or numpy Generator.

    Returns:
        InterventionalData with X (n, D), Z (n, d), ``regime`` the
        environment of each sample, ``targets`` ``{0: (), k: (0..d-1)}``,
        the graph, and ``meta`` with ``coefficients``, ``noise_params`` and
        ``monomials`` per latent (see :func:`multienv_noise`).

    Raises:
        ValueError: for fewer than 2 environments, an unknown noise, a bad
            ``unchanged`` entry (out of range, or a root), or bad sizes.

    Example:
        >>> data = multienv(latent_dim=3, n_envs=5, n_per_env=20, seed=0)
        >>> data.counts()
        {0: 20, 1: 20, 2: 20, 3: 20, 4: 20}
    """
    check_positive(latent_dim, "latent_dim", integer=True)
    check_positive(degree, "degree", integer=True)
    check_positive(mixing_layers, "mixing_layers", integer=True)
    if isinstance(n_envs, bool) or not isinstance(n_envs, numbers.Integral) or n_envs < 2:
        raise ValueError(
            f"n_envs must be an int >= 2 (a reference and at least one changed environment), got {n_envs!r}"
        )
    if noise not in NOISES:
        raise ValueError(f"unknown noise {noise!r}; use one of {list(NOISES)}")
    sizes = _sizes(n_per_env, n_envs)
    d = int(latent_dim)
    model_rng, calibration_rng, data_rng = as_generator(seed).spawn(3)
    if graph is None:
        graph = erdos_renyi(d, min(1.5, d - 1), seed=int(model_rng.integers(0, 2**31 - 1)))
    graph = check_dag(graph, d)
    parents = [tuple(sorted(graph.predecessors(i))) for i in range(d)]
    unchanged = _unchanged(unchanged, parents)
    order = _topological(graph)
    monomials = [
        [list(m) for k in range(1, degree + 1) for m in itertools.combinations_with_replacement(pa, k)]
        for pa in parents
    ]
    coefficients = _coefficients(model_rng, monomials, n_envs, unchanged)
    noise_params = _noise_params(model_rng, noise, n_envs, d)
    mixing = MLPMixing(d, obs_dim, n_layers=mixing_layers, seed=int(model_rng.integers(0, 2**31 - 1)))
    model = {
        "order": order,
        "monomials": monomials,
        "coefficients": coefficients,
        "noise": noise,
        "noise_params": noise_params,
    }
    scales = _calibrate(model, calibration_rng, n_envs)
    model = _rescaled(model, scales)
    env = np.repeat(np.arange(n_envs), sizes)
    Z = _sample(model, env, data_rng)
    meta = {
        "setting": "multienv",
        "seed": int(seed) if isinstance(seed, numbers.Integral) else None,
        "latent_dim": d,
        "obs_dim": int(obs_dim),
        "n_envs": int(n_envs),
        "n_per_env": sizes,
        "degree": int(degree),
        "unchanged": list(unchanged),
        "reference_env": 0,
        **model,
        "mixing": mixing.to_dict(),
    }
    targets = {0: (), **{k: tuple(range(d)) for k in range(1, n_envs)}}
    return InterventionalData(X=mixing(Z), regime=env, targets=targets, Z=Z, graph=graph, meta=meta)


def multienv_noise(data: InterventionalData) -> np.ndarray:
    r"""The exogenous noise :math:`n_i = z_i - \sum_k \lambda_{i,k}(e)\, m_k(z_{pa(i)})`.

    What an estimator recovers for an ``unchanged`` latent, whose
    parents' contribution no environment reveals.

    Arguments:
        data: InterventionalData made by :func:`multienv` (or a subset of it).

    Returns:
        numpy array of shape (n, d).
    """
    meta = data.meta
    if meta.get("setting") != "multienv" or data.Z is None:
        raise ValueError("data must be made by simulators.multienv (with Z)")
    Z = as_float_array(data.Z, "Z", ndim=2)
    return Z - _parent_effect(meta, Z, data.regime)


def _sizes(n_per_env, n_envs):
    if isinstance(n_per_env, numbers.Integral):
        sizes = [n_per_env] * n_envs
    else:
        sizes = list(n_per_env)
        if len(sizes) != n_envs:
            raise ValueError(f"n_per_env has {len(sizes)} entries but n_envs={n_envs}")
    for size in sizes:
        check_positive(size, "n_per_env", integer=True)
    return [int(size) for size in sizes]


def _unchanged(unchanged, parents):
    chosen = sorted({int(i) for i in unchanged}) if not isinstance(unchanged, numbers.Integral) else [int(unchanged)]
    for i in chosen:
        if not 0 <= i < len(parents):
            raise ValueError(f"unchanged names latent {i}, but latents are 0..{len(parents) - 1}")
        if not parents[i]:
            raise ValueError(
                f"unchanged names latent {i}, which has no parents: it has no coefficients to keep unchanged"
            )
    return chosen


def _topological(graph):
    import networkx as nx

    return [int(j) for j in nx.topological_sort(graph)]


def _coefficients(rng, monomials, n_envs, unchanged):
    """coefficients[i][e][k]: of monomial k of latent i in environment e."""

    def draw(ms):
        low_high = np.array([(0.5, 1.5) if len(m) == 1 else (0.1, 0.4) for m in ms]).reshape(-1, 2)
        return rng.choice([-1.0, 1.0], len(ms)) * rng.uniform(low_high[:, 0], low_high[:, 1])

    out = []
    for i, ms in enumerate(monomials):
        if i in unchanged:
            fixed = draw(ms)
            out.append([fixed.tolist() for _ in range(n_envs)])
        else:
            out.append([[0.0] * len(ms)] + [draw(ms).tolist() for _ in range(n_envs - 1)])
    return out


def _noise_params(rng, noise, n_envs, d):
    """noise_params[e][i] = (a, b): (mean, std) for gaussian, (shape, scale) for gamma."""
    if noise == "gaussian":
        a, b = rng.uniform(-2.0, 2.0, (n_envs, d)), _log_uniform(rng, 0.2, 2.0, (n_envs, d))
    else:
        a, b = rng.uniform(1.0, 6.0, (n_envs, d)), _log_uniform(rng, 0.1, 1.0, (n_envs, d))
    return np.stack([a, b], axis=-1).tolist()


def _log_uniform(rng, low, high, size):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def _draw_noise(model, env, rng):
    params = np.asarray(model["noise_params"])[env]
    d = params.shape[1]
    if model["noise"] == "gaussian":
        return params[..., 0] + params[..., 1] * rng.standard_normal((env.size, d))
    return rng.gamma(params[..., 0], params[..., 1])


def _parent_effect(model, Z, env, only=None):
    """sum_k lambda_{i,k}(env) m_k(z_pa(i)) for every latent (or latent ``only``), (n, d)."""
    out = np.zeros_like(Z)
    for i in range(Z.shape[1]) if only is None else (only,):
        ms = model["monomials"][i]
        if not ms:
            continue
        coef = np.asarray(model["coefficients"][i])[env]
        feats = np.stack([np.prod(Z[:, m], axis=1) for m in ms], axis=1)
        out[:, i] = np.sum(coef * feats, axis=1)
    return out


def _sample(model, env, rng):
    noise = _draw_noise(model, env, rng)
    Z = np.zeros_like(noise)
    for i in model["order"]:
        Z[:, i] = _parent_effect(model, Z, env, only=i)[:, i] + noise[:, i]
    return Z


def _calibrate(model, rng, n_envs):
    """Per-latent scale: the std of each latent, pooled over environments,
    with its parents already rescaled."""
    env = np.repeat(np.arange(n_envs), _CALIBRATION // n_envs + 1)
    noise = _draw_noise(model, env, rng)
    Z = np.zeros_like(noise)
    scales = np.ones(noise.shape[1])
    for i in model["order"]:
        Z[:, i] = _parent_effect(model, Z, env, only=i)[:, i] + noise[:, i]
        scales[i] = Z[:, i].std() or 1.0
        Z[:, i] /= scales[i]
    return scales


def _rescaled(model, scales):
    r"""The model of the rescaled latents: the calibration applies the drawn
    coefficients to rescaled parents and divides latent i by :math:`c_i`, so
    its coefficients and noise are divided by :math:`c_i`."""
    coefficients = [
        (np.asarray(coef).reshape(len(coef), len(ms)) / scales[i]).tolist()
        for i, (ms, coef) in enumerate(zip(model["monomials"], model["coefficients"], strict=True))
    ]
    params = np.asarray(model["noise_params"]).copy()
    if model["noise"] == "gaussian":
        params /= scales[None, :, None]
    else:
        params[..., 1] /= scales[None, :]
    return {**model, "coefficients": coefficients, "noise_params": params.tolist(), "latent_scales": scales.tolist()}
