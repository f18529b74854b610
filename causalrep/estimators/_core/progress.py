"""Progress of a training run wherever the user watches it.

A tqdm bar in a terminal or a notebook (``tqdm.auto`` picks the widget);
elsewhere (CI logs, files, pipes) INFO lines on the ``causalrep`` logger: one
when a run starts (what is fitted, how many epochs and steps), one about every
10% of the epochs (at most one every 5 s, and at least one every 30 s) with the
latest loss, and one when it ends. The ``causalrep`` command prints these
lines; in Python, show them with ``logging.basicConfig(level=logging.INFO)``.
"""

import logging
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from tqdm.auto import tqdm

__all__ = ["LogProgress", "in_notebook", "progress"]

logger = logging.getLogger("causalrep")


def in_notebook() -> bool:
    """Whether the code runs in a Jupyter kernel (where tqdm draws a widget)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and type(ipython).__name__ == "ZMQInteractiveShell"


def progress(epochs: Sequence[int], desc: str, verbose: bool = True, steps_per_epoch: int = 1) -> Iterable[int]:
    """An iterable over ``epochs`` that reports progress.

    Arguments:
        epochs: Iterable of epochs, with ``len``.
        desc: What is fitted, e.g. ``"InterventionalCRL"``.
        verbose: False reports nothing.
        steps_per_epoch: Optimiser steps per epoch, for the log lines.

    Returns:
        An iterable with ``set_postfix(**values)`` and ``close()``: a tqdm bar
        in a terminal or notebook, a :class:`LogProgress` otherwise.
    """
    if not verbose:
        return tqdm(epochs, disable=True)
    if sys.stderr.isatty() or in_notebook():
        return tqdm(epochs, desc=desc, leave=False)
    return LogProgress(epochs, desc, steps_per_epoch)


class LogProgress:
    """Progress as ``logging`` lines; the interface of a tqdm bar used in training.

    Arguments:
        epochs: Iterable of epochs, with ``len``.
        desc: What is fitted.
        steps_per_epoch: Optimiser steps per epoch.
        fraction: Share of the epochs between two lines.
        min_seconds, max_seconds: Least and most time between two lines.
    """

    def __init__(
        self,
        epochs: Sequence[int],
        desc: str,
        steps_per_epoch: int = 1,
        fraction: float = 0.1,
        min_seconds: float = 5.0,
        max_seconds: float = 30.0,
    ):
        self.epochs = epochs
        self.desc = desc
        self.steps_per_epoch = steps_per_epoch
        self.total = len(epochs)
        self.every = max(1, round(fraction * self.total))
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self.postfix = {}
        self.done = 0
        self.closed = False

    def __iter__(self):
        self.start = self.last_time = time.monotonic()
        self.last_epoch = 0
        logger.info(
            "%s: training up to %d epochs x %d steps (%d steps)",
            self.desc,
            self.total,
            self.steps_per_epoch,
            self.total * self.steps_per_epoch,
        )
        for epoch in self.epochs:
            yield epoch
            self.done += 1
            self._maybe_log()

    def set_postfix(self, **values: Any) -> None:
        """Remember values (e.g. ``loss``) for the next line."""
        self.postfix = values

    def _maybe_log(self):
        now = time.monotonic()
        due = self.done - self.last_epoch >= self.every and now - self.last_time >= self.min_seconds
        if (due or now - self.last_time >= self.max_seconds) and self.done < self.total:
            logger.info(
                "%s: epoch %d/%d, step %d, %s, %.0f s",
                self.desc,
                self.done,
                self.total,
                self.done * self.steps_per_epoch,
                self._values(),
                now - self.start,
            )
            self.last_time, self.last_epoch = now, self.done

    def _values(self):
        return ", ".join(f"{name} {value}" for name, value in self.postfix.items()) or "no loss yet"

    def close(self) -> None:
        """Log the end of the run: epochs done, steps, last values, time."""
        if self.closed:
            return
        self.closed = True
        start = getattr(self, "start", time.monotonic())
        logger.info(
            "%s: done after %d/%d epochs (%d steps), %s, %.1f s",
            self.desc,
            self.done,
            self.total,
            self.done * self.steps_per_epoch,
            self._values(),
            time.monotonic() - start,
        )
