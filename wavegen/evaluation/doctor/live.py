"""Whether a run is being trained now: the doctor then reads it but writes nothing into it.

Training appends to stats.jsonl every few batches and ends with a checkpoint of its last batch. A run whose
stats.jsonl changed within LIVE_SECONDS and whose newest checkpoint is older than that change is taken as live.
"""
from __future__ import annotations

import time
from pathlib import Path

LIVE_SECONDS = 30.0  # a stats.jsonl written more recently than this may still be growing


def is_live(run: str | Path, now: float | None = None) -> bool:
    run = Path(run)
    stats = run / "stats.jsonl"
    if not stats.exists():
        return False
    changed = stats.stat().st_mtime
    if (now if now is not None else time.time()) - changed > LIVE_SECONDS:
        return False
    ckpts = list((run / "checkpoints").glob("ckpt_*.pt")) if (run / "checkpoints").is_dir() else []
    newest = max((p.stat().st_mtime for p in ckpts), default=0.0)
    return newest < changed  # training writes its final checkpoint after its last stats row
