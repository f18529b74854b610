"""Network building blocks, as Pyro modules so users can put priors on them.

``pyro.nn.PyroModule`` is an ``nn.Module``: deterministic estimators train
these with plain gradient descent, probabilistic ones lift their parameters
to random variables without rewriting the network.

Two families: the autoencoder pieces (MLPs, polynomial features and decoder,
the standardiser) and the networks of the diffusion autoencoder (Gaussian
encoders of vectors and images, and the conditional denoiser with its MLP or
UNet backbone). A Pyro module announces the parameters of a plain ``nn``
child to Pyro's handlers each time it reads that child inside its own call,
which costs Python time per parameter: the large networks are Pyro modules
at their top level and keep plain ``nn`` blocks inside, each read once per
call.
"""

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from pyro.nn import PyroModule
from torch import nn

from ..validation import column_stats
from .diffusion import timestep_embedding

__all__ = ["MLP", "ConditionalDenoiser", "ConvEncoder", "PolynomialDecoder", "PolynomialFeatures",
           "Standardizer", "UNet", "VectorDenoiser", "VectorEncoder", "autoencoder",
           "reconstruction_loss"]


class MLP(PyroModule):
    """Fully connected network with LeakyReLU activations.

    Arguments:
        in_dim: Input dimension.
        out_dim: Output dimension.
        hidden: Widths of the hidden layers, e.g. (256, 256).
        slope: Negative slope of the LeakyReLU.
        skip: Add a linear path from input to output. Encoders use it: when
            the observations are a full-rank lift of monomials of the latents,
            the latents are a linear function of them, and the skip makes that
            solution easy to reach (fewer restarts end in a folded basin).

    Shapes:
        (n, in_dim) -> (n, out_dim)
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (256, 256), slope: float = 0.2,
                 skip: bool = False):
        super().__init__()
        self.skip = nn.Linear(in_dim, out_dim, bias=False) if skip else None
        widths = [in_dim, *hidden, out_dim]
        layers = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.LeakyReLU(slope))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out if self.skip is None else out + self.skip(x)


class PolynomialFeatures(PyroModule):
    r"""All monomials of the inputs up to a degree, constant term included.

    The Kronecker basis :math:`[1, z, z \otimes z, \dots]` with repeated
    monomials removed: ``C(d + degree, degree)`` features in total, computed
    with one gather and product per degree (no loop over samples).

    Shapes:
        (n, d) -> (n, C(d + degree, degree))
    """

    def __init__(self, in_dim: int, degree: int):
        super().__init__()
        self.in_dim, self.degree = in_dim, degree
        for k in range(1, degree + 1):
            index = list(itertools.combinations_with_replacement(range(in_dim), k))
            self.register_buffer(f"index{k}", torch.tensor(index, dtype=torch.long))

    @property
    def out_dim(self) -> int:
        return sum(getattr(self, f"index{k}").shape[0] for k in range(1, self.degree + 1)) + 1

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        parts = [torch.ones_like(z[:, :1])]
        for k in range(1, self.degree + 1):
            parts.append(z[:, getattr(self, f"index{k}")].prod(dim=-1))
        return torch.cat(parts, dim=1)


class PolynomialDecoder(PyroModule):
    """One linear layer on the monomials of the latents (Ahuja et al., 2023).

    With this decoder an autoencoder that reconstructs polynomially mixed data
    recovers the latents up to an affine map.

    Shapes:
        (n, latent_dim) -> (n, out_dim)
    """

    def __init__(self, latent_dim: int, out_dim: int, degree: int = 2):
        super().__init__()
        self.features = PolynomialFeatures(latent_dim, degree)
        self.linear = nn.Linear(self.features.out_dim, out_dim, bias=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(self.features(z))


class Standardizer(PyroModule):
    """Per-feature affine standardisation fitted once, computed in float64.

    Mean and scale are float64 buffers and the map runs in float64; only the
    standardised values are cast to float32 for the networks. So an offset or
    a scale far outside float32 (1e9 plus unit noise, 1e-200, 1e300) loses
    nothing, provided the inputs reach it in float64. Features with zero
    spread are left unscaled rather than divided by zero.

    Shapes:
        forward: (n, dim) any float dtype -> (n, dim) float32;
        inverse: (n, dim) -> (n, dim) float64.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(dim, dtype=torch.float64))

    def fit(self, x: torch.Tensor) -> "Standardizer":
        """Set mean and scale (sample standard deviation) from ``x`` (n, dim); returns self."""
        mean, std = column_stats(x.detach().cpu().to(torch.float64).numpy())
        std *= math.sqrt(x.shape[0] / max(x.shape[0] - 1, 1))
        std[std == 0] = 1.0
        self.mean.copy_(torch.from_numpy(mean))
        self.scale.copy_(torch.from_numpy(std))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.to(self.mean.dtype) - self.mean) / self.scale).to(torch.float32)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.mean.dtype) * self.scale + self.mean


