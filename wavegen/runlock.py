"""One writer per folder: an OS lock that a run's trainer (or a `generate`) holds for as long as it writes.

The lock is an `fcntl.flock` on a file `.wavegen.lock` inside the folder. The kernel releases it when the
holder's last descriptor closes, so a process killed in any way never leaves a stale lock; the file itself stays
(removing it would let two processes lock two different files of one name). The holder writes its PID into the
file, so a refused writer can say which process holds the folder. Readers (eval, report, plot, ...) take no
lock: every file they read is written atomically, and a log's unfinished last line is dropped by its reader.

A fresh run folder is claimed in one step: the folder is created if missing, locked, and only then checked for
emptiness, so of two trainings started into one --out exactly one writes there.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from .errors import WavegenError
from .atomic import TEMP
try:
    import fcntl
except ImportError:  # Windows: no flock; one writer per folder is then the user's to keep
    fcntl = None

NAME = ".wavegen.lock"


def new_run_id() -> str:
    """A run's identity, drawn at its start (outside torch's generator: it changes no random draw of the run)."""
    return secrets.token_hex(8)


def is_lock(name: str) -> bool:
    return name == NAME


class FolderLock:
    """The write lock of one folder, held from `claim` until `release` (or the process's end). Usable as a
    context manager that releases it however the block ends."""

    def __init__(self):
        self.fd: int | None = None
        self.folder: Path | None = None

    def claim(self, folder: str | Path, who: str) -> "FolderLock":
        """Lock `folder` (which must exist), or a WavegenError saying which process holds it. `who` names this
        writer in the holder's file ("training", "generate")."""
        folder = Path(folder)
        if self.fd is not None:
            return self
        try:
            fd = os.open(folder / NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise WavegenError(f"{folder / NAME}: cannot create the folder's lock ({e.strerror or e})") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held (EWOULDBLOCK); the holder's PID is in the file
                holder = os.pread(fd, 200, 0).decode("ascii", "replace").split()
                os.close(fd)
                pid = f"process {holder[0]}" if holder and holder[0].isdigit() else "another process"
                what = f" ({holder[1]})" if len(holder) > 1 else ""
                raise WavegenError(f"{folder}: {pid}{what} is writing this folder; a folder has one writer at a "
                                   "time: wait for it to end or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {who}\n".encode(), 0)
        self.fd, self.folder = fd, folder
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # the kernel drops the flock with the last descriptor
            self.fd = None

    def __enter__(self) -> "FolderLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def leftovers(folder: Path) -> list[str]:
    """What a folder holds besides its lock and the temporary files of writers killed mid-write: a fresh run
    folder must hold nothing else."""
    return sorted(p.name for p in folder.iterdir() if not is_lock(p.name) and not TEMP.match(p.name))


def claim_run(lock: FolderLock, run: str | Path, fresh: bool) -> None:
    """Take `run`'s writer lock for a training: a fresh run creates the folder (parents too) and, once it holds
    the lock, requires it to be empty; a resumed one requires its config.json."""
    run = Path(run)
    if fresh:
        try:
            run.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WavegenError(f"{run}: cannot create the run folder ({e.strerror or e})") from None
    lock.claim(run, "training")
    if fresh and leftovers(run):
        lock.release()
        raise WavegenError(f"{run}: run folder exists; resume it with --resume {run} or choose another --out")
    if not fresh and not (run / "config.json").is_file():
        lock.release()
        raise WavegenError(f"{run}: not a run folder (no config.json) to resume")
