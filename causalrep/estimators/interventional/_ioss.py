"""Stage 2 of Interventional CRL without interventions: independence of support.

A linear map is learned that makes the support of every pair of recovered
coordinates a product set (the paper's independence-of-support penalty,
:func:`ioss_penalty`), which identifies latents whose supports are independent.
"""

import numpy as np
import torch

__all__ = ["ioss_penalty", "fit_ioss"]


def ioss_penalty(z: torch.Tensor, n_draws: int = 1000, quantile: float = 0.01) -> torch.Tensor:
    """Independence-of-support penalty of a pair of latents (Ahuja et al., 2023).

    Both coordinates are min-max normalised; points drawn uniformly in their
    robust bounding box (the ``quantile``/``1 - quantile`` sample quantiles)
    should all lie near some sample when the support is a product set. The
    penalty is the high quantile of the distance from a drawn point to its
    nearest sample: near 0 for a product support, large when a corner is empty.

    Arguments:
        z: Pair of latents, shape (n, 2).
        n_draws: Points drawn in the bounding box.
        quantile: Sample quantile that bounds the box, and one minus the
            quantile of the distances reported.

    Returns:
        Scalar tensor.
    """
    low, high = z.min(0).values, z.max(0).values
    z = (z - low) / (high - low + 1e-8)
    lo = torch.quantile(z, quantile, dim=0)
    hi = torch.quantile(z, 1 - quantile, dim=0)
    draws = lo + torch.rand(n_draws, z.shape[1], device=z.device) * (hi - lo)
    nearest = torch.cdist(draws, z).min(dim=1).values
    return torch.quantile(nearest, 1 - quantile)


def fit_ioss(estimator, z_hat: np.ndarray):
    """A linear map whose coordinates have pairwise independent supports,
    trained on the stage-1 codes ``z_hat`` (n, d) of ``estimator``.

    Returns:
        The sizes ``dims`` and networks ``modules`` (stage 1 frozen, with the
        ``rotation`` and its inverse), and the stage-2 map as ``center`` (d,)
        and ``gamma`` (d, d).
    """
    z = torch.as_tensor(z_hat, dtype=torch.float32)
    center, scale = z.mean(0), z.std(0)
    z = (z - center) / scale
    d = estimator.latent_dim
    dims = {**estimator.dims_, "ioss": True}

    def build():
        modules = estimator._build(dims).to(estimator.device_)
        modules.load_state_dict(estimator.modules_.state_dict(), strict=False)
        return modules

    def loss(modules, zb):
        rotated = modules["rotation"](zb)
        terms = {"reconstruction": ((modules["unrotation"](rotated) - zb) ** 2).mean()}
        if d > 1:
            pairs = torch.randint(0, d, (3, 2), device=zb.device)
            pairs = pairs[pairs[:, 0] != pairs[:, 1]]
            terms["ioss"] = estimator.ioss_lambda * sum(
                (ioss_penalty(rotated[:, pair]) for pair in pairs), torch.zeros((), device=zb.device)
            )
        return terms

    modules, _ = estimator._train(
        build,
        loss,
        (z,),
        restarts=1,
        max_epochs=None,
        max_steps=max(500, estimator.max_steps // 4),
        batch_size=max(estimator.batch_size, 512),
        lr=1e-3,
    )
    for p in list(modules["encoder"].parameters()) + list(modules["decoder"].parameters()):
        p.requires_grad_(False)
    weight = modules["rotation"].weight.detach().cpu().double().numpy()
    return dims, modules, center.double().numpy(), weight / scale.double().numpy()[None, :]
