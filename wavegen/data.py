"""Data: the seed's synthetic Gaussian-curve set, and any folder of audio decoded once into one tensor.

A folder is read with soundfile (wav, flac, ogg, ...). Every file is checked before anything trains, and all
the bad ones are reported together (the first MAX_LISTED by name): files that cannot be opened, are empty, are
not audio, use an encoding libsndfile cannot decode, are truncated, or hold NaN/Inf; and, since each file is one
example here, files whose (length, channels, sample rate) differ from the most common one. With skip_bad=True
the good files are loaded and the bad ones listed on the result. The decoded set is cached next to the files
(`.wavegen-cache.npz`) keyed by the files' names, sizes and modification times (and skip_bad), so the second
load of 10,000 wavs is one read. Audio of any length, rate and channel count is served in windows by audio.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from .errors import WavegenError

META_NAME = "wavegen_data.json"  # written beside a synthetic data set: how it was made
CACHE_NAME = ".wavegen-cache.npz"
MAX_LISTED = 10  # bad files named in an error message; the rest are counted
HEADER_BYTES = 512  # read from the start of every file to check a wav's header


@dataclass
class GaussianSpec:
    """A centred Gaussian curve plus white noise, as in the post. Defaults: see README, 'The transition'."""
    n: int = 10000  # number of files
    length: int = 100  # samples per file
    sigma: float = 8.0  # width of the curve (standard deviation, in samples)
    amplitude: float = 0.5  # height of the curve's peak (at 1.0 the seed preset stays in its garbage phase)
    noise: float = 0.1  # std of the white noise added to every sample (at 0.05 too, D wins too easily)
    sample_rate: int = 16000  # written into the wav headers
    seed: int = 0  # seeds the noise

    def ideal(self) -> np.ndarray:
        """The noiseless curve, centred between the two middle samples."""
        t = np.arange(self.length, dtype=np.float64)
        centre = (self.length - 1) / 2
        return (self.amplitude * np.exp(-0.5 * ((t - centre) / self.sigma) ** 2)).astype(np.float32)

    @classmethod
    def from_meta(cls, meta: dict | None) -> "GaussianSpec | None":
        """The spec recorded in a data set's wavegen_data.json (or a run's data.json "meta"); None for other data."""
        if not meta or meta.get("kind") != "gaussian":
            return None
        return cls(**{k: v for k, v in meta.items() if k != "kind"})

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` noisy curves, (n, length) float32: the examples of the data set."""
        return self.ideal()[None, :] + self.noise * rng.standard_normal((n, self.length), dtype=np.float32)


def make_gaussian(out: str | Path, spec: GaussianSpec) -> Path:
    """Write `spec.n` wav files (32-bit float, so no value is quantised or clipped) and a JSON of the spec."""
    out = Path(out)
    if spec.n <= 0 or spec.length <= 0 or spec.sigma <= 0 or spec.noise < 0 or spec.sample_rate <= 0:
        raise WavegenError("gaussian data needs n, length, sigma, sample_rate > 0 and noise >= 0")
    if out.exists() and any(out.iterdir()):
        raise WavegenError(f"{out}: folder exists and is not empty; choose another or remove it")
    out.mkdir(parents=True, exist_ok=True)
    curves = spec.draw(spec.n, np.random.default_rng(spec.seed))
    width = len(str(spec.n - 1))
    for i, x in enumerate(curves):
        sf.write(out / f"{i:0{width}d}.wav", x, spec.sample_rate, subtype="FLOAT")
    (out / META_NAME).write_text(json.dumps({"kind": "gaussian", **spec.__dict__}, indent=2) + "\n")
    return out


SOUND_CLASSES = ("kick", "snare", "tone", "chirp")  # the sub-folders of `make_sounds`


