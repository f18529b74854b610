"""Devices: anything but CPUs and CUDA GPUs is refused by name, when fitting and when loading."""

import numpy as np
import pytest
import torch

import causalrep
from causalrep import LinearICA
from causalrep.estimators import Autoencoder
from causalrep.estimators._core.base import resolve_device


@pytest.mark.parametrize("device", ["meta", torch.device("meta"), "mps", "xla", "ipu"])
def test_unsupported_device_types_are_refused_by_name(device):
    """device="meta" used to end in torch's NotImplementedError ('Cannot copy out of meta
    tensor'), "mps" in a RuntimeError from deep inside torch."""
    with pytest.raises(ValueError, match=r"^device must be 'auto', 'cpu', 'cuda'"):
        resolve_device(device)
    X = np.random.default_rng(0).normal(size=(30, 3))
    with pytest.raises(ValueError, match=r"^device must be 'auto', 'cpu', 'cuda'"):
        Autoencoder(latent_dim=1, device=device, max_steps=2).fit(X)


def test_loading_onto_an_unsupported_device_is_refused_by_name(tmp_path):
    X = np.random.default_rng(0).normal(size=(30, 3))
    LinearICA(latent_dim=2).fit(X).save(tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"not on 'meta' devices"):
        causalrep.load(tmp_path / "m.pt", device="meta")
    assert causalrep.load(tmp_path / "m.pt", device="cpu").transform(X).shape == (30, 2)
