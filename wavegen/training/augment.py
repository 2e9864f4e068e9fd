"""Differentiable augmentations of everything D sees, for small data sets (DiffAugment, Zhao et al. 2020; ADA,
Karras et al. 2020), on waveforms (B, C, L).

D is shown real and generated examples through the same random augmentations, in the G step, the D steps and the
penalties, so it cannot learn the few real clips by heart, and G, judged only through them, is not taught to make
them. Each op is applied to each example with probability p, the same p for every op. A G could learn an op only
where D never sees the example without it: the ops here are invertible in distribution while p < 1 (ADA's argument).

Each op is one function `op(x, p) -> x` registered with `register_augment`; its draws come from torch's default
generator (the run's stream, graph-safe on CUDA), the same number of them whatever p is, and p is a 0-d device tensor,
so a step with augmentations has no host sync and a CUDA graph replays it. Where an op is not chosen, the example
passes through exactly (torch.where), so p = 0 is the identity; on a CPU, where reading p is free, p = 0 skips the
ops (and their draws) altogether.

`Augment` holds p. With `augment ada` it also runs ADA's controller: the share of reals D scores positive,
r_t = E[sign(D(real))], is summed on the device batch by batch, and every `ada_interval` batches p moves by
ada_interval / ada_speed towards keeping r_t at `ada_target`. p and the sums are saved in every checkpoint.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..config import Config
from .losses import per_example_mean

AUGMENTS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {}

SHIFT = 1 / 8  # the largest time shift, a share of the length (DiffAugment's translation)
GAIN_DB = 6.0  # gains drawn log-uniform in +-6 dB
EQ_DB = 6.0  # the bell's gain, uniform in +-6 dB
EQ_OCTAVES = 1.0  # the bell's width: its std in octaves
EQ_LOW = 1 / 256  # the lowest centre frequency, in cycles per sample (62 Hz at 16 kHz); the highest is Nyquist
NOISE_SNR_DB = (10.0, 40.0)  # white noise this many dB under the example's RMS, uniform
MASK = 1 / 4  # the longest zeroed span, a share of the length
BOUNDARY = {"lsgan": 0.5}  # D's output between its targets for real (1) and fake (0); the logits of the others split at 0


def register_augment(name: str):
    """Register `fn(x (B, C, L), p 0-d tensor) -> (B, C, L)` as the augmentation `name` (a word of augment_ops)."""
    def add(fn):
        if name in AUGMENTS:
            raise ValueError(f"augmentation {name!r} registered twice")
        AUGMENTS[name] = fn
        return fn
    return add


def chosen(b: int, p: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(B,) bool: which examples the op applies to, each with probability p (no sync: p stays on the device)."""
    return torch.rand(b, device=device) < p


