"""The per-batch stats of a run: buffered as tensors on the device, appended to stats.jsonl (and TensorBoard)
in one device sync per flush."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from ..runfolder import append_text


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
        rows = [{"step": step, "epoch": epoch, **dict(zip(self.keys, vals))}
                for (step, epoch, _), vals in zip(self.rows, values)]
        append_text(self.path, "".join(json.dumps(row) + "\n" for row in rows))  # all the rows or none
        if self.tb is not None:
            for row in rows:
                for k in self.keys:
                    self.tb.add_scalar(k, row[k], row["step"])
        self.last = rows[-1]
        self.rows.clear()

    def write(self, row: dict) -> None:
        """A row of its own (scores, timings, events), after the batch rows before it."""
        self.flush()
        if self.path is None:
            return
        append_text(self.path, json.dumps(row) + "\n")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
