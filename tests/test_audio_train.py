"""Real-sounding audio end to end: sine tones, chirps and clicks in class sub-folders at mixed rates, trained
through the windowed, resampled, memory-mapped path by the WaveGAN preset and the planned DCGAN at several
lengths, then listened to: wav previews, generated wavs and a latent walk at the target rate."""
import json

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import chirp

from conftest import run_cli, tiny_config, write_wav
from wavegen.runfolder import read_stats
from wavegen.training import train


@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    d = tmp_path_factory.mktemp("sounds")
    rng = np.random.default_rng(0)
    for i in range(4):
        sr = (22050, 16000)[i % 2]
        t = np.arange(int(sr * (0.4 + 0.2 * i))) / sr
        write_wav(d / "tones" / f"tone{i}.wav", (0.5 * np.sin(2 * np.pi * (220 * (i + 1)) * t)).astype(np.float32), sr)
        write_wav(d / "chirps" / f"chirp{i}.flac", (0.4 * chirp(t, 100, t[-1], 2000 + 500 * i)).astype(np.float32), sr)
        clicks = np.zeros_like(t)
        clicks[:: int(sr * 0.01 * (i + 1))] = 0.8
        write_wav(d / "clicks" / f"click{i}.ogg", (clicks + 0.01 * rng.standard_normal(len(t))).astype(np.float32), sr)
    return d


@pytest.mark.parametrize("preset, length, widths", [
    ("wavegan", 1024, dict(ngf=4, ndf=4)),
    ("wavegan", 4096, dict(ngf=2, ndf=2)),
    ("dcgan", 500, dict(ngf=16, ndf=16)),
    ("dcgan", 2048, dict(ngf=16, ndf=16)),
])
def test_presets_train_on_audio_at_several_lengths(sounds, tmp_path, preset, length, widths):
    cfg = tiny_config(sounds, tmp_path / "run", preset=preset, length=length, sample_rate=8000, batch_size=8,
                      batches=2, preview_every=1, **widths)
    train(cfg)
    rows = [r for r in read_stats(cfg.out) if "loss/G" in r]
    assert len(rows) == 2
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert data["length"] == length and data["sample_rate"] == 8000
    assert data["classes"] == ["chirps", "clicks", "tones"]
    wav = tmp_path / "run" / "previews" / "step_00000002_0.wav"
    x, sr = sf.read(wav)
    assert sr == 8000 and len(x) == length  # previews of audio runs are there to listen to


def test_generate_and_interpolate_write_wavs_at_the_target_rate(sounds, tmp_path):
    cfg = tiny_config(sounds, tmp_path / "run", preset="wavegan", length=512, sample_rate=8000, ngf=4, ndf=4,
                      batch_size=8, batches=1, ema=0.5)
    train(cfg)
    r = run_cli("generate", cfg.out, "--n", "3", "--out", tmp_path / "wavs")
    assert r.returncode == 0, r.stderr
    x, sr = sf.read(tmp_path / "wavs" / "sample_0000.wav")
    assert sr == 8000 and x.shape == (512,)
    r = run_cli("generate", cfg.out, "--n", "5", "--out", tmp_path / "walk", "--interpolate")
    assert r.returncode == 0, r.stderr
    steps = [sf.read(tmp_path / "walk" / f"step_{i:04d}.wav")[0] for i in range(5)]
    walk, sr = sf.read(tmp_path / "walk" / "walk.wav")
    assert sr == 8000 and np.allclose(walk, np.concatenate(steps), atol=1e-6)
    gaps = [np.abs(steps[i + 1] - steps[i]).mean() for i in range(4)]
    assert max(gaps) < np.abs(steps[4] - steps[0]).mean()  # neighbours are closer than the two ends
    r = run_cli("generate", cfg.out, "--n", "5", "--out", tmp_path / "walk", "--interpolate")
    assert r.returncode == 2 and "exists" in r.stderr  # never overwritten


def test_sounds_data_set(tmp_path):
    r = run_cli("data", "sounds", tmp_path / "s", "--n", "8", "--sample-rate", "8000", "--seconds", "0.25")
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "s").rglob("*.wav"))
    assert [f.parent.name for f in files] == ["chirp"] * 2 + ["kick"] * 2 + ["snare"] * 2 + ["tone"] * 2
    for f in files:
        x, sr = sf.read(f)
        assert sr == 8000 and len(x) == 2000 and 0.4 < np.abs(x).max() < 1
    assert run_cli("data", "sounds", tmp_path / "s", "--n", "2").returncode == 2  # never into a full folder
