"""The run folder: every file in it is written atomically, and every log in it is read through here.

A write goes to a temporary file `.NAME.PID.tmp` beside its target, is fsynced and renamed into place, so a
crash at any moment leaves either the old file or the new one complete, never a torn one. A process killed
inside `atomic_write` leaves its temporary file behind: no reader looks at those names, and `remove_stale_temps`
(called on resume and at every checkpoint) deletes the ones whose process is gone. `read_jsonl` reads an
append-only log (stats.jsonl, layers.jsonl) that a crash may have cut short in its last line.
"""
from __future__ import annotations

import errno
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import WavegenError

TEMP = re.compile(r"\..+\.(\d+)\.tmp$")  # atomic_write's temporary files: .NAME.PID.tmp


def atomic_write(path: Path, write) -> None:
    """Call `write(file_object)` on a temporary file beside `path`, then fsync and rename it to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def no_space(path: Path, e: OSError) -> OSError | WavegenError:
    """A full disk as the one-line error a user can act on; any other OSError as it was."""
    if e.errno == errno.ENOSPC:
        return WavegenError(f"{path}: no space left on device; the previous file is kept, free space and resume")
    return e


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temporary files of `atomic_write` calls whose process has died (killed mid-write);
    those of live processes are left alone. Returns the files removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in folder.iterdir():
        m = TEMP.match(p.name)
        if m and not _alive(int(m.group(1))):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def read_jsonl(path: str | Path) -> list[tuple[str, object]]:
    """The (line, parsed value) pairs of a JSON-lines log, blank lines skipped. A last line without its newline
    that does not parse was cut short by a crash mid-append and is dropped; any other bad line is corruption."""
    path = Path(path)
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = text.split("\n")  # a complete file ends with "\n": its last piece is then ""
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append((line, json.loads(line)))
        except ValueError as e:
            if i == len(lines):  # the unterminated last line: torn by a crash, written again on resume
                break
            raise WavegenError(f"{path}: line {i} is not valid JSON ({str(e)[:100]}); the file is corrupt") from None
    return out


def write_json(path: Path, obj: dict) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def truncate_jsonl(path: Path, step: int) -> None:
    """Drop rows written after the checkpoint we resume from: they will be written again. A last line torn by a
    crash mid-append goes too; a bad line before it is corruption (WavegenError naming the file and line)."""
    if not path.exists():
        return
    rows = read_jsonl(path)
    for line, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise WavegenError(f"{path}: a row without a batch number ('step'), {line[:60]!r}; the file is corrupt")
    keep = [line for line, row in rows if row["step"] <= step]
    atomic_write(path, lambda f: f.write("".join(line + "\n" for line in keep).encode()))


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [row for _, row in read_jsonl(path)]  # a last line torn by a crash is dropped


def read_stats(run: str | Path) -> list[dict]:
    """All rows of a run's stats.jsonl, of every kind, in the order written (`read_log` sorts them by kind)."""
    return _rows(Path(run) / "stats.jsonl")


def read_layers(run: str | Path) -> list[dict]:
    """The rows of a run's layers.jsonl: {"step": s, "G/<param>": [weight norm, grad norm, update ratio], ...}."""
    return _rows(Path(run) / "layers.jsonl")


@dataclass
class RunLog:
    """stats.jsonl by kind of row. Every row has a "step" (the batches done when it was written):
    batches  the per-batch stats: "epoch", "loss/G", "loss/D", "D/real", "D/fake", "grad_norm/G", ...
    evals    quality scores during training: "eval/<metric>" for each metric scored
    timings  "time/wall_s": training seconds so far, written at every checkpoint (not deterministic)
    events   what happened to the run: "event/rollback" (with the new "lr/G", "lr/D") after a NaN
    other    rows of none of these kinds (written by another version), kept apart so no reader trips on them"""
    batches: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    timings: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    other: list = field(default_factory=list)

    @classmethod
    def from_rows(cls, rows: list[dict]) -> "RunLog":
        log = cls()
        for row in rows:
            log.kind_of(row).append(row)
        return log

    def kind_of(self, row: dict) -> list[dict]:
        """The list a row belongs in, told by its keys (each kind of row has keys of its own prefix)."""
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            return self.other
        if "loss/G" in row:
            return self.batches
        if any(k.startswith("eval/") for k in row):
            return self.evals
        if any(k.startswith("event/") for k in row):
            return self.events
        if "time/wall_s" in row:
            return self.timings
        return self.other

    def metrics(self) -> list[str]:
        """The metrics scored during training, sorted."""
        return sorted({k[len("eval/"):] for r in self.evals for k in r if k.startswith("eval/")})

    def scores(self, metric: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one metric's scores during training."""
        rows = [r for r in self.evals if f"eval/{metric}" in r]
        return [r["step"] for r in rows], [r[f"eval/{metric}"] for r in rows]

    def wall_s(self) -> float | None:
        """Training seconds at the last timing row, or None before the first checkpoint."""
        return self.timings[-1]["time/wall_s"] if self.timings else None

    def batches_done(self) -> int:
        return max((r["step"] for r in self.batches), default=0)


def read_log(run: str | Path) -> RunLog:
    return RunLog.from_rows(read_stats(run))
