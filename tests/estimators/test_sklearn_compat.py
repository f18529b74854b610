"""scikit-learn compatibility: its estimator checks, pipelines, DataFrames, keyword-only
hyperparameters, its NotFittedError, seeds, and hyperparameters checked at fit."""

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.exceptions
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

import causalrep
from causalrep import (
    IVAE,
    Autoencoder,
    BetaVAE,
    CausalDiffAE,
    ContrastiveCRL,
    InterventionalCRL,
    LinearICA,
    MultiEnvCRL,
    Rep4Ex,
)
from causalrep.estimators import ESTIMATORS
from causalrep.exceptions import ParameterError

pytestmark = pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")

NETS = {"hidden": (4,), "max_steps": 2, "batch_size": 16, "verbose": 0, "device": "cpu"}

# -- scikit-learn's own checks --------------------------------------------------

# The estimators that learn from X alone: every check fits X (with a y, which they
# ignore). latent_dim=1, so that the fit on a single feature applies too.
# Not here, because the checks give them only X and a y:
# - InterventionalCRL, IVAE and MultiEnvCRL read the regimes and CausalDiffAE its
#   labels (Z); a y would be mistaken for those, so they refuse it (TypeError);
# - Rep4Ex needs the actions A and the outcome Y.
# Their pipelines are tested below.
CHECKED = [
    LinearICA(latent_dim=1, max_iter=20),
    Autoencoder(latent_dim=1, **NETS),
    BetaVAE(latent_dim=1, **NETS),
]

# Checks these estimators fail on purpose, and why.
DIVERGENCES = {
    "check_complex_data": (
        "complex X is refused with TypeError('X must be real'), as every wrong dtype is; "
        "scikit-learn wants a ValueError"
    ),
    "check_dtype_object": (
        "arrays of dtype object are refused ('X must hold numbers'): numpy would read None "
        "as NaN and the string '1.5' as 1.5 without a word"
    ),
    "check_estimators_empty_data_messages": (
        "X without columns is refused in the project's words ('X is empty (shape (12, 0))'), "
        "not in scikit-learn's exact sentence, which the check matches"
    ),
}


