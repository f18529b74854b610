"""The one training loop every estimator uses.

Mini-batch Adam with cosine learning-rate decay, a held-out validation split
with early stopping on its loss, a guard that stops on the first non-finite
loss term (naming the term and the epoch), and a per-epoch history.
"""

import copy
import math
from dataclasses import dataclass, field

import torch

from ..exceptions import TrainingDivergedError
from .progress import progress

__all__ = ["TrainConfig", "History", "train", "train_with_restarts"]

_ON_DEVICE_LIMIT = 2 * 1024**3


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one run of :func:`train`.

    Arguments:
        max_steps: Upper bound on optimiser steps.
        max_epochs: Upper bound on passes over the training part; None for no
            bound besides ``max_steps``.
        batch_size: Samples per step.
        lr: Initial Adam learning rate, decayed to 0 along a cosine.
        weight_decay: Adam's L2 penalty.
        val_fraction: Share of samples held out for early stopping, in [0, 1);
            0 disables early stopping.
        patience: Epochs without a better validation loss before stopping.
        grad_clip: Maximum gradient norm, or None.
        verbose: Report progress (a bar in a terminal or notebook, log lines
            otherwise; see :mod:`causalrep.estimators.progress`).
        desc: Label of the progress bar.
    """

    max_steps: int = 6000
    max_epochs: int = None
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    patience: int = 30
    grad_clip: float = 10.0
    verbose: bool = True
    desc: str = "fit"


@dataclass
class History:
    """Per-epoch mean of every loss term on the training part, and validation loss."""

    terms: dict = field(default_factory=dict)
    val: list = field(default_factory=list)
    best_epoch: int = -1
    steps: int = 0

    def to_dict(self):
        return {"terms": self.terms, "val": self.val,
                "best_epoch": self.best_epoch, "steps": self.steps}


def train(module, loss_fn, tensors, config, seed, device):
    """Fit ``module`` by minimising the sum of the terms ``loss_fn`` returns.

    Arguments:
        module: ``nn.Module`` whose parameters are optimised, already on ``device``.
        loss_fn: ``loss_fn(module, *batch) -> dict[str, scalar tensor]``; the
            objective is the sum of the values, each is logged by name.
        tensors: Tuple of CPU tensors sharing their first dimension (n, ...).
        config: :class:`TrainConfig`.
        seed: int seeding the split and the batch order.
        device: ``torch.device`` the batches are moved to.

    Returns:
        :class:`History`. ``module`` holds the parameters of the epoch with the
        best validation loss (the last epoch when there is no validation part).

    Raises:
        TrainingDivergedError: when a loss term is NaN or inf.
    """
    generator = torch.Generator().manual_seed(int(seed))
    n = tensors[0].shape[0]
    order = torch.randperm(n, generator=generator)
    n_val = int(round(config.val_fraction * n))
    if config.val_fraction > 0 and n - n_val < 2:
        raise ValueError(f"{n} samples are too few to train with val_fraction="
                         f"{config.val_fraction}: at least 2 must remain for training")
    train_idx, val_idx = order[n_val:], order[:n_val]
    tensors = _placed(tensors, device)
    batch_size = min(config.batch_size, train_idx.numel())
    per_epoch = max(1, train_idx.numel() // batch_size)
    epochs = math.ceil(config.max_steps / per_epoch)
    if config.max_epochs is not None:
        epochs = min(epochs, config.max_epochs)
    total_steps = epochs * per_epoch

    optimiser = torch.optim.Adam(module.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=total_steps)
    history = History()
    best, best_state, waited = math.inf, None, 0
    bar = progress(range(epochs), config.desc, config.verbose, steps_per_epoch=per_epoch)
    for epoch in bar:
        module.train()
        sums = {}
        perm = train_idx[torch.randperm(train_idx.numel(), generator=generator)]
        for b in range(per_epoch):
            batch = _batch(tensors, perm[b * batch_size:(b + 1) * batch_size], device)
            terms = loss_fn(module, *batch)
            _guard(terms, epoch, history.steps + b)
            loss = sum(terms.values())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
            optimiser.step()
            schedule.step()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
        history.steps += per_epoch
        for name, value in sums.items():
            history.terms.setdefault(name, []).append(value / per_epoch)
        current = (_evaluate(module, loss_fn, tensors, val_idx, batch_size, device, epoch)
                   if n_val else sum(sums.values()) / per_epoch)
        history.val.append(current)
        bar.set_postfix(loss=f"{current:.3g}")
        if best == math.inf or current < best - 1e-6 * abs(best):
            best, best_state, waited = current, copy.deepcopy(module.state_dict()), 0
            history.best_epoch = epoch
        else:
            waited += 1
            if n_val and waited >= config.patience:
                break
    bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return history


def train_with_restarts(build, loss_fn, tensors, config, seed, device, restarts=1,
                        restart_steps=1000):
    """Train ``restarts`` fresh modules briefly, then finish the best one.

    Short restarts guard against the bad basins an autoencoder falls into on
    some seeds (a latent folded onto its square, say): each candidate runs
    ``restart_steps`` steps and the one with the lowest validation loss goes
    on for ``config.max_steps`` more, with a fresh optimiser.

    Arguments:
        build: ``build() -> nn.Module`` on ``device``, freshly initialised;
            called under a torch RNG seeded per candidate.
        restarts: Number of candidates (1 trains a single module, no selection).

    Returns:
        (module, History) of the finished run.
    """
    if restarts <= 1:
        module = _seeded(build, seed)
        return module, train(module, loss_fn, tensors, config, seed, device)
    short = TrainConfig(**{**config.__dict__, "max_steps": restart_steps,
                           "desc": f"{config.desc} (restart)"})
    best = None
    for r in range(restarts):
        module = _seeded(build, seed * 1000 + r)
        history = train(module, loss_fn, tensors, short, seed + r, device)
        if best is None or min(history.val) < best[0]:
            best = (min(history.val), module)
    module = best[1]
    return module, train(module, loss_fn, tensors, config, seed, device)


def _seeded(build, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


def _placed(tensors, device):
    size = sum(t.element_size() * t.numel() for t in tensors)
    if device.type != "cpu" and size <= _ON_DEVICE_LIMIT:
        return tuple(t.to(device) for t in tensors)
    return tensors


def _batch(tensors, index, device):
    index = index.to(tensors[0].device)
    return tuple(t[index].to(device, non_blocking=True) for t in tensors)


def _guard(terms, epoch, step=None):
    """Raise TrainingDivergedError naming the first non-finite term, the epoch
    and the optimiser step (``step=None``: on the validation part)."""
    for name, value in terms.items():
        if not torch.isfinite(value).all():
            where = "on the validation part" if step is None else f"step {step}"
            raise TrainingDivergedError(
                f"loss term {name!r} became non-finite ({float(value)}) at epoch {epoch} "
                f"({where}); lower the learning rate or check the input scale"
            )


@torch.no_grad()
def _evaluate(module, loss_fn, tensors, index, batch_size, device, epoch):
    module.eval()
    total, count = 0.0, 0
    for start in range(0, index.numel(), 4 * batch_size):
        chunk = index[start:start + 4 * batch_size]
        terms = loss_fn(module, *_batch(tensors, chunk, device))
        _guard(terms, epoch)
        total += float(sum(terms.values())) * chunk.numel()
        count += chunk.numel()
    return total / count
