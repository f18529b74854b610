import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrep.data import InterventionalData
from causalrep.testing.simulation import interventions, latent_scms, mixings
from simulators import (
    LatentSCM,
    LinearMixing,
    PolynomialMixing,
    ahuja2023,
    chain,
    do,
    interventional,
    shift,
)

SMALL = settings(max_examples=25, deadline=None)
AHUJA_LATENTS = ["uniform", "gaussian_mixture", "scm_sparse", "scm_dense"]


def _small_ahuja(latents, seed=0, **kwargs):
    options = dict(latent_dim=3, obs_dim=12, n_obs=300, n_int=90, seed=seed)
    return ahuja2023(latents=latents, **{**options, **kwargs})


@SMALL
@given(scm=latent_scms(max_nodes=4), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_interventional_assembles_every_regime(scm, data, seed):
    mixing = data.draw(mixings(scm.latent_dim, 20))
    chosen = data.draw(st.lists(interventions(scm), max_size=3))
    result = interventional(scm, mixing, 16, chosen, seed=seed)
    assert isinstance(result, InterventionalData)
    assert result.counts() == {k: 16 for k in range(len(chosen) + 1)}
    assert dict(result.targets) == {0: (), **{k: iv.targets for k, iv in enumerate(chosen, start=1)}}
    assert np.allclose(result.X, mixing(result.Z))
    assert sorted(result.graph.edges) == sorted(scm.graph.edges)
    json.dumps(result.meta)
    for k, iv in enumerate(chosen, start=1):
        if iv.kind == "do":
            for j, value in iv.changes:
                assert np.all(result.Z[result.regime == k, j] == value)
    again = interventional(scm, mixing, 16, chosen, seed=seed)
    assert np.array_equal(result.X, again.X)
    assert np.array_equal(result.Z, again.Z)


def test_interventional_seeds_and_sizes():
    scm, mixing = LatentSCM(chain(3), seed=0), LinearMixing(3, 6, seed=0)
    chosen = [do({0: 1.0}), shift({2: 3.0})]
    data = interventional(scm, mixing, [30, 10, 20], chosen, seed=1)
    assert data.counts() == {0: 30, 1: 10, 2: 20}
    assert data.meta["n_per_regime"] == [30, 10, 20]
    assert data.meta["seed"] == 1
    assert data.meta["interventions"][1] == {"kind": "shift", "targets": [2], "values": {"2": 3.0}}
    assert data.meta["latent_model"]["class"] == "LatentSCM"
    other = interventional(scm, mixing, [30, 10, 20], chosen, seed=2)
    assert not np.allclose(data.Z, other.Z)
    generator = interventional(scm, mixing, [30, 10, 20], chosen, seed=np.random.default_rng(1))
    assert np.array_equal(generator.Z, data.Z)
    assert generator.meta["seed"] is None
    observational_only = interventional(scm, mixing, 5, [], seed=0)
    assert observational_only.counts() == {0: 5}


def test_interventional_rejects_bad_inputs():
    scm, mixing = LatentSCM(chain(3)), LinearMixing(3, 6)
    with pytest.raises(ValueError, match="n_per_regime has 2 entries but there are 3 regimes"):
        interventional(scm, mixing, [5, 5], [do({0: 1.0}), do({1: 1.0})])
    with pytest.raises(ValueError, match="n_per_regime must be a positive int"):
        interventional(scm, mixing, [5, 0], [do({0: 1.0})])
    with pytest.raises(ValueError, match="n_per_regime must be a positive int"):
        interventional(scm, mixing, -3, [])
    with pytest.raises(ValueError, match="mixing takes 2 latents but the SCM has 3"):
        interventional(scm, LinearMixing(2, 6), 5, [])
    with pytest.raises(ValueError, match=r"node 5, but the model has d=3"):
        interventional(scm, mixing, 5, [do({5: 1.0})])
    with pytest.raises(TypeError, match="built with do, shift or soft"):
        interventional(scm, mixing, 5, [{0: 1.0}])


@pytest.mark.parametrize("latents", AHUJA_LATENTS)
def test_ahuja2023_layout(latents):
    data = _small_ahuja(latents)
    assert data.X.shape == (390, 12)
    assert data.Z.shape == (390, 3)
    assert data.counts() == {0: 300, 1: 30, 2: 30, 3: 30}
    assert dict(data.targets) == {0: (), 1: (0,), 2: (1,), 3: (2,)}
    for k in (1, 2, 3):
        assert np.all(data.Z[data.regime == k, k - 1] == 2.0)
    assert sorted(data.graph.nodes) == [0, 1, 2]
    assert nx.is_directed_acyclic_graph(data.graph)
    if latents in ("uniform", "gaussian_mixture"):
        assert data.graph.number_of_edges() == 0
    assert json.loads(json.dumps(data.meta))["latents"] == latents
    assert data.meta["mixing"]["class"] == "PolynomialMixing"
    again = _small_ahuja(latents)
    assert np.array_equal(data.X, again.X)
    assert not np.allclose(data.X, _small_ahuja(latents, seed=1).X)


def test_ahuja2023_uneven_split_and_defaults():
    data = _small_ahuja("uniform", n_int=100)
    assert data.counts() == {0: 300, 1: 34, 2: 33, 3: 33}
    default = ahuja2023(n_obs=50, n_int=60)
    assert default.X.shape == (110, 200)
    assert default.Z.shape[1] == 6


def test_ahuja2023_latent_laws():
    uniform = ahuja2023(latents="uniform", n_obs=20000, n_int=6).subset([0]).Z
    assert uniform.min() >= -5
    assert uniform.max() <= 5
    assert np.allclose(uniform.std(axis=0), 10 / np.sqrt(12), rtol=0.03)
    mixture = ahuja2023(latents="gaussian_mixture", n_obs=20000, n_int=6).subset([0]).Z
    # Half N(0, 1), half N(1, 4): mean 0.5, variance 2.75; the shared
    # component makes every pair of latents covary by 0.25.
    assert np.allclose(mixture.mean(axis=0), 0.5, atol=0.05)
    assert np.allclose(mixture.var(axis=0), 2.75, rtol=0.05)
    covariance = np.cov(mixture.T)[np.triu_indices(6, 1)]
    assert np.allclose(covariance, 0.25, atol=0.08)


def test_ahuja2023_scm_density():
    edges = {
        latents: np.mean(
            [
                ahuja2023(
                    latent_dim=10, obs_dim=70, latents=latents, n_obs=10, n_int=10, seed=s
                ).graph.number_of_edges()
                for s in range(30)
            ]
        )
        for latents in ("scm_sparse", "scm_dense")
    }
    assert edges["scm_sparse"] == pytest.approx(5, rel=0.25)
    assert edges["scm_dense"] == pytest.approx(10, rel=0.25)


def test_ahuja2023_nonlinear_part_is_twice_the_affine_part():
    data = ahuja2023(latent_dim=3, obs_dim=12, n_obs=5000, n_int=3, seed=0)
    settings_ = data.meta["mixing"]
    base = PolynomialMixing(3, 12, 2, seed=settings_["seed"])
    z = data.subset([0]).Z
    features = base.features(z)
    linear = base.exponents.sum(axis=1) == 1
    affine = np.abs(features[:, linear] @ base.weight[linear] + base.bias).max()
    nonlinear = np.abs(features[:, ~linear] @ base.weight[~linear]).max()
    assert settings_["nonlinear_scale"] * nonlinear / affine == pytest.approx(2.0, rel=0.1)


def test_ahuja2023_degree_one_is_affine():
    data = _small_ahuja("uniform", degree=1)
    assert data.meta["mixing"]["nonlinear_scale"] == 1.0
    design = np.column_stack([data.Z, np.ones(data.n)])
    residual = np.linalg.lstsq(design, data.X, rcond=None)[1]
    assert np.all(residual < 1e-8)


def test_ahuja2023_rejects_bad_inputs():
    with pytest.raises(ValueError, match="unknown latents 'scm'"):
        ahuja2023(latents="scm")
    with pytest.raises(ValueError, match="smaller than the 65 monomials"):
        ahuja2023(latent_dim=10, obs_dim=50)
    with pytest.raises(ValueError, match="n_int=4 is too small"):
        ahuja2023(n_int=4)
    with pytest.raises(ValueError, match="n_obs must be a positive int"):
        ahuja2023(n_obs=-1)
