"""The per-batch stats of a run: buffered as tensors on the device, appended to stats.jsonl (and TensorBoard)
in one device sync per flush."""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from ..atomic import append_text
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

    def flush(self) -> tuple[int, list[str]] | None:
        """Write the buffered rows (the one device sync). When one of them holds a NaN or Inf, none is written and
        its batch and the stats that are not finite are returned instead: the trainer goes back to a checkpoint."""
        if not self.rows:
            return None
        values = torch.stack([v for _, _, v in self.rows]).tolist()  # the one sync
        rows = [{"step": step, "epoch": epoch, **dict(zip(self.keys, vals))}
                for (step, epoch, _), vals in zip(self.rows, values)]
        self.rows.clear()
        for row in rows:
            bad = [k for k in self.keys if not math.isfinite(row[k])]
            if bad:
                return row["step"], bad
        if self.path is None:  # not the writing rank
            return None
        append_text(self.path, "".join(json.dumps(row) + "\n" for row in rows))  # all the rows or none
        if self.tb is not None:
            for row in rows:
                for k in self.keys:
                    self.tb.add_scalar(k, row[k], row["step"])
        self.last = rows[-1]
        return None

    def write(self, row: dict) -> None:
        """A row of its own (scores, timings, events), after the batch rows before it (which the trainer has
        checked for NaNs by then: Trainer.checked)."""
        if self.flush() is not None:
            raise RuntimeError("stats rows with a NaN reached StatsLog.write unchecked")
        if self.path is None:
            return
        append_text(self.path, json.dumps(row) + "\n")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
