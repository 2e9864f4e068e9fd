"""The per-batch stats of a run: buffered as tensors on the device, appended to stats.jsonl (and TensorBoard)
in one device sync per flush."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..runfolder import no_space


class StatsLog:
    """Buffers per-batch stats and writes them to stats.jsonl; also writes rows of other kinds (scores, timings,
    events: runfolder.RunLog) straight away. `tb` is the TensorBoard writer, when asked for."""

    def __init__(self, path: Path | None, tb_dir: Path | None, start_step: int, keys: tuple[str, ...]):
        self.path = path  # None: not the writing rank
        self.keys = keys
        self.rows: list[tuple[int, int, torch.Tensor]] = []
        self.last: dict = {}
        self.tb = None
        if tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # imported only when asked for: it is slow

            self.tb = SummaryWriter(str(tb_dir), purge_step=start_step + 1)

    def add(self, step: int, epoch: int, values: torch.Tensor) -> None:
        self.rows.append((step, epoch, values))

    def discard(self) -> None:
        """Forget the rows not yet written (a rollback goes back before them)."""
        self.rows.clear()

    def flush(self) -> None:
        if self.path is None:
            self.rows.clear()
            return
        if not self.rows:
            return
        values = torch.stack([v for _, _, v in self.rows]).tolist()  # the one sync
        try:
            self._append(values)
        except OSError as e:  # a torn last row is dropped on resume (runfolder.truncate_jsonl)
            raise no_space(self.path, e) from None
        self.rows.clear()

    def _append(self, values: list) -> None:
        with open(self.path, "a") as f:
            for (step, epoch, _), vals in zip(self.rows, values):
                row = {"step": step, "epoch": epoch, **dict(zip(self.keys, vals))}
                f.write(json.dumps(row) + "\n")
                if self.tb is not None:
                    for k in self.keys:
                        self.tb.add_scalar(k, row[k], step)
        self.last = row

    def write(self, row: dict) -> None:
        """A row of its own (scores, timings, events), after the batch rows before it."""
        self.flush()
        if self.path is None:
            return
        try:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
        except OSError as e:
            raise no_space(self.path, e) from None

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
