"""The shared training loop: no host synchronisation inside an epoch, options."""

import math
import sys

import pytest
import torch

from causalrep import TrainingDivergedError
from causalrep.estimators._core import training
from causalrep.estimators._core.training import TrainConfig, train

# Every way a tensor's value reaches Python, which waits for the device.
_READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")


@pytest.fixture
def reads_in_loop(monkeypatch):
    """Count the value reads made by the code of training.py itself."""
    calls = []
    for name in _READS:
        original = getattr(torch.Tensor, name)

        def spy(self, *args, __original=original, __name=name, **kwargs):
            if sys._getframe(1).f_code.co_filename == training.__file__:
                calls.append((__name, sys._getframe(1).f_code.co_name))
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return calls


def _loss(module, x, y):
    return {"mse": ((module(x) - y) ** 2).mean(), "size": 1e-3 * module.weight.pow(2).sum()}


def _fit(n, batch_size, epochs=3, **config):
    torch.manual_seed(0)
    x = torch.randn(n, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    module = torch.nn.Linear(3, 1)
    config = TrainConfig(max_steps=10**6, max_epochs=epochs, batch_size=batch_size, lr=0.05, verbose=False, **config)
    return train(module, _loss, (x, y), config, 0, torch.device("cpu"))


def test_no_host_synchronisation_inside_an_epoch(reads_in_loop):
    history = _fit(110, batch_size=20)
    few = list(reads_in_loop)
    reads_in_loop.clear()
    many = _fit(1100, batch_size=20)
    assert history.steps == 3 * 4
    assert many.steps == 3 * 49
    # Reads happen at the end of each epoch only: as many for 49 steps an
    # epoch as for 4, and none from the step loop itself.
    assert len(reads_in_loop) == len(few) > 0
    assert {where for _, where in reads_in_loop} <= {
        "check",
        "_evaluate",
        "_raise_non_finite",
        "<dictcomp>",
        "<genexpr>",
    }


def test_history_means_match_the_steps():
    history = _fit(110, batch_size=20, epochs=2, val_fraction=0.0)
    assert set(history.terms) == {"mse", "size"}
    assert len(history.terms["mse"]) == 2
    assert history.terms["mse"][1] < history.terms["mse"][0]
    assert history.val == [a + b for a, b in zip(history.terms["mse"], history.terms["size"], strict=True)]


def test_divergence_is_found_at_the_end_of_the_epoch_and_named_exactly():
    calls = []

    def loss(module, x):
        calls.append(1)
        bad = torch.tensor(float("inf")) if len(calls) == 7 else torch.zeros(())
        return {"fit": module(x).pow(2).mean(), "penalty": bad}

    with pytest.raises(TrainingDivergedError, match=r"'penalty' became non-finite \(inf\) at epoch 1 \(step 6\)"):
        train(
            torch.nn.Linear(2, 1),
            loss,
            (torch.ones(50, 2),),
            TrainConfig(batch_size=10, val_fraction=0.0, verbose=False),
            0,
            torch.device("cpu"),
        )
    assert len(calls) == 10  # the epoch ran to its end before the one read


def test_an_error_after_a_divergence_reports_the_divergence():
    calls = []

    def loss(module, x):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("linalg failed on NaN parameters")
        return {"fit": module(x).mean() * (float("nan") if len(calls) == 2 else 1.0)}

    with pytest.raises(TrainingDivergedError, match=r"'fit' became non-finite .* \(step 1\)"):
        train(
            torch.nn.Linear(2, 1),
            loss,
            (torch.ones(50, 2),),
            TrainConfig(batch_size=10, val_fraction=0.0, verbose=False),
            0,
            torch.device("cpu"),
        )


def test_terms_must_keep_their_names():
    calls = []

    def loss(module, x):
        calls.append(1)
        return {"a" if len(calls) == 1 else "b": module(x).mean()}

    with pytest.raises(ValueError, match=r"returned the terms \['b'\] after \['a'\]"):
        train(
            torch.nn.Linear(2, 1),
            loss,
            (torch.ones(50, 2),),
            TrainConfig(batch_size=10, verbose=False),
            0,
            torch.device("cpu"),
        )


def test_mixed_precision_trains_and_bad_precision_is_named():
    full = _fit(200, batch_size=20, epochs=10, val_fraction=0.0)
    half = _fit(200, batch_size=20, epochs=10, val_fraction=0.0, precision="bfloat16")
    assert half.terms["mse"][-1] < 0.1 * half.terms["mse"][0]
    assert half.terms["mse"] != full.terms["mse"]
    with pytest.raises(ValueError, match=r"precision must be one of .* got 'half'"):
        _fit(200, batch_size=20, precision="half")


def test_compile_runs_the_loss_through_torch_compile(monkeypatch):
    compiled = []

    def fake_compile(fn):
        compiled.append(fn)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    assert _fit(100, batch_size=20, compile=True).steps > 0
    assert compiled == [_loss]


def test_divergence_names_the_term_the_epoch_and_the_step():
    calls = []

    def loss(module, x):
        calls.append(1)
        bad = torch.tensor(math.nan) if len(calls) == 6 else torch.zeros(())
        return {"fit": module(x).pow(2).mean(), "penalty": bad}

    with pytest.raises(
        TrainingDivergedError,
        match=r"^loss term 'penalty' became non-finite \(nan\) at epoch 1 "
        r"\(step 5\); lower the learning rate",
    ):
        train(
            torch.nn.Linear(2, 1),
            loss,
            (torch.ones(40, 2),),
            TrainConfig(batch_size=10, val_fraction=0.0, verbose=False),
            0,
            torch.device("cpu"),
        )


def test_full_batch_minimisation_solves_least_squares():
    """L-BFGS on a linear regression reaches the normal equations' solution."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 4, generator=generator, dtype=torch.float64)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64) + 0.1 * torch.randn(200, generator=generator)
    module = torch.nn.Linear(4, 1, bias=False).double()

    def loss_fn(m, x, y):
        return {"squared error": ((m(x)[:, 0] - y) ** 2).mean()}

    value = training.minimise_full_batch(module, loss_fn, (x, y), max_iter=100)
    solution = torch.linalg.lstsq(x, y[:, None]).solution[:, 0]
    torch.testing.assert_close(module.weight[0].detach(), solution, atol=1e-6, rtol=0)
    assert value == pytest.approx(float(((x @ solution - y) ** 2).mean()), rel=1e-9)


def test_full_batch_minimisation_reports_a_non_finite_objective_as_inf():
    module = torch.nn.Linear(2, 1)

    def loss_fn(m, x):
        return {"log of a negative": torch.log(-(m(x) ** 2).sum() - 1.0)}

    assert training.minimise_full_batch(module, loss_fn, (torch.ones(3, 2),), max_iter=5) == math.inf


def test_full_batch_minimisation_keeps_the_best_point_when_the_line_search_breaks(monkeypatch):
    """torch's strong Wolfe search can index an empty bracket on non-finite trials; the best point stands."""
    module = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(3.0)

    def broken_step(self, closure):
        closure()  # the objective at w = 3: 9
        with torch.no_grad():
            module.weight.fill_(1.0)
        closure()  # at w = 1: 1, the best
        with torch.no_grad():
            module.weight.fill_(2.0)
        raise IndexError("list index out of range")

    monkeypatch.setattr(torch.optim.LBFGS, "step", broken_step)

    def loss_fn(m, x):
        return {"square": (m(x) ** 2).sum()}

    value = training.minimise_full_batch(module, loss_fn, (torch.ones(1, 1),), max_iter=5)
    assert value == 1.0
    assert module.weight.item() == 1.0
