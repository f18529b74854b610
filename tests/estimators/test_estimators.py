"""The contract every estimator shares: parameters, fit, transform, seeds, files."""

import pickle

import numpy as np
import pytest
import sklearn.base
import torch

import causalrep
import simulators
from causalrep import (
    IVAE,
    Autoencoder,
    BetaVAE,
    CausalDiffAE,
    CheckpointError,
    ContrastiveCRL,
    InterventionalCRL,
    InterventionalData,
    LinearICA,
    MultiEnvCRL,
    NotFittedError,
    Rep4Ex,
    TrainingDivergedError,
)
from causalrep.estimators._core.training import TrainConfig, train
from causalrep.identifiability import affine_r2

pytestmark = pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")

TINY = dict(max_steps=40, hidden=(16,), restarts=1, verbose=0)
ESTIMATORS = {
    "interventional": lambda seed=0: InterventionalCRL(latent_dim=2, seed=seed, **TINY),
    "autoencoder": lambda seed=0: Autoencoder(latent_dim=2, seed=seed, **TINY),
    "beta_vae": lambda seed=0: BetaVAE(latent_dim=2, seed=seed, **TINY),
    "ivae": lambda seed=0: IVAE(latent_dim=2, seed=seed, **TINY),
    "multienv": lambda seed=0: MultiEnvCRL(latent_dim=2, seed=seed, min_environments=3, **TINY),
    "contrastive_crl": lambda seed=0: ContrastiveCRL(latent_dim=2, seed=seed, **TINY),
    "linear_ica": lambda seed=0: LinearICA(latent_dim=2, seed=seed, max_iter=40, tol=1e-4),
    "causaldiffae": lambda seed=0: CausalDiffAE(
        latent_dim=2, seed=seed, max_steps=40, hidden=(16,), channels=4, diffusion_steps=50, verbose=0
    ),
    "rep4ex": lambda seed=0: Rep4Ex(
        latent_dim=2, seed=seed, max_steps=40, hidden=(16,), n_centers=20, verbose=0, n_bootstrap=0
    ),
}
# Estimators that need more than observations and regimes, and the data they get.
NEEDS_ACTIONS = {"rep4ex"}


@pytest.fixture(params=sorted(ESTIMATORS))
def name(request):
    return request.param


@pytest.fixture
def make(name):
    return ESTIMATORS[name]


@pytest.fixture
def data(name, tiny_data, tiny_action_data):
    """The tiny dataset the estimator can fit: with actions and an outcome where it needs them."""
    return tiny_action_data if name in NEEDS_ACTIONS else tiny_data


def test_constructor_only_stores_parameters(make):
    est = make()
    params = est.get_params()
    assert params["latent_dim"] == 2
    assert params["seed"] == 0
    assert not any(name.endswith("_") for name in vars(est))
    assert type(est)(**params).get_params() == params
    assert est.set_params(seed=3) is est
    assert est.seed == 3
    with pytest.raises(ValueError, match="has no parameter 'bogus'"):
        est.set_params(bogus=1)
    # scikit-learn's repr: the parameters that differ from their defaults
    assert repr(est).startswith(type(est).__name__ + "(")
    assert "latent_dim=2" in repr(est)
    assert "seed=3" in repr(est)
    assert "device=" not in repr(est)


def test_sklearn_clone_keeps_parameters_and_drops_the_fit(make, data):
    est = make().fit(data)
    copy = sklearn.base.clone(est)
    assert type(copy) is type(est)
    assert copy is not est
    given, cloned = est.get_params(deep=False), copy.get_params(deep=False)
    assert given.keys() == cloned.keys()
    assert all(cloned[k] is given[k] or cloned[k] == given[k] for k in given)
    assert not hasattr(copy, "modules_")
    np.testing.assert_array_equal(copy.fit(data).transform(data.X), est.transform(data.X))


def test_fit_returns_self_and_transform_shape(make, data):
    est = make()
    assert est.fit(data) is est
    z = est.transform(data.X)
    assert isinstance(z, np.ndarray)
    assert z.shape == (data.n, 2)
    assert z.dtype == np.float64
    np.testing.assert_array_equal(est.transform(torch.tensor(data.X)), z)
    np.testing.assert_array_equal(est.transform(data), z)
    assert set(est.history_) >= {"terms", "val", "best_epoch", "steps"}


def test_transform_before_fit_raises(make, data):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        make().transform(data.X)


