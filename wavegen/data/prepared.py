"""Real audio at any length, decoded once: every audio file of a folder (any format libsndfile reads: wav, flac,
ogg, mp3, aiff, ...; any rate, channel count, length) -> a cache folder {samples.npy, index.npz, prepared.json};
data/windows.py cuts it.

samples.npy is one (C, total) float32 array, the files one after another along time; index.npz says where each
file starts, how long it is and its class (its first-level sub-folder; data/labels.py gives a run's own rule). Only
the index is held in memory: the samples are read from the page cache through a memory map, so a data set larger
than RAM trains in little of it (bench/prepared_memory.py measures how little). The cache is built once:
prepared.json records a fingerprint of the source files (names, sizes, modification times) and the options, and a
later prepare with both unchanged returns the folder without decoding anything.

The cache folder lives in the user's cache folder (data/cache.py), never in the source folder, which may be
read-only. With the cache turned off (cache_dir "none"), or a cache folder that cannot be written, the same
decode goes into an array in memory instead (`load_prepared`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from numpy.lib.format import open_memmap
from scipy.signal import resample_poly

from ..errors import WavegenError
from ..atomic import atomic_write
from ..runfolder import outside_data
from .cache import CacheUnwritable, cache_root, claim, locked, touch, unwritable, warn
from .files import (AUDIO_FORMATS, MAX_RATE, NONFINITE, Found, class_labels, frame_bound, libsndfile_message,
                    no_audio, probe, quiet_decoder, scan, settle_bad, sf_path, short_read)

FORMATS = AUDIO_FORMATS  # extensions prepare() decodes
PREPARED_PREFIX = ".wavegen-prepared-"  # older versions' cache folder inside the source: still read, never written
VERSION = 1  # of the cache layout; a cache of another version is rebuilt
BLOCK_FRAMES = 1 << 16  # frames decoded at a time, so a long file is never whole in memory (unless resampled)
COPY_SAMPLES = 1 << 22  # samples moved at a time when a cache is compacted


@dataclass
class Prepared:
    """A prepared data set: the samples of every file one after another, and where each file lies in them."""
    meta: dict  # prepared.json's fields
    samples: np.ndarray  # (C, T) float32: a memory map of samples.npy, or an array in memory
    start: np.ndarray  # (F,) int64: where each file starts in samples
    length: np.ndarray  # (F,) int64: its samples
    label: np.ndarray  # (F,) int64: its class number, -1 for a file at the top level
    files: list[str]  # (F,) paths relative to the source folder
    folder: Path | None = None  # the cache folder; None when decoded into memory
    built: bool = False  # whether this call built that cache folder
    left_out: list = field(default_factory=list)  # (file, reason) of audio files not used: an extension not
    # among the formats, or no class (data/labels.py); the bad ones are in meta["skipped"]
    ignored: int = 0  # other files of the source folder (not audio)
    notes: list = field(default_factory=list)  # lines worth saying about how the files were read


@dataclass
class _Plan:
    """What pass 1 (headers only) found: the files to decode and the rate and channel count they become."""
    names: list[str]  # every file found, relative to the source
    bad: dict[str, str]  # {name: reason} of the bad files so far; decoding may add more
    heads: list  # (name, path, soundfile info) of the files to decode
    rate: int
    channels: int
    lengths: list[int]  # samples each file of `heads` becomes at `rate`


def prepare(src: str | Path, out: str | Path | None = None, *, sample_rate: int = 0, mono: bool = True,
            formats: tuple[str, ...] = FORMATS, skip_bad: bool = False, cache_dir: str | None = None) -> Path:
    """Decode every audio file under `src` (recursive) into a memory-mappable cache folder and return it.

    out: the cache folder; by default one in the cache folder (data/cache.py: `cache_dir`, else
    $WAVEGEN_CACHE_DIR, else the user cache folder). Nothing is written into `src`.
    sample_rate: resample every file to this rate (scipy's resample_poly); 0 keeps the files' rate, which all
    must then share. mono: average the channels; False keeps them, and all files must have the same count.
    Bad files (unreadable, empty, not audio, undecodable, truncated, NaN/Inf) raise one error listing them all;
    skip_bad=True leaves them out and lists them in prepared.json ("skipped"). A cache whose source files and
    options are unchanged is returned as it is, without decoding; so is a valid one an older wavegen left in `src`.
    """
    return _prepare(src, out, sample_rate=sample_rate, mono=mono, formats=formats, skip_bad=skip_bad,
                    cache_dir=cache_dir)[0]


def _prepare(src, out, *, sample_rate, mono, formats, skip_bad, cache_dir) -> tuple[Path, bool, Found]:
    """prepare(), whether this call built the cache (False: it was there, or another process built it), and what
    the walk of `src` found."""
    src, options = _source(src, sample_rate, mono)
    found = _find(src, formats)
    files, fingerprint = found.files, found.fingerprint
    in_cache = out is None
    if in_cache:
        legacy = src / (PREPARED_PREFIX + _options_hash(options))
        if _reusable(legacy, src, fingerprint, options, skip_bad):
            return legacy, False, found
        root = cache_root(cache_dir)
        if root is None:
            raise WavegenError(f"{src}: the cache is turned off (cache dir none), so there is nowhere to prepare "
                               "into; pass --out DIR or --cache-dir DIR")
        out = claim(root, src) / f"prepared-{_options_hash(options)}"
    out = Path(out)
    outside_data(src, out, "prepare's output folder (--out)")
    built = False
    if not _reusable(out, src, fingerprint, options, skip_bad):
        with locked(out):
            if not _reusable(out, src, fingerprint, options, skip_bad):  # or another process built it meanwhile
                if out.exists() and not out.is_dir():
                    raise WavegenError(f"{out}: is a file, not a folder to prepare into; choose another --out")
                if out.exists() and any(out.iterdir()) and not (out / "prepared.json").exists():
                    raise WavegenError(f"{out}: exists and is not a prepared folder; choose another --out or remove it")
                _build(out, src, _plan(src, files, sample_rate, mono, skip_bad), fingerprint, options, formats,
                       skip_bad)
                built = True
    if in_cache:
        touch(out.parent)
    return out, built, found


def load_prepared(src: str | Path, *, sample_rate: int = 0, mono: bool = True, formats: tuple[str, ...] = FORMATS,
                  skip_bad: bool = False, cache_dir: str | None = None) -> Prepared:
    """The prepared data of `src`: its cache folder (built if needed) opened through a memory map, or, with the
    cache turned off or unwritable, the same decode into memory (a cache that cannot be written says so in one
    line on stderr)."""
    if cache_root(cache_dir) is not None:
        try:
            out, built, found = _prepare(src, None, sample_rate=sample_rate, mono=mono, formats=formats,
                                         skip_bad=skip_bad, cache_dir=cache_dir)
            data = open_prepared(out)
            data.built, data.left_out, data.ignored = built, found.unloaded, found.ignored
            return data
        except CacheUnwritable as e:
            warn(f"{e}; decoding into memory")
    return decode_prepared(src, sample_rate=sample_rate, mono=mono, formats=formats, skip_bad=skip_bad)


def decode_prepared(src: str | Path, *, sample_rate: int = 0, mono: bool = True, formats: tuple[str, ...] = FORMATS,
                    skip_bad: bool = False) -> Prepared:
    """What prepare() writes, decoded into memory instead: nothing is written anywhere."""
    src, options = _source(src, sample_rate, mono)
    found = _find(src, formats)
    files, fingerprint = found.files, found.fingerprint
    plan = _plan(src, files, sample_rate, mono, skip_bad)
    total = sum(plan.lengths)
    try:
        samples = np.empty((plan.channels, total), np.float32)  # (C, T)
    except MemoryError:
        raise WavegenError(f"{src}: the decoded audio ({plan.channels * total * 4 / 1e9:.1f} GB) does not fit in "
                           "memory; give a writable --cache-dir to serve it from disk") from None

    def write(x: np.ndarray, pos: int) -> None:  # x: (C, n) at time `pos`
        samples[:, pos:pos + x.shape[1]] = x

    kept, used = _decode_all(plan, mono, write)
    bad_list = [(name, plan.bad[name]) for name in plan.names if name in plan.bad]
    settle_bad(src, bad_list, len(files), skip_bad)
    samples = samples[:, :used].copy() if used < total else samples  # (C, used): files that went bad leave a gap
    index, classes = _index(kept)
    meta = _meta(src, plan, kept, used, samples.nbytes, classes, fingerprint, options, formats, bad_list)
    return Prepared(meta, samples, index["start"], index["length"], index["label"], list(index["path"]),
                    left_out=found.unloaded, ignored=found.ignored)


def open_prepared(folder: str | Path) -> Prepared:
    """A cache folder made by prepare(), its samples memory-mapped."""
    folder = Path(folder)
    meta = read_prepared(folder)
    samples = np.load(folder / "samples.npy", mmap_mode="r")  # (C, T) on disk
    with np.load(folder / "index.npz", allow_pickle=False) as z:
        return Prepared(meta, samples, z["start"], z["length"], z["label"], [str(p) for p in z["path"]], folder)


def _source(src: str | Path, sample_rate: int, mono: bool) -> tuple[Path, dict]:
    """The source folder, checked, and the options the samples depend on. formats and skip_bad only choose files,
    and the fingerprint covers which files were found, so a cache made by `wavegen data prepare` (all formats)
    serves a trainer asking for fewer."""
    src = Path(src)
    if not src.is_dir():
        raise WavegenError(f"{src}: not a folder")
    if not 0 <= sample_rate <= MAX_RATE:
        raise WavegenError(f"sample rate must be 0 (keep the files' own) or up to {MAX_RATE:,} Hz, got {sample_rate}")
    return src, {"sample_rate": int(sample_rate), "mono": bool(mono)}


def _find(src: Path, formats: tuple[str, ...]) -> Found:
    found = scan(src, formats)
    if not found.files:
        raise no_audio(src, found, formats)
    return found


def _options_hash(options: dict) -> str:
    return hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:10]


def _plan(src: Path, files: list[Path], sample_rate: int, mono: bool, skip_bad: bool) -> _Plan:
    """Pass 1, headers only: the files that cannot even be opened, and the rate and channels of the others."""
    names = [str(p.relative_to(src)) for p in files]
    bad, heads = {}, []
    for name, path in zip(names, files):
        info, reason = probe(path)
        if reason:
            bad[name] = reason
        else:
            heads.append((name, path, info))
    if not heads:
        settle_bad(src, list(bad.items()), len(files), skip_bad)  # all bad: raises
    rate = sample_rate or _common(src, heads, "samplerate", lambda v: f"sample rate {v} Hz",
                                  "pass --sample-rate N to resample every file to one rate")
    channels = 1 if mono else _common(src, heads, "channels", lambda v: f"{v} channel{'s' if v != 1 else ''}",
                                      "pass --channels mono (train: --mono true) to average them")
    lengths = [_resampled_length(info.frames, info.samplerate, rate) for _, _, info in heads]
    return _Plan(names, bad, heads, rate, channels, lengths)


def _build(out: Path, src: Path, plan: _Plan, fingerprint: str, options: dict, formats: tuple[str, ...],
           skip_bad: bool) -> None:
    """Decode into a temporary folder beside `out` that replaces it only once complete. The caller holds the
    lock of `out`; a write that fails (a full or read-only disk) raises CacheUnwritable."""
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        tmp.mkdir(parents=True)
        kept, used = _decode_to_file(tmp / "samples.npy", plan, options["mono"])
        bad_list = [(name, plan.bad[name]) for name in plan.names if name in plan.bad]
        settle_bad(src, bad_list, len(plan.names), skip_bad)
        index, classes = _index(kept)
        atomic_write(tmp / "index.npz", lambda fh: np.savez(fh, **index))
        meta = _meta(src, plan, kept, used, (tmp / "samples.npy").stat().st_size, classes, fingerprint, options,
                     formats, bad_list)
        atomic_write(tmp / "prepared.json", lambda fh: fh.write((json.dumps(meta, indent=1) + "\n").encode()))
        _swap_in(tmp, out)
    except OSError as e:  # reading the sources never raises (bad files are reasons): this is the cache's disk
        raise unwritable(out.parent, e) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _meta(src: Path, plan: _Plan, kept: list, used: int, nbytes: int, classes: list[str], fingerprint: str,
          options: dict, formats: tuple[str, ...], bad_list: list) -> dict:
    """prepared.json's fields."""
    return {"version": VERSION, "sample_rate": plan.rate, "channels": plan.channels, "n_files": len(kept),
            "total_samples": used, "hours": used / plan.rate / 3600, "bytes": nbytes, "classes": classes,
            "source": str(src.resolve()), "fingerprint": fingerprint, "options": options, "formats": list(formats),
            "skipped": bad_list, "built_at": time.time()}


def _decode_to_file(path: Path, plan: _Plan, mono: bool) -> tuple[list[tuple[str, int, int]], int]:
    """Decode the files into `path`, a (C, total) samples.npy. Writes go through the file, not a map, so written
    pages are the kernel's page cache and never count as this process's memory."""
    total = sum(plan.lengths)
    mm = open_memmap(path, mode="w+", dtype=np.float32, shape=(plan.channels, total))  # (C, T)
    data_offset, mm = mm.offset, None  # only the file's layout is needed
    with open(path, "r+b") as f:
        def write(x: np.ndarray, pos: int) -> None:  # x: (C, n) at time `pos` of every channel row
            for c in range(plan.channels):
                f.seek(data_offset + 4 * (c * total + pos))
                f.write(np.ascontiguousarray(x[c], dtype=np.float32).tobytes())

        kept, used = _decode_all(plan, mono, write)
        f.flush()
        os.fsync(f.fileno())
    if used < total:  # files went bad while decoding: close the gap they left at the end
        _shrink(path, plan.channels, total, used)
    return kept, used


def _decode_all(plan: _Plan, mono: bool, write) -> tuple[list[tuple[str, int, int]], int]:
    """Pass 2: decode the files one after another through write(x (C, n), pos). Files that turn out bad while
    decoding are added to plan.bad, and the next file overwrites what they wrote. Returns (name, start, length)
    of the files kept and the samples used."""
    kept, at = [], 0  # (name, start, length) of the files kept, and where the next one starts
    for (name, src_path, info), n in zip(plan.heads, plan.lengths):
        got, reason = _decode_into(src_path, info, plan.rate, mono, write, at)
        if reason:
            plan.bad[name] = reason
        else:
            assert got == n, (src_path, got, n)
            kept.append((name, at, n))
            at += n
    return kept, at


def _index(kept: list[tuple[str, int, int]]) -> tuple[dict[str, np.ndarray], list[str]]:
    """index.npz's arrays: where each file starts, its length and its class (first-level sub-folder); and the
    classes."""
    classes, labels = class_labels([name for name, _, _ in kept])
    index = {"start": np.array([s for _, s, _ in kept], np.int64), "length": np.array([n for _, _, n in kept], np.int64),
             "label": labels, "path": np.array([name for name, _, _ in kept], dtype=str)}
    return index, classes


def read_prepared(folder: str | Path) -> dict:
    """The prepared.json of a cache folder made by prepare()."""
    path = Path(folder) / "prepared.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise WavegenError(f"{folder}: not a prepared folder (no prepared.json); "
                           "make one with `wavegen data prepare`") from None
    except (OSError, json.JSONDecodeError) as e:
        raise WavegenError(f"{path}: cannot read ({e})") from None
    if meta.get("version") != VERSION:
        raise WavegenError(f"{folder}: prepared by another version of wavegen; prepare it again")
    return meta