def autoencoder(dim_x: int, latent_dim: int, hidden: Sequence[int], decoder: str = "mlp",
                degree: int = 2) -> nn.ModuleDict:
    """Standardiser, MLP encoder and decoder, as one ``nn.ModuleDict``.

    Arguments:
        decoder: ``"mlp"`` (mirror of the encoder) or ``"polynomial"`` (one
            linear layer on the monomials up to ``degree``).

    Returns:
        ``nn.ModuleDict`` with ``scaler``, ``encoder`` (n, dim_x) -> (n, latent_dim)
        and ``decoder`` (n, latent_dim) -> (n, dim_x).
    """
    if decoder == "polynomial":
        dec = PolynomialDecoder(latent_dim, dim_x, degree)
    elif decoder == "mlp":
        dec = MLP(latent_dim, dim_x, tuple(reversed(hidden)))
    else:
        raise ValueError(f"decoder must be 'polynomial' or 'mlp', got {decoder!r}")
    return nn.ModuleDict({"scaler": Standardizer(dim_x),
                          "encoder": MLP(dim_x, latent_dim, hidden, skip=True),
                          "decoder": dec})


def reconstruction_loss(modules: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the autoencoder on standardised ``x`` (n, dim_x)."""
    x = modules["scaler"](x)
    return ((modules["decoder"](modules["encoder"](x)) - x) ** 2).mean()


# -- networks of the diffusion autoencoder --------------------------------------

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


class ConvEncoder(PyroModule):
    """Mean and log-scale of q(u | x) for images: two strided convolutions, one
    plain, then a two-layer head.

    Shapes:
        (n, C*H*W) or (n, C, H, W) -> two (n, d)
    """

    def __init__(self, image_shape: Sequence[int], d: int, channels: int):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c = channels
        self.features = nn.Sequential(
            nn.Conv2d(image_shape[0], c, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.SiLU(), nn.Flatten())
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *image_shape)).shape[1]
        self.head = nn.Sequential(nn.Linear(flat, 4 * c), nn.SiLU(), nn.Linear(4 * c, 2 * d))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_scale = self.head(self.features(x.view(-1, *self.image_shape))).chunk(2, dim=1)
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
        self.time = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(),
                                  nn.Linear(emb_dim, emb_dim))
        self.condition = nn.Sequential(nn.Linear(d, emb_dim), nn.SiLU(),
                                       nn.Linear(emb_dim, emb_dim))
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
        c_in, height, width = c_in * self.patch ** 2, height // self.patch, width // self.patch
        levels = 0
        while levels < 2 and height % 2 ** (levels + 1) == 0 and width % 2 ** (levels + 1) == 0:
            levels += 1
        widths = [channels * m for m in (1, 2, 2)][:levels + 1]
        self.levels = levels
        self.inp = nn.Conv2d(c_in, widths[0], 3, padding=1)
        self.down = nn.ModuleList(
            ResBlock(widths[max(i - 1, 0)], widths[i], emb_dim) for i in range(levels + 1))
        self.mid = ResBlock(widths[-1], widths[-1], emb_dim)
        self.up = nn.ModuleList(
            ResBlock(widths[min(i + 1, levels)] + widths[i], widths[i], emb_dim)
            for i in range(levels + 1))
        self.out = nn.Sequential(nn.GroupNorm(_groups(widths[0]), widths[0]), nn.SiLU(),
                                 nn.Conv2d(widths[0], c_in, 3, padding=1))
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
