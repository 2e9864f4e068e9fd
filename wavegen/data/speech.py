"""A spoken-word data set made offline with the espeak-ng speech synthesiser: one class folder per word, each clip
the word said by a random English accent and voice, pitch and speed, at a random onset and gain. It is the
SC09-like set of docs/judge.md and docs/audio.md: real speech structure (formants, fricatives, plosives) that
needs no download."""
from __future__ import annotations

import io
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ..errors import WavegenError
from .synthetic import MAX_SAMPLES, check_out, write_set

NATO = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc")
VOICES = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")  # espeak-ng's plain variants
PITCH = (25, 75)  # espeak-ng -p, of 0-99
SPEED = (130, 200)  # espeak-ng -s, words per minute
SILENT = 1e-3  # of the peak: quieter samples at either end are the synthesiser's padding, cut off


def espeak() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise WavegenError("espeak-ng not found: install it (Debian/Ubuntu `apt install espeak-ng`, macOS "
                           "`brew install espeak-ng`) to make the words data set")
    return path


def say(exe: str, word: str, accent: str, voice: str, pitch: int, speed: int) -> tuple[np.ndarray, int]:
    """The word as espeak-ng says it, with its leading and trailing silence cut: (samples, rate)."""
    done = subprocess.run([exe, "-v", f"{accent}+{voice}", "-p", str(pitch), "-s", str(speed), "--stdout", word],
                          capture_output=True, timeout=60)
    if done.returncode != 0 or not done.stdout:
        raise WavegenError(f"espeak-ng failed on {word!r} with voice {accent}+{voice}: "
                           f"{done.stderr.decode(errors='replace').strip() or 'no audio'}")
    x, rate = sf.read(io.BytesIO(done.stdout), dtype="float32")
    loud = np.flatnonzero(np.abs(x) > SILENT * max(np.abs(x).max(), 1e-9))
    return (x[loud[0]:loud[-1] + 1] if len(loud) else x), rate


def speak(words: list[str], sample_rate: int, length: int, seed: int) -> np.ndarray:
    """Clip i says words[i] with a random accent, voice, pitch, speed, onset and peak gain: (n, length) float32."""
    exe = espeak()
    rng = np.random.default_rng(seed)
    # Every random choice is drawn here, in order, so the clips do not depend on how the synthesiser runs are timed.
    plans = [(word, ACCENTS[rng.integers(len(ACCENTS))], VOICES[rng.integers(len(VOICES))],
              int(rng.integers(PITCH[0], PITCH[1] + 1)), int(rng.integers(SPEED[0], SPEED[1] + 1)),
              rng.uniform(), rng.uniform(0.5, 0.9)) for word in words]
    with ThreadPoolExecutor(max_workers=4) as pool:  # each call is a process of its own
        said = list(pool.map(lambda p: say(exe, *p[:5]), plans))
    clips = np.zeros((len(words), length), np.float32)
    for clip, (*_, where, peak), (x, rate) in zip(clips, plans, said):
        g = gcd(rate, sample_rate)
        x = resample_poly(x, sample_rate // g, rate // g).astype(np.float32)[:length]
        onset = int(where * (length - len(x)))
        clip[onset:onset + len(x)] = x * (peak / max(np.abs(x).max(), 1e-6))
    return clips


def make_words(out: str | Path, words: tuple[str, ...] = NATO, n: int = 2000, sample_rate: int = 16000,
               seconds: float = 1.0, seed: int = 0) -> Path:
    """`n` wavs of `seconds` at `sample_rate`, the words in turn, one sub-folder per word."""
    out = Path(out)
    if n <= 0 or sample_rate <= 0 or not seconds > 0 or seed < 0:
        raise WavegenError("words data needs n, sample_rate and seconds > 0 and a seed of 0 or more")
    if len(words) < 2 or len(set(words)) < len(words) or not all(w.isalpha() for w in words):
        raise WavegenError(f"words data needs two or more different words of letters only, got {','.join(words)!r}")
    if sample_rate * seconds > MAX_SAMPLES:
        raise WavegenError(f"words of {seconds:g} s at {sample_rate} Hz are more than {MAX_SAMPLES:,} samples each")
    espeak()
    check_out(out)
    said = [words[i % len(words)] for i in range(n)]
    clips = speak(said, sample_rate, int(round(sample_rate * seconds)), seed)
    width = len(str(n - 1))
    return write_set(out, ((f"{word}/{i:0{width}d}.wav", clip) for i, (word, clip) in enumerate(zip(said, clips))),
                     sample_rate, {"kind": "words", "n": n, "sample_rate": sample_rate, "seconds": seconds,
                                   "seed": seed, "classes": list(words)})