def _reusable(out: Path, src: Path, fingerprint: str, options: dict, skip_bad: bool) -> bool:
    """Whether `out` is a complete cache of exactly these files and options. A cache that skipped bad files
    serves only skip_bad: for anyone else the same files are still bad, and that is reported without decoding."""
    try:
        meta = json.loads((out / "prepared.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    if (meta.get("version"), meta.get("fingerprint"), meta.get("options")) != (VERSION, fingerprint, options):
        return False
    if not ((out / "samples.npy").exists() and (out / "index.npz").exists()):
        return False
    skipped = [tuple(s) for s in meta.get("skipped", [])]
    settle_bad(src, skipped, meta["n_files"] + len(skipped), skip_bad)
    return True


def _common(src: Path, heads: list, attr: str, what, hint: str) -> int:
    """The value of `attr` (samplerate, channels) that most files have; any file with another is an error."""
    counts = Counter(getattr(info, attr) for _, _, info in heads)
    value = counts.most_common()[0][0]
    odd = [(name, getattr(info, attr)) for name, _, info in heads if getattr(info, attr) != value]
    if odd:
        name, v = odd[0]
        raise WavegenError(f"{src / name}: {what(v)}, but most files have {what(value)} "
                           f"({len(odd)} of {len(heads)} files differ); {hint}")
    return value


def _resampled_length(frames: int, rate: int, target: int) -> int:
    """Samples resample_poly makes from `frames` at `rate`: ceil(frames * up / down)."""
    g = gcd(rate, target)
    return -(-frames * (target // g) // (rate // g))


def _decode_into(path: Path, info, rate: int, mono: bool, write, at: int) -> tuple[int, str | None]:
    """Decode `path` block by block, mix to mono if asked, resample to `rate`, and write(x (C, n), pos) it at
    `at` onwards. Returns (samples written, None), or (0, reason) for a file that fails while decoding."""
    resample = info.samplerate != rate
    # resample_poly filters the whole signal at once, so a file to resample is gathered whole: its decoded float32
    # samples plus the output (for an hour of 48 kHz audio, mono, 0.7 GB + 0.2 GB at 16 kHz). Resample very long
    # recordings beforehand, or split them, if that is too much.
    got = 0
    try:
        # probe held the header's frame count to what the file's size allows, but the file may have changed since:
        # the count is capped again against the file as it is now, so no header can size a larger array
        frames = min(info.frames, frame_bound(info, os.stat(path).st_size))
        whole = np.empty((1 if mono else info.channels, frames), np.float32) if resample else None  # (C', frames)
        with quiet_decoder(path), sf.SoundFile(sf_path(path)) as f:
            while got < frames:
                block = f.read(min(BLOCK_FRAMES, frames - got), dtype="float32", always_2d=True)  # (b, C)
                if len(block) == 0:
                    break
                if not np.isfinite(block).all():
                    return 0, NONFINITE
                block = block.mean(axis=1, keepdims=True) if mono else block  # (b, C')
                if resample:
                    whole[:, got:got + len(block)] = block.T
                else:
                    write(block.T, at + got)
                got += len(block)
    except Exception as e:  # soundfile raises several types for damaged data
        return 0, f"cannot decode ({libsndfile_message(e)}) after {got} frames"
    reason = short_read(info.frames, got)
    if reason:
        return 0, reason
    if not resample:
        return got, None
    g = gcd(info.samplerate, rate)
    y = resample_poly(whole, rate // g, info.samplerate // g, axis=1).astype(np.float32, copy=False)  # (C', n)
    write(y, at)
    return y.shape[1], None


def _shrink(path: Path, channels: int, total: int, used: int) -> None:
    """Rewrite samples.npy (C, total) as (C, used), keeping each channel row's first `used` samples."""
    old = np.load(path, mmap_mode="r")  # (C, total)
    new_path = path.with_name(path.name + ".shrink")
    new = open_memmap(new_path, mode="w+", dtype=np.float32, shape=(channels, used))  # (C, used)
    for c in range(channels):
        for s in range(0, used, COPY_SAMPLES):
            new[c, s:s + COPY_SAMPLES] = old[c, s:min(used, s + COPY_SAMPLES)]
    new.flush()
    del new, old
    os.replace(new_path, path)


def _swap_in(tmp: Path, out: Path) -> None:
    """Put the finished folder `tmp` at `out`, replacing an older cache there. A reader still using the old
    samples keeps its memory map (the file is unlinked, not overwritten)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
