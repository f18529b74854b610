r"""The intervention-extrapolation setting of Rep4Ex (Saengkyongam et al., 2024).

Exogenous actions :math:`A` act linearly on latents, the latents are observed
through an injective nonlinear mixing, and an outcome depends on the latents
with hidden confounding:

.. math::

    A \sim U(\text{support})^k, \quad V \sim N(0, s^2 \Sigma_V), \quad
    Z = M A + V, \quad X = g(Z), \quad Y = \ell(Z) + U,

where :math:`U = c\,\gamma^\top V + \sigma_Y \varepsilon` depends on :math:`V`
(the confounding :math:`c`), :math:`\varepsilon \sim N(0, 1)`. :math:`V` is
Gaussian, so it has full support, which is what makes
:math:`E[Y \mid do(A = a)] = E[\ell(M a + V)] + E[U]` identifiable for ``a``
outside the support of :math:`A` (Saengkyongam et al., Section 2).
:func:`rep4ex_truth` computes that curve from the ``meta`` of a dataset.
"""

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from causalrep.data import InterventionalData
from causalrep.validation import ArrayLike, Seed, as_float_array, as_generator, check_positive

from .mixing import LinearMixing, MLPMixing, PolynomialMixing, _orthonormal

__all__ = ["rep4ex", "rep4ex_truth"]

_MIXINGS = {"mlp": MLPMixing, "linear": LinearMixing, "polynomial": PolynomialMixing}
_OUTCOMES = ("nonlinear", "linear")
_ACTION_EFFECTS = {"linear": lambda shift: shift, "tanh": np.tanh}
# Singular values of M: large enough that A moves Z visibly (the invariance
# penalty needs that signal), small enough that M a for a in (-3, 3)^k stays
# where V's Gaussian tails still put some training mass.
_M_SINGULAR = (0.6, 1.0)
_TRUTH_SAMPLES = 200_000
_TRUTH_SEED = 20240507


