"""The data order: which training examples each batch takes, epoch after epoch.

An epoch is a shuffle of the training examples (or, with balanced_classes, a draw in which every class is equally
likely), cut into batches of the global batch size; each rank takes its shard of every batch. The order, the
position in it and the epoch go into every checkpoint, so a resumed run takes the same batches.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..config import Config
from ..errors import WavegenError
from .distributed import World


def training_labels(cfg: Config, examples, train_idx: torch.Tensor, b: int) -> tuple[np.ndarray | None, str]:
    """The classes (n,) of the training examples when the run uses them (conditional, balanced_classes), and a line
    to say about them ("" or the smallest class, when it is smaller than a batch); data without two classes, with
    files outside the class folders, or a class without a training example, is refused."""
    if not (cfg.conditional or cfg.balanced_classes):
        return None, ""
    what = "conditional" if cfg.conditional else "balanced_classes"
    folders = not (cfg.classes_from_names or cfg.labels)  # the classes are the sub-folders
    if len(examples.classes) < 2:
        where = "first-level sub-folders with audio" if folders else "from --classes-from-names or --labels"
        raise WavegenError(f"{cfg.data}: {what} needs at least two classes ({where}), "
                           f"found {len(examples.classes)}{': ' + examples.classes[0] if examples.classes else ''}")
    labels = examples.labels[train_idx.numpy()]
    if (labels < 0).any():  # data/labels.py refuses or skips these first: a prepared folder given as data
        raise WavegenError(f"{cfg.data}: {what}: {int((labels < 0).sum())} training examples come from files "
                           "without a class; pass --unlabelled skip to leave them out")
    empty = [] if not folders else sorted(d.name for d in Path(cfg.data).iterdir()
                                          if d.is_dir() and not d.name.startswith(".") and d.name not in examples.classes)
    if empty:  # a class the user meant to have, with nothing in it that decodes
        raise WavegenError(f"{Path(cfg.data) / empty[0]}: a class folder without audio ({what} would leave the "
                           "class out); add its files or remove the folder")
    counts = np.bincount(labels, minlength=len(examples.classes))
    few = examples.classes[int(counts.argmin())]
    if counts.min() == 0:
        raise WavegenError(f"{cfg.data}: {what}: class {few!r} has no training example (all held out); add examples "
                           "or lower --holdout")
    note = ""
    if counts.min() < b:  # it trains, but G can hardly do more than copy such a class: said, not refused
        note = (f"{what}: class {few!r} has {counts.min()} training examples, fewer than a batch of {b}: a class "
                "this small can only be copied")
    return labels, note


class DataOrder:
    """The epoch's order of the training examples and the position in it; `fetch` gives this rank's next batch.

    One process keeps an epoch's last short batch, as a DataLoader does (a CUDA graph runs it uncaptured); several
    ranks take full batches only, so that every rank's shard of a batch has b examples."""

    KEYS = ("epoch", "pos", "order")  # top-level keys of a checkpoint

    def __init__(self, cfg: Config, examples, train_idx: torch.Tensor, b: int, world: World,
                 labels: np.ndarray | None, shared: torch.Generator | None, device: torch.device):
        self.cfg, self.examples, self.train_idx, self.labels = cfg, examples, train_idx, labels
        self.b, self.world, self.shared, self.device = b, world, shared, device
        self.n = n = len(train_idx)
        self.global_b = b * world.size
        self.batches_per_epoch = n // self.global_b if world.size > 1 else math.ceil(n / self.global_b)
        if self.batches_per_epoch == 0:
            raise WavegenError(f"{cfg.data}: {n} training examples are fewer than one batch of {self.global_b} "
                               f"over {world.size} ranks")
        self.epoch, self.pos, self.order = 0, 0, None

    def start(self) -> None:
        """Draw the first epoch's order (a run's draws come in a fixed order: see loop.py)."""
        self.order = self.new_order()

    def new_order(self) -> torch.Tensor:
        """An epoch's order (n,): a shuffle, or with balanced_classes a draw (with repeats) in which every class is
        equally likely."""
        if self.labels is None or not self.cfg.balanced_classes:
            return torch.randperm(self.n, generator=self.shared)
        counts = np.bincount(self.labels)
        weights = torch.from_numpy(1.0 / counts[self.labels])  # (n,) each class sums to 1
        return torch.multinomial(weights, self.n, replacement=True, generator=self.shared)

    def _batch(self) -> torch.Tensor:
        """Which training examples (positions in train_idx) this rank's shard of the next batch is."""
        start = self.pos * self.global_b + self.world.rank * self.b
        return self.order[start:start + self.b]

    def fetch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This rank's shard of the next batch (b, C, L) on the device, and its classes (b,) when the run has them."""
        idx = self._batch()
        real = self.examples.get(self.train_idx[idx]).to(self.device)
        if self.labels is None:
            return real, None
        return real, torch.from_numpy(self.labels[idx.numpy()]).to(self.device)

    def advance(self) -> None:
        self.pos += 1
        if self.pos == self.batches_per_epoch:  # reshuffle, as a DataLoader with shuffle=True does
            self.epoch, self.pos = self.epoch + 1, 0
            self.order = self.new_order()
            self.examples.set_epoch(self.epoch, self.cfg.seed)

    def restart_epoch(self) -> None:
        """A fresh order from the current position's epoch (a checkpoint from another world size)."""
        self.pos, self.order = 0, self.new_order()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos, "order": self.order}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.pos = state["epoch"], state["pos"]
        self.order = state["order"].cpu()  # it indexes the examples, which live on the CPU