def uniform(b: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(b, device=device)  # (B,)


@register_augment("shift")
def shift(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Delay or advance each example by up to SHIFT of its length, filling with silence."""
    b, c, n = x.shape
    most = max(1, int(SHIFT * n))
    on = chosen(b, p, x.device)
    by = (torch.rand(b, device=x.device) * (2 * most + 1)).floor().long() - most  # (B,) in [-most, most]
    padded = torch.nn.functional.pad(x, (most, most))  # (B, C, L + 2 most): every source sample exists
    src = torch.arange(most, most + n, device=x.device) - torch.where(on, by, 0)[:, None]  # (B, L) into padded
    return padded.gather(2, src[:, None].expand(b, c, n))


@register_augment("gain")
def gain(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Scale each example by a gain log-uniform in +-GAIN_DB."""
    b = len(x)
    on = chosen(b, p, x.device)
    g = 10 ** (uniform(b, -GAIN_DB, GAIN_DB, x.device) / 20)
    return x * torch.where(on, g, 1.0)[:, None, None]


@register_augment("eq")
def eq(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """A peaking filter per example: a bell of up to +-EQ_DB, EQ_OCTAVES wide, centred log-uniformly from EQ_LOW to
    Nyquist, as zero-phase gains on the FFT bins (circular: a clip's end bleeds into its start by the filter's
    short impulse response)."""
    b, _, n = x.shape
    on = chosen(b, p, x.device)
    centre = EQ_LOW * (0.5 / EQ_LOW) ** torch.rand(b, 1, device=x.device)  # (B, 1) cycles per sample
    db = uniform(b, -EQ_DB, EQ_DB, x.device)[:, None]  # (B, 1)
    f = torch.fft.rfftfreq(n, device=x.device).clamp_min(1 / n)  # (F,)
    octaves = torch.log2(f) - torch.log2(centre)  # (B, F): each bin's distance from the centre
    response = 10 ** (db * torch.exp(-0.5 * (octaves / EQ_OCTAVES) ** 2) / 20)  # (B, F) zero-phase gains
    y = torch.fft.irfft(torch.fft.rfft(x) * response[:, None], n=n)  # (B, C, L)
    return torch.where(on[:, None, None], y, x)


@register_augment("noise")
def additive_noise(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """White noise NOISE_SNR_DB under each example's RMS (its level is not differentiated: the noise is added, not
    learned from)."""
    b = len(x)
    on = chosen(b, p, x.device)
    snr = uniform(b, *NOISE_SNR_DB, x.device)
    rms = x.detach().pow(2).mean((1, 2)).sqrt()  # (B,)
    std = torch.where(on, rms * 10 ** (-snr / 20), 0.0)
    return x + std[:, None, None] * torch.randn_like(x)


@register_augment("mask")
def mask(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Zero a span of each example, up to MASK of its length, anywhere in it (DiffAugment's cutout, in time)."""
    b, _, n = x.shape
    on = chosen(b, p, x.device)
    span = (torch.rand(b, device=x.device) * (MASK * n + 1)).floor()  # (B,) samples
    start = (torch.rand(b, device=x.device) * (n - span + 1)).floor()  # (B,)
    t = torch.arange(n, device=x.device, dtype=start.dtype)  # float: compared with start without a cast
    cut = (t >= start[:, None]) & (t < (start + span)[:, None]) & on[:, None]  # (B, L)
    return x * ~cut[:, None]


def real_sign(judged_real, judged_fake, loss: str) -> torch.Tensor:
    """ADA's overfitting heuristic on one batch: E[sign(D(real))], D's mean logit per example for an ensemble. A
    wgan-gp critic has no level of its own (its loss ignores an offset), so reals are scored against the fakes'
    mean there."""
    real = per_example_mean(judged_real)  # (B,)
    boundary = per_example_mean(judged_fake).mean() if loss == "wgan-gp" else BOUNDARY.get(loss, 0.0)
    return torch.sign(real - boundary).mean()


class Augment:
    """The run's augmentation: its ops in augment_ops order, applied with probability `p` (a 0-d device tensor,
    updated in place by ADA's controller, so that a captured graph reads the current value)."""

    def __init__(self, cfg: Config, device: torch.device):
        self.ops = [AUGMENTS[name] for name in cfg.augment_ops]
        self.adaptive, self.target, self.interval = cfg.augment == "ada", cfg.ada_target, cfg.ada_interval
        self.speed, self.loss = cfg.ada_interval / cfg.ada_speed, cfg.loss
        self.p = torch.full((), float(cfg.augment_p), device=device)
        self.sum = torch.zeros((), device=device)  # r_t of the batches since the last adjustment, summed
        self.seen = torch.zeros((), device=device)  # ... and their count

    def __call__(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L) -> (B, C, L), float32
        if self.p.device.type == "cpu" and not self.p:  # nothing to augment: on a CPU reading p costs no sync, and
            return x  # skipping the ops saves their 10 % of a batch while ADA holds p at 0
        x = x.float()  # the FFT has no bfloat16 kernel on CPU; D's autocast casts its input back
        for op in self.ops:
            x = op(x, self.p)
        return x

    @torch.no_grad()
    def observe(self, rt: torch.Tensor) -> None:
        """Add one batch's r_t; at every ada_interval-th batch move p by +-ada_interval / ada_speed (towards more
        augmentation while D scores more than ada_target of the reals positive), within [0, 1]. All on the device."""
        if not self.adaptive:
            return
        self.sum += rt
        self.seen += 1
        due = self.seen >= self.interval
        moved = (self.p + torch.sign(self.sum / self.seen - self.target) * self.speed).clamp(0, 1)
        self.p.copy_(torch.where(due, moved, self.p))
        self.sum.copy_(torch.where(due, 0.0, self.sum))
        self.seen.copy_(torch.where(due, 0.0, self.seen))

    def state_dict(self) -> dict:
        return {"p": self.p.detach().cpu(), "sum": self.sum.detach().cpu(), "seen": self.seen.detach().cpu()}

    def load_state_dict(self, state: dict) -> None:
        for key in ("p", "sum", "seen"):  # in place: a captured graph holds these tensors
            getattr(self, key).copy_(state[key])


def build_augment(cfg: Config, device: torch.device) -> Augment | None:
    """The run's Augment, or None with augment none (then nothing is drawn: runs without it are as before)."""
    return Augment(cfg, device) if cfg.augment != "none" else None
