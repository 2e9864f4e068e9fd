"""Synthetic data sets made by wavegen: the post's Gaussian curves plus noise, and a small set of drum and tonal
sounds in class folders. Each is written as wav files with a `wavegen_data.json` recording how it was made, so
metrics can draw fresh examples from the same recipe."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import WavegenError
from ..atomic import NOTHING, staged_folder, write_new
from ..runfolder import read_json_object
META_NAME = "wavegen_data.json"  # written beside a synthetic data set: how it was made
MAX_SAMPLES = 2**30  # of a gaussian data set (drawn in memory at once) or one sound: 4 GB of float32


@dataclass
class GaussianSpec:
    """A centred Gaussian curve plus white noise, as in the post. Defaults: see docs/findings.md, 'The transition'."""
    n: int = 10000  # number of files
    length: int = 100  # samples per file
    sigma: float = 8.0  # width of the curve (standard deviation, in samples)
    amplitude: float = 0.5  # height of the curve's peak (at 1.0 the post preset stays in its garbage phase)
    noise: float = 0.1  # std of the white noise added to every sample (at 0.05 too, D wins too easily)
    sample_rate: int = 16000  # written into the wav headers
    seed: int = 0  # seeds the noise

    def ideal(self) -> np.ndarray:
        """The noiseless curve, centred between the two middle samples."""
        t = np.arange(self.length, dtype=np.float64)
        centre = (self.length - 1) / 2
        return (self.amplitude * np.exp(-0.5 * ((t - centre) / self.sigma) ** 2)).astype(np.float32)

    @classmethod
    def from_meta(cls, meta) -> "GaussianSpec | None":
        """The spec recorded in a data set's wavegen_data.json (or a run's data.json "meta"); None for other data,
        and for a record that is not a recipe make_gaussian could have written (read_meta refuses those)."""
        if not isinstance(meta, dict) or meta.get("kind") != "gaussian":
            return None
        values = {k: v for k, v in meta.items() if k != "kind"}
        names = {f.name for f in fields(cls)}
        if set(values) - names or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values()):
            return None
        if any(not isinstance(values.get(k, 0), int) for k in ("n", "length", "sample_rate", "seed")):
            return None
        spec = cls(**values)
        return spec if spec.problem() is None else None

    def problem(self) -> str | None:
        """Why this recipe cannot be drawn, or None."""
        if self.n <= 0 or self.length <= 0 or not self.sigma > 0 or not self.noise >= 0 or self.sample_rate <= 0 \
                or not all(math.isfinite(v) for v in (self.sigma, self.amplitude, self.noise)):
            return "gaussian data needs n, length, sigma, sample_rate > 0, noise >= 0, and finite numbers"
        if self.seed < 0:
            return f"the seed of gaussian data must be 0 or more, got {self.seed}"
        if self.n * self.length > MAX_SAMPLES:
            return (f"gaussian data of {self.n} x {self.length} samples is more than the {MAX_SAMPLES:,} samples "
                    "drawn at once allow")
        return None

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` noisy curves, (n, length) float32: the examples of the data set."""
        return self.ideal()[None, :] + self.noise * rng.standard_normal((n, self.length), dtype=np.float32)


def check_out(out: Path) -> None:
    """A data set is written into a new or empty folder only."""
    if out.exists() and not out.is_dir():
        raise WavegenError(f"{out}: is a file, not a folder to write the data into")
    if out.exists() and any(out.iterdir()):
        raise WavegenError(f"{out}: folder exists and is not empty; choose another or remove it")


def write_set(out: Path, clips, sample_rate: int, meta: dict) -> Path:
    """Write `clips` ((relative path, samples) pairs) as 32-bit float wavs, so no value is quantised or clipped, and
    `meta` as wavegen_data.json, into a folder renamed to `out` once all are written: a kill or a full disk leaves
    no partial data set, and a full disk is one line naming the file."""
    with staged_folder(out) as tmp:
        for name, x in clips:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            write_new(tmp / name, lambda f: sf.write(f, x, sample_rate, format="WAV", subtype="FLOAT"), out / name, NOTHING)
        text = (json.dumps(meta, indent=2) + "\n").encode()
        write_new(tmp / META_NAME, lambda f: f.write(text), out / META_NAME, NOTHING)
    return out


def make_gaussian(out: str | Path, spec: GaussianSpec) -> Path:
    """Write `spec.n` wav files and a JSON of the spec."""
    out = Path(out)
    if spec.problem():
        raise WavegenError(spec.problem())
    check_out(out)
    curves = spec.draw(spec.n, np.random.default_rng(spec.seed))
    width = len(str(spec.n - 1))
    return write_set(out, ((f"{i:0{width}d}.wav", x) for i, x in enumerate(curves)), spec.sample_rate,
                     {"kind": "gaussian", **spec.__dict__})


SOUND_CLASSES = ("kick", "snare", "tone", "chirp")  # the sub-folders of `make_sounds`


def sound(kind: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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
    if n <= 0 or sample_rate <= 0 or not seconds > 0 or seed < 0:
        raise WavegenError("sounds data needs n, sample_rate and seconds > 0 and a seed of 0 or more")
    if sample_rate * seconds > MAX_SAMPLES:
        raise WavegenError(f"sounds of {seconds:g} s at {sample_rate} Hz are more than {MAX_SAMPLES:,} samples each")
    check_out(out)
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(sample_rate * seconds))) / sample_rate
    width = len(str(n - 1))
    kinds = (SOUND_CLASSES[i % len(SOUND_CLASSES)] for i in range(n))
    return write_set(out, ((f"{kind}/{i:0{width}d}.wav", sound(kind, t, rng)) for i, kind in enumerate(kinds)),
                     sample_rate, {"kind": "sounds", "n": n, "sample_rate": sample_rate, "seconds": seconds,
                                   "seed": seed, "classes": list(SOUND_CLASSES)})


def read_meta(folder: str | Path) -> dict | None:
    """The JSON written beside a synthetic set, or None for ordinary audio."""
    path = Path(folder) / META_NAME
    if not path.exists():
        return None
    meta = read_json_object(path, "the data set's description")
    if meta.get("kind") == "gaussian" and GaussianSpec.from_meta(meta) is None:
        raise WavegenError(f"{path}: not a gaussian recipe wavegen wrote (fields {', '.join(sorted(meta))})")
    return meta