def _sound(kind: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One short percussive or tonal sound over times `t` (seconds), peak about 0.5-0.9."""
    onset = rng.uniform(0, 0.1)
    u = np.clip(t - onset, 0, None)  # time since the onset
    on = (t >= onset).astype(np.float32)
    if kind == "kick":  # a sine whose pitch drops fast, with a quick decay: a bass drum
        f0, f1 = rng.uniform(100, 180), rng.uniform(40, 60)
        phase = 2 * np.pi * (f1 * u + (f0 - f1) * 0.03 * (1 - np.exp(-u / 0.03)))
        x = np.sin(phase) * np.exp(-u / rng.uniform(0.1, 0.25))
    elif kind == "snare":  # a noise burst plus a short tone
        x = rng.standard_normal(len(t)) * np.exp(-u / rng.uniform(0.04, 0.1)) * 0.6
        x += 0.4 * np.sin(2 * np.pi * rng.uniform(160, 240) * u) * np.exp(-u / 0.05)
    elif kind == "tone":  # a plucked note with two harmonics
        f = 220 * 2 ** (rng.integers(0, 24) / 12)
        x = (np.sin(2 * np.pi * f * u) + 0.4 * np.sin(4 * np.pi * f * u)) * np.exp(-u / rng.uniform(0.2, 0.5))
    else:  # chirp: a sweep between two random pitches
        f0, f1 = rng.uniform(200, 2000, size=2)
        dur = t[-1] - onset
        x = np.sin(2 * np.pi * (f0 * u + (f1 - f0) * u ** 2 / (2 * dur))) * np.exp(-u / rng.uniform(0.3, 0.6))
    x = x * on
    return (rng.uniform(0.5, 0.9) * x / max(np.abs(x).max(), 1e-6)).astype(np.float32)


def make_sounds(out: str | Path, n: int = 2000, sample_rate: int = 16000, seconds: float = 1.0, seed: int = 0) -> Path:
    """A small real-sounding set to try the audio presets on: `n` wavs of kicks, snares, plucked tones and chirps,
    one class per sub-folder, `seconds` long (WaveGAN's SC09 clips are 1 s at 16 kHz)."""
    out = Path(out)
    if n <= 0 or sample_rate <= 0 or seconds <= 0:
        raise WavegenError("sounds data needs n, sample_rate and seconds > 0")
    if out.exists() and any(out.iterdir()):
        raise WavegenError(f"{out}: folder exists and is not empty; choose another or remove it")
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(sample_rate * seconds))) / sample_rate
    width = len(str(n - 1))
    for i in range(n):
        kind = SOUND_CLASSES[i % len(SOUND_CLASSES)]
        (out / kind).mkdir(parents=True, exist_ok=True)
        sf.write(out / kind / f"{i:0{width}d}.wav", _sound(kind, t, rng), sample_rate, subtype="FLOAT")
    (out / META_NAME).write_text(json.dumps({"kind": "sounds", "n": n, "sample_rate": sample_rate, "seconds": seconds,
                                             "seed": seed, "classes": list(SOUND_CLASSES)}, indent=2) + "\n")
    return out


def read_meta(folder: str | Path) -> dict | None:
    """The JSON written beside a synthetic set, or None for ordinary audio."""
    path = Path(folder) / META_NAME
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WavegenError(f"{path}: cannot read ({e})") from None


@dataclass
class AudioSet:
    x: torch.Tensor  # (N, C, L) float32, all examples in memory
    sample_rate: int
    files: list[str]  # relative to the folder, in the order of x
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) of bad files left out (skip_bad)