@parametrize_with_checks(CHECKED, expected_failed_checks=lambda estimator: DIVERGENCES, xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# -- pipelines ------------------------------------------------------------------

PLAIN_X = {
    "LinearICA": lambda: LinearICA(latent_dim=2),
    "Autoencoder": lambda: Autoencoder(latent_dim=2, **NETS),
    "BetaVAE": lambda: BetaVAE(latent_dim=2, **NETS),
    "CausalDiffAE": lambda: CausalDiffAE(latent_dim=2, diffusion_steps=10, channels=4, **NETS),
    "InterventionalCRL": lambda: InterventionalCRL(latent_dim=2, degree=1, stage2="none", **NETS),
}


@pytest.fixture(scope="module")
def sources():
    """Observations of 2 independent non-Gaussian sources mixed into 5 columns, in odd units."""
    rng = np.random.default_rng(0)
    return rng.laplace(size=(150, 2)) @ rng.normal(size=(2, 5)) * [1e3, 1.0, 1e-3, 5.0, 2.0] + 7.0


@pytest.mark.parametrize("name", sorted(PLAIN_X))
def test_pipeline_scaler_then_estimator(name, sources):
    pipe = make_pipeline(StandardScaler(), PLAIN_X[name]())
    z = pipe.fit_transform(sources)
    assert z.shape == (150, 2)
    assert z.dtype == np.float64
    np.testing.assert_array_equal(pipe.transform(sources), z)
    assert pipe.transform(sources[:7]).shape == (7, 2)
    # DataFrames all along: the scaler's column names reach the estimator, whose latents are named
    frames = make_pipeline(StandardScaler(), PLAIN_X[name]()).set_output(transform="pandas").fit(sources)
    assert list(frames[-1].feature_names_in_) == [f"x{j}" for j in range(5)]
    frame = frames.transform(sources[:3])
    lower = name.lower()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == [f"{lower}0", f"{lower}1"]


def test_pipeline_passes_regimes_by_keyword(tiny_data):
    pipe = make_pipeline(StandardScaler(), InterventionalCRL(latent_dim=2, degree=1, **NETS))
    pipe.fit(tiny_data.X, interventionalcrl__regime=tiny_data.regime, interventionalcrl__targets=tiny_data.targets)
    scaled = StandardScaler().fit_transform(tiny_data.X)
    alone = InterventionalCRL(latent_dim=2, degree=1, **NETS).fit(
        scaled, regime=tiny_data.regime, targets=tiny_data.targets
    )
    np.testing.assert_array_equal(pipe.transform(tiny_data.X), alone.transform(scaled))
    assert pipe[-1].stage2_ == "do"


# -- every estimator --------------------------------------------------------------

FACTORIES = {
    "InterventionalCRL": lambda **kw: InterventionalCRL(**{"latent_dim": 2, "degree": 1, **NETS, **kw}),
    "Autoencoder": lambda **kw: Autoencoder(**{"latent_dim": 2, **NETS, **kw}),
    "BetaVAE": lambda **kw: BetaVAE(**{"latent_dim": 2, **NETS, **kw}),
    "IVAE": lambda **kw: IVAE(**{"latent_dim": 2, **NETS, **kw}),
    "MultiEnvCRL": lambda **kw: MultiEnvCRL(**{"latent_dim": 2, "min_environments": 3, **NETS, **kw}),
    "ContrastiveCRL": lambda **kw: ContrastiveCRL(**{"latent_dim": 2, "restarts": 1, **NETS, **kw}),
    "LinearICA": lambda **kw: LinearICA(**{"latent_dim": 2, "max_iter": 20, **kw}),
    "CausalDiffAE": lambda **kw: CausalDiffAE(**{"latent_dim": 2, "diffusion_steps": 10, "channels": 4, **NETS, **kw}),
    "Rep4Ex": lambda **kw: Rep4Ex(**{"latent_dim": 2, "n_centers": 20, "n_bootstrap": 0, **NETS, **kw}),
}
CLASSES = [entry.load() for entry in ESTIMATORS.values()]


def test_every_estimator_is_covered():
    assert sorted(FACTORIES) == sorted(cls.__name__ for cls in CLASSES)


@pytest.fixture
def data(name, tiny_data, tiny_action_data):
    return tiny_action_data if name == "Rep4Ex" else tiny_data


def _fields(data):
    """The fields of ``data`` besides X, by keyword (what fit takes with an array X)."""
    fields = {"regime": data.regime, "targets": dict(data.targets), "Z": data.Z, "A": data.A, "Y": data.Y}
    return {key: value for key, value in fields.items() if value is not None}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_hyperparameters_after_latent_dim_are_keyword_only(cls):
    parameters = list(inspect.signature(cls).parameters.values())
    assert parameters[0].name == "latent_dim"
    assert parameters[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[1:])
    with pytest.raises(TypeError, match="positional argument"):
        cls(2, parameters[1].default)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_hyperparameter_has_declared_constraints(cls):
    assert set(cls._parameter_constraints) == set(inspect.signature(cls).parameters)
    # the defaults satisfy them (checked without fitting)
    cls(**({} if cls is CausalDiffAE else {"latent_dim": 2}))._validate_params()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_dataframe_input_names_the_features(name, data, tmp_path):
    columns = [f"x{j}" for j in range(data.dim_x)]
    frame = pd.DataFrame(data.X, columns=columns)
    est = FACTORIES[name]().fit(frame, **_fields(data))
    assert est.n_features_in_ == data.dim_x
    np.testing.assert_array_equal(est.feature_names_in_, columns)
    z = est.transform(frame)
    np.testing.assert_array_equal(est.fit_transform(frame, **_fields(data)), z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(est.transform(frame), z)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        np.testing.assert_array_equal(est.transform(data.X), z)
    with pytest.raises(ValueError, match="feature names should match"):
        est.transform(frame.rename(columns={"x0": "other"}))
    est.save(tmp_path / "m.pt")
    np.testing.assert_array_equal(causalrep.load(tmp_path / "m.pt").feature_names_in_, columns)
    # refitted on an array: the names go, the count stays
    est.fit(data.X, **_fields(data))
    assert not hasattr(est, "feature_names_in_")
    assert est.n_features_in_ == data.dim_x


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_unfitted_estimators_raise_scikit_learns_not_fitted_error(name, data):
    est = FACTORIES[name]()
    with pytest.raises(sklearn.exceptions.NotFittedError, match="not fitted yet"):
        est.transform(data.X)
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(est)
    assert not hasattr(est, "n_features_in_")
    assert issubclass(causalrep.NotFittedError, (ValueError, AttributeError))
    check_is_fitted(est.fit(data))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_numpy_integer_and_generator_seeds_are_reproducible(name, data):
    expected = FACTORIES[name](seed=3).fit(data).transform(data.X)
    np.testing.assert_array_equal(FACTORIES[name](seed=np.int64(3)).fit(data).transform(data.X), expected)
    # a Generator gives one seed per fit: a fresh one with the same state, the same fit
    first = FACTORIES[name](seed=np.random.default_rng(5)).fit(data).transform(data.X)
    np.testing.assert_array_equal(FACTORIES[name](seed=np.random.default_rng(5)).fit(data).transform(data.X), first)
    # clone copies the Generator with its state
    est = FACTORIES[name](seed=np.random.default_rng(5))
    np.testing.assert_array_equal(clone(est).fit(data).transform(data.X), first)
    assert FACTORIES[name](seed=None).fit(data).transform(data.X).shape == expected.shape


BAD = [
    ("lr", -1.0, r"^lr must be a number > 0, got -1\.0"),
    ("batch_size", 0, r"^batch_size must be an int >= 1, got 0"),
    ("max_steps", 2.5, r"^max_steps must be an int >= 1, got 2\.5"),
    ("hidden", (4, 0), r"^hidden must be a sequence of positive ints, got \(4, 0\)"),
    ("seed", -1, r"^seed must be an int >= 0, a numpy\.random\.Generator or None, got -1"),
    ("device", "gpu", r"^device must be 'auto', 'cpu', 'cuda', 'cuda:N' or such a torch\.device, got 'gpu'"),
    ("n_threads", 0, r"^n_threads must be one of 'auto', an int >= 1 or None, got 0"),
    ("verbose", -1, r"^verbose must be True or False or an int >= 0, got -1"),
]


@pytest.mark.parametrize("name", sorted(set(FACTORIES) - {"LinearICA"}))
@pytest.mark.parametrize(("param", "value", "message"), BAD, ids=[row[0] for row in BAD])
def test_bad_shared_hyperparameters_are_named_at_fit(name, param, value, message, data):
    est = FACTORIES[name](**{param: value})  # stored as given, as scikit-learn asks
    with pytest.raises(ParameterError, match=message):
        est.fit(data)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LinearICA(latent_dim=0), r"^latent_dim must be an int >= 1, got 0"),
        (lambda: LinearICA(latent_dim=2, tol=0.0), r"^tol must be a number > 0, got 0\.0"),
        (lambda: BetaVAE(latent_dim=2, beta=-1), r"^beta must be a number > 0, got -1"),
        (lambda: IVAE(latent_dim=2, auxiliary="labels"), r"^auxiliary must be one of 'regime', 'actions'"),
        (lambda: InterventionalCRL(latent_dim=2, stage2="magic"), r"^stage2 must be one of 'auto', 'do'"),
        (lambda: InterventionalCRL(latent_dim=2, ioss_lambda=np.inf), r"^ioss_lambda must be a number >= 0"),
        (lambda: MultiEnvCRL(latent_dim=2, min_environments=1), r"^min_environments must be an int >= 2"),
        (lambda: CausalDiffAE(label_fraction=1.5), r"^label_fraction must be a number in \[0, 1\], got 1\.5"),
        (lambda: CausalDiffAE(graph="0->1"), r"^graph must be None, a networkx\.DiGraph, a dict, a list"),
        (lambda: Rep4Ex(latent_dim=2, kernel_bandwidth="wide"), r"^kernel_bandwidth must be one of 'local'"),
        (lambda: Rep4Ex(latent_dim=2, lam="heavy"), r"^lam must be one of 'deprecated' or a number >= 0"),
    ],
)
def test_bad_own_hyperparameters_are_named_at_fit(make, message, tiny_data):
    with pytest.raises(ParameterError, match=message):
        make().fit(tiny_data)


NUMERIC = ["max_iter", "tol", "latent_dim", "verbose"]


@given(param=st.sampled_from(NUMERIC), value=st.one_of(st.text(max_size=5), st.none(), st.complex_numbers()))
def test_any_non_number_for_a_number_is_named(param, value):
    """For every hyperparameter that takes numbers, whatever else is given is refused
    at fit, before the data are read, with its name."""
    with pytest.raises(ParameterError, match=f"^{param} must be "):
        LinearICA(**{"latent_dim": 2, param: value}).fit([[0.0]])
