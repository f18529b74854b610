"""ContrastiveCRL: the closed-form log-odds, recovery, targets, files, errors and warnings, and its image encoder."""

import json
import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

import causalrep
import simulators
from causalrep import ContrastiveCRL, InterventionalData
from causalrep.estimators import IdentifiabilityWarning
from causalrep.estimators._contrastive import ParametricLogOdds, _moment_gap, acyclicity
from causalrep.estimators._core.nets import MLP, ConvNet
from causalrep.identifiability import mcc

SMALL = {"hidden": (64,), "max_steps": 1500, "batch_size": 256, "restarts": 1, "verbose": 0}


def _unknown_targets(data):
    return InterventionalData(
        X=data.X, regime=data.regime, targets={k: None if k else () for k in data.regimes}, Z=data.Z
    )


@pytest.fixture(scope="module")
def easy():
    """Two latents, a small leaky-ReLU MLP mixing into 10 dimensions, targets unknown."""
    data = simulators.contrastive_crl(latent_dim=2, obs_dim=10, hidden=(16,), n_per_regime=2000, seed=0)
    return _unknown_targets(data)


@pytest.fixture(scope="module")
def fitted(easy):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = ContrastiveCRL(latent_dim=2, **SMALL).fit(easy)
    return est, caught


# -- the closed form ------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_log_odds_are_the_density_ratio_of_the_linear_gaussian_scm(d, seed):
    """Column t is log N(z; mean_t, cov_t) - log N(z; 0, cov_0), the two joint Gaussians of the SCM."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(d)
    weight = np.triu(rng.normal(size=(d, d)) * (rng.random((d, d)) < 0.6), 1)[np.ix_(order, order)]
    sigma, eta, tau = rng.uniform(0.5, 2, d), rng.normal(0, 2, d), rng.uniform(0.5, 2, d)
    module = ParametricLogOdds(d).double()
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(weight + np.diag(rng.normal(size=d))))  # the diagonal is ignored
        module.loc.copy_(torch.from_numpy(eta))
        module.log_scale.copy_(torch.from_numpy(np.log(tau)))
        module.log_noise.copy_(torch.from_numpy(np.log(sigma)))
    z = rng.normal(0, 2, size=(50, d))
    got = module(torch.from_numpy(z)).detach().numpy()

    def law(weights, mean, var):
        # z = z W + e, e ~ N(mean, diag(var)): z = e (I - W)^-1
        inverse = np.linalg.inv(np.eye(d) - weights)
        return multivariate_normal(mean @ inverse, inverse.T @ np.diag(var) @ inverse)

    observational = law(weight, np.zeros(d), sigma**2).logpdf(z).reshape(-1)
    for t in range(d):
        cut = weight.copy()
        cut[:, t] = 0  # a perfect intervention cuts the parents of t
        mean, var = np.zeros(d), sigma**2
        mean[t], var[t] = eta[t], tau[t] ** 2
        expected = law(cut, mean, var).logpdf(z).reshape(-1) - observational
        np.testing.assert_allclose(got[:, t], expected, rtol=1e-8, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 4), n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_moment_gap_sums_each_regimes_untargeted_moments(d, n, seed):
    """Per regime with >= 2 rows: the squared distance of the untargeted noises' mean and second moment from N(0, I)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.3, 1.4, (n, d))
    latent = rng.integers(-1, d, n)
    expected = 0.0
    for t in range(-1, d):
        rows = noise[latent == t]
        if len(rows) < 2:
            continue
        kept = rows if t < 0 else np.delete(rows, t, axis=1)
        expected += ((kept.T @ kept / len(kept) - np.eye(kept.shape[1])) ** 2).sum() + (kept.mean(0) ** 2).sum()
    got = _moment_gap(torch.tensor(noise), torch.tensor(latent), d)
    assert float(got) == pytest.approx(expected / (d + 1), rel=1e-9, abs=1e-12)


