r"""Denoising diffusion pieces: the noise schedule, training times and targets, DDIM.

The forward process noises clean data :math:`x_0` to
:math:`x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon`; a network
predicts from :math:`x_t` and :math:`t` either the noise :math:`\epsilon` or the
velocity :math:`v = \sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1 - \bar\alpha_t}\,x_0`
(Salimans and Ho, 2022). The squared error of a noise prediction weighs the
error of the implied clean image by the signal-to-noise ratio
:math:`\bar\alpha_t / (1 - \bar\alpha_t)`, nearly zero at the noisy end of the
schedule, so such a network never learns to draw an image from noise; the
velocity's error weighs it by :math:`1 / (1 - \bar\alpha_t)`, at least 1. DDIM
(eta = 0) turns either prediction into a deterministic map between data and
noise, in either direction. Pure torch, no parameters: the estimators own the
networks.
"""

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "PREDICTIONS",
    "alpha_bars",
    "ddim",
    "ddim_times",
    "noise_from",
    "noised",
    "stratified_times",
    "target",
    "timestep_embedding",
]

#: What a denoising network may predict: the noise or the velocity.
PREDICTIONS = ("eps", "v")


def alpha_bars(steps: int) -> torch.Tensor:
    r"""Cumulative products :math:`\bar\alpha_t` (steps,) of the linear schedule,
    scaled to ``steps`` steps (Ho et al.'s 1e-4..0.02 over 1000)."""
    scale = 1000.0 / steps
    betas = torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), steps, dtype=torch.float64)
    return torch.cumprod(1 - betas, dim=0).float()


def stratified_times(
    n: int, steps: int, device: str | torch.device, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n diffusion steps in 0..steps-1, one in each of n equal strata of the
    range, shifted together by one uniform draw: every batch covers the whole
    schedule, which lowers the variance of the loss against independent draws."""
    offset = torch.rand((), device=device, generator=generator)
    times = (offset + torch.arange(n, device=device)) * (steps / n)
    return times.long().clamp_(max=steps - 1)


def noised(x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    r""":math:`x_t` for clean ``x`` (n, ...), steps ``t`` (n,) and ``noise`` like ``x``."""
    a = alpha_bar[t].view(-1, *([1] * (x.dim() - 1)))
    return a.sqrt() * x + (1 - a).sqrt() * noise


def target(
    x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor, prediction: str
) -> torch.Tensor:
    r"""Training target for clean ``x`` (n, ...), steps ``t`` (n,) and ``noise``
    like ``x``: the noise (``prediction="eps"``) or the velocity
    :math:`\sqrt{\bar\alpha_t}\,\epsilon - \sqrt{1 - \bar\alpha_t}\,x` (``"v"``)."""
    if prediction == "eps":
        return noise
    a = alpha_bar[t].view(-1, *([1] * (x.dim() - 1)))
    return a.sqrt() * noise - (1 - a).sqrt() * x


def noise_from(output: torch.Tensor, x_t: torch.Tensor, a: float, prediction: str) -> torch.Tensor:
    r"""The noise a network's ``output`` implies at :math:`x_t` (like ``output``),
    for one schedule value :math:`a = \bar\alpha_t` (a float):
    :math:`\epsilon = \sqrt{a}\,v + \sqrt{1 - a}\,x_t` for a velocity."""
    if prediction == "eps":
        return output
    return math.sqrt(a) * output + math.sqrt(1 - a) * x_t


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps (n,) -> (n, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
    return F.pad(emb, (0, dim - 2 * half))


def ddim_times(diffusion_steps: int, steps: int) -> list[int]:
    """``steps`` evenly spaced steps of 0..diffusion_steps-1, ascending, the
    last one the noisiest (fewer when steps > diffusion_steps)."""
    if steps == 1:
        return [diffusion_steps - 1]
    grid = torch.linspace(0, diffusion_steps - 1, min(steps, diffusion_steps), dtype=torch.float64)
    return torch.unique(grid.round().long()).tolist()


def ddim(
    eps: Callable[[torch.Tensor, int], torch.Tensor],
    x: torch.Tensor,
    alpha_bar: torch.Tensor,
    times: Sequence[int],
    invert: bool,
    refine: int = 0,
) -> torch.Tensor:
    r"""Deterministic DDIM (eta = 0) over ``times`` (ascending), either way.

    Sampling goes :math:`x_{\tau_i} \to x_{\tau_{i-1}}`; inversion runs the
    same updates backwards, with :math:`\bar\alpha_{\tau_{-1}} = 1` (the clean
    data), evaluating the noise at the start of each step and then ``refine``
    times at its current end: sampling evaluates it at the far end, so the
    fixed-point iterations make sampling retrace the inversion.

    Arguments:
        eps: ``eps(x, t) -> noise prediction`` like ``x``, for an int step t.
        x: (n, ...) the data (inversion) or the noise (sampling).
        alpha_bar: (T,) the schedule.
        times: Ascending steps, e.g. from :func:`ddim_times`.
        invert: True maps data to noise (inversion), False noise to data (sampling).
        refine: Number of extra noise evaluations per step at the step's end
            (fixed-point iterations; inversion only).

    Returns:
        Tensor like ``x``: the noise (inversion) or the data (sampling).
    """
    a = [1.0] + alpha_bar[torch.tensor(times)].tolist()
    order = range(len(times)) if invert else reversed(range(len(times)))
    for i in order:
        a_from, a_to = (a[i], a[i + 1]) if invert else (a[i + 1], a[i])
        step, evaluations = x, 1 + (refine if invert else 0)
        for _ in range(evaluations):
            noise = eps(step, times[i])
            x0 = (x - math.sqrt(1 - a_from) * noise) / math.sqrt(a_from)
            step = math.sqrt(a_to) * x0 + math.sqrt(1 - a_to) * noise
        x = step
    return x
