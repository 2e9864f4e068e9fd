"""A folder of equal-length audio files decoded once into one (N, C, L) tensor: one example per file.

Since each file is one example, files whose (length, channels, sample rate) differ from the most common one are
bad too (data/files.py checks the rest). The decoded set is cached in the user's cache folder (data/cache.py),
keyed by the folder's path and the files' names, sizes and modification times (and skip_bad), so the second load
of 10,000 wavs is one read. Nothing is written into the data folder. Audio of any length, rate and channel count
is served in windows instead (data/windows.py).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..errors import WavegenError
from .cache import CacheUnwritable, cache_root, claim, entry, locked, touch, unwritable, warn
from .files import (AUDIO_FORMATS, NONFINITE, libsndfile_message, no_audio, probe, quiet_decoder, scan, settle_bad,
                    sf_path, short_read)

CACHE_FILE = "folder.npz"  # in the data folder's cache entry
CACHE_NAME = ".wavegen-cache.npz"  # older versions' cache inside the data folder: still read, never written


@dataclass
class AudioSet:
    x: torch.Tensor  # (N, C, L) float32, all examples in memory
    sample_rate: int
    files: list[str]  # relative to the folder, in the order of x
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) of bad files left out (skip_bad)
    cache: Path | None = None  # the cache file it was read from or written to; None without one
    built: bool = False  # whether this load wrote that cache
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (file, reason): audio of an extension not loaded
    ignored: int = 0  # other files in the folder (not audio)


def _decode(path: Path) -> tuple[np.ndarray | None, int, str | None]:
    """A whole file as (L, C) float32 and its sample rate, or (None, 0, reason it is bad)."""
    info, reason = probe(path)
    if reason:
        return None, 0, reason
    try:
        with quiet_decoder(path):
            x, sr = sf.read(sf_path(path), dtype="float32", always_2d=True)  # (L, C)
    except Exception as e:
        return None, 0, f"cannot decode ({libsndfile_message(e)})"
    reason = short_read(info.frames, len(x)) or (None if np.isfinite(x).all() else NONFINITE)
    return (None, 0, reason) if reason else (x, sr, None)


def _mismatch(shape: tuple[int, int, int], ref: tuple[int, int, int]) -> str:
    (length, channels, rate), (length0, channels0, rate0) = shape, ref
    what = []
    if length != length0:
        what.append(f"length {length}, most files {length0}")
    if channels != channels0:
        what.append(f"{channels} channels, most files {channels0}")
    if rate != rate0:
        what.append(f"sample rate {rate}, most files {rate0}")
    return "; ".join(what)


def load_folder(folder: str | Path, formats: tuple[str, ...] = AUDIO_FORMATS, cache: bool = True,
                skip_bad: bool = False, cache_dir: str | None = None) -> AudioSet:
    """Every audio file under `folder` as one (N, C, L) tensor, one example per file, so all files must share
    one length, channel count and sample rate: the most common (length, channels, rate) is the reference and
    every other file is bad. Bad files raise one WavegenError listing them; with skip_bad=True they are left out
    and listed in the result's `skipped`. The result is cached in the cache folder (data/cache.py: `cache_dir`,
    else $WAVEGEN_CACHE_DIR, else the user cache folder); cache=False or cache_dir "none" decodes every time."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WavegenError(f"{folder}: not a folder")
    found = scan(folder, formats)
    if not found.files:
        raise no_audio(folder, found, formats)
    data = _load_found(folder, found, cache, skip_bad, cache_dir)
    data.left_out, data.ignored = found.unloaded, found.ignored
    return data


def _load_found(folder: Path, found, cache: bool, skip_bad: bool, cache_dir: str | None) -> AudioSet:
    """load_folder's decode or cache read of the files `found`."""
    files, fingerprint = found.files, found.fingerprint
    key = f"{fingerprint} skip_bad={int(skip_bad)}"  # a load that left files out must not pass for a full one
    root = cache_root(cache_dir) if cache else None
    if root is None:
        return _decode_folder(folder, files, skip_bad)
    ours = entry(root, folder) / CACHE_FILE
    hit = _read_cache(ours, key)
    if hit is not None:
        touch(ours.parent)
        return hit
    hit = _read_cache(folder / CACHE_NAME, key)  # an older wavegen's cache beside the data, if still valid
    if hit is not None:
        return hit
    data = None
    try:
        target = claim(root, folder) / CACHE_FILE
        with locked(target):
            hit = _read_cache(target, key)  # built by another process while this one waited for the lock
            if hit is not None:
                touch(target.parent)
                return hit
            data = _decode_folder(folder, files, skip_bad)
            _write_cache(target, key, data)
            data.cache, data.built = target, True
    except CacheUnwritable as e:
        warn(f"{e}; decoding into memory")
    return data if data is not None else _decode_folder(folder, files, skip_bad)


def _decode_folder(folder: Path, files: list[Path], skip_bad: bool) -> AudioSet:
    """Decode `files` and check that they share one shape; raises for bad files unless skip_bad."""
    names = [str(p.relative_to(folder)) for p in files]
    decoded = [_decode(p) for p in files]  # (x (L, C) or None, rate, reason or None) per file
    shapes = Counter((x.shape[0], x.shape[1], sr) for x, sr, _ in decoded if x is not None)
    ref = shapes.most_common()[0][0] if shapes else None  # on a tie, the first file's (the sort is stable)
    bad, good = [], []
    for name, (x, sr, reason) in zip(names, decoded):
        if reason is None and (x.shape[0], x.shape[1], sr) != ref:
            reason = _mismatch((x.shape[0], x.shape[1], sr), ref)
        if reason:
            bad.append((name, reason))
        else:
            good.append((name, x))
    settle_bad(folder, bad, len(files), skip_bad)
    data = np.stack([x.T for _, x in good])  # (N, C, L)
    return AudioSet(torch.from_numpy(data), ref[2], [name for name, _ in good], bad)


def _read_cache(path: Path, key: str) -> AudioSet | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            skipped = [(str(f), str(r)) for f, r in zip(z["skipped_files"], z["skipped_reasons"])]
            return AudioSet(torch.from_numpy(z["x"]), int(z["sample_rate"]), [str(s) for s in z["files"]], skipped,
                            cache=path)
    except Exception:  # a stale or broken cache is rebuilt, never trusted
        return None


def _write_cache(path: Path, key: str, data: AudioSet) -> None:
    """Write the cache under a temporary name and rename it: a killed write leaves no cache to trust."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
    try:
        np.savez(tmp, key=np.array(key), x=data.x.numpy(), sample_rate=np.array(data.sample_rate),
                 files=np.array(data.files), skipped_files=np.array([f for f, _ in data.skipped], dtype=str),
                 skipped_reasons=np.array([r for _, r in data.skipped], dtype=str))
        os.replace(tmp, path)
    except OSError as e:  # a full or read-only cache folder: the data is decoded already, the run goes on
        tmp.unlink(missing_ok=True)
        raise unwritable(path.parent, e) from None
    touch(path.parent)
