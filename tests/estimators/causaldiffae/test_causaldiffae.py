import json

import networkx as nx
import numpy as np
import pytest
import torch

import causalrep
from causalrep import CausalDiffAE, InterventionalData
from causalrep.estimators._core.nets import ConvNet
from causalrep.estimators.causaldiffae._nets import ConvEncoder
from simulators import pendulum

ANGLE, LIGHT, LENGTH, POSITION = range(4)
TINY = dict(channels=8, hidden=(16,), diffusion_steps=100, max_steps=20, batch_size=32, verbose=0, device="cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Networks this small gain nothing from threads, and spinning threads cost
    # a lot when the cores are shared.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scenes():
    return pendulum(200, size=16, seed=0)


@pytest.fixture(scope="module")
def fitted(scenes):
    return CausalDiffAE(**TINY).fit(scenes)


def test_fit_reads_graph_labels_and_image_shape(fitted, scenes):
    assert fitted.dims_ == {
        "dim_x": 256,
        "latent_dim": 4,
        "image_shape": [1, 16, 16],
        "edges": [[0, 2], [0, 3], [1, 2], [1, 3]],
        "channels": 8,
    }
    assert fitted.variables_ == ["angle", "light", "shadow_length", "shadow_position"]
    np.testing.assert_allclose(fitted.arrays_["label_mean"], scenes.Z.mean(0))
    assert set(fitted.history_["terms"]) == {"diffusion", "elbo"}
    assert not fitted.guidance_


def test_shapes(fitted, scenes):
    X = scenes.X[:5]
    assert fitted.transform(X).shape == (5, 4)
    assert fitted.intervene(X, {"angle": 10.0}).shape == (5, 4)
    assert fitted.invert(X, steps=5).shape == (5, 256)
    assert fitted.counterfactual(X, {0: 10.0}, steps=5).shape == (5, 256)
    samples, z = fitted.sample(3, steps=5)
    assert samples.shape == (3, 256)
    assert z.shape == (3, 4)
    assert samples.min() >= 0
    assert samples.max() <= 1


def test_do_on_a_root_moves_its_descendants_only(fitted, scenes):
    z = fitted.transform(scenes.X[:20])
    values = np.linspace(-40, 40, 20)
    z_cf = fitted.intervene(scenes.X[:20], {"angle": values})
    np.testing.assert_allclose(z_cf[:, ANGLE], values, rtol=1e-5)
    np.testing.assert_array_equal(z_cf[:, LIGHT], z[:, LIGHT])
    assert np.all(np.abs(z_cf[:, [LENGTH, POSITION]] - z[:, [LENGTH, POSITION]]).sum(1) > 0)


def test_do_on_a_leaf_leaves_everything_else(fitted, scenes):
    z = fitted.transform(scenes.X[:20])
    z_cf = fitted.intervene(scenes.X[:20], {LENGTH: 0.2})
    np.testing.assert_array_equal(z_cf[:, [ANGLE, LIGHT, POSITION]], z[:, [ANGLE, LIGHT, POSITION]])
    np.testing.assert_allclose(z_cf[:, LENGTH], 0.2, rtol=1e-5)


def test_empty_intervention_gives_the_encoded_latents(fitted, scenes):
    np.testing.assert_allclose(
        fitted.intervene(scenes.X[:10], {}), fitted.transform(scenes.X[:10]), rtol=1e-6, atol=1e-6
    )


def test_ddim_inversion_then_sampling_reproduces_the_input(fitted, scenes):
    X = scenes.X[:16]
    # The fixed point converges more slowly for this barely trained network
    # on 2 x 2 patches than for a trained one (a fitted 16 x 16 model
    # reconstructs to MSE 6e-5 with refine=2): six iterations.
    x_T = fitted.invert(X, steps=20, refine=6)
    again = fitted.decode(x_T, fitted.transform(X), steps=20)
    error = ((again - X) ** 2).mean()
    spread = ((X - X[::-1]) ** 2).mean()
    assert error < 0.05 * spread, (error, spread)


def test_counterfactual_is_deterministic(fitted, scenes):
    first = fitted.counterfactual(scenes.X[:4], {"light": 0.3}, steps=5)
    np.testing.assert_array_equal(first, fitted.counterfactual(scenes.X[:4], {"light": 0.3}, steps=5))


def test_save_load_round_trip(fitted, scenes, tmp_path):
    fitted.save(tmp_path / "model.pt")
    back = causalrep.load(tmp_path / "model.pt", device="cpu")
    assert back._json_params() == fitted._json_params()
    assert back.variables_ == fitted.variables_
    assert back.dims_ == fitted.dims_
    np.testing.assert_array_equal(back.transform(scenes.X[:8]), fitted.transform(scenes.X[:8]))
    np.testing.assert_array_equal(
        back.counterfactual(scenes.X[:4], {0: 20.0}, steps=5), fitted.counterfactual(scenes.X[:4], {0: 20.0}, steps=5)
    )


def test_graph_parameter_is_kept_as_given_and_written_as_json(scenes):
    est = CausalDiffAE(graph=scenes.graph)
    assert est.get_params()["graph"] is scenes.graph
    params = est._json_params()
    assert params["graph"] == {"nodes": [0, 1, 2, 3], "edges": [[0, 2], [0, 3], [1, 2], [1, 3]]}
    assert json.loads(json.dumps(params))["graph"] == params["graph"]
    assert CausalDiffAE(**params)._json_params() == params
    assert CausalDiffAE(graph=[(0, 1)], latent_dim=3)._json_params()["graph"]["nodes"] == [0, 1, 2]


def test_explicit_empty_graph_is_the_baseline_without_causal_layer(scenes):
    est = CausalDiffAE(graph=nx.empty_graph(4, create_using=nx.DiGraph), **{**TINY, "max_steps": 5}).fit(scenes)
    assert est.dims_["edges"] == []
    z = est.transform(scenes.X[:10])
    z_cf = est.intervene(scenes.X[:10], {"angle": 30.0})
    np.testing.assert_array_equal(z_cf[:, 1:], z[:, 1:])


def test_weak_supervision_enables_guidance(scenes):
    est = CausalDiffAE(label_fraction=0.5, **TINY).fit(scenes)
    assert est.guidance_
    plain = est.counterfactual(scenes.X[:4], {"angle": 30.0}, steps=5)
    strong = est.counterfactual(scenes.X[:4], {"angle": 30.0}, steps=5, strength=3.0)
    assert plain.shape == strong.shape
    assert not np.allclose(plain, strong)


def test_guidance_needs_condition_dropout(fitted, scenes):
    with pytest.raises(ValueError, match="strength != 1 needs classifier-free guidance"):
        fitted.counterfactual(scenes.X[:2], {0: 1.0}, strength=2.0)


def test_bad_do_requests_are_named(fitted, scenes):
    with pytest.raises(ValueError, match="unknown do node 7"):
        fitted.counterfactual(scenes.X[:2], {7: 1.0})
    with pytest.raises(ValueError, match="unknown do node 'mass'"):
        fitted.intervene(scenes.X[:2], {"mass": 1.0})
    with pytest.raises(ValueError, match=r"must be a number or have shape \(2,\)"):
        fitted.intervene(scenes.X[:2], {0: np.ones(3)})
    with pytest.raises(TypeError, match="do must be a dict"):
        fitted.intervene(scenes.X[:2], [(0, 1.0)])


def test_graph_with_a_cycle_is_refused(scenes):
    with pytest.raises(ValueError, match="graph has a cycle"):
        CausalDiffAE(graph=[(0, 2), (2, 0)], **TINY).fit(scenes)


def test_latent_dim_must_match_graph_and_labels(scenes):
    with pytest.raises(ValueError, match="latent_dim=3 does not match the graph, which has 4"):
        CausalDiffAE(latent_dim=3, **TINY).fit(scenes)
    no_graph = InterventionalData(X=scenes.X, Z=scenes.Z, meta=scenes.meta)
    with pytest.raises(ValueError, match="data.Z has 4 columns but there are 3 latents"):
        CausalDiffAE(latent_dim=3, **TINY).fit(no_graph)


def test_other_bad_inputs(scenes):
    with pytest.raises(ValueError, match=r"label_fraction must be a number in \[0, 1\], got 1.5"):
        CausalDiffAE(label_fraction=1.5, **TINY).fit(scenes)
    wrong_shape = InterventionalData(X=scenes.X, Z=scenes.Z, graph=scenes.graph, meta={"image_shape": [1, 8, 8]})
    with pytest.raises(ValueError, match="does not match dim_x=256"):
        CausalDiffAE(**TINY).fit(wrong_shape)
    bare = InterventionalData(X=scenes.X)
    with pytest.raises(ValueError, match="needs latent_dim, a graph or data.Z"):
        CausalDiffAE(**TINY).fit(bare)


def test_without_labels_the_latents_still_follow_the_graph(scenes):
    unlabeled = InterventionalData(X=scenes.X, graph=scenes.graph, meta=scenes.meta)
    est = CausalDiffAE(**{**TINY, "max_steps": 5}).fit(unlabeled)
    np.testing.assert_array_equal(est.arrays_["label_std"], np.ones(4))
    assert est.transform(scenes.X[:3]).shape == (3, 4)


def test_fit_leaves_global_rng_and_pyro_param_store_alone(scenes):
    import pyro

    before = set(pyro.get_param_store().keys())
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    CausalDiffAE(**{**TINY, "max_steps": 4}).fit(scenes)
    assert torch.equal(torch.rand(2), expected)
    assert set(pyro.get_param_store().keys()) == before


def test_loss_reads_nothing_from_the_device(scenes, monkeypatch):
    # Any value read to the host inside the loss (a float(), an .item(), a
    # Python branch on a tensor, boolean-mask indexing) would make a GPU wait
    # at every step: count them while the loss runs, wherever they happen
    # (the estimator, its networks, the diffusion helpers, Pyro).
    inside, reads = [False], []
    loss = CausalDiffAE._loss

    def watched(self, *args, **kwargs):
        inside[0] = True
        try:
            return loss(self, *args, **kwargs)
        finally:
            inside[0] = False

    monkeypatch.setattr(CausalDiffAE, "_loss", watched)
    for name in ("item", "tolist", "cpu", "numpy", "nonzero", "__float__", "__int__", "__bool__", "__index__"):
        original = getattr(torch.Tensor, name)

        def spy(self, *args, __original=original, __name=name, **kwargs):
            if inside[0]:
                reads.append(__name)
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    getitem = torch.Tensor.__getitem__

    def index_spy(self, index):
        parts = index if isinstance(index, tuple) else (index,)
        if inside[0] and any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in parts):
            reads.append("boolean mask")
        return getitem(self, index)

    monkeypatch.setattr(torch.Tensor, "__getitem__", index_spy)
    est = CausalDiffAE(**{**TINY, "max_steps": 3, "label_fraction": 0.5}).fit(scenes)
    assert est.history_["steps"] >= 3
    assert reads == []