def find_files(folder: Path, formats: tuple[str, ...]) -> tuple[list[Path], str]:
    """The audio files under `folder` (sorted, recursive), and a fingerprint of their names, sizes and
    modification times that keys the cache. One os.scandir walk: for 100,000 files it is several times
    faster than rglob plus a stat per file, and it is all a cached load costs besides reading the cache.
    A broken symbolic link with an audio extension is listed too, so that the load reports it as bad."""
    exts = {"." + f.lower().lstrip(".") for f in formats}
    found: list[tuple[str, int, int]] = []  # (path relative to folder, size, mtime_ns)
    stack = [""]
    while stack:
        rel = stack.pop()
        with os.scandir(folder / rel) as it:
            for e in it:
                name = f"{rel}/{e.name}" if rel else e.name
                if e.is_dir():
                    stack.append(name)
                elif os.path.splitext(e.name)[1].lower() in exts and (e.is_file() or e.is_symlink()):
                    try:
                        st = e.stat()
                    except OSError:  # a broken link: its own stat still fingerprints it
                        st = e.stat(follow_symlinks=False)
                    found.append((name, st.st_size, st.st_mtime_ns))
    found.sort()
    h = hashlib.sha1()
    for name, size, mtime in found:
        h.update(f"{name}\0{size}\0{mtime}\n".encode())
    return [folder / name for name, _, _ in found], h.hexdigest()


# Checking files. Every problem becomes a (file, reason) pair; a folder's pairs are reported together, so one
# run of the command shows everything to fix. audio.prepare uses the same checks and the same message.

NONFINITE = "holds NaN or Inf samples"


def probe(path: Path) -> tuple["sf._SoundFileInfo | None", str | None]:
    """Open `path` and read its header: (info, None) for a file soundfile can decode, else (None, reason).
    This catches what shows before decoding: a file that cannot be opened (a broken link, no permission), an
    empty file, one that is not audio, an encoding libsndfile cannot decode, and a truncated wav."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)  # a wav's fmt and data chunk headers are nearly always in here
            size = os.fstat(f.fileno()).st_size
            short = _wav_shortfall(f, head, size) if head[:4] == b"RIFF" and head[8:12] == b"WAVE" else None
    except FileNotFoundError:
        if os.path.islink(path):
            return None, f"cannot read: broken symbolic link (to {os.readlink(path)})"
        return None, "cannot read: file not found (removed while loading?)"
    except OSError as e:
        return None, f"cannot read: {e.strerror or type(e).__name__}"
    if size == 0:
        return None, "cannot read: empty file (0 bytes)"
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises several types for broken files
        msg = libsndfile_message(e)
        if "not recognised" in msg.lower():
            return None, f"cannot read: not audio, or a format libsndfile does not know ({msg})"
        return None, f"cannot decode ({msg})"
    if short:
        return None, short
    if info.frames <= 0:
        return None, "holds no samples"
    return info, None


def _wav_shortfall(f, head: bytes, size: int) -> str | None:
    """The reason a wav is truncated (its data chunk promises more bytes than the file holds), or None.
    libsndfile quietly reads what is there and sf.info reports that shorter length, so the header is checked
    here. After the 12-byte RIFF header come chunks: id, u32 size, payload padded to an even length."""
    pos, align = 12, 1  # align: bytes per frame, from the fmt chunk

    def read(at: int, n: int) -> bytes:  # from `head`, or from the file past it (after a large chunk)
        if at + n <= len(head):
            return head[at:at + n]
        f.seek(at)
        return f.read(n)

    while pos + 8 <= size:
        cid, n = struct.unpack("<4sI", read(pos, 8))
        if cid == b"fmt " and n >= 14:
            align = max(1, struct.unpack("<H", read(pos + 20, 2))[0])
        elif cid == b"data":
            held = size - pos - 8
            if n in (0, 0xFFFFFFFF) or n <= held:  # 0 or all ones: written by a stream that did not know its length
                return None
            return f"truncated: header promises {n // align} frames, file holds {held // align}"
        pos += 8 + n + (n & 1)
    return None


def libsndfile_message(e: Exception) -> str:
    """The first line of an error, without soundfile's "Error opening 'PATH': " (the report names the file)."""
    text = str(e).strip()
    msg = text.splitlines()[0] if text else type(e).__name__
    return re.sub(r"^Error opening '.*?': ", "", msg)


def short_read(promised: int, got: int) -> str | None:
    """The reason for a decode that stopped early (an mp3 or ogg cut short, a damaged flac), or None."""
    return f"truncated or damaged: header says {promised} frames, decoded {got}" if got < promised else None


