r"""Linear ICA: scikit-learn's FastICA behind the estimator contract.

:class:`LinearICA` identifies independent non-Gaussian sources of a linear
mixture up to permutation and scaling (Hyvarinen, 1999). scikit-learn's
``FastICA`` does the work (PCA whitening, then the symmetric fixed-point
iteration with the log-cosh contrast); this class adds what the project's
estimators share: the data checks, a fit that is scale-free (X is divided by
its largest magnitude first, so that the covariance neither overflows nor
underflows), a clear refusal when X has fewer than ``latent_dim`` directions
of variance, the project's :class:`~causalrep.exceptions.ConvergenceWarning`,
float64 ``transform`` and checkpoints.
"""

import numbers
import warnings
from types import MappingProxyType

import numpy as np
import torch
from sklearn.decomposition import FastICA
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from torch import nn

from ..data import InterventionalData
from ..exceptions import ConvergenceWarning, warn
from ..validation import SEED, ArrayLike, Interval, Options, Seed, check_standardisable
from ._core.base import BaseEstimator

__all__ = ["LinearICA"]


class LinearICA(BaseEstimator):
    r"""Linear ICA: whitening to ``latent_dim`` components, then FastICA's
    symmetric fixed-point rotation with the log-cosh contrast.

    Each iteration updates all rows of the rotation :math:`W` at once,

    .. math:: W \leftarrow E[g(W x) x^\top] - \mathrm{diag}(E[g'(W x)])\, W,
              \qquad W \leftarrow (W W^\top)^{-1/2} W,

    with :math:`g = \tanh` and :math:`x` the whitened data, until every row
    moves by less than ``tol``. The recovered sources have unit variance;
    their order and signs are arbitrary.

    Arguments:
        latent_dim: Number of sources d (<= dim_x).
        max_iter: Maximum number of fixed-point iterations.
        tol: Convergence tolerance.
        seed: Seed of the initial rotation: an int, a ``numpy.random.Generator``
            (one draw per fit) or None.
        verbose: Unused beyond the estimator contract (the fit prints nothing).
        n_threads: Torch threads while fitting and predicting (the contract's
            policy: ``"auto"``, an int, or None); the fit itself runs in numpy.

    Attributes:
        modules_: ``unmixing``, holding ``mean`` (dim_x,) and ``weight``
            (d, dim_x) as float64 buffers: ``transform(X) = (X - mean) @ weight.T``.
        converged_: Whether the iteration met ``tol``.
        history_: ``steps``, the number of iterations run.
        n_iter_: The same number, under scikit-learn's name.

    Example:
        >>> import numpy as np
        >>> from causalrep import InterventionalData
        >>> from causalrep.identifiability import mcc
        >>> rng = np.random.default_rng(0)
        >>> S = rng.laplace(size=(2000, 2))
        >>> data = InterventionalData(X=S @ rng.normal(size=(2, 4)))
        >>> mcc(S, LinearICA(latent_dim=2).fit(data).transform(data.X)).score > 0.99
        True
    """

    _saved_json = ("history_", "converged_")
    _array_shapes = MappingProxyType({})
    _parameter_constraints = MappingProxyType(
        {
            "latent_dim": (Interval(numbers.Integral, 1, None),),
            "max_iter": (Interval(numbers.Integral, 1, None),),
            "tol": (Interval(numbers.Real, 0, None, closed="neither"),),
            "seed": SEED,
            "verbose": (bool, Interval(numbers.Integral, 0, None)),
            "n_threads": (Options("auto"), Interval(numbers.Integral, 1, None), None),
        }
    )

    def __init__(
        self,
        latent_dim: int,
        *,
        max_iter: int = 500,
        tol: float = 1e-6,
        seed: Seed = 0,
        verbose: int = 0,
        n_threads: int | str | None = "auto",
    ):
        self.latent_dim = latent_dim
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.verbose = verbose
        self.n_threads = n_threads

    def _build(self, dims):
        return nn.ModuleDict({"unmixing": _LinearMap(dims["dim_x"], self.latent_dim)})

    def _fit(self, data: InterventionalData) -> "LinearICA":
        """Whiten and rotate ``data.X``; returns self.

        Raises:
            ValueError: if the observations have fewer than ``latent_dim``
                directions of non-zero variance.
        """
        self._check_latent_dim(data)
        self._check_samples(data)
        check_standardisable(data.X, "X", type(self).__name__)
        d = self.latent_dim
        unit = float(np.max(np.abs(data.X))) or 1.0
        scaled = data.X / unit
        centred = scaled - scaled.mean(0)
        values = np.linalg.eigvalsh(centred.T @ centred / data.n)[::-1]
        if values[d - 1] <= 1e-10 * max(values[0], 1e-300):
            raise ValueError(
                f"X has fewer than latent_dim={d} directions of non-zero "
                "variance: cannot whiten to that many components"
            )
        # scikit-learn's guidance: "eigh" (a dim_x x dim_x covariance) pays only
        # from about 50 samples per feature; "svd" is the stable choice below that.
        solver = "eigh" if data.n >= 50 * data.dim_x else "svd"
        ica = FastICA(
            n_components=d,
            algorithm="parallel",
            whiten="unit-variance",
            fun="logcosh",
            max_iter=self.max_iter,
            tol=self.tol,
            # FastICA seeds numpy's legacy RandomState, which takes 32 bits.
            random_state=self._seed % 2**32,
            whiten_solver=solver,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SklearnConvergenceWarning)
            ica.fit(scaled)
        self.converged_ = not any(issubclass(w.category, SklearnConvergenceWarning) for w in caught)
        if not self.converged_:
            warn(
                f"LinearICA did not converge in max_iter={self.max_iter} iterations "
                f"(tol={self.tol}); raise max_iter or tol",
                ConvergenceWarning,
            )
        self.device_ = torch.device("cpu")
        self.dims_ = {"dim_x": int(data.dim_x)}
        self.arrays_ = {}
        modules = self._build(self.dims_)
        modules["unmixing"].mean.copy_(torch.from_numpy(ica.mean_ * unit))
        modules["unmixing"].weight.copy_(torch.from_numpy(ica.components_ / unit))
        self.modules_ = modules
        self.history_ = {"terms": {}, "val": [], "best_epoch": int(ica.n_iter_) - 1, "steps": int(ica.n_iter_)}
        return self

    @property
    def n_iter_(self) -> int:
        """Fixed-point iterations the fit ran."""
        self._check_fitted()
        return int(self.history_["steps"])

    def transform(self, X: ArrayLike | InterventionalData) -> np.ndarray:
        """Recovered sources, shape (n, latent_dim), computed in float64.

        Arguments:
            X: Observations, shape (n, dim_x), numpy or torch, or an
                InterventionalData.
        """
        X = self._observations(X)
        unmixing = self.modules_["unmixing"]
        return (X - unmixing.mean.cpu().numpy()) @ unmixing.weight.cpu().numpy().T


class _LinearMap(nn.Module):
    """A fitted affine map ``(x - mean) @ weight.T`` kept as float64 buffers, so a
    checkpoint stores it with its shapes checked on load."""

    def __init__(self, dim_x, latent_dim):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim_x, dtype=torch.float64))
        self.register_buffer("weight", torch.zeros(latent_dim, dim_x, dtype=torch.float64))
