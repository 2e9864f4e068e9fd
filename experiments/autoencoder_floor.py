"""Could a GAN on an autoencoder's latents (Musika's route to fast audio GANs) beat a waveform GAN on this CPU?
Its samples can be no closer to the data than its decoder's reconstructions, so this trains the autoencoder alone
and scores how close its reconstructions of held-out clips are, by the judge's cls_fd, as training goes on.

    python -m experiments.autoencoder_floor --data data/sounds8k [--minutes 6] [--every 2] [--length 8192]

The autoencoder: strided 1-D convolutions down to a tanh-bounded latent of 16 channels at 1/64 of the rate, and
transposed convolutions back; trained with Adam on L1 plus log-magnitude and spectral-convergence STFT losses at
four window sizes (the vocoders' reconstruction loss), with noise added to the latent so that a GAN's imperfect
latents still decode. One thread, bf16 autocast, batch 16. Scoring time is not counted as training time.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn as nn
import torch.nn.functional as F

from wavegen.config import make_config
from wavegen.evaluation import judge
from wavegen.evaluation.metrics.frechet import frechet_distance

STRIDES = (4, 4, 4)  # 64x fewer latent frames than samples
LATENT = 16  # latent channels
ENC_WIDTHS = (64, 128, 256)  # the encoder's channels after each stride
DEC_WIDTHS = (128, 64, 32)  # the decoder's
LATENT_NOISE = 0.1  # std of the noise added to latents while training
FFTS = (512, 256, 128, 64)  # STFT loss windows, hop a quarter


def clips(data: str, length: int) -> torch.Tensor:
    """Every wav under `data`, mono, cut or zero-padded to `length`, peak-normalised: (N, 1, L)."""
    files = sorted(Path(data).rglob("*.wav"))
    x = np.zeros((len(files), 1, length), np.float32)
    for i, f in enumerate(files):
        y, _ = sf.read(f, dtype="float32", always_2d=True)
        y = y.mean(1)[:length]
        x[i, 0, :len(y)] = y / max(1e-9, np.abs(y).max())
    return torch.from_numpy(x)


def autoencoder() -> tuple[nn.Module, nn.Module]:
    enc, c = [], 1
    for w, s in zip(ENC_WIDTHS, STRIDES):
        enc += [nn.Conv1d(c, w, 2 * s + 1, s, s), nn.LeakyReLU(0.2), nn.Conv1d(w, w, 5, 1, 2), nn.LeakyReLU(0.2)]
        c = w
    enc += [nn.Conv1d(c, LATENT, 3, 1, 1), nn.Tanh()]
    dec = [nn.Conv1d(LATENT, c, 3, 1, 1), nn.LeakyReLU(0.2)]
    for w, s in zip(DEC_WIDTHS, STRIDES[::-1]):
        dec += [nn.ConvTranspose1d(c, w, 2 * s, s, s // 2), nn.LeakyReLU(0.2), nn.Conv1d(w, w, 5, 1, 2),
                nn.LeakyReLU(0.2)]
        c = w
    dec += [nn.Conv1d(c, 1, 7, 1, 3), nn.Tanh()]
    return nn.Sequential(*enc), nn.Sequential(*dec)


def reconstruction_loss(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 on the waveform plus, per window, L1 of log magnitudes and spectral convergence."""
    loss = F.l1_loss(y, x)
    y, x = y.flatten(0, 1), x.flatten(0, 1)  # (B, L)
    for n in FFTS:
        win = torch.hann_window(n)
        sy = torch.stft(y, n, n // 4, window=win, return_complex=True).abs()
        sx = torch.stft(x, n, n // 4, window=win, return_complex=True).abs()
        loss = loss + F.l1_loss(torch.log(sy + 1e-5), torch.log(sx + 1e-5))
        loss = loss + torch.linalg.norm(sy - sx) / (torch.linalg.norm(sx) + 1e-7)
    return loss


def train_autoencoder(x: torch.Tensor, train: np.ndarray, minutes: float, every: float, score) -> tuple:
    """(encoder, decoder) trained on clips x[train] for `minutes` of training time; score(enc, dec, minutes, steps)
    is called every `every` minutes and at the end (its time is not counted)."""
    enc, dec = autoencoder()
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], 3e-4, betas=(0.9, 0.99))
    rng = np.random.default_rng(1)
    trained, step, next_score = 0.0, 0, every * 60
    while trained < minutes * 60:
        began = time.perf_counter()
        batch = x[rng.choice(train, 16)]  # (16, 1, L)
        with torch.autocast("cpu", torch.bfloat16):
            z = enc(batch)  # (16, LATENT, L / 64)
            y = dec(z + LATENT_NOISE * torch.randn_like(z))
        loss = reconstruction_loss(y.float(), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        trained += time.perf_counter() - began
        if trained >= min(next_score, minutes * 60):
            score(enc, dec, trained / 60, step)
            next_score += every * 60
    return enc, dec


def encode(enc: nn.Module, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Clips (N, 1, 64 T) -> latents (N, LATENT, T)."""
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        return torch.cat([enc(x[i:i + batch]).float() for i in range(0, len(x), batch)])


def decode(dec: nn.Module, z: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Latents (N, LATENT, T) -> clips (N, 1, 64 T)."""
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        return torch.cat([dec(z[i:i + batch]).float() for i in range(0, len(z), batch)])


def data_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--data", required=True, help="a folder of audio with class sub-folders (the judge's)")
    ap.add_argument("--length", type=int, default=8192)
    ap.add_argument("--sample-rate", type=int, default=8000, help="the data's rate (the judge's)")


def judged(a: argparse.Namespace) -> tuple:
    """On one thread from seed 0: every clip of a.data, the fixed split (reference, held out, train), the judge, and
    its features of the reference clips."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x = clips(a.data, a.length)
    order = np.random.default_rng(0).permutation(len(x))
    cfg = make_config("audio", data=a.data, sample_rate=a.sample_rate, length=a.length)
    j = judge.judge_for(judge.JudgeSpec.of_config(cfg), say=lambda *_: None)
    ref, held, train = order[:256], order[256:512], order[512:]
    return x, (ref, held, train), j, j.outputs(x[ref].numpy())[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_args(ap)
    ap.add_argument("--minutes", type=float, default=6.0, help="training time")
    ap.add_argument("--every", type=float, default=2.0, help="minutes between scores")
    a = ap.parse_args()
    x, (ref, held, train), j, real = judged(a)
    print(f"real vs real cls_fd {frechet_distance(real, j.outputs(x[held].numpy())[1]):.1f}\n")
    print("| minutes | steps | reconstructions' cls_fd |\n|---:|---:|---:|")

    def score(enc, dec, minutes, step):
        rec = decode(dec, encode(enc, x[held]))
        print(f"| {minutes:.1f} | {step} | {frechet_distance(real, j.outputs(rec.numpy())[1]):.1f} |", flush=True)

    train_autoencoder(x, train, a.minutes, a.every, score)


if __name__ == "__main__":
    main()
