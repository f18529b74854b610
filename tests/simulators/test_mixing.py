import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrep.testing.simulation import mixings
from simulators import LinearMixing, MLPMixing, PolynomialMixing, RandomMLPMixing

SMALL = settings(max_examples=25, deadline=None)
KINDS = {
    "linear": lambda d, D, seed: LinearMixing(d, D, seed=seed),
    "polynomial": lambda d, D, seed: PolynomialMixing(d, D, degree=2, seed=seed),
    "mlp": lambda d, D, seed: MLPMixing(d, D, n_layers=3, seed=seed),
    "random mlp": lambda d, D, seed: RandomMLPMixing(d, D, hidden=(16, 16), seed=seed),
}


def _dims():
    return st.integers(1, 4).flatmap(lambda d: st.tuples(st.just(d), st.integers(15, 40)))


def _latents(d, n, seed):
    return np.random.default_rng(seed).uniform(-3, 3, size=(n, d))


def _finite_differences(mixing, z, step=1e-6):
    eye = np.eye(mixing.latent_dim)
    columns = [(mixing(z + step * e) - mixing(z - step * e)) / (2 * step) for e in eye]
    return np.stack(columns, axis=2)


@SMALL
@given(dims=_dims(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_mixing_is_deterministic_with_the_right_shape(dims, data, seed):
    d, D = dims
    mixing = data.draw(mixings(d, D))
    z = _latents(d, 50, seed)
    x = mixing(z)
    assert x.shape == (50, D)
    assert x.dtype == np.float64
    assert (mixing.latent_dim, mixing.obs_dim) == (d, D)
    assert np.array_equal(x, mixing(z))
    assert np.all(np.isfinite(x))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_same_seed_same_map_and_other_seed_other_map(kind):
    z = _latents(3, 20, 0)
    make = KINDS[kind]
    assert np.array_equal(make(3, 30, 5)(z), make(3, 30, 5)(z))
    assert np.array_equal(make(3, 30, 5)(z), make(3, 30, np.random.default_rng(5))(z))
    assert not np.allclose(make(3, 30, 5)(z), make(3, 30, 6)(z))


@SMALL
@given(dims=_dims(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_distinct_latents_never_collide(dims, data, seed):
    d, D = dims
    mixing = data.draw(mixings(d, D))
    z = _latents(d, 100, seed)
    x = mixing(z)
    dz = np.linalg.norm(z[:, None] - z[None], axis=2)
    dx = np.linalg.norm(x[:, None] - x[None], axis=2)
    off_diagonal = ~np.eye(100, dtype=bool)
    assert np.all(dx[off_diagonal] > 1e-5 * dz[off_diagonal])


@SMALL
@given(dims=_dims(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_jacobian_matches_finite_differences_and_has_full_column_rank(dims, data, seed):
    d, D = dims
    mixing = data.draw(mixings(d, D))
    z = _latents(d, 8, seed)
    jac = mixing.jacobian(z)
    assert jac.shape == (8, D, d)
    scale = 1.0 + np.abs(jac).max()
    assert np.allclose(jac, _finite_differences(mixing, z), atol=1e-5 * scale)
    singular = np.linalg.svd(jac, compute_uv=False)
    assert np.all(singular[:, -1] > 1e-6 * singular[:, 0])


def test_linear_and_mlp_conditioning():
    z = _latents(4, 200, 1)
    singular = np.linalg.svd(LinearMixing(4, 30, seed=0).weight, compute_uv=False)
    assert np.all((singular >= 0.5) & (singular <= 2.0))
    singular = np.linalg.svd(MLPMixing(4, 30, n_layers=2, seed=0).jacobian(z), compute_uv=False)
    assert np.all((singular >= 0.5 * 0.2**2 * 0.5**2) & (singular <= 2.0**3))


def test_polynomial_is_left_invertible():
    mixing = PolynomialMixing(3, 25, degree=3, seed=0)
    z = _latents(3, 100, 2)
    features = np.linalg.lstsq(mixing.weight.T, (mixing(z) - mixing.bias).T, rcond=None)[0].T
    assert np.allclose(features[:, :3], z, atol=1e-8)


def test_polynomial_features_are_the_distinct_monomials():
    mixing = PolynomialMixing(3, 30, degree=3, seed=0)
    assert mixing.n_monomials == math.comb(6, 3) - 1 == len(mixing.exponents)
    assert len({tuple(row) for row in mixing.exponents}) == mixing.n_monomials
    assert sorted(mixing.exponents.sum(axis=1)) == list(mixing.exponents.sum(axis=1))
    z = _latents(3, 10, 0)
    expected = np.prod(z[:, None, :] ** mixing.exponents[None], axis=2)
    assert np.allclose(mixing.features(z), expected)


def test_polynomial_weights_match_the_kronecker_basis():
    # In z (x) z the cross term z0 z1 appears twice, so its summed coefficient
    # has variance 2; squares appear once.
    mixing = PolynomialMixing(2, 20000, degree=2, seed=0)
    variance = {tuple(e): w.var() for e, w in zip(mixing.exponents, mixing.weight, strict=True)}
    assert variance[(1, 1)] == pytest.approx(2.0, rel=0.05)
    assert variance[(2, 0)] == pytest.approx(1.0, rel=0.05)
    assert variance[(1, 0)] == pytest.approx(1.0, rel=0.05)


def test_nonlinear_scale_only_touches_higher_degrees():
    base = PolynomialMixing(2, 10, degree=2, seed=0)
    scaled = PolynomialMixing(2, 10, degree=2, nonlinear_scale=0.5, seed=0)
    linear = base.exponents.sum(axis=1) == 1
    assert np.array_equal(base.weight[linear], scaled.weight[linear])
    assert np.allclose(base.weight[~linear] * 0.5, scaled.weight[~linear])


def test_large_inputs_are_processed_in_blocks():
    mixing = PolynomialMixing(4, 20, degree=2, seed=0)
    z = _latents(4, 10000, 0)
    x = mixing(z)
    assert np.allclose(x[-5:], mixing.features(z[-5:]) @ mixing.weight + mixing.bias)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(
        ValueError,
        match=r"obs_dim=200 is smaller than the 219 monomials "
        r"of degree 1..3 in 9 latents",
    ):
        PolynomialMixing(9, 200, degree=3)
    with pytest.raises(ValueError, match="cannot be injective"):
        LinearMixing(5, 4)
    with pytest.raises(ValueError, match="cannot be injective"):
        MLPMixing(5, 4)
    with pytest.raises(ValueError, match="degree must be a positive int"):
        PolynomialMixing(2, 10, degree=0)
    with pytest.raises(ValueError, match="nonlinear_scale must be a positive number"):
        PolynomialMixing(2, 10, nonlinear_scale=-1.0)
    with pytest.raises(ValueError, match="n_layers must be a positive int"):
        MLPMixing(2, 10, n_layers=0)
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        LinearMixing(0, 10)
    mixing = LinearMixing(3, 10)
    with pytest.raises(ValueError, match=r"z must have 3 columns \(latent_dim\)"):
        mixing(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="z must be 2-dimensional"):
        mixing(np.zeros(3))
    with pytest.raises(ValueError, match="non-finite"):
        mixing(np.full((1, 3), np.nan))


@SMALL
@given(
    kind=st.sampled_from(sorted(KINDS)),
    exponent=st.one_of(st.integers(0, 308), st.sampled_from([200, 308])),
    sign=st.sampled_from([-1.0, 1.0]),
)
def test_a_mixing_that_overflows_is_refused_naming_it(kind, exponent, sign):
    """At any magnitude, a mixing returns finite values or refuses: PolynomialMixing at
    z = 1e200 used to return NaN and inf (with numpy's overflow warnings)."""
    mixing = KINDS[kind](2, 6, 0)
    z = np.array([[sign * 10.0**exponent, 1.0], [0.5, -0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warnings either
        try:
            x, refused = mixing(z), None
        except ValueError as err:
            refused = str(err)
    if refused is None:
        assert np.all(np.isfinite(x))
    else:
        assert refused.startswith(f"{type(mixing).__name__} overflows float64 at z: latents up to "), refused
        assert exponent >= 100, refused  # nothing below 1e100 overflows these small maps
    if kind == "polynomial":  # derivatives have degree 1: finite far beyond where x overflows
        if exponent < 300:
            assert np.all(np.isfinite(mixing.jacobian(z)))  # 0 * inf made NaN at 1e200
        if exponent == 308:
            with pytest.raises(ValueError, match=r"monomials of degree up to 2 must stay below float64's 1.8e308"):
                mixing.jacobian(z)


def test_to_dict():
    assert PolynomialMixing(2, 10, degree=2, seed=3).to_dict() == {
        "class": "PolynomialMixing",
        "latent_dim": 2,
        "obs_dim": 10,
        "seed": 3,
        "degree": 2,
        "nonlinear_scale": 1.0,
    }
    assert MLPMixing(2, 10, seed=np.random.default_rng(0)).to_dict()["seed"] is None


def test_random_mlp_mixing_follows_the_mixing_contract():
    mixing = RandomMLPMixing(3, 10, hidden=(16, 16), seed=0)
    z = _latents(3, 20_000, 0)  # more rows than one block: blocks join seamlessly
    x = mixing(z)
    assert x.shape == (20_000, 10)
    np.testing.assert_allclose(x[:5], mixing(z[:5]), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(x, RandomMLPMixing(3, 10, hidden=(16, 16), seed=0)(z))
    assert mixing.to_dict() == {
        "class": "RandomMLPMixing",
        "latent_dim": 3,
        "obs_dim": 10,
        "seed": 0,
        "hidden": [16, 16],
    }
    with pytest.raises(ValueError, match="hidden widths must be >= latent_dim=3"):
        RandomMLPMixing(3, 10, hidden=(2,))
    with pytest.raises(ValueError, match="z must have 3 columns"):
        mixing(np.zeros((4, 2)))
