"""A GAN on an autoencoder's latents (Musika's route), end to end on one core: experiments/autoencoder_floor.py's
autoencoder for --ae-minutes, then a small WGAN-GP on its latents (16 channels at 1/64 of the rate) for
--gan-minutes, and the decoded samples of G's average scored by the judge (cls_fd, is) beside the reconstructions.

    python -m experiments.latent_gan --data data/sounds8k [--ae-minutes 12] [--gan-minutes 8] [--every 4]

The latent G: a dense layer to 8 frames of 256 channels, then nearest-neighbour upsampling x2 and a kernel-5
convolution until the latent's frames, tanh (the latents are tanh-bounded). The latent D: kernel-5 stride-2
convolutions down to 8 frames, then a dense layer. WGAN-GP with 2 D steps per G step, Adam 1e-4 (0.5, 0.9), batch
32, G averaged (0.999), as the audio preset trains.
"""
import argparse
import copy
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from experiments.autoencoder_floor import LATENT, data_args, decode, encode, judged, train_autoencoder
from wavegen.evaluation.metrics.frechet import frechet_distance
from wavegen.evaluation.metrics.inception import inception_score
from wavegen.evaluation.metrics.judged import probabilities
from wavegen.training.regularisers import gradient_penalty

NZ, BATCH, D_STEPS, GP, EMA = 100, 32, 2, 10.0, 0.999


class LatentG(nn.Module):
    def __init__(self, frames: int, width: int = 256, start: int = 8):
        super().__init__()
        self.width, self.start = width, start
        self.fc = nn.Linear(NZ, width * start)
        layers, n, c = [], start, width
        while n < frames:
            layers += [nn.Upsample(scale_factor=2), nn.Conv1d(c, max(c // 2, 64), 5, 1, 2), nn.LeakyReLU(0.2)]
            c, n = max(c // 2, 64), n * 2
        self.net = nn.Sequential(*layers, nn.Conv1d(c, LATENT, 5, 1, 2), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, NZ) -> (B, LATENT, frames)
        return self.net(F.leaky_relu(self.fc(z).view(-1, self.width, self.start), 0.2))


class LatentD(nn.Module):
    def __init__(self, frames: int, width: int = 64):
        super().__init__()
        layers, n, c_in, c = [], frames, LATENT, width
        while n > 8:
            layers += [nn.Conv1d(c_in, c, 5, 2, 2), nn.LeakyReLU(0.2)]
            c_in, c, n = c, min(c * 2, 512), n // 2
        self.net = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in * n, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, LATENT, frames) -> (B,)
        return self.fc(self.net(x).flatten(1)).squeeze(1)


def gan_step(g, d, og, od, latents: torch.Tensor) -> None:
    for _ in range(D_STEPS):
        real = latents[torch.randint(len(latents), (BATCH,))]
        fake = g(torch.randn(BATCH, NZ)).detach()
        loss = d(fake).mean() - d(real).mean() + GP * gradient_penalty(d, real, fake)
        od.zero_grad(set_to_none=True)
        loss.backward()
        od.step()
    loss = -d(g(torch.randn(BATCH, NZ))).mean()
    og.zero_grad(set_to_none=True)
    loss.backward()
    og.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_args(ap)
    ap.add_argument("--ae-minutes", type=float, default=12.0, help="autoencoder training time")
    ap.add_argument("--gan-minutes", type=float, default=8.0, help="latent GAN training time")
    ap.add_argument("--every", type=float, default=4.0, help="minutes between scores")
    a = ap.parse_args()
    x, (ref, held, train), j, real = judged(a)
    print("| stage | minutes | steps | cls_fd | is |\n|---|---:|---:|---:|---:|")

    def show(stage: str, minutes: float, step: int, clips: torch.Tensor) -> None:
        logits, f = j.outputs(clips.numpy())
        print(f"| {stage} | {minutes:.1f} | {step} | {frechet_distance(real, f):.1f} | {inception_score(probabilities(logits)):.2f} |",
              flush=True)

    def recon(enc, dec, minutes, step):
        show("autoencoder (reconstructions)", minutes, step, decode(dec, encode(enc, x[held])))

    enc, dec = train_autoencoder(x, train, a.ae_minutes, a.every, recon)
    latents = encode(enc, x[train])  # (N, LATENT, frames)
    g, d = LatentG(latents.shape[-1]), LatentD(latents.shape[-1])
    avg = copy.deepcopy(g)
    og = torch.optim.Adam(g.parameters(), 1e-4, betas=(0.5, 0.9))
    od = torch.optim.Adam(d.parameters(), 1e-4, betas=(0.5, 0.9))
    z_fix = torch.randn(256, NZ, generator=torch.Generator().manual_seed(1))
    trained, step, next_score = 0.0, 0, a.every * 60
    while trained < a.gan_minutes * 60:
        began = time.perf_counter()
        gan_step(g, d, og, od, latents)
        with torch.no_grad():
            for pa, p in zip(avg.parameters(), g.parameters()):
                pa.lerp_(p, 1 - EMA)
        step += 1
        trained += time.perf_counter() - began
        if trained >= min(next_score, a.gan_minutes * 60):
            with torch.no_grad():
                show("latent GAN (decoded samples)", a.ae_minutes + trained / 60, step, decode(dec, avg(z_fix)))
            next_score += a.every * 60


if __name__ == "__main__":
    main()
