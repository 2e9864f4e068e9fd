"""Atomic writes: every file wavegen writes goes through here, whole or not at all.

A write goes to a temporary file `.NAME.PID.tmp` beside its target, is fsynced and renamed into place, so a crash at
any moment leaves either the old file or the new one complete, never a torn one. A process killed inside
`atomic_write` leaves its temporary file behind: no reader looks at those names, and `remove_stale_temps` (called on
resume and at every checkpoint) deletes the ones whose process is gone. A failed write (a full disk) is one line
naming the file (`write_failed`); logs are appended whole or not at all (`append_text`).
"""
from __future__ import annotations

import errno
import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from .errors import WavegenError

TEMP = re.compile(r"\..+\.(\d+)\.tmp$")  # atomic_write's temporary files: .NAME.PID.tmp


class WriteError(WavegenError, OSError):
    """A write that failed (a full disk, a quota, no permission), naming the file in one line; still an OSError,
    so that callers which can go on without the file (the caches) catch it as one."""


KEPT = "the previous file is kept"  # what a failed write leaves, said after its reason


def write_failed(path: Path, e: OSError, left: str = KEPT) -> WriteError:
    """The one-line error for an OSError `e` met while writing `path`, ending in what is `left` (nothing torn)."""
    if isinstance(e, WriteError):
        return e
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        err = WriteError(f"{shown(path)}: no space left on device; {left}, free space and "
                         f"{'resume' if left == KEPT else 'run it again'}")
    else:
        err = WriteError(f"{shown(path)}: cannot write ({e.strerror or e}); {left}")
    err.errno = e.errno
    return err


class _Watched:
    """The file a writer is given: it keeps the OSError of a failed write, which torch's zip writer and libsndfile
    replace with errors of their own (RuntimeError, LibsndfileError) that do not say the disk is full. A failed
    write returns 0 (nothing written) instead of raising: an exception raised inside a C library's callback is
    printed to stderr as a traceback; `_write_watched` raises the kept error once the writer returns."""

    def __init__(self, f):
        self._f, self.error = f, None

    def write(self, data):
        if self.error is not None:
            return 0
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            return 0

    def __getattr__(self, name):
        return getattr(self._f, name)


def _write_watched(f, write) -> None:
    """Call `write(f)` through a _Watched file; a failed write is raised as its own OSError, whatever the writer
    made of it."""
    watched = _Watched(f)
    try:
        write(watched)
    except Exception:
        if watched.error is not None:
            raise watched.error from None
        raise
    if watched.error is not None:  # a writer that ignored the short write
        raise watched.error


def atomic_write(path: Path, write) -> None:
    """Call `write(file_object)` on a temporary file beside `path`, then fsync and rename it to `path`. Any failure
    leaves the old `path` (or none) and no temporary file; one of the disk's is a WriteError naming `path`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            _write_watched(f, write)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # make the rename itself durable
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise write_failed(path, e) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_new(path: Path, write, shown_as: Path | None = None, left: str = KEPT) -> None:
    """Call `write(file_object)` on a new file `path`, without atomic_write's temporary file and fsync: for the
    many files of a folder that `staged_folder` puts in place as a whole. A failure removes the file; one of the
    disk's is a WriteError naming `shown_as` (the file's final path) or `path`, ending in what is `left`."""
    try:
        with open(path, "wb") as f:
            _write_watched(f, write)
    except OSError as e:
        path.unlink(missing_ok=True)
        raise write_failed(shown_as or path, e, left) from None


NOTHING = "nothing was written"  # what a failed `staged_folder` leaves


@contextmanager
def staged_folder(out: Path):
    """Yield a new temporary folder beside `out` to fill, renamed to `out` (absent or empty) when the block ends
    without an error: a kill, a full disk or an error leaves no half-written `out`. Folders of dead writers of
    the same `out` are removed first."""
    prefix = f".{out.name}."
    if out.parent.is_dir():
        for p in out.parent.iterdir():
            m = TEMP.match(p.name)
            if m and p.name.startswith(prefix) and p.name.count(".") == out.name.count(".") + 3 and p.is_dir() \
                    and not p.is_symlink() and not _alive(int(m.group(1))):
                shutil.rmtree(p, ignore_errors=True)
    tmp = out.with_name(f"{prefix}{os.getpid()}.tmp")
    try:
        tmp.mkdir(parents=True)
    except OSError as e:
        raise write_failed(out, e, NOTHING) from None
    try:
        yield tmp
        try:
            os.replace(tmp, out)
        except OSError as e:
            raise write_failed(out, e, NOTHING) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def append_text(path: Path, text: str) -> None:
    """Append `text` (whole lines) to a log: all of it or, when the disk fills, none (the file is cut back to
    its length before), so a reader never meets half a row; the failure is a WriteError naming the file."""
    try:
        f = open(path, "a")
    except OSError as e:
        raise write_failed(path, e) from None
    try:
        start = os.fstat(f.fileno()).st_size
        f.write(text)
        f.flush()
    except OSError as e:
        os.ftruncate(f.fileno(), start)  # frees space: it cannot fail for want of it
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, f.fileno())  # what the buffer still holds goes nowhere, not after the cut
        os.close(null)
        raise write_failed(path, e) from None
    finally:
        try:
            f.close()
        except OSError:
            pass


def shown(path: str | Path) -> str:
    """A path as printed in messages: control characters (a newline in a file name) and bytes that are not
    UTF-8 are escaped, so that a message stays one line and prints in any locale."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


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


def write_json(path: Path, obj: dict) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))