def test_transform_checks_its_input(make, data):
    est = make().fit(data)
    with pytest.raises(ValueError, match="X has 4 features, but .* is expecting 5 features as input"):
        est.transform(np.ones((3, 4)))
    with pytest.raises(ValueError, match="X contains 1 non-finite"):
        est.transform(np.where(np.eye(3, 5) > 0, np.nan, 0.0)[:1])
    with pytest.raises(ValueError, match="X must be 2-dimensional"):
        est.transform(np.ones(5))


def test_fit_rejects_what_is_neither_data_nor_arrays(make, data):
    # arrays are accepted by keyword, fit(X, regime=..., ...): see test_threads.py
    with pytest.raises(TypeError, match="fit takes a causalrep.InterventionalData or an array-like X, got dict"):
        make().fit({"X": data.X})


def test_same_seed_gives_bit_identical_latents(make, data):
    first = make(seed=5).fit(data).transform(data.X)
    again = make(seed=5).fit(data).transform(data.X)
    other = make(seed=6).fit(data).transform(data.X)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_fit_leaves_global_torch_rng_alone(make, data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make().fit(data)
    assert torch.equal(torch.rand(3), expected)


def test_save_load_round_trip(make, data, tmp_path):
    est = make().fit(data)
    path = tmp_path / "model.pt"
    est.save(path)
    back = causalrep.load(path)
    assert type(back) is type(est)
    assert back._json_params() == est._json_params()
    np.testing.assert_array_equal(back.transform(data.X), est.transform(data.X))
    assert back.history_ == est.history_


def test_save_before_fit_raises(make, tmp_path):
    with pytest.raises(NotFittedError):
        make().save(tmp_path / "m.pt")


def test_failed_save_keeps_previous_checkpoint(make, data, tmp_path, monkeypatch):
    est = make().fit(data)
    path = tmp_path / "model.pt"
    est.save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        est.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_load_refuses_corrupt_and_foreign_files(make, data, tmp_path):
    with pytest.raises(FileNotFoundError):
        causalrep.load(tmp_path / "absent.pt")
    est = make().fit(data)
    good = tmp_path / "model.pt"
    est.save(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        causalrep.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a causalrep estimator checkpoint"):
        causalrep.load(foreign)
    payload = torch.load(good, weights_only=True)
    payload["state"] = {k: v[..., :1] for k, v in payload["state"].items()}
    mismatched = tmp_path / "mismatched.pt"
    torch.save(payload, mismatched)
    with pytest.raises(CheckpointError, match="does not match"):
        causalrep.load(mismatched)


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the hostile file is a pickle
def test_load_never_runs_pickled_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as handle:
        pickle.dump({"format": "causalrep.estimator", "x": _Payload(str(marker))}, handle)
    with pytest.raises(CheckpointError):
        causalrep.load(evil)
    torch.save({"format": "causalrep.estimator", "x": _Payload(str(marker))}, evil)
    with pytest.raises(CheckpointError):
        causalrep.load(evil)
    assert not marker.exists()


def test_device_auto_resolves_and_bad_device_is_named(tiny_data):
    est = InterventionalCRL(latent_dim=2, device="auto", **TINY).fit(tiny_data)
    assert est.device_.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device is available"):
            InterventionalCRL(latent_dim=2, device="cuda", **TINY).fit(tiny_data)


def test_training_loop_stops_on_non_finite_loss():
    module = torch.nn.Linear(2, 1)

    def loss(m, x):
        return {"reconstruction": m(x).mean(), "penalty": torch.log(-torch.ones(()))}

    with pytest.raises(causalrep.TrainingDivergedError, match="'penalty' became non-finite .* epoch 0"):
        train(module, loss, (torch.ones(20, 2),), TrainConfig(verbose=False), 0, torch.device("cpu"))


def test_training_loop_early_stops_and_restores_best():
    torch.manual_seed(0)
    module = torch.nn.Linear(1, 1)
    x = torch.linspace(-1, 1, 200)[:, None]

    def loss(m, xb):
        return {"mse": ((m(xb) - 3 * xb) ** 2).mean()}

    history = train(module, loss, (x,), TrainConfig(max_steps=5000, patience=5, verbose=False), 0, torch.device("cpu"))
    assert len(history.val) < 5000
    assert history.val[history.best_epoch] <= min(history.val) * (1 + 1e-5)
    assert history.best_epoch >= len(history.val) - 6
    assert abs(module.weight.item() - 3) < 1e-2


def test_a_fit_and_its_inverse_are_the_same_at_every_scale():
    data = simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=1, n_obs=100, n_int=100, seed=0)
    latents = {}
    for scale, offset in [(1.0, 0.0), (1.0, 1e9), (1e-200, 0.0), (1e300, 0.0)]:
        X = data.X * scale + offset * scale
        model = Autoencoder(2, hidden=(16,), max_steps=30, verbose=0).fit(InterventionalData(X=X))
        latents[(scale, offset)] = z = model.transform(X)
        back = model.inverse_transform(z)
        assert np.all(np.isfinite(back))
        unit = model.inverse_transform(z) / scale - offset
        if scale == 1.0 and offset == 0.0:
            reference = unit
        np.testing.assert_allclose(unit, reference, atol=1e-3 * np.abs(data.X).max())
    for z in latents.values():  # 1e9 + unit noise used to collapse to a few distinct rows
        np.testing.assert_allclose(z, latents[(1.0, 0.0)], atol=1e-4)


@pytest.mark.parametrize("rows", [np.full((30, 4), 5.0), np.full((30, 4), 3e9) + 1e-7])
@pytest.mark.parametrize(
    "model", [Autoencoder(2, max_steps=5, verbose=0), causalrep.BetaVAE(2, max_steps=5, verbose=0)]
)
def test_identical_rows_are_refused(rows, model):
    with pytest.raises(ValueError, match=r"^X is constant: all 30 rows are identical"):
        model.fit(InterventionalData(X=rows))


def _scaled(data, factor):
    return InterventionalData(X=data.X * factor, regime=data.regime, targets=data.targets, Z=data.Z, graph=data.graph)


def test_a_single_sample_is_transformed(catalogue):
    assert catalogue.ae.transform(catalogue.data.X[:1]).shape == (1, 2)
    np.testing.assert_allclose(
        catalogue.ae.transform(catalogue.data.X[:1]), catalogue.ae.transform(catalogue.data.X)[:1], rtol=1e-6, atol=1e-6
    )


@pytest.mark.parametrize(
    ("name", "term"),
    [
        ("InterventionalCRL", "reconstruction"),
        ("Autoencoder", "reconstruction"),
        ("BetaVAE", "negative_elbo"),
        ("IVAE", "negative_elbo"),
        ("CausalDiffAE", "diffusion|elbo"),
        ("Rep4Ex", "reconstruction|mmr"),
    ],
)
@pytest.mark.filterwarnings("ignore:Encountered NaN")  # Pyro's own notice of the divergence
def test_a_diverging_fit_names_its_loss_term(catalogue, name, term):
    # InterventionalCRL's default stage 1 is solved exactly; its SGD path is the MLP's.
    extra = {"encoder": "mlp"} if name == "InterventionalCRL" else {}
    est = catalogue.make(name, lr=1e30, **extra)
    data = catalogue.rdata if name == "Rep4Ex" else catalogue.data
    with pytest.raises(
        TrainingDivergedError,
        match=rf"^loss term '({term})' became non-finite \((nan|inf|-inf)\) at "
        r"epoch \d+ \((step \d+|on the validation part)\)",
    ):
        est.fit(data)


@pytest.mark.parametrize("name", ["InterventionalCRL", "Autoencoder", "LinearICA"])
def test_extreme_scales_identify_as_well_as_unit_scale(catalogue, name):
    data = simulators.ahuja2023(latent_dim=2, obs_dim=8, degree=1, n_obs=200, n_int=200, seed=0)
    params = (
        {"max_steps": 100, "degree": 1}
        if name == "InterventionalCRL"
        else {"max_steps": 100}
        if name == "Autoencoder"
        else {}
    )
    scores = {}
    for factor in (1.0, 1e6, 1e-6):
        scaled = _scaled(data, factor)
        scores[factor] = affine_r2(data.Z, catalogue.make(name, **params).fit(scaled).transform(scaled.X)).mean
    assert scores[1.0] > 0.95, scores
    assert abs(scores[1e6] - scores[1.0]) < 1e-3, scores
    assert abs(scores[1e-6] - scores[1.0]) < 1e-3, scores


def test_linear_ica_is_scale_free_across_the_float64_range():
    data = simulators.ahuja2023(latent_dim=2, obs_dim=8, degree=1, n_obs=200, n_int=200, seed=0)
    for factor in (1e-200, 1e200):
        scaled = _scaled(data, factor)
        assert affine_r2(data.Z, LinearICA(2).fit(scaled).transform(scaled.X)).mean > 0.999