def bad_files_error(folder: Path, bad: list[tuple[str, str]], n_files: int) -> WavegenError:
    """One error for all the bad files of a folder: how many, the first MAX_LISTED as `path: reason`, a hint."""
    if len(bad) == n_files:
        head, hint = f"all {n_files} audio files are bad", "no file is usable: fix or remove them"
    else:
        head = f"{len(bad)} of {n_files} audio files {'is' if len(bad) == 1 else 'are'} bad"
        hint = "pass --skip-bad to train on the rest"
    lines = [f"{folder}: {head}:"] + [f"  {folder / name}: {reason}" for name, reason in bad[:MAX_LISTED]]
    if len(bad) > MAX_LISTED:
        lines.append(f"  ... and {len(bad) - MAX_LISTED} more")
    return WavegenError("\n".join(lines + [hint]))


def settle_bad(folder: Path, bad: list[tuple[str, str]], n_files: int, skip_bad: bool) -> None:
    """Raise the error for `bad` files unless skip_bad (and some file is good) lets the caller leave them out."""
    if bad and (not skip_bad or len(bad) == n_files):
        raise bad_files_error(folder, bad, n_files)


def describe_skipped(skipped: list[tuple[str, str]]) -> str:
    """What a caller prints after a load with skip_bad: the files left out and why (at most MAX_LISTED by name)."""
    if not skipped:
        return ""
    lines = [f"skipped {len(skipped)} bad file{'s' if len(skipped) != 1 else ''}:"]
    lines += [f"  {name}: {reason}" for name, reason in skipped[:MAX_LISTED]]
    if len(skipped) > MAX_LISTED:
        lines.append(f"  ... and {len(skipped) - MAX_LISTED} more")
    return "\n".join(lines)


def _decode(path: Path) -> tuple[np.ndarray | None, int, str | None]:
    """A whole file as (L, C) float32 and its sample rate, or (None, 0, reason it is bad)."""
    info, reason = probe(path)
    if reason:
        return None, 0, reason
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (L, C)
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


def load_folder(folder: str | Path, formats: tuple[str, ...] = ("wav", "flac", "ogg"), cache: bool = True,
                skip_bad: bool = False) -> AudioSet:
    """Every audio file under `folder` as one (N, C, L) tensor, one example per file, so all files must share
    one length, channel count and sample rate: the most common (length, channels, rate) is the reference and
    every other file is bad. Bad files raise one WavegenError listing them; with skip_bad=True they are left out
    and listed in the result's `skipped`."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WavegenError(f"{folder}: not a folder")
    files, fingerprint = find_files(folder, formats)
    if not files:
        raise WavegenError(f"{folder}: no audio files ({', '.join(formats)}) found")
    key = f"{fingerprint} skip_bad={int(skip_bad)}"  # a load that left files out must not pass for a full one
    cache_path = folder / CACHE_NAME
    if cache:
        hit = _read_cache(cache_path, key)
        if hit is not None:
            return hit
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
    rel = [name for name, _ in good]
    sr = ref[2]
    if cache:
        _write_cache(cache_path, key, data, sr, rel, bad)
    return AudioSet(torch.from_numpy(data), sr, rel, bad)


def _read_cache(path: Path, key: str) -> AudioSet | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            skipped = [(str(f), str(r)) for f, r in zip(z["skipped_files"], z["skipped_reasons"])]
            return AudioSet(torch.from_numpy(z["x"]), int(z["sample_rate"]), [str(s) for s in z["files"]], skipped)
    except Exception:  # a stale or broken cache is rebuilt, never trusted
        return None


def _write_cache(path: Path, key: str, data: np.ndarray, sr: int, files: list[str], skipped: list[tuple[str, str]]) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, key=np.array(key), x=data, sample_rate=np.array(sr), files=np.array(files),
                 skipped_files=np.array([f for f, _ in skipped], dtype=str),
                 skipped_reasons=np.array([r for _, r in skipped], dtype=str))
        os.replace(tmp, path)
    except OSError:  # a read-only data folder just goes without a cache
        tmp.unlink(missing_ok=True)