def test_acyclicity_penalty_is_zero_on_a_dag_only():
    dag = torch.tensor([[0.0, 0.5, -1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
    assert abs(float(acyclicity(dag))) < 1e-6
    assert float(acyclicity(dag + dag.T)) > 0.1


# -- fitting ----------------------------------------------------------------------


def test_recovers_the_latents_and_the_targets_on_an_easy_setting(easy, fitted):
    est, _ = fitted
    result = mcc(easy.Z, est.transform(easy.X))
    assert result.score >= 0.9
    # regime k intervenes on true latent k - 1: its learned latent is the one matched to it
    assert est.targets_ == {0: (), 1: (result.matching[0],), 2: (result.matching[1],)}
    assert est.adjacency_.shape == (2, 2)
    assert np.all(np.diag(est.adjacency_) == 0)
    assert set(est.graph_.nodes) == {0, 1}
    assert nx.is_directed_acyclic_graph(est.graph_)


@pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")  # a 5-step refinement
def test_each_linear_start_is_scored_on_held_out_samples(easy):
    """restarts=3: three affine encoders from different initialisations, each with its own held-out loss."""
    est = ContrastiveCRL(latent_dim=2, **{**SMALL, "max_steps": 5, "restarts": 3}).fit(easy)
    losses = est.history_["linear_start"]
    assert len(losses) == 3
    assert all(np.isfinite(losses))
    assert len(set(losses)) == 3
    # a classifier no better than chance scores 2 log 2 per regime
    assert max(losses) < 2 * np.log(2)


def test_no_warning_when_the_assumptions_hold(fitted):
    _, caught = fitted
    assert [str(w.message) for w in caught if issubclass(w.category, IdentifiabilityWarning)] == []


@pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")  # a 5-step fit
def test_known_targets_order_the_latents_like_the_truth():
    data = simulators.contrastive_crl(latent_dim=2, obs_dim=6, hidden=(8,), n_per_regime=50, seed=1)
    swapped = InterventionalData(X=data.X, regime=data.regime, targets={0: (), 1: (1,), 2: (0,)})
    est = ContrastiveCRL(latent_dim=2, hidden=(8,), max_steps=5, restarts=1, verbose=0).fit(swapped)
    assert est.targets_ == {0: (), 1: (1,), 2: (0,)}


def test_save_load_round_trip_gives_the_same_model(easy, fitted, tmp_path):
    est, _ = fitted
    est.save(tmp_path / "model.pt")
    loaded = causalrep.load(tmp_path / "model.pt")
    assert type(loaded) is ContrastiveCRL
    np.testing.assert_array_equal(loaded.transform(easy.X), est.transform(easy.X))
    assert loaded.targets_ == est.targets_
    np.testing.assert_array_equal(loaded.adjacency_, est.adjacency_)
    assert set(loaded.graph_.edges) == set(est.graph_.edges)
    assert loaded.diagnostics_ == est.diagnostics_


# -- errors -----------------------------------------------------------------------


def _data(regimes, targets, n=10):
    rng = np.random.default_rng(0)
    regime = np.repeat(regimes, n)
    return InterventionalData(X=rng.normal(size=(regime.size, 4)), regime=regime, targets=targets)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_data([1, 2], {1: (0,), 2: (1,)}), r"observational one, regime 0, which the data lack \(regimes \[1, 2\]\)"),
        (_data([0, 1], {0: (), 1: (0,)}), r"one interventional regime per latent: latent_dim=2 but the data have 1"),
        (_data([0, 1, 2, 3], {0: (), 1: None, 2: None, 3: None}), r"latent_dim=2 but the data have 3"),
        (_data([0], {0: ()}), r"latent_dim=2 but the data have 0"),
        (_data([0, 1, 2], {0: (), 1: None, 2: None}, n=1), r"at least 2 samples per regime"),
    ],
)
def test_data_it_cannot_use_are_refused_by_name(data, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveCRL(latent_dim=2, **SMALL).fit(data)


@pytest.mark.filterwarnings("ignore:ContrastiveCRL. :causalrep.estimators.IdentifiabilityWarning")  # a 5-step fit
def test_a_known_multi_node_regime_is_warned_about():
    data = _data([0, 1, 2], {0: (), 1: (0, 1), 2: (1,)})
    with pytest.warns(IdentifiabilityWarning, match=r"regime 1 has targets \(0, 1\): ContrastiveCRL assumes one"):
        ContrastiveCRL(latent_dim=2, hidden=(8,), max_steps=5, restarts=1, verbose=0).fit(data)


# -- negative controls --------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        ({"latent_dim": 3, "noise": "student_t"}, r"latent \d is not Gaussian"),
        ({"latent_dim": 3, "n_targets": 2}, r"regime \d changes latent \d besides its target"),
    ],
)
def test_negative_controls_warn(setting, match):
    data = simulators.contrastive_crl(obs_dim=10, hidden=(16,), n_per_regime=2000, seed=0, **setting)
    with pytest.warns(IdentifiabilityWarning, match=match):
        ContrastiveCRL(latent_dim=setting["latent_dim"], **SMALL).fit(_unknown_targets(data))


# -- images -----------------------------------------------------------------------


def _blobs(z, size):
    """One Gaussian blob per sample, centred at (x, y) = the two latents squashed into the middle of the image:
    (n, 2) -> (n, size * size) in [0, 1], an injective mixing."""
    centre = (0.5 + 0.3 * np.tanh(z / 3)) * size - 0.5
    grid = np.arange(size)
    across = np.exp(-0.5 * ((grid - centre[:, :1]) / 1.5) ** 2)
    down = np.exp(-0.5 * ((grid - centre[:, 1:]) / 1.5) ** 2)
    return (down[:, :, None] * across[:, None, :]).reshape(len(z), -1)


def _images(n_per_regime, size=16, meta="image"):
    """The two latents of the Contrastive CRL setting (regimes 1, 2 intervene on latents 0, 1), drawn as blobs."""
    data = simulators.contrastive_crl(latent_dim=2, obs_dim=4, hidden=(4,), n_per_regime=n_per_regime, seed=0)
    meta = {"image_shape": [1, size, size]} if meta == "image" else meta
    targets = {k: None if k else () for k in data.regimes}
    return InterventionalData(X=_blobs(data.Z, size), regime=data.regime, targets=targets, Z=data.Z, meta=meta)


