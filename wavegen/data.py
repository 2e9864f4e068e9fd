"""Data: the seed's synthetic Gaussian-curve set, and any folder of audio decoded once into one tensor.

A folder is read with soundfile (wav, flac, ogg, ...). Every file must match the first in length, channel
count and sample rate; the first file that does not, or that cannot be read, or that holds NaN/Inf, stops
the load with a one-line error naming it. The decoded set is cached next to the files (`.wavegen-cache.npz`)
keyed by the files' names, sizes and modification times, so the second load of 10,000 wavs is one read.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from .errors import WavegenError

META_NAME = "wavegen_data.json"  # written beside a synthetic data set: how it was made
CACHE_NAME = ".wavegen-cache.npz"


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


def find_files(folder: Path, formats: tuple[str, ...]) -> tuple[list[Path], str]:
    """The audio files under `folder` (sorted, recursive), and a fingerprint of their names, sizes and
    modification times that keys the cache. One os.scandir walk: for 100,000 files it is several times
    faster than rglob plus a stat per file, and it is all a cached load costs besides reading the cache."""
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
                elif os.path.splitext(e.name)[1].lower() in exts and e.is_file():
                    st = e.stat()
                    found.append((name, st.st_size, st.st_mtime_ns))
    found.sort()
    h = hashlib.sha1()
    for name, size, mtime in found:
        h.update(f"{name}\0{size}\0{mtime}\n".encode())
    return [folder / name for name, _, _ in found], h.hexdigest()


def load_folder(folder: str | Path, formats: tuple[str, ...] = ("wav", "flac", "ogg"), cache: bool = True) -> AudioSet:
    folder = Path(folder)
    if not folder.is_dir():
        raise WavegenError(f"{folder}: not a folder")
    files, key = find_files(folder, formats)
    if not files:
        raise WavegenError(f"{folder}: no audio files ({', '.join(formats)}) found")
    cache_path = folder / CACHE_NAME
    if cache:
        hit = _read_cache(cache_path, key)
        if hit is not None:
            return hit
    first_info = None
    arrays = []
    for p in files:
        try:
            info = sf.info(str(p))
            x, sr = sf.read(str(p), dtype="float32", always_2d=True)  # (L, C)
        except Exception as e:  # soundfile raises several types for broken files; all mean "unreadable"
            raise WavegenError(f"{p}: cannot read audio ({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})") from None
        shape = (x.shape[0], x.shape[1], sr)
        if first_info is None:
            first_info = (p, shape)
        elif shape != first_info[1]:
            (p0, (l0, c0, sr0)) = first_info
            what = []
            if x.shape[0] != l0:
                what.append(f"length {x.shape[0]} (first file {l0})")
            if x.shape[1] != c0:
                what.append(f"{x.shape[1]} channels (first file {c0})")
            if sr != sr0:
                what.append(f"sample rate {sr} (first file {sr0})")
            raise WavegenError(f"{p}: {', '.join(what)}; every file must match {p0.name}")
        if x.shape[0] == 0 or info.frames == 0:
            raise WavegenError(f"{p}: file holds no samples")
        if not np.isfinite(x).all():
            raise WavegenError(f"{p}: holds NaN or Inf samples")
        arrays.append(x.T)  # (C, L)
    data = np.stack(arrays)  # (N, C, L)
    rel = [str(p.relative_to(folder)) for p in files]
    sr = first_info[1][2]
    if cache:
        _write_cache(cache_path, key, data, sr, rel)
    return AudioSet(torch.from_numpy(data), sr, rel)


def _read_cache(path: Path, key: str) -> AudioSet | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            return AudioSet(torch.from_numpy(z["x"]), int(z["sample_rate"]), [str(s) for s in z["files"]])
    except Exception:  # a stale or broken cache is rebuilt, never trusted
        return None


def _write_cache(path: Path, key: str, data: np.ndarray, sr: int, files: list[str]) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, key=np.array(key), x=data, sample_rate=np.array(sr), files=np.array(files))
        os.replace(tmp, path)
    except OSError:  # a read-only data folder just goes without a cache
        tmp.unlink(missing_ok=True)
