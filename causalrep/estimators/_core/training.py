"""The one training loop every estimator uses.

Mini-batch Adam with cosine learning-rate decay, a held-out validation split
with early stopping on its loss, a guard that stops on the first non-finite
loss term (naming the term, the epoch and the step), and a per-epoch history.

The loop never waits for the device inside an epoch: the loss terms of every
step are written to a buffer on the device and read once at the end of the
epoch, where the finiteness guard looks at them. On CUDA, batches of data kept
on the host travel through pinned memory without blocking; mixed precision
(``precision``) and ``torch.compile`` (``compile``) are options, off by default.
"""

import contextlib
import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...exceptions import TrainingDivergedError
from .progress import progress

__all__ = ["History", "TrainConfig", "minimise_full_batch", "train", "train_with_restarts"]

_PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Share of the free device memory the training data may take to be placed on
# the device once; larger data stay on the host and travel batch by batch.
_ON_DEVICE_SHARE = 0.25


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
            otherwise; see :mod:`causalrep.estimators._core.progress`).
        desc: Label of the progress bar.
        precision: ``"float32"``, or ``"bfloat16"`` / ``"float16"`` to run the
            loss under ``torch.autocast`` (mixed precision; float16 also scales
            the loss, which costs one host synchronisation per step). Pays on
            GPUs with tensor cores, rarely on a CPU.
        compile: Run the loss function through ``torch.compile`` (pays for
            long runs on a GPU; the first steps are slow while it compiles).
        fused: Use Adam's fused kernel (one call for all parameters instead
            of a loop over them): a few milliseconds less per step for
            networks with many parameter tensors, on a CPU as on a GPU.
    """

    max_steps: int = 6000
    max_epochs: int | None = None
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    patience: int = 30
    grad_clip: float | None = 10.0
    verbose: bool = True
    desc: str = "fit"
    precision: str = "float32"
    compile: bool = False
    fused: bool = False


@dataclass
class History:
    """Per-epoch mean of every loss term on the training part, and validation loss."""

    terms: dict[str, list[float]] = field(default_factory=dict)
    val: list[float] = field(default_factory=list)
    best_epoch: int = -1
    steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"terms": self.terms, "val": self.val, "best_epoch": self.best_epoch, "steps": self.steps}


def train(
    module: nn.Module,
    loss_fn: Callable[..., dict[str, torch.Tensor]],
    tensors: tuple[torch.Tensor, ...],
    config: TrainConfig,
    seed: int,
    device: torch.device,
) -> History:
    """Fit ``module`` by minimising the sum of the terms ``loss_fn`` returns.

    Arguments:
        module: ``nn.Module`` whose parameters are optimised, already on ``device``.
        loss_fn: ``loss_fn(module, *batch) -> dict[str, scalar tensor]``; the
            objective is the sum of the values, each is logged by name. The
            same names at every step.
        tensors: Tuple of CPU tensors sharing their first dimension (n, ...).
        config: :class:`TrainConfig`.
        seed: int seeding the split and the batch order.
        device: ``torch.device`` the batches are moved to.

    Returns:
        :class:`History`. ``module`` holds the parameters of the epoch with the
        best validation loss (the last epoch when there is no validation part).

    Raises:
        TrainingDivergedError: when a loss term is NaN or inf (found at the end
            of the epoch, naming the first such term and its step).
    """
    if config.precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(_PRECISIONS)}, got {config.precision!r}")
    generator = torch.Generator().manual_seed(int(seed))
    n = tensors[0].shape[0]
    order = torch.randperm(n, generator=generator)
    n_val = round(config.val_fraction * n)
    if config.val_fraction > 0 and n - n_val < 2:
        raise ValueError(
            f"{n} samples are too few to train with val_fraction="
            f"{config.val_fraction}: at least 2 must remain for training"
        )
    train_idx, val_idx = order[n_val:], order[:n_val]
    tensors = _placed(tensors, device)
    batch_size = min(config.batch_size, train_idx.numel())
    per_epoch = max(1, train_idx.numel() // batch_size)
    epochs = math.ceil(config.max_steps / per_epoch)
    if config.max_epochs is not None:
        epochs = min(epochs, config.max_epochs)
    total_steps = epochs * per_epoch

    optimiser = torch.optim.Adam(
        module.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=config.fused or None
    )
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=total_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "float16")
    step_loss = torch.compile(loss_fn) if config.compile else loss_fn
    history = History()
    best, best_state, waited = math.inf, None, 0
    bar = progress(range(epochs), config.desc, config.verbose, steps_per_epoch=per_epoch)
    for epoch in bar:
        module.train()
        perm = train_idx[torch.randperm(train_idx.numel(), generator=generator)]
        perm = perm.to(tensors[0].device, non_blocking=True)
        log = _Log(per_epoch, device)
        try:
            for b in range(per_epoch):
                batch = _batch(tensors, perm[b * batch_size : (b + 1) * batch_size], device)
                with _autocast(device, config.precision):
                    terms = step_loss(module, *batch)
                log.write(b, terms)
                optimiser.zero_grad(set_to_none=True)
                scaler.scale(sum(terms.values())).backward()
                if config.grad_clip is not None:
                    scaler.unscale_(optimiser)
                    torch.nn.utils.clip_grad_norm_(module.parameters(), config.grad_clip)
                scaler.step(optimiser)
                scaler.update()
                schedule.step()
        except Exception:
            # A non-finite term earlier in the epoch is the cause to report
            # (say a decomposition that failed on NaN parameters).
            log.check(epoch, history.steps)
            raise
        means = log.check(epoch, history.steps)
        history.steps += per_epoch
        for name, value in means.items():
            history.terms.setdefault(name, []).append(value)
        current = (
            _evaluate(module, loss_fn, tensors, val_idx, batch_size, device, epoch, config.precision)
            if n_val
            else sum(means.values())
        )
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


def train_with_restarts(
    build: Callable[[], nn.Module],
    loss_fn: Callable[..., dict[str, torch.Tensor]],
    tensors: tuple[torch.Tensor, ...],
    config: TrainConfig,
    seed: int,
    device: torch.device,
    restarts: int = 1,
    restart_steps: int = 1000,
) -> tuple[nn.Module, History]:
    """Train ``restarts`` fresh modules briefly, then finish the best one.

    Short restarts guard against the bad basins an autoencoder falls into on
    some seeds (a latent folded onto its square, say): each candidate runs
    ``restart_steps`` steps and the one with the lowest validation loss goes
    on for ``config.max_steps`` more, with a fresh optimiser.

    Arguments:
        build: ``build() -> nn.Module`` on ``device``, freshly initialised;
            called under a torch RNG seeded per candidate.
        loss_fn: As in :func:`train`.
        tensors: As in :func:`train`.
        config: :class:`TrainConfig` of the finishing run.
        seed: int; candidate r is initialised from ``seed * 1000 + r`` and
            trained with seed ``seed + r``, the finishing run with ``seed``
            (a single module is initialised from ``seed``).
        device: ``torch.device`` the batches are moved to.
        restarts: Number of candidates (1 trains a single module, no selection).
        restart_steps: Steps of each candidate's short run.

    Returns:
        (module, History) of the finished run.
    """
    if restarts <= 1:
        module = _seeded(build, seed)
        return module, train(module, loss_fn, tensors, config, seed, device)
    short = TrainConfig(**{**config.__dict__, "max_steps": restart_steps, "desc": f"{config.desc} (restart)"})
    best = None
    for r in range(restarts):
        module = _seeded(build, seed * 1000 + r)
        history = train(module, loss_fn, tensors, short, seed + r, device)
        if best is None or min(history.val) < best[0]:
            best = (min(history.val), module)
    module = best[1]
    return module, train(module, loss_fn, tensors, config, seed, device)


def minimise_full_batch(
    module: nn.Module,
    loss_fn: Callable[..., dict[str, torch.Tensor]],
    tensors: tuple[torch.Tensor, ...],
    max_iter: int,
) -> float:
    """Minimise the sum of ``loss_fn``'s terms on all of ``tensors`` at once by L-BFGS.

    For small smooth problems (a linear start, a few hundred parameters), where
    a quasi-Newton method with a strong Wolfe line search converges in far
    fewer passes over the data than mini-batch Adam. The module ends at the
    best point evaluated, so a run that leaves the finite region (a variance
    driven to 0 on degenerate data) keeps what it reached before.

    Arguments:
        module: ``nn.Module`` whose parameters are optimised, in place.
        loss_fn: As in :func:`train`.
        tensors: As in :func:`train`, already on the module's device.
        max_iter: Most L-BFGS iterations.

    Returns:
        The objective at the module's final parameters; inf when no evaluated
        point was finite (the parameters are then not usable).
    """
    optimiser = torch.optim.LBFGS(
        module.parameters(), max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe"
    )
    best = {"value": math.inf, "state": None}

    def objective():
        optimiser.zero_grad(set_to_none=True)
        value = sum(loss_fn(module, *tensors).values())
        if torch.isfinite(value):
            value.backward()
            if value.item() < best["value"]:
                best["value"] = value.item()
                best["state"] = copy.deepcopy(module.state_dict())
        return value

    module.train()
    try:
        optimiser.step(objective)
    except IndexError:
        # torch's strong Wolfe search indexes an empty bracket when its trial
        # points turn non-finite; the best point evaluated so far stands.
        pass
    module.eval()
    if best["state"] is not None:
        module.load_state_dict(best["state"])
    return best["value"]


class _Log:
    """Loss terms of the steps of one epoch, kept on the device until read.

    ``write`` copies a step's terms into row ``step`` of a (steps, terms)
    buffer without waiting for the device; ``check`` reads the buffer once,
    raises on the first non-finite term and returns each term's mean.
    """

    def __init__(self, steps, device):
        self.steps, self.device = steps, device
        self.names, self.rows, self.written = None, None, 0

    def write(self, step, terms):
        if self.names is None:
            self.names = list(terms)
            self.rows = torch.empty(self.steps, len(self.names), device=self.device)
        elif list(terms) != self.names:
            raise ValueError(
                f"loss_fn returned the terms {list(terms)} after {self.names}; "
                "it must return the same terms at every step"
            )
        self.rows[step] = torch.stack([value.detach().float().reshape(()) for value in terms.values()])
        self.written = step + 1

    def check(self, epoch, first_step):
        if self.names is None:
            return {}
        rows = self.rows[: self.written].cpu().double()
        _raise_non_finite(rows, self.names, epoch, first_step)
        return {name: sum(column) / self.steps for name, column in zip(self.names, rows.T.tolist(), strict=True)}


def _raise_non_finite(rows, names, epoch, first_step=None):
    """Raise TrainingDivergedError for the first non-finite entry of ``rows``
    (steps, terms), naming its term, the epoch and the optimiser step
    (``first_step=None``: on the validation part)."""
    bad = (~torch.isfinite(rows)).nonzero()
    if len(bad):
        row, column = bad[0].tolist()
        where = "on the validation part" if first_step is None else f"step {first_step + row}"
        raise TrainingDivergedError(
            f"loss term {names[column]!r} became non-finite ({float(rows[row, column])}) at "
            f"epoch {epoch} ({where}); lower the learning rate or check the input scale"
        )


def _seeded(build, seed):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


def _autocast(device, precision):
    dtype = _PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _placed(tensors, device):
    """Move the data to ``device`` once when they take at most a quarter of
    its free memory; else leave them on the host to travel batch by batch."""
    if device.type == "cpu":
        return tensors
    size = sum(t.element_size() * t.numel() for t in tensors)
    free = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 0
    if size <= _ON_DEVICE_SHARE * free:
        return tuple(t.to(device) for t in tensors)
    return tensors


def _batch(tensors, index, device):
    """Rows ``index`` of each tensor, on ``device``; from the host through
    pinned memory, so that the copy does not block."""
    pin = device.type == "cuda" and tensors[0].device.type == "cpu"
    return tuple((t[index].pin_memory() if pin else t[index]).to(device, non_blocking=True) for t in tensors)


@torch.no_grad()
def _evaluate(module, loss_fn, tensors, index, batch_size, device, epoch, precision):
    """Mean total loss on the rows ``index``, read from the device once."""
    module.eval()
    rows, sizes, names = [], [], None
    index = index.to(tensors[0].device, non_blocking=True)
    for start in range(0, index.numel(), 4 * batch_size):
        chunk = index[start : start + 4 * batch_size]
        with _autocast(device, precision):
            terms = loss_fn(module, *_batch(tensors, chunk, device))
        names = list(terms)
        values = [value.detach().float().reshape(()) for value in terms.values()]
        rows.append(torch.stack(values + [sum(values)]))
        sizes.append(chunk.numel())
    rows = torch.stack(rows).cpu().double()
    _raise_non_finite(rows[:, :-1], names, epoch)
    return sum(total * size for total, size in zip(rows[:, -1].tolist(), sizes, strict=True)) / sum(sizes)