def test_the_read_counter_sees_a_read_in_the_loss(scenes, monkeypatch):
    # The counter above must be able to fail: a loss that reads a value is caught.
    loss = CausalDiffAE._loss

    def reading(self, *args, **kwargs):
        terms = loss(self, *args, **kwargs)
        if terms["diffusion"] > 1e9:
            raise AssertionError("unreachable")
        return terms

    monkeypatch.setattr(CausalDiffAE, "_loss", reading)
    with pytest.raises(AssertionError, match="boolean mask|__bool__"):
        test_loss_reads_nothing_from_the_device(scenes, monkeypatch)


def test_negative_elbo_is_pyro_trace_elbo(fitted, scenes):
    import pyro
    from pyro.infer import Trace_ELBO

    from causalrep.estimators._core.base import local_params
    from causalrep.estimators.causaldiffae._estimator import _guide, _model, _negative_elbo

    x = fitted._shaped(fitted.modules_["scaler"](torch.tensor(scenes.X[:16])))
    mu, log_scale = fitted.modules_["encoder"](x)
    labels = torch.tensor((scenes.Z[:16] - scenes.Z.mean(0)) / scenes.Z.std(0), dtype=torch.float32)
    labeled = torch.arange(16) % 3 > 0
    args = (fitted.modules_["causal"], mu, log_scale, labels, labeled, 0.1)
    with local_params(), pyro.validation_enabled(False):
        torch.manual_seed(3)
        ours = _negative_elbo(*args)
        torch.manual_seed(3)
        theirs = Trace_ELBO().differentiable_loss(_model, _guide, *args)
    torch.testing.assert_close(ours, theirs)
    grad = torch.autograd.grad(ours, mu, retain_graph=True)[0]
    torch.testing.assert_close(grad, torch.autograd.grad(theirs, mu)[0])


