"""Thread policy (``n_threads``) and the array form of ``fit``."""

import inspect

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import causalrep
from causalrep import Autoencoder, InterventionalCRL, LinearICA
from causalrep.estimators._core import threads
from causalrep.estimators._core.threads import WORK_PER_THREAD, resolve_threads, thread_scope

pytestmark = pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning")

CLASSES = [
    causalrep.InterventionalCRL,
    causalrep.Rep4Ex,
    causalrep.CausalDiffAE,
    causalrep.Autoencoder,
    causalrep.BetaVAE,
    causalrep.IVAE,
    causalrep.LinearICA,
]
TINY = {"max_steps": 20, "hidden": (8,), "restarts": 1, "verbose": 0}


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_estimator_takes_n_threads_auto(cls):
    assert inspect.signature(cls).parameters["n_threads"].default == "auto"


def test_auto_is_one_thread_for_small_networks_and_bounded_by_cores(monkeypatch):
    assert resolve_threads("auto", 0) == 1
    assert resolve_threads("auto", WORK_PER_THREAD - 1) == 1
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 16)
    assert resolve_threads("auto", 3 * WORK_PER_THREAD) == 3
    assert resolve_threads("auto", 100 * WORK_PER_THREAD) == 8
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # e.g. OMP_NUM_THREADS=2
    assert resolve_threads("auto", 100 * WORK_PER_THREAD) == 2
    assert resolve_threads(5) == 5
    assert resolve_threads(None) is None


@given(st.integers(0, 2**40))
def test_auto_never_exceeds_cores_or_torch_setting(work):
    threads_used = resolve_threads("auto", work)
    assert 1 <= threads_used <= min(threads.available_cores(), torch.get_num_threads())
    assert threads_used == 1 or work >= WORK_PER_THREAD


@pytest.mark.parametrize("bad", [0, -1, 1.5, "two", True])
def test_bad_n_threads_is_refused(bad, tiny_data):
    with pytest.raises(ValueError, match="n_threads must be"):
        resolve_threads(bad)
    with pytest.raises(ValueError, match="n_threads must be"):
        Autoencoder(latent_dim=2, n_threads=bad, **TINY).fit(tiny_data)


def test_scope_applies_and_restores(two_threads):
    with thread_scope(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), thread_scope(1):
        raise RuntimeError
    assert torch.get_num_threads() == 2
    with thread_scope(None):
        assert torch.get_num_threads() == 2


def test_fit_and_transform_run_under_the_policy_and_restore(two_threads, tiny_data):
    seen = []
    est = Autoencoder(latent_dim=2, **TINY)
    train = est._train
    est._train = lambda *a, **k: (seen.append(torch.get_num_threads()), train(*a, **k))[1]
    est.fit(tiny_data)
    assert seen == [1]
    assert torch.get_num_threads() == 2
    assert est.transform(tiny_data.X).shape == (tiny_data.n, 2)
    assert torch.get_num_threads() == 2
    est.set_params(n_threads=None, max_steps=1)  # None leaves torch's setting
    est.fit(tiny_data)
    assert seen == [1, 2]
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: InterventionalCRL(latent_dim=9, **TINY),  # latent_dim > dim_x fails in fit
        lambda: LinearICA(latent_dim=9),
    ],
    ids=["interventional", "linear_ica"],
)
def test_threads_restored_when_fit_fails(make, two_threads, tiny_data):
    with pytest.raises(ValueError, match="latent_dim=9 is larger than the observation dimension"):
        make().fit(tiny_data)
    assert torch.get_num_threads() == 2


def test_fit_takes_arrays_by_keyword(tiny_data):
    from_data = Autoencoder(latent_dim=2, **TINY).fit(tiny_data).transform(tiny_data.X)
    est = Autoencoder(latent_dim=2, **TINY).fit(
        np.asarray(tiny_data.X), regime=tiny_data.regime, targets=dict(tiny_data.targets)
    )
    np.testing.assert_allclose(est.transform(tiny_data.X), from_data)
    assert LinearICA(latent_dim=2).fit(tiny_data.X).transform(tiny_data.X).shape == (180, 2)


def test_fit_with_positional_regime_says_how_to_call_it(tiny_data):
    # y is scikit-learn's second argument: refused where it would be mistaken for the regimes ...
    with pytest.raises(TypeError, match=r"takes no y.*by keyword, fit\(X, regime=\.\.\., targets=\.\.\.\)"):
        InterventionalCRL(latent_dim=2, **TINY).fit(tiny_data.X, tiny_data.regime)
    # ... ignored where the estimator reads X alone
    ignored = Autoencoder(latent_dim=2, **TINY).fit(tiny_data.X, tiny_data.regime).transform(tiny_data.X)
    np.testing.assert_array_equal(ignored, Autoencoder(latent_dim=2, **TINY).fit(tiny_data.X).transform(tiny_data.X))
    with pytest.raises(TypeError, match="one or the other"):
        Autoencoder(latent_dim=2, **TINY).fit(tiny_data, regime=tiny_data.regime)
    with pytest.raises(TypeError, match=r"unexpected keyword\(s\) \['regimes'\]"):
        Autoencoder(latent_dim=2, **TINY).fit(tiny_data.X, regimes=tiny_data.regime)
    with pytest.raises(ValueError, match="targets is required"):
        Autoencoder(latent_dim=2, **TINY).fit(tiny_data.X, regime=tiny_data.regime)
    with pytest.raises(TypeError, match=r"fit\(X, regime=\.\.\., targets=\.\.\.\)"):
        Autoencoder(latent_dim=2, **TINY).fit({"X": tiny_data.X})