def rep4ex(
    latent_dim: int = 2,
    action_dim: int = 2,
    obs_dim: int = 10,
    n: int = 5000,
    confounding: float = 1.0,
    action_support: tuple[float, float] = (-1.0, 1.0),
    mixing: str = "mlp",
    outcome: str = "nonlinear",
    latent_noise: float = 0.5,
    noise_std: float = 0.1,
    action_effect: str = "linear",
    do_action: ArrayLike | None = None,
    seed: Seed = 0,
) -> InterventionalData:
    r"""Actions, latents, observations and a confounded outcome; see the module docstring.

    The model (:math:`M`, :math:`\Sigma_V`, :math:`\gamma`, :math:`\ell`, the
    mixing) is drawn from ``seed`` alone, independently of ``n`` and
    ``do_action``; the samples come from a separate stream in which the draws
    of :math:`V` and of the outcome noise do not depend on how :math:`A` is
    set, so ``rep4ex(..., do_action=a, seed=s)`` re-simulates the same units
    as ``rep4ex(..., seed=s)`` under :math:`do(A = a)`.

    - :math:`M` (d, k): random orthonormal frames, singular values in
      ``[0.6, 1.0]``; full row rank, as identification requires.
    - :math:`\Sigma_V`: a random correlation matrix, scaled by ``latent_noise``
      :math:`s`. With the default 0.5, A explains about half the variance of
      Z: enough signal for the invariance constraint to pin the latents down
      (at s = 1 a learned representation's deviation from linearity in A is
      as small as sampling noise), while M a + V for a in (-3, 3)^k still
      falls where V's Gaussian tails put some training samples.
    - :math:`\gamma`: a random unit vector.
    - ``outcome="nonlinear"``: :math:`\ell(z) = \sum_j \alpha_j \sin(z_j) + \beta^\top z`
      with :math:`|\alpha_j| \in [1, 2]`, :math:`|\beta_j| \in [0, 0.5]`,
      random signs; ``"linear"``: :math:`\ell(z) = \beta^\top z` with
      :math:`|\beta_j| \in [0.5, 1.5]`.
    - mixing: :class:`~simulators.MLPMixing` (3 layers), :class:`~simulators.LinearMixing`
      or a degree-2 :class:`~simulators.PolynomialMixing`, seeded by an int
      stored in ``meta["mixing"]``.

    Arguments:
        latent_dim: d.
        action_dim: k >= d.
        obs_dim: D >= d (polynomial mixing: D >= d(d + 3)/2).
        n: Number of samples.
        confounding: c >= 0, the weight of :math:`\gamma^\top V` in :math:`U`.
        action_support: (low, high), the training range of every action.
        mixing: ``"mlp"``, ``"linear"`` or ``"polynomial"``.
        outcome: ``"nonlinear"`` or ``"linear"``.
        latent_noise: s > 0, the standard deviation of each coordinate of V.
        noise_std: :math:`\sigma_Y >= 0`, the outcome noise independent of V.
        action_effect: ``"linear"`` (:math:`Z = M A + V`, Rep4Ex's assumption) or
            ``"tanh"`` (:math:`Z = \tanh(M A) + V`, elementwise: a negative
            control under which extrapolation is not identified).
        do_action: None, or a (k,) vector: every sample gets :math:`A = a`.
        seed: int or numpy Generator.

    Returns:
        InterventionalData with X (n, D), Z (n, d), A (n, k), Y (n,), one
        regime (0, targets ``{0: ()}``) and JSON-safe ``meta`` holding the
        model, enough for :func:`rep4ex_truth` and to rebuild the mixing.

    Raises:
        ValueError: for k < d, an empty or reversed support, an unknown
            mixing or outcome, negative confounding or noise, a
            non-positive ``latent_noise``, or a
            ``do_action`` of the wrong shape.

    Example:
        >>> data = rep4ex(n=100, seed=0)
        >>> data.X.shape, data.A.shape, data.Y.shape
        ((100, 10), (100, 2), (100,))
    """
    check_positive(latent_dim, "latent_dim", integer=True)
    check_positive(action_dim, "action_dim", integer=True)
    check_positive(n, "n", integer=True)
    if action_dim < latent_dim:
        raise ValueError(
            f"action_dim={action_dim} < latent_dim={latent_dim}: M would not have full "
            "row rank, and the latents are then not identifiable from the actions"
        )
    low, high = _support(action_support)
    if mixing not in _MIXINGS:
        raise ValueError(f"unknown mixing {mixing!r}; use one of {sorted(_MIXINGS)}")
    if outcome not in _OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; use one of {list(_OUTCOMES)}")
    for value, name in ((confounding, "confounding"), (noise_std, "noise_std")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    check_positive(latent_noise, "latent_noise")
    if action_effect not in _ACTION_EFFECTS:
        raise ValueError(f"unknown action_effect {action_effect!r}; use one of {list(_ACTION_EFFECTS)}")
    if do_action is not None:
        do_action = as_float_array(do_action, "do_action", ndim=1)
        if do_action.shape != (action_dim,):
            raise ValueError(f"do_action must have shape ({action_dim},), got {do_action.shape}")

    model_rng, data_rng = as_generator(seed).spawn(2)
    model = _draw_model(model_rng, latent_dim, action_dim, obs_dim, mixing, outcome)
    g = _mixing(model["mixing"])
    a_rng, v_rng, u_rng = data_rng.spawn(3)
    A = a_rng.uniform(low, high, size=(n, action_dim))
    if do_action is not None:
        A = np.broadcast_to(do_action, (n, action_dim)).copy()
    M, chol = np.asarray(model["M"]), np.asarray(model["v_chol"])
    V = latent_noise * v_rng.standard_normal((n, latent_dim)) @ chol.T
    Z = _ACTION_EFFECTS[action_effect](A @ M.T) + V
    eps = u_rng.standard_normal(n)
    U = confounding * (V @ np.asarray(model["gamma"])) + noise_std * eps
    Y = _outcome(model["outcome"], Z) + U
    meta = {
        "setting": "rep4ex",
        "seed": int(seed) if isinstance(seed, numbers.Integral) else None,
        "latent_dim": int(latent_dim),
        "action_dim": int(action_dim),
        "obs_dim": int(obs_dim),
        "n": int(n),
        "confounding": float(confounding),
        "noise_std": float(noise_std),
        "latent_noise": float(latent_noise),
        "action_effect": action_effect,
        "action_support": [low, high],
        "do_action": None if do_action is None else do_action.tolist(),
        **model,
    }
    return InterventionalData(X=g(Z), regime=np.zeros(n, dtype=np.int64), targets={0: ()}, Z=Z, A=A, Y=Y, meta=meta)


def rep4ex_truth(meta: Mapping[str, Any], a: ArrayLike, n_samples: int = _TRUTH_SAMPLES) -> np.ndarray:
    r""":math:`E[Y \mid do(A = a)] = E_V[\ell(f(M a) + V)] + E[U]` (f the action effect) from a dataset's ``meta``.

    A Monte-Carlo average over ``n_samples`` antithetic draws of :math:`V`
    (pairs :math:`\pm v`) from a fixed seed, the same draws for every ``a``:
    the result is a deterministic, smooth function of ``a`` and ``meta``.
    :math:`E[U] = 0` in this model.

    Arguments:
        meta: ``data.meta`` of a dataset made by :func:`rep4ex`.
        a: Actions, shape (m, k), or one action (k,).
        n_samples: Draws of V (even), >= 2.

    Returns:
        numpy array of shape (m,) (shape (1,) for a single action).

    Example:
        >>> data = rep4ex(n=10, seed=0)
        >>> rep4ex_truth(data.meta, np.zeros((3, 2))).shape
        (3,)
    """
    if not isinstance(meta, dict) or meta.get("setting") != "rep4ex":
        raise ValueError("meta must be the meta of a dataset made by simulators.rep4ex")
    check_positive(n_samples, "n_samples", integer=True)
    a = as_float_array(a, "a")
    if a.ndim == 1:
        a = a[None, :]
    k = meta["action_dim"]
    if a.ndim != 2 or a.shape[1] != k:
        raise ValueError(f"a must have shape (m, {k}) or ({k},), got {a.shape}")
    M, chol = np.asarray(meta["M"]), np.asarray(meta["v_chol"])
    half = max(1, n_samples // 2)
    eps = np.random.default_rng(_TRUTH_SEED).standard_normal((half, chol.shape[0]))
    V = meta["latent_noise"] * np.concatenate([eps, -eps]) @ chol.T
    shifts = _ACTION_EFFECTS[meta.get("action_effect", "linear")](a @ M.T)
    return np.array([_outcome(meta["outcome"], V + shift).mean() for shift in shifts])


def _support(action_support):
    try:
        low, high = (float(v) for v in action_support)
    except (TypeError, ValueError):
        raise ValueError(f"action_support must be a pair (low, high), got {action_support!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"action_support must satisfy low < high (finite), got {action_support!r}")
    return low, high


def _draw_model(rng, d, k, obs_dim, mixing, outcome):
    """JSON-safe description of M, Sigma_V, gamma, ell and the mixing."""
    M = _orthonormal(rng, d, d) @ np.diag(rng.uniform(*_M_SINGULAR, d)) @ _orthonormal(rng, k, d).T
    B = rng.standard_normal((d, 2 * d))
    cov = B @ B.T
    scale = 1 / np.sqrt(np.diag(cov))
    chol = np.linalg.cholesky(cov * np.outer(scale, scale))
    gamma = rng.standard_normal(d)
    gamma /= np.linalg.norm(gamma)
    signs = lambda: rng.choice([-1.0, 1.0], d)  # noqa: E731
    if outcome == "nonlinear":
        ell = {
            "kind": "nonlinear",
            "alpha": (signs() * rng.uniform(1.0, 2.0, d)).tolist(),
            "beta": (signs() * rng.uniform(0.0, 0.5, d)).tolist(),
        }
    else:
        ell = {"kind": "linear", "alpha": [0.0] * d, "beta": (signs() * rng.uniform(0.5, 1.5, d)).tolist()}
    mixing_seed = int(rng.integers(0, 2**31 - 1))
    g = _MIXINGS[mixing]
    g = g(d, obs_dim, seed=mixing_seed) if mixing != "polynomial" else g(d, obs_dim, degree=2, seed=mixing_seed)
    return {"M": M.tolist(), "v_chol": chol.tolist(), "gamma": gamma.tolist(), "outcome": ell, "mixing": g.to_dict()}


def _mixing(spec):
    """Rebuild the mixing from its ``to_dict()``."""
    kind = {cls.__name__: cls for cls in _MIXINGS.values()}[spec["class"]]
    args = {k: v for k, v in spec.items() if k != "class"}
    return kind(**args)


def _outcome(spec, z):
    """ell(z) for z of shape (n, d)."""
    return np.sin(z) @ np.asarray(spec["alpha"]) + z @ np.asarray(spec["beta"])