@pytest.fixture(scope="module")
def blobs():
    """Train and test splits of 1250 blob images of 16 x 16 pixels per regime."""
    return _images(1250).split(0.2, seed=0)


@pytest.fixture(scope="module")
def cnn(blobs):
    train, _ = blobs
    return ContrastiveCRL(latent_dim=2, channels=8, max_steps=1500, batch_size=256, restarts=1, verbose=0).fit(train)


def test_a_cnn_recovers_latents_drawn_as_the_position_of_a_blob(blobs, cnn):
    """The CNN reaches 0.92-0.96 on data seeds 0-4 of this setting, where an untrained CNN scores 0.55-0.81
    and the MLP encoder, trained alike on standardised pixels, 0.14-0.90."""
    _, test = blobs
    assert cnn.dims_ == {"dim_x": 256, "n_regimes": 3, "encoder": "cnn", "image_shape": [1, 16, 16]}
    assert isinstance(cnn.modules_["encoder"], ConvNet)
    result = mcc(test.Z, cnn.transform(test.X))
    assert result.score >= 0.9
    assert cnn.targets_ == {0: (), 1: (result.matching[0],), 2: (result.matching[1],)}


def test_the_cnn_sees_the_whole_image_mapped_to_minus_one_one(blobs, cnn):
    train, _ = blobs
    scaled = cnn.modules_["scaler"](torch.tensor(train.X))
    assert float(scaled.min()) == -1.0
    assert float(scaled.max()) == pytest.approx(1.0)
    assert len(set(cnn.modules_["scaler"].scale.tolist())) == 1


def test_cnn_save_load_round_trip_gives_the_same_model(blobs, cnn, tmp_path):
    _, test = blobs
    cnn.save(tmp_path / "model.pt")
    loaded = causalrep.load(tmp_path / "model.pt")
    assert loaded.dims_ == cnn.dims_
    assert isinstance(loaded.modules_["encoder"], ConvNet)
    np.testing.assert_array_equal(loaded.transform(test.X), cnn.transform(test.X))
    assert loaded.targets_ == cnn.targets_


@pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")  # 2-step fits
@pytest.mark.parametrize(
    ("encoder", "meta", "chosen"),
    [
        ("auto", "image", "cnn"),
        ("cnn", "image", "cnn"),
        ("mlp", "image", "mlp"),
        ("auto", {}, "mlp"),
        ("auto", {"image_shape": [1, 8, 8]}, "mlp"),  # not the shape of X
        ("auto", {"image_shape": [4, 2, 2]}, "mlp"),  # too small to convolve
    ],
)
def test_auto_takes_the_cnn_for_images_and_the_mlp_otherwise(encoder, meta, chosen):
    data = _images(8, size=4, meta=meta)
    est = ContrastiveCRL(latent_dim=2, encoder=encoder, channels=2, hidden=(4,), max_steps=2, restarts=1, verbose=0)
    est.fit(data)
    assert est.dims_["encoder"] == chosen
    assert est.dims_["image_shape"] == ([1, 4, 4] if chosen == "cnn" else None)
    assert isinstance(est.modules_["encoder"], ConvNet if chosen == "cnn" else MLP)


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({}, r"encoder='cnn'\) needs images: data.meta\['image_shape'\] = \[C, H, W\] with C\*H\*W = dim_x=16, which"),
        (
            {"image_shape": [1, 8, 8]},
            r"encoder='cnn'\) needs images: meta\['image_shape'\]=\[1, 8, 8\] does not match dim_x=16",
        ),
        (
            {"image_shape": [4, 2, 2]},
            r"needs images: meta\['image_shape'\]=\[4, 2, 2\]: images of at least 4 x 4 pixels",
        ),
    ],
)
def test_cnn_without_images_is_refused_by_name(meta, match):
    with pytest.raises(ValueError, match=match):
        ContrastiveCRL(latent_dim=2, encoder="cnn", max_steps=2, restarts=1, verbose=0).fit(_images(8, 4, meta))


def test_encoder_and_channels_are_checked():
    data = _images(8, size=4)
    with pytest.raises(ValueError, match="encoder must be"):
        ContrastiveCRL(latent_dim=2, encoder="conv", verbose=0).fit(data)
    with pytest.raises(ValueError, match="channels must be"):
        ContrastiveCRL(latent_dim=2, channels=0, verbose=0).fit(data)


def test_checkpoint_from_before_the_encoder_choice_loads_as_the_mlp(easy, fitted, tmp_path):
    est, _ = fitted
    est.save(tmp_path / "new.pt")
    payload = torch.load(tmp_path / "new.pt", weights_only=True)
    dims, params = json.loads(payload["dims"]), json.loads(payload["params"])
    del dims["encoder"], dims["image_shape"], params["encoder"], params["channels"], payload["sha256"]
    payload["dims"], payload["params"] = json.dumps(dims), json.dumps(params)
    torch.save(payload, tmp_path / "old.pt")
    old = causalrep.load(tmp_path / "old.pt", allow_legacy=True)
    assert isinstance(old.modules_["encoder"], MLP)
    np.testing.assert_array_equal(old.transform(easy.X), est.transform(easy.X))
