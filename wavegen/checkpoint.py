"""Checkpoints: the whole training state in one file, written atomically, read without running code.

Files are `run/checkpoints/ckpt_<batch>.pt`. A write goes to a temporary file that is fsynced and renamed
into place, so a crash at any moment leaves either the old set or the new file complete, never a torn one.
Loading uses `weights_only=True`: a checkpoint is tensors and plain containers only, and a file whose
pickle would import or call anything is refused.

A process killed inside `atomic_write` leaves its temporary file `.NAME.PID.tmp` behind: no reader looks at
those names, and `remove_stale_temps` (called on resume and at every checkpoint) deletes the ones whose
process is gone. `read_jsonl` reads an append-only log (stats.jsonl, layers.jsonl) that a crash may have
cut short in its last line.
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import torch

from .errors import WavegenError

PATTERN = re.compile(r"ckpt_(\d+)\.pt$")
TEMP = re.compile(r"\..+\.(\d+)\.tmp$")  # atomic_write's temporary files: .NAME.PID.tmp


def ckpt_dir(run: str | Path) -> Path:
    return Path(run) / "checkpoints"


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


def save(run: str | Path, step: int, state: dict, keep: int) -> Path:
    path = ckpt_dir(run) / f"ckpt_{step:08d}.pt"
    atomic_write(path, lambda f: torch.save(state, f))
    remove_stale_temps(path.parent)
    if keep > 0:
        for old in list_ckpts(run)[:-keep]:
            old.unlink(missing_ok=True)
    return path


def list_ckpts(run: str | Path) -> list[Path]:
    """Checkpoints of a run, oldest first."""
    d = ckpt_dir(run)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := PATTERN.match(p.name))]
    return [p for _, p in sorted(found)]


def load(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise WavegenError(f"{path}: checkpoint not found") from None
    except Exception as e:  # truncated zip, foreign pickle, ... all mean: not a checkpoint we can trust
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise WavegenError(f"{path}: not a loadable wavegen checkpoint ({msg[:200]})") from None
    if not isinstance(state, dict) or "config" not in state or "G" not in state:
        raise WavegenError(f"{path}: not a wavegen checkpoint (no config or generator inside)")
    return state


def find(run: str | Path, step: int | None = None, best: bool = False) -> Path:
    """The checkpoint of `run` at `step`, its best.pt (kept by scoring during training), or its newest one."""
    if best:
        path = ckpt_dir(run) / "best.pt"
        if not path.exists():
            raise WavegenError(f"{run}: no best.pt (it is kept when training scores with --eval-every)")
        return path
    ckpts = list_ckpts(run)
    if not ckpts:
        raise WavegenError(f"{run}: no checkpoints in {ckpt_dir(run)}")
    if step is None:  # the newest whole one: a checkpoint is a zip archive, and a torn one has lost its end
        for path in reversed(ckpts):
            if zipfile.is_zipfile(path):
                return path
            print(f"warning: {path}: not a complete checkpoint; trying an older one", flush=True)
        raise WavegenError(f"{run}: no complete checkpoint in {ckpt_dir(run)}")
    for p in ckpts:
        if int(PATTERN.match(p.name).group(1)) == step:
            return p
    steps = ", ".join(PATTERN.match(p.name).group(1).lstrip("0") or "0" for p in ckpts)
    raise WavegenError(f"{run}: no checkpoint at batch {step} (have: {steps})")


def load_latest_good(run: str | Path, map_location="cpu") -> tuple[Path, dict]:
    """The newest checkpoint that loads; a corrupt newer one is reported and skipped. Also clears the run
    folder of temporary files left by a process killed while writing (see `remove_stale_temps`)."""
    for folder in (Path(run), ckpt_dir(run), Path(run) / "previews"):
        remove_stale_temps(folder)
    ckpts = list_ckpts(run)
    if not ckpts:
        raise WavegenError(f"{run}: no checkpoints to resume from in {ckpt_dir(run)}")
    errors = []
    for p in reversed(ckpts):
        try:
            return p, load(p, map_location)
        except WavegenError as e:
            errors.append(str(e))
            print(f"warning: {e}; trying an older checkpoint", flush=True)
    raise WavegenError(f"{run}: no checkpoint loads ({errors[0]})")
