"""Real audio at any length: a folder decoded once into a memory-mapped cache, served as fixed-length windows.

    prepare(src)                 every audio file under src (wav, flac, ogg, mp3; any rate, channel count, length)
                                 -> src/.wavegen-prepared-<hash>/ {samples.npy, index.npz, prepared.json}
    Windows(prepared, length)    examples of `length` samples cut from it; get(idx) -> (B, C, L) float32
    open_windows(src, ...)       both in one call, for the trainer

samples.npy is one (C, total) float32 array, the files one after another along time; index.npz says where each
file starts, how long it is and its class (its first-level sub-folder). Only the index is held in memory: the
samples are read from the page cache through a memory map, so a data set larger than RAM trains in little of
it (bench/prepared_memory.py measures how little). The cache is built once: prepared.json records a fingerprint
of the source files (names, sizes, modification times) and the options, and a later prepare with both unchanged
returns the folder without decoding anything.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from numpy.lib.format import open_memmap
from scipy.signal import resample_poly

from .checkpoint import atomic_write
from .data import MAX_LISTED, NONFINITE, find_files, libsndfile_message, probe, settle_bad, short_read
from .errors import WavegenError

# Every default and constant of this module
FORMATS = ("wav", "flac", "ogg", "mp3")  # extensions prepare() decodes
PREPARED_PREFIX = ".wavegen-prepared-"  # default cache folder inside the source: this + a hash of the options
VERSION = 1  # of the cache layout; a cache of another version is rebuilt
BLOCK_FRAMES = 1 << 16  # frames decoded at a time, so a long file is never whole in memory (unless resampled)
COPY_SAMPLES = 1 << 22  # samples moved at a time when a cache is compacted
WINDOW_MODES = ("random", "all", "first")  # see Windows
NORMALISE_MODES = ("none", "peak", "rms")
RMS_TARGET = 0.1  # normalise="rms" scales each window to this RMS
SILENT = 1e-6  # a window whose peak (or RMS) is below this is silence: left as it is rather than blown up


# ---------------------------------------------------------------------------------------------------------
# prepare: decode once


def prepare(src: str | Path, out: str | Path | None = None, *, sample_rate: int = 0, mono: bool = True,
            formats: tuple[str, ...] = FORMATS, skip_bad: bool = False) -> Path:
    """Decode every audio file under `src` (recursive) into a memory-mappable cache folder and return it.

    sample_rate: resample every file to this rate (scipy's resample_poly); 0 keeps the files' rate, which all
    must then share. mono: average the channels; False keeps them, and all files must have the same count.
    Bad files (unreadable, empty, not audio, undecodable, truncated, NaN/Inf) raise one error listing them all;
    skip_bad=True leaves them out and lists them in prepared.json ("skipped"). A cache whose source files and
    options are unchanged is returned as it is, without decoding.
    """
    src = Path(src)
    if not src.is_dir():
        raise WavegenError(f"{src}: not a folder")
    if sample_rate < 0:
        raise WavegenError(f"sample rate must be 0 (keep the files' own) or more, got {sample_rate}")
    # What the samples depend on. formats and skip_bad only choose files, and the fingerprint covers which files
    # were found, so a cache made by `wavegen data prepare` (all formats) serves a trainer asking for fewer.
    options = {"sample_rate": int(sample_rate), "mono": bool(mono)}
    if out is None:
        out = src / (PREPARED_PREFIX + hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:10])
    out = Path(out)
    files, fingerprint = find_files(src, formats)
    if not files:
        raise WavegenError(f"{src}: no audio files ({', '.join(formats)}) found")
    if _reusable(out, src, fingerprint, options, skip_bad):
        return out
    if out.exists() and any(out.iterdir()) and not (out / "prepared.json").exists():
        raise WavegenError(f"{out}: exists and is not a prepared folder; choose another --out or remove it")

    names = [str(p.relative_to(src)) for p in files]
    # Pass 1, headers only: files that cannot even be opened, and the rate and channel count to build at
    bad: dict[str, str] = {}  # name -> reason; reported in file order
    heads = []  # (name, path, info) of the files that opened
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

    # Pass 2: decode into samples.npy, built in a temporary folder that replaces `out` only once complete
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        lengths = [_resampled_length(info.frames, info.samplerate, rate) for _, _, info in heads]
        total = sum(lengths)
        mm = open_memmap(tmp / "samples.npy", mode="w+", dtype=np.float32, shape=(channels, total))  # (C, T)
        data_offset, mm = mm.offset, None  # only the file's layout is needed: writes go through the file (below)
        kept, at = [], 0  # (name, start, length) of the files in the cache, and where the next one starts
        # Writes go through the file, not the map, so written pages are the kernel's page cache and never count as
        # this process's memory. A file that turns out bad while decoding is overwritten by the next one.
        with open(tmp / "samples.npy", "r+b") as f:
            def write(x: np.ndarray, pos: int) -> None:  # x: (C, n) at time `pos` of every channel row
                for c in range(channels):
                    f.seek(data_offset + 4 * (c * total + pos))
                    f.write(np.ascontiguousarray(x[c], dtype=np.float32).tobytes())

            for (name, path, info), n in zip(heads, lengths):
                got, reason = _decode_into(path, info, rate, mono, write, at)
                if reason:
                    bad[name] = reason
                else:
                    assert got == n, (path, got, n)
                    kept.append((name, at, n))
                    at += n
            f.flush()
            os.fsync(f.fileno())
        bad_list = [(name, bad[name]) for name in names if name in bad]
        settle_bad(src, bad_list, len(files), skip_bad)
        if at < total:  # files went bad while decoding: close the gap they left at the end
            _shrink(tmp / "samples.npy", channels, total, at)

        folders = [Path(name).parts[0] if len(Path(name).parts) > 1 else None for name, _, _ in kept]  # class of each
        classes = sorted({c for c in folders if c is not None})  # the first-level sub-folders, sorted
        labels = [classes.index(c) if c is not None else -1 for c in folders]  # -1: a file at the top level
        atomic_write(tmp / "index.npz", lambda fh: np.savez(
            fh, start=np.array([s for _, s, _ in kept], np.int64), length=np.array([n for _, _, n in kept], np.int64),
            label=np.array(labels, np.int64), path=np.array([name for name, _, _ in kept], dtype=str)))
        meta = {"version": VERSION, "sample_rate": rate, "channels": channels, "n_files": len(kept), "total_samples": at,
                "hours": at / rate / 3600, "bytes": (tmp / "samples.npy").stat().st_size, "classes": classes,
                "source": str(src.resolve()), "fingerprint": fingerprint, "options": options, "formats": list(formats),
                "skipped": bad_list, "built_at": time.time()}
        atomic_write(tmp / "prepared.json", lambda fh: fh.write((json.dumps(meta, indent=1) + "\n").encode()))
        _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


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
    whole = np.empty((1 if mono else info.channels, info.frames), np.float32) if resample else None  # (C', frames)
    got = 0
    try:
        with sf.SoundFile(str(path)) as f:
            while got < info.frames:
                block = f.read(min(BLOCK_FRAMES, info.frames - got), dtype="float32", always_2d=True)  # (b, C)
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


# ---------------------------------------------------------------------------------------------------------
# Windows: fixed-length examples


class Windows:
    """Examples of `length` samples cut from a prepared folder, read through a memory map.

    Window starts within a file are 0, hop, 2*hop, ... (hop 0 = length: no overlap):
      window="all"     every such window, the same every epoch;
      window="random"  as many windows per file as "all", but each epoch the file's starts move by a random
                       offset in [0, hop), so over the epochs every position is seen. A start the offset would
                       push past the last start of "all" (pad=True) or of a full window (pad=False) stops there,
                       so no window holds more padding than in "all" and none repeats. (Each epoch covers a file
                       from its offset on: position p < hop is in a window with probability (p + 1) / hop.)
      window="first"   the first window of each file only (WaveGAN's first-slice mode).
    pad=True end-pads with zeros a file shorter than `length` and the last, partial window of a longer one;
    pad=False drops partial windows, and files shorter than `length` are an error.
    normalise: "none"; "peak" divides each window by its max |x|; "rms" scales it to RMS RMS_TARGET (peaky windows
    may then exceed 1). Windows quieter than SILENT are left as they are.
    """

    def __init__(self, prepared_dir: str | Path, length: int, hop: int = 0, window: str = "random", pad: bool = True,
                 normalise: str = "none"):
        _check_window_args(length, hop, window, normalise)
        self.folder = Path(prepared_dir)
        meta = read_prepared(self.folder)
        self.samples = np.load(self.folder / "samples.npy", mmap_mode="r")  # (C, T) on disk
        with np.load(self.folder / "index.npz", allow_pickle=False) as z:
            file_start, file_len, file_label, paths = z["start"], z["length"], z["label"], z["path"]  # (F,) each
        self.length, self.hop, self.window, self.pad, self.normalise = length, hop or length, window, pad, normalise
        self.channels, self.sample_rate = int(meta["channels"]), int(meta["sample_rate"])
        self.classes: list[str] = list(meta["classes"])
        self.skipped = [tuple(s) for s in meta.get("skipped", [])]  # (file, reason) left out by prepare(skip_bad)
        self.files = [str(p) for p in paths]
        L, H = self.length, self.hop

        if not pad:
            short = np.flatnonzero(file_len < L)
            if len(short):
                src = Path(meta["source"])
                lines = [f"{self.folder}: {len(short)} of {len(file_len)} files are too short for length {L} "
                         f"(pad is off, so they cannot be zero-padded):"]
                lines += [f"  {src / self.files[i]}: {file_len[i]} samples" for i in short[:MAX_LISTED]]
                if len(short) > MAX_LISTED:
                    lines.append(f"  ... and {len(short) - MAX_LISTED} more")
                lines.append("turn pad on (train: --pad true) to zero-pad them, or choose a shorter length")
                raise WavegenError("\n".join(lines))
        full = np.where(file_len >= L, (file_len - L) // H + 1, 0)  # (F,) windows that fit whole
        if window == "first":
            count = np.ones_like(file_len)
        elif pad:
            # one more, end-padded, window where the full ones leave samples uncovered and the next start is in the file
            tail = (full == 0) | (((full - 1) * H + L < file_len) & (full * H < file_len))
            count = full + tail
        else:
            count = full
        # the last start a window may take: the last of "all", or the last full window's
        max_start = np.maximum(np.maximum(file_len - L, (count - 1) * H), 0)  # (F,)

        self.file_of = np.repeat(np.arange(len(count)), count)  # (n,) which file each example is cut from
        self.k_of = np.arange(len(self.file_of)) - np.repeat(np.cumsum(count) - count, count)  # (n,) its window number
        self._file_start, self._file_len, self._max_start = file_start, file_len, max_start
        self.n = len(self.file_of)
        self.labels = file_label[self.file_of].astype(np.int64)  # (n,) -1: unlabelled (a file at the top level)
        self._total = self.samples.shape[1]
        self.set_epoch(0, 0)

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int, seed: int) -> None:
        """Place the windows for `epoch`: a pure function of (seed, epoch), so a resumed run sees the same ones."""
        offset = np.zeros(len(self._file_len), np.int64)  # (F,)
        if self.window == "random":
            offset = np.random.default_rng((seed, epoch)).integers(0, self.hop, len(self._file_len))
        f = self.file_of
        self.starts = np.minimum(offset[f] + self.k_of * self.hop, self._max_start[f])  # (n,) within each file
        self._at = self._file_start[f] + self.starts  # (n,) within samples
        self._valid = np.minimum(self.length, self._file_len[f] - self.starts)  # (n,) samples before any padding

    def get(self, idx) -> torch.Tensor:
        """Examples number `idx` (array or tensor of B ints) as a (B, C, L) float32 tensor."""
        if isinstance(idx, torch.Tensor):
            idx = idx.detach().cpu().numpy()
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)  # (B,)
        t = np.arange(self.length)  # (L,)
        pos = np.minimum(self._at[idx, None] + t, self._total - 1)  # (B, L) positions in samples
        inside = t < self._valid[idx, None]  # (B, L) False on the padding (which may hold the next file)
        x = self.samples[:, pos]  # (C, B, L): one gather from the map, only these pages are read
        x = np.where(inside[None], x, np.float32(0)).transpose(1, 0, 2)  # (B, C, L)
        if self.normalise != "none":
            flat = x.reshape(len(idx), -1)  # (B, C * L)
            level = np.abs(flat).max(1) if self.normalise == "peak" else np.sqrt((flat * flat).mean(1))  # (B,)
            target = 1.0 if self.normalise == "peak" else RMS_TARGET
            gain = np.where(level > SILENT, target / np.maximum(level, SILENT), 1).astype(np.float32)  # (B,)
            x = x * gain[:, None, None]
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _check_window_args(length: int, hop: int, window: str, normalise: str) -> None:
    if length <= 0:
        raise WavegenError(f"length must be at least 1 sample, got {length}")
    if hop < 0:
        raise WavegenError(f"hop must be 0 (= length) or more, got {hop}")
    if window not in WINDOW_MODES:
        raise WavegenError(f"window must be one of {', '.join(WINDOW_MODES)}; got {window!r}")
    if normalise not in NORMALISE_MODES:
        raise WavegenError(f"normalise must be one of {', '.join(NORMALISE_MODES)}; got {normalise!r}")


def open_windows(folder: str | Path, *, length: int, formats: tuple[str, ...] = FORMATS, sample_rate: int = 0,
                 mono: bool = True, hop: int = 0, window: str = "random", pad: bool = True, normalise: str = "none",
                 skip_bad: bool = False) -> Windows:
    """Windows of a folder of audio in one call: prepares the cache (or reuses it) and opens it. `folder` may also
    be a prepared folder itself."""
    _check_window_args(length, hop, window, normalise)  # before a decode that may take minutes
    folder = Path(folder)
    if not (folder / "prepared.json").exists():
        folder = prepare(folder, sample_rate=sample_rate, mono=mono, formats=formats, skip_bad=skip_bad)
    return Windows(folder, length, hop, window, pad, normalise)
