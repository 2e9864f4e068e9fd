"""How close can the harmonic-plus-noise synthesiser (`--arch hpn`, wavegen/models/hpn.py) come to real clips at
all? A G of that family can make no better than what its synthesiser can render, so this fits the synthesiser's
frame controls to real clips directly, with no network and no GAN, and scores the fits as a run's samples are
scored: by the judge (is, cls_acc, cls_fd against other real clips) and by `harmonicity` (wavegen/evaluation/
harmonics.py: the share of sounding frames voiced like the real ones), beside the real clips and white noise.

    python -m experiments.hpn_floor --data ../shared/data/fsdd [--n 50] [--steps 300] [--length 8192]
                                    [--sample-rate 8000] [--harmonics 48] [--noise-bands 32]

The clips are read as the race reads them (the `audio` preset's data settings: the first window of each file,
resampled, peak-normalised); --n of them, drawn with seed 0, are fitted, and 256 others are the reference the
judge's Frechet distance and the HNR range are taken on. Free controls per synthesiser frame: f0 (started from an
autocorrelation pitch track, the same analysis as `harmonicity`'s), the loudness (started from the frame's RMS),
the harmonics' distribution (started flat) and the noise bands (started quiet); Adam on a multi-resolution STFT
loss (log magnitudes and spectral convergence, the vocoders' reconstruction loss), one thread, all clips at once.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from experiments.autoencoder_floor import FFTS
from wavegen.config import make_config
from wavegen.data.source import open_examples
from wavegen.evaluation import judge
from wavegen.evaluation.harmonics import frame_analysis, harmonicity, hnr_db, pitch_track, VOICED_DB
from wavegen.evaluation.metrics.frechet import frechet_distance
from wavegen.evaluation.metrics.inception import inception_score
from wavegen.evaluation.metrics.judged import probabilities
from wavegen.models.hpn import AMP_EXPONENT, AMP_FLOOR, AMP_MAX, Synth, exp_sigmoid, hpn_hop, pitch

REFERENCE = 256  # real clips the Frechet distance and the HNR range are taken against
LR = 0.05  # Adam's rate for the loudness, the harmonics and the noise
LR_F0 = 0.01  # for f0, which the loss is far from convex in (DDSP's warning): it may only refine the track
NOISE_START = -4.0  # the noise bands' start: exp_sigmoid(-4) ~ 1e-3
EDGE = 1e-4  # keeps the inverse sigmoids finite


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EDGE, 1 - EDGE)
    return np.log(p / (1 - p))


def start_controls(x: np.ndarray, synth: Synth, cfg) -> dict[str, torch.Tensor]:
    """The controls' raw values before their non-linearities (as G's head outputs them), from clips x (n, L)."""
    track, centres, _ = pitch_track(x, synth.sample_rate)  # (n, F) Hz, (F,)
    at = np.arange(synth.frames) * synth.hop  # frame j of the synthesiser: sample j * hop
    f0 = np.stack([np.interp(at, centres, t) for t in track])  # (n, T)
    span = math.log(cfg.f0_max / cfg.f0_min)
    padded = np.pad(x, ((0, 0), (synth.hop, synth.hop + synth.frames * synth.hop - x.shape[1])))
    rms = np.sqrt(np.stack([(padded[:, j * synth.hop:j * synth.hop + 2 * synth.hop] ** 2).mean(1)
                            for j in range(synth.frames)], 1))  # (n, T) around each frame
    amp = np.clip(rms * math.sqrt(2), AMP_FLOOR * 2, AMP_MAX * (1 - EDGE))  # a sine's peak for its RMS
    n, t = f0.shape
    return {"f0": torch.tensor(logit(np.log(f0 / cfg.f0_min) / span), dtype=torch.float32),
            "amp": torch.tensor(logit(((amp - AMP_FLOOR) / AMP_MAX) ** (1 / AMP_EXPONENT)), dtype=torch.float32),
            "shares": torch.zeros(n, cfg.harmonics, t), "noise": torch.full((n, cfg.noise_bands, t), NOISE_START)}


def render(synth: Synth, c: dict[str, torch.Tensor], cfg) -> torch.Tensor:
    return synth(pitch(c["f0"], cfg.f0_min, cfg.f0_max), exp_sigmoid(c["amp"]), torch.softmax(c["shares"], 1),
                 exp_sigmoid(c["noise"]))  # (n, L)


def spectral_loss(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per window of FFTS: L1 of log magnitudes plus spectral convergence (no waveform term: phase is free)."""
    loss = y.new_zeros(())
    for n in FFTS:
        win = torch.hann_window(n)
        sy = torch.stft(y, n, n // 4, window=win, return_complex=True).abs()
        sx = torch.stft(x, n, n // 4, window=win, return_complex=True).abs()
        loss = loss + (torch.log(sy + 1e-5) - torch.log(sx + 1e-5)).abs().mean()
        loss = loss + torch.linalg.norm(sy - sx) / (torch.linalg.norm(sx) + 1e-7)
    return loss


def fit(x: torch.Tensor, cfg, steps: int) -> tuple[torch.Tensor, list[float]]:
    """Clips (n, L) -> the synthesiser's renders of its fitted controls (n, L), and the loss at start and end."""
    synth = Synth(x.shape[1], cfg.sample_rate, hpn_hop(cfg.sample_rate, x.shape[1], cfg.frame_hop), cfg.harmonics,
                  cfg.noise_bands)
    c = {k: v.requires_grad_() for k, v in start_controls(x.numpy(), synth, cfg).items()}
    opt = torch.optim.Adam([{"params": [c["f0"]], "lr": LR_F0},
                            {"params": [c["amp"], c["shares"], c["noise"]], "lr": LR}])
    losses = []
    for _ in range(steps):
        loss = spectral_loss(render(synth, c, cfg), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        return render(synth, c, cfg), [losses[0], losses[-1]]


def scores(name: str, y: np.ndarray, labels: np.ndarray, j, ref: np.ndarray, sample_rate: int) -> str:
    logits, feats = j.outputs(y[:, None])
    r, _, loud = frame_analysis(y, sample_rate)
    voiced = float((hnr_db(r)[loud] >= VOICED_DB).mean()) if loud.any() else math.nan
    return (f"| {name} | {inception_score(probabilities(logits)):.2f} | {(logits.argmax(1) == labels).mean():.2f} | "
            f"{frechet_distance(j.outputs(ref[:, None])[1], feats):.1f} | {harmonicity(y, ref, sample_rate):.2f} | "
            f"{voiced:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a folder of audio with class sub-folders (the judge's)")
    ap.add_argument("--n", type=int, default=50, help="clips fitted")
    ap.add_argument("--steps", type=int, default=300, help="Adam steps")
    ap.add_argument("--length", type=int, default=8192)
    ap.add_argument("--sample-rate", type=int, default=8000)
    ap.add_argument("--harmonics", type=int, default=48)
    ap.add_argument("--noise-bands", type=int, default=32)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = make_config("audio", data=a.data, sample_rate=a.sample_rate, length=a.length, window="first",
                      arch="hpn", harmonics=a.harmonics, noise_bands=a.noise_bands)
    ex = open_examples(cfg)
    order = np.random.default_rng(0).permutation(ex.n)
    ref, chosen = order[:REFERENCE], order[REFERENCE:REFERENCE + a.n]
    x = ex.get(torch.as_tensor(chosen))[:, 0].float()  # (n, L)
    j = judge.judge_for(judge.JudgeSpec.of_config(cfg), say=lambda *_: None)
    if j is None or j.classes != ex.classes:
        raise SystemExit(f"{a.data}: the judge needs the data's class sub-folders")
    began = time.perf_counter()
    y, (first, last) = fit(x, cfg, a.steps)
    took = time.perf_counter() - began
    noise = np.random.default_rng(1).normal(size=x.shape)
    noise /= np.abs(noise).max(1, keepdims=True)  # peak-normalised, as the data
    real_ref, labels = ex.get(torch.as_tensor(ref))[:, 0].numpy(), ex.labels[chosen]
    print(f"{a.n} clips of {a.data}, {a.steps} steps in {took:.0f} s; STFT loss {first:.3f} -> {last:.3f}\n")
    print("| | IS | cls_acc | cls_fd | harmonicity | voiced frames |\n|---|---:|---:|---:|---:|---:|")
    for name, clips in [("real clips", x.numpy()), ("hpn floor (fitted controls)", y.numpy()),
                        ("white noise", noise.astype(np.float32))]:
        print(scores(name, clips, labels, j, real_ref, a.sample_rate), flush=True)


if __name__ == "__main__":
    main()
