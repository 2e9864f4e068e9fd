"""Where decoded data is cached: the user's cache folder, never the data folder, which may be read-only and is
the user's own.

The cache folder is `cache_dir` (the `--cache-dir` flag), else $WAVEGEN_CACHE_DIR, else the platform's user cache
folder (platformdirs: ~/.cache/wavegen on Linux); "none" turns caching off. In it, each data folder has an entry
named by a hash of the folder's resolved path:

    <cache folder>/<hash>/folder.json          the data folder it caches; its modification time is the last use
                         /folder.npz           load_folder's decoded files (data/folder.py)
                         /prepared-<hash>/     prepare's memory-mapped cache, one per option set (data/prepared.py)

A cache is built under a temporary name and renamed into place while its builder holds an flock on
`.<name>.lock` beside it: concurrent runs (or torchrun ranks) wait for the one that builds and then read its
cache, and a build killed midway leaves only a temporary, which the next builder removes.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import WavegenError
from ..atomic import atomic_write
from ..runfolder import outside_data
try:
    import fcntl
except ImportError:  # Windows: no flock; concurrent builds then each build, and the last rename wins
    fcntl = None

ENV = "WAVEGEN_CACHE_DIR"
OFF = "none"  # the cache_dir that turns caching off
SOURCE = "folder.json"  # in an entry: which data folder it caches


class CacheUnwritable(WavegenError):
    """The cache folder cannot be created or written (read-only, full, no permission): callers that can decode
    into memory instead say so in one line and go on."""


def cache_root(cache_dir: str | None = None) -> Path | None:
    """The cache folder: `cache_dir`, else $WAVEGEN_CACHE_DIR, else the user cache folder; None when "none"."""
    choice = (cache_dir or os.environ.get(ENV, "")).strip()
    if choice.lower() == OFF:
        return None
    if choice:
        return Path(choice).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("wavegen", appauthor=False))


def entry(root: Path, folder: str | Path) -> Path:
    """The entry of data folder `folder` in the cache folder `root` (which may not exist yet)."""
    return root / hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:16]


def claim(root: Path, folder: str | Path) -> Path:
    """The entry of `folder`, created with its folder.json if new; CacheUnwritable if it cannot be."""
    outside_data(folder, root, "the cache folder")
    d = entry(root, folder)
    try:
        d.mkdir(parents=True, exist_ok=True)
        if not (d / SOURCE).exists():
            text = json.dumps({"folder": str(Path(folder).resolve())}) + "\n"
            atomic_write(d / SOURCE, lambda fh: fh.write(text.encode()))
    except OSError as e:
        raise unwritable(root, e) from None
    return d


def unwritable(where: Path, e: OSError) -> CacheUnwritable:
    return CacheUnwritable(f"{where}: cannot write the cache there ({e.strerror or e}); choose another place with "
                           f"--cache-dir DIR or {ENV}, or turn it off with --cache-dir none")


def warn(message: str) -> None:
    """One line on stderr: the run goes on (a cache that could not be written costs time, not correctness)."""
    print(f"wavegen: {message}", file=sys.stderr, flush=True)


def touch(d: Path) -> None:
    """Record a use of the entry `d` (a no-op for a folder that is not an entry, such as a prepare --out)."""
    try:
        os.utime(d / SOURCE)
    except OSError:  # no entry, or a read-only cache folder: the last use is only shown by `cache list`
        pass


@contextmanager
def locked(target: Path):
    """Hold the build lock of `target` (a cache file or folder) and remove what builds killed midway left.
    Only lock holders make temporaries, so every one found while holding the lock is stale."""
    lock = target.parent / f".{target.name}.lock"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise unwritable(target.parent, e) from None
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed, or by the kernel if the process dies
        for stale in [*target.parent.glob(f".{target.name}.tmp-*"), *target.parent.glob(f".{target.name}.old-*")]:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)


@dataclass
class Entry:
    path: Path  # the entry in the cache folder
    folder: str  # the data folder it caches
    bytes: int
    last_use: float  # seconds since the epoch


def entries(root: Path) -> list[Entry]:
    """Every data folder's entry in `root`, most recently used first. Folders without folder.json are not
    wavegen's and are left out (a --cache-dir may point at a folder that holds other things)."""
    found = []
    for d in root.iterdir() if root.is_dir() else []:
        try:
            folder = json.loads((d / SOURCE).read_text())["folder"]
            last_use = (d / SOURCE).stat().st_mtime
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(Entry(d, folder, size_of(d), last_use))
    return sorted(found, key=lambda e: -e.last_use)


def size_of(path: Path) -> int:
    """Bytes in the files under `path` (or of the file `path`)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:  # removed while counting
                pass
    return total


def clear(root: Path, folder: str | Path | None = None) -> tuple[list[Entry], list[Entry]]:
    """Remove every entry of `root`, or the one of data folder `folder`. Returns (removed, in use): an entry whose
    cache a run is building right now is left alone."""
    chosen = entries(root)
    if folder is not None:
        chosen = [e for e in chosen if e.path == entry(root, folder)]
    removed, busy = [], []
    for e in chosen:
        with _all_locks(e.path) as free:
            if free:
                try:
                    shutil.rmtree(e.path)
                except OSError as err:
                    raise WavegenError(f"{e.path}: cannot remove this cache ({err.strerror or err})") from None
            (removed if free else busy).append(e)
    return removed, busy


@contextmanager
def _all_locks(d: Path):
    """Try every build lock in entry `d` without waiting; yields whether all were free."""
    fds, free = [], True
    try:
        for lock in d.glob(".*.lock"):
            try:
                fd = os.open(lock, os.O_RDONLY)  # flock needs no write access
            except OSError:  # removed meanwhile
                continue
            fds.append(fd)
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    free = False
        yield free
    finally:
        for fd in fds:
            os.close(fd)


def human(n: int) -> str:
    """A size in bytes as 12.3 MB (decimal units, as df and du -H show them)."""
    if n < 1000:
        return f"{n} B"
    for unit in ("kB", "MB", "GB"):
        n /= 1000
        if n < 1000:
            return f"{n:.1f} {unit}"
    return f"{n / 1000:.1f} TB"


def when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))
