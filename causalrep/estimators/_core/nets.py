"""Network building blocks, as Pyro modules so users can put priors on them.

``pyro.nn.PyroModule`` is an ``nn.Module``: deterministic estimators train
these with plain gradient descent, probabilistic ones lift their parameters
to random variables without rewriting the network.

The autoencoder pieces every method shares: MLPs, the convolutional network
for images, polynomial features and decoder, the standardiser. A Pyro module
announces the parameters of a plain ``nn`` child to Pyro's handlers each time
it reads that child inside its own call, which costs Python time per
parameter: the large networks are Pyro modules at their top level and keep
plain ``nn`` blocks inside, each read once per call.
"""

import itertools
import math
import numbers
from collections.abc import Sequence

import torch
from pyro.nn import PyroModule
from torch import nn

from ...validation import column_stats

__all__ = [
    "MIN_IMAGE_SIDE",
    "MLP",
    "ConvNet",
    "PolynomialDecoder",
    "PolynomialFeatures",
    "Standardizer",
    "autoencoder",
    "check_image_shape",
    "reconstruction_loss",
]

#: Smallest height and width :class:`ConvNet` takes: its two strided convolutions halve them twice.
MIN_IMAGE_SIDE = 4


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

    def __init__(
        self, in_dim: int, out_dim: int, hidden: Sequence[int] = (256, 256), slope: float = 0.2, skip: bool = False
    ):
        super().__init__()
        self.skip = nn.Linear(in_dim, out_dim, bias=False) if skip else None
        widths = [in_dim, *hidden, out_dim]
        layers = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.LeakyReLU(slope))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out if self.skip is None else out + self.skip(x)

    @torch.no_grad()
    def start_affine(self, weight: torch.Tensor, bias: torch.Tensor) -> "MLP":
        """Make the network the affine map ``x @ weight.T + bias``; returns self.

        The skip path takes ``weight`` (out_dim, in_dim) and the last layer's
        bias ``bias`` (out_dim,); the last layer's weights are zeroed, so the
        hidden layers start at their random initialisation and add nothing
        until training moves them.
        """
        if self.skip is None:
            raise ValueError("start_affine needs an MLP with skip=True")
        self.skip.weight.copy_(weight)
        self.net[-1].weight.zero_()
        self.net[-1].bias.copy_(bias)
        return self


class ConvNet(PyroModule):
    """Convolutional network for images: two strided convolutions (4 x 4, stride 2),
    one plain (3 x 3), SiLU after each, then a two-layer head.

    Arguments:
        image_shape: (C, H, W), H and W at least :data:`MIN_IMAGE_SIDE`.
        out_dim: Output dimension.
        channels: Width of the first convolution; the other two have twice
            as many channels, the head's hidden layer four times as many units.

    Shapes:
        (n, C*H*W) or (n, C, H, W) -> (n, out_dim)
    """

    def __init__(self, image_shape: Sequence[int], out_dim: int, channels: int):
        super().__init__()
        self.image_shape = tuple(image_shape)
        c = channels
        self.features = nn.Sequential(
            nn.Conv2d(image_shape[0], c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(2 * c, 2 * c, 3, padding=1),
            nn.SiLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *image_shape)).shape[1]
        self.head = nn.Sequential(nn.Linear(flat, 4 * c), nn.SiLU(), nn.Linear(4 * c, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x.view(-1, *self.image_shape)))


def check_image_shape(shape: object, dim_x: int) -> list[int]:
    """``shape`` (a ``meta["image_shape"]``) as ``[C, H, W]``, checked against observations of ``dim_x`` features.

    Raises:
        ValueError: unless ``shape`` is three positive whole numbers with C*H*W = dim_x
            and H, W at least :data:`MIN_IMAGE_SIDE`.
    """
    valid = (
        isinstance(shape, (list, tuple))
        and len(shape) == 3
        and all(
            isinstance(s, numbers.Real) and not isinstance(s, bool) and s > 0 and float(s).is_integer() for s in shape
        )
    )
    if not valid or math.prod(int(s) for s in shape) != dim_x:
        raise ValueError(
            f"meta['image_shape']={shape!r} does not match dim_x={dim_x}; expected [C, H, W] with C*H*W = dim_x"
        )
    if min(shape[1:]) < MIN_IMAGE_SIDE:
        raise ValueError(
            f"meta['image_shape']={shape!r}: images of at least {MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE} pixels are "
            "needed (the convolutional encoder halves each side twice)"
        )
    return [int(s) for s in shape]


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
    """Affine standardisation fitted once, computed in float64.

    ``fit`` standardises each feature; ``fit_range`` maps the range of all of
    them to [-1, 1] with one shift and scale (images). Mean and scale are
    float64 buffers and the map runs in float64; only the standardised values
    are cast to float32 for the networks. So an offset or a scale far outside
    float32 (1e9 plus unit noise, 1e-200, 1e300) loses nothing, provided the
    inputs reach it in float64. Features with zero spread are left unscaled
    by ``fit`` rather than divided by zero.

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

    def fit_range(self, x: torch.Tensor) -> "Standardizer":
        """Map the range of all values of ``x`` (n, dim) to [-1, 1], one affine map shared by every
        feature (for images: pixels keep their relative values); returns self."""
        low, high = float(x.min()), float(x.max())
        self.mean.fill_((high + low) / 2)
        self.scale.fill_(max((high - low) / 2, 1e-8))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.to(self.mean.dtype) - self.mean) / self.scale).to(torch.float32)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.mean.dtype) * self.scale + self.mean


def autoencoder(
    dim_x: int, latent_dim: int, hidden: Sequence[int], decoder: str = "mlp", degree: int = 2
) -> nn.ModuleDict:
    """Standardiser, MLP encoder and decoder, as one ``nn.ModuleDict``.

    Arguments:
        dim_x: Observation dimension.
        latent_dim: Latent dimension.
        hidden: Widths of the encoder's hidden layers; the MLP decoder uses them reversed.
        decoder: ``"mlp"`` (mirror of the encoder) or ``"polynomial"`` (one
            linear layer on the monomials up to ``degree``).
        degree: Highest monomial degree of the polynomial decoder.

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
    return nn.ModuleDict(
        {"scaler": Standardizer(dim_x), "encoder": MLP(dim_x, latent_dim, hidden, skip=True), "decoder": dec}
    )


def reconstruction_loss(modules: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the autoencoder on standardised ``x`` (n, dim_x)."""
    x = modules["scaler"](x)
    return ((modules["decoder"](modules["encoder"](x)) - x) ** 2).mean()