def test_prediction_is_checked_and_kept(scenes):
    with pytest.raises(ValueError, match="prediction must be one of 'eps', 'v', got 'x0'"):
        CausalDiffAE(prediction="x0", **TINY).fit(scenes)
    est = CausalDiffAE(prediction="eps", **{**TINY, "max_steps": 3}).fit(scenes)
    assert est.prediction_ == "eps"


def test_checkpoint_from_before_prediction_and_width_were_recorded(scenes, tmp_path):
    # Older files hold a noise predictor, an int ``channels`` and no
    # ``prediction_`` or ``dims_["channels"]``: they load as what they are.
    est = CausalDiffAE(prediction="eps", **{**TINY, "max_steps": 3}).fit(scenes)
    est.save(tmp_path / "new.pt")
    payload = torch.load(tmp_path / "new.pt", weights_only=True)
    fitted, dims = json.loads(payload["fitted"]), json.loads(payload["dims"])
    del fitted["prediction_"], dims["channels"], payload["sha256"]
    payload["fitted"], payload["dims"] = json.dumps(fitted), json.dumps(dims)
    params = json.loads(payload["params"])
    del params["prediction"]
    payload["params"] = json.dumps(params)
    torch.save(payload, tmp_path / "old.pt")
    old = causalrep.load(tmp_path / "old.pt", device="cpu", allow_legacy=True)
    assert old._prediction() == "eps"
    assert not hasattr(old, "prediction_")
    np.testing.assert_array_equal(
        old.counterfactual(scenes.X[:3], {0: 5.0}, steps=4), est.counterfactual(scenes.X[:3], {0: 5.0}, steps=4)
    )


def test_image_encoder_keeps_its_parameter_names(fitted):
    """The encoder is the shared ConvNet with 2d outputs; checkpoints written before that still load."""
    encoder = fitted.modules_["encoder"]
    assert isinstance(encoder, ConvEncoder)
    assert isinstance(encoder, ConvNet)
    assert [(key, tuple(value.shape)) for key, value in ConvEncoder((1, 16, 16), 4, 8).state_dict().items()] == [
        ("features.0.weight", (8, 1, 4, 4)),
        ("features.0.bias", (8,)),
        ("features.2.weight", (16, 8, 4, 4)),
        ("features.2.bias", (16,)),
        ("features.4.weight", (16, 16, 3, 3)),
        ("features.4.bias", (16,)),
        ("head.0.weight", (32, 256)),
        ("head.0.bias", (32,)),
        ("head.2.weight", (8, 32)),
        ("head.2.bias", (8,)),
    ]
