"""The networks of the diffusion autoencoder: Gaussian encoders of vectors and
images, and the conditional denoiser with its MLP or UNet backbone.

The large networks are Pyro modules at their top level and keep plain ``nn``
blocks inside, each read once per call (a Pyro module announces the parameters
of a plain ``nn`` child to Pyro's handlers each time it reads that child).
"""

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from .._core.nets import MLP, ConvNet
from ._diffusion import timestep_embedding

__all__ = ["ConditionalDenoiser", "ConvEncoder", "UNet", "VectorDenoiser", "VectorEncoder", "patch_size"]


#: Range of the log standard deviations an encoder may output.
LOG_SCALE_RANGE = (-7.0, 2.0)
# Smallest side of the grid a UNet runs on after space-to-depth.
_MIN_GRID = 8


class VectorEncoder(PyroModule):
    """Mean and log-scale of a diagonal Gaussian q(u | x), from an MLP with a skip path.

    Shapes:
        (n, dim_x) -> two (n, d)
    """

    def __init__(self, dim_x: int, d: int, hidden: Sequence[int]):
        super().__init__()
        self.net = MLP(dim_x, 2 * d, tuple(hidden), skip=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_scale = self.net(x).chunk(2, dim=1)
        return mu, log_scale.clamp(*LOG_SCALE_RANGE)


class ConvEncoder(ConvNet):
    """Mean and log-scale of q(u | x) for images: a :class:`~causalrep.estimators._core.nets.ConvNet`
    with 2d outputs. Its state dict keeps the names ``features.*`` and ``head.*``.

    Shapes:
        (n, C*H*W) or (n, C, H, W) -> two (n, d)
    """

    def __init__(self, image_shape: Sequence[int], d: int, channels: int):
        super().__init__(image_shape, 2 * d, channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_scale = super().forward(x).chunk(2, dim=1)
        return mu, log_scale.clamp(*LOG_SCALE_RANGE)


class ConditionalDenoiser(PyroModule):
    r"""Noise prediction :math:`\epsilon(x_t, t, z)`: time and condition embeddings
    added and handed to a backbone (:class:`UNet` or :class:`VectorDenoiser`).

    ``keep`` (n,) in {0, 1} selects the condition (1) or a learned null
    embedding (0), for classifier-free guidance.

    Shapes:
        x (n, ...), t (n,) int, z (n, d), keep (n,) -> (n, ...) like x
    """

    def __init__(self, backbone: nn.Module, d: int, emb_dim: int):
        super().__init__()
        self.emb_dim = emb_dim
        self.time = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.condition = nn.Sequential(nn.Linear(d, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.null = nn.Parameter(torch.zeros(emb_dim))
        self.backbone = backbone

    def forward(self, x: torch.Tensor, t: torch.Tensor, z: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        keep = keep[:, None]
        cond = keep * self.condition(z) + (1 - keep) * self.null
        return self.backbone(x, self.time(timestep_embedding(t, self.emb_dim)) + cond)


class VectorDenoiser(nn.Module):
    """MLP on [x_t, SiLU(embedding)].

    Shapes:
        (n, dim_x), (n, emb) -> (n, dim_x)
    """

    def __init__(self, dim_x: int, emb_dim: int, hidden: Sequence[int]):
        super().__init__()
        self.net = MLP(dim_x + emb_dim, dim_x, tuple(hidden))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, F.silu(emb)], dim=1))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the embedding as a per-channel scale and shift.

    Shapes:
        (n, cin, H, W), (n, emb) -> (n, cout, H, W)
    """

    def __init__(self, cin: int, cout: int, emb_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return h + self.skip(x)


class UNet(nn.Module):
    """A small UNet: one residual block per resolution, up to two 2x downsamplings,
    on pixel patches turned into channels (see :func:`patch_size`).

    Arguments:
        image_shape: (C, H, W).
        channels: Width of the first resolution; the others have twice as many.
        emb_dim: Width of the embedding each block is conditioned on.

    Shapes:
        (n, C, H, W), (n, emb_dim) -> (n, C, H, W)
    """

    def __init__(self, image_shape: Sequence[int], channels: int, emb_dim: int):
        super().__init__()
        c_in, height, width = image_shape
        self.patch = patch_size(height, width)
        c_in, height, width = c_in * self.patch**2, height // self.patch, width // self.patch
        levels = 0
        while levels < 2 and height % 2 ** (levels + 1) == 0 and width % 2 ** (levels + 1) == 0:
            levels += 1
        widths = [channels * m for m in (1, 2, 2)][: levels + 1]
        self.levels = levels
        self.inp = nn.Conv2d(c_in, widths[0], 3, padding=1)
        self.down = nn.ModuleList(ResBlock(widths[max(i - 1, 0)], widths[i], emb_dim) for i in range(levels + 1))
        self.mid = ResBlock(widths[-1], widths[-1], emb_dim)
        self.up = nn.ModuleList(
            ResBlock(widths[min(i + 1, levels)] + widths[i], widths[i], emb_dim) for i in range(levels + 1)
        )
        self.out = nn.Sequential(
            nn.GroupNorm(_groups(widths[0]), widths[0]), nn.SiLU(), nn.Conv2d(widths[0], c_in, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.patch > 1:
            x = F.pixel_unshuffle(x, self.patch)
        h, skips = self.inp(x), []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < self.levels:
                h = F.avg_pool2d(h, 2)
        h = self.mid(h, emb)
        for i in reversed(range(self.levels + 1)):
            if i < self.levels:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = self.up[i](torch.cat([h, skips[i]], dim=1), emb)
        h = self.out(h)
        return F.pixel_shuffle(h, self.patch) if self.patch > 1 else h


def patch_size(height: int, width: int) -> int:
    """Side of the pixel patches that become channels (space-to-depth) before
    a UNet: the largest of 4, 2, 1 that divides the image and leaves a grid of
    at least 8 cells a side. A patch of side p cuts the convolution cost p^2
    times at the same widths, and loses no detail."""
    for p in (4, 2):
        if height % p == 0 and width % p == 0 and min(height, width) // p >= _MIN_GRID:
            return p
    return 1


def _groups(channels):
    return 8 if channels % 8 == 0 else 1
