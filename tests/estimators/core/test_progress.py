"""Progress: a bar in terminals and notebooks, log lines elsewhere."""

import logging
import sys

import pytest
from tqdm.auto import tqdm

from causalrep import Autoencoder
from causalrep.estimators._core import progress as progress_module
from causalrep.estimators._core.progress import LogProgress, progress


def test_log_lines_when_stderr_is_not_a_terminal(caplog, tiny_data):
    assert not sys.stderr.isatty()
    with caplog.at_level(logging.INFO, logger="causalrep"):
        Autoencoder(latent_dim=2, max_steps=30, hidden=(8,), verbose=1).fit(tiny_data)
    lines = [r.getMessage() for r in caplog.records if r.name == "causalrep"]
    assert lines[0].startswith("Autoencoder: training up to ")
    assert "steps" in lines[0]
    assert lines[-1].startswith("Autoencoder: done after ")
    assert "loss " in lines[-1]
    assert " s" in lines[-1]


def test_verbose_0_is_silent(caplog, tiny_data):
    with caplog.at_level(logging.INFO, logger="causalrep"):
        Autoencoder(latent_dim=2, max_steps=30, hidden=(8,), verbose=0).fit(tiny_data)
    assert not [r for r in caplog.records if r.name == "causalrep"]


def test_lines_every_tenth_of_the_epochs_with_the_loss(caplog):
    bar = LogProgress(range(50), "Model", steps_per_epoch=4, min_seconds=0.0)
    with caplog.at_level(logging.INFO, logger="causalrep"):
        for epoch in bar:
            bar.set_postfix(loss=f"{1 / (epoch + 1):.3g}")
        bar.close()
        bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "Model: training up to 50 epochs x 4 steps (200 steps)"
    assert len(lines) == 1 + 9 + 1  # start, epochs 5, 10, ..., 45, done
    assert lines[1].startswith("Model: epoch 5/50, step 20, loss 0.2, ")
    assert lines[-1].startswith("Model: done after 50/50 epochs (200 steps), loss 0.02, ")


def test_time_gate_limits_lines_on_fast_runs(caplog):
    bar = LogProgress(range(100), "Model", min_seconds=3600.0, max_seconds=7200.0)
    with caplog.at_level(logging.INFO, logger="causalrep"):
        for _ in bar:
            pass
        bar.close()
    assert len(caplog.records) == 2


@pytest.mark.parametrize(
    ("tty", "notebook", "kind"), [(True, False, "bar"), (False, True, "bar"), (False, False, "log")]
)
def test_bar_in_terminal_and_notebook(monkeypatch, tty, notebook, kind):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty, raising=False)
    monkeypatch.setattr(progress_module, "in_notebook", lambda: notebook)
    shown = progress(range(3), "Model")
    assert isinstance(shown, tqdm if kind == "bar" else LogProgress)
    if kind == "bar":
        assert not shown.disable
    shown.close()
    assert progress(range(3), "Model", verbose=False).disable
