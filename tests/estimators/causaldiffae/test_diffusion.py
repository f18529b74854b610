"""The diffusion schedule, training times and targets, and DDIM (causalrep.estimators.causaldiffae._diffusion)."""

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrep.estimators.causaldiffae._diffusion import (
    alpha_bars,
    ddim,
    ddim_times,
    noise_from,
    noised,
    stratified_times,
    target,
    timestep_embedding,
)


def test_schedule_falls_from_one_to_almost_pure_noise():
    a = alpha_bars(1000)
    assert a.shape == (1000,)
    assert torch.all(a[1:] < a[:-1])
    assert 0.999 < a[0] < 1
    assert a[-1] < 1e-4
    # Fewer steps, the same path: T = 100 ends where T = 1000 does.
    assert math.isclose(float(alpha_bars(100)[-1]), float(a[-1]), rel_tol=0.5)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 300), steps=st.integers(1, 2000), seed=st.integers(0, 2**31 - 1))
def test_stratified_times_put_one_time_in_each_stratum(n, steps, seed):
    t = stratified_times(n, steps, "cpu", torch.Generator().manual_seed(seed))
    assert t.shape == (n,)
    assert t.min() >= 0
    assert t.max() <= steps - 1
    strata = torch.arange(n) * steps / n
    assert torch.all(t >= strata.floor())
    assert torch.all(t <= strata + steps / n)


@given(total=st.integers(1, 2000), steps=st.integers(1, 100))
def test_ddim_times_ascend_over_the_whole_schedule(total, steps):
    times = ddim_times(total, steps)
    assert times == sorted(set(times))
    assert times[-1] == total - 1
    assert times[0] == 0 or steps == 1
    assert len(times) <= min(steps, total)


def test_noised_interpolates_data_and_noise():
    a = alpha_bars(50)
    x, noise = torch.ones(3, 2), torch.zeros(3, 2)
    t = torch.tensor([0, 10, 49])
    torch.testing.assert_close(noised(x, t, noise, a), a[t].sqrt()[:, None].expand(3, 2))


def test_embedding_shape_with_odd_width():
    emb = timestep_embedding(torch.tensor([0, 5, 999]), 7)
    assert emb.shape == (3, 7)
    assert torch.all(emb[:, -1] == 0)


def test_inversion_with_refinement_is_retraced_by_sampling():
    torch.manual_seed(0)
    weight = 0.2 * torch.randn(4, 4)

    def eps(x, t):
        return torch.tanh(x @ weight + t / 100)

    x = torch.randn(8, 4)
    times, a = ddim_times(100, 20), alpha_bars(100)
    errors = []
    for refine in (0, 5):
        noise = ddim(eps, x, a, times, invert=True, refine=refine)
        errors.append(float((ddim(eps, noise, a, times, invert=False) - x).abs().max()))
    assert errors[1] < 1e-3
    assert errors[0] > 1


@settings(max_examples=50, deadline=None)
@given(t=st.integers(0, 999), seed=st.integers(0, 2**31 - 1), prediction=st.sampled_from(["eps", "v"]))
def test_a_perfect_prediction_gives_back_the_noise_and_the_data(t, seed, prediction):
    # Whatever the step, the target of either kind converts back to the noise,
    # and DDIM's clean-data estimate from that noise is the data.
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, 4, 4, generator=generator, dtype=torch.float64) * 2 - 1
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    schedule = alpha_bars(1000).double()
    steps = torch.full((3,), t)
    x_t = noised(x, steps, noise, schedule)
    a = float(schedule[t])
    eps = noise_from(target(x, steps, noise, schedule, prediction), x_t, a, prediction)
    torch.testing.assert_close(eps, noise)
    torch.testing.assert_close((x_t - math.sqrt(1 - a) * eps) / math.sqrt(a), x, rtol=0, atol=1e-6)


def test_velocity_weighs_the_noisy_end_where_noise_prediction_does_not():
    # The same error of the clean-image estimate costs a noise predictor
    # SNR times as much and a velocity predictor 1 / (1 - alpha_bar) times.
    schedule = alpha_bars(1000).double()
    x = torch.zeros(2, 8, dtype=torch.float64)
    noise = torch.ones(2, 8, dtype=torch.float64)
    for t in (10, 500, 999):
        steps = torch.full((2,), t)
        a = float(schedule[t])
        x_t = noised(x, steps, noise, schedule)
        wrong = x + 0.1
        # The prediction of each kind that implies the clean estimate ``wrong``.
        eps_wrong = (x_t - math.sqrt(a) * wrong) / math.sqrt(1 - a)
        v_wrong = (math.sqrt(a) * x_t - wrong) / math.sqrt(1 - a)
        eps_cost = ((eps_wrong - target(x, steps, noise, schedule, "eps")) ** 2).mean()
        v_cost = ((v_wrong - target(x, steps, noise, schedule, "v")) ** 2).mean()
        assert math.isclose(eps_cost, 0.01 * a / (1 - a), rel_tol=1e-9)
        assert math.isclose(v_cost, 0.01 / (1 - a), rel_tol=1e-9)
    assert v_cost >= 0.01 > 1e-4 > eps_cost
