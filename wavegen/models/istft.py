"""An inverse-STFT generator (Vocos, Siuzdak 2023; iSTFTNet, Kaneko et al. 2022), for generation from noise.

G works at the STFT's frame rate: z -> a dense layer to (width, frames) -> ConvNeXt blocks over frames -> per frame,
a log-magnitude and a phase for each of the n_fft / 2 + 1 bins -> torch.istft -> the waveform. The phase is either
predicted frame by frame (Vocos) or, by default, as an instantaneous frequency (GANSynth, Engel et al. 2019): each
frame's advance over the last, from the bin's own (2 pi k hop / n_fft, where an output of 0 lands), summed over
frames. A steady tone is then one constant output instead of a pattern the network must draw frame by frame, and
overlapping frames add up instead of cancelling. No layer upsamples, so there are no checkerboard artefacts, and it
runs hop times fewer positions than a G that draws every sample.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import WavegenError
from .layers import NoiseInjection, no_postfilter, output_noise
from .registry import register_generator

BLOCKS = 4  # ConvNeXt blocks when --layers is 0 (Vocos uses 8 at width 512)
MAX_LOG_MAG = 7.0  # exp(7) ~ 1100: bounds a magnitude before the first steps have learned a scale (Vocos clips too)


def istft_sizes(length: int, n_fft: int = 0, hop: int = 0) -> tuple[int, int]:
    """(n_fft, hop): given ones, or from the length: a window about 1/32 of the clip, a power of two between 16 and
    1024 (512 for one second at 16 kHz), and hop a quarter of it."""
    if not n_fft:
        n_fft = 2 ** min(10, max(4, round(math.log2(max(length, 1) / 32))))
    hop = hop or n_fft // 4
    if n_fft < 4 or not 0 < hop <= n_fft or n_fft > length:
        raise WavegenError(f"istft needs 4 <= n_fft <= the length ({length}) and 0 < hop <= n_fft; "
                           f"got n_fft {n_fft}, hop {hop}")
    return n_fft, hop


class ConvNeXtBlock(nn.Module):
    """Depthwise convolution (kernel 7) over frames, LayerNorm over channels, a 4x pointwise MLP, and a learned
    per-channel scale on the residual branch (starting small, so that a deep stack starts near the identity)."""

    def __init__(self, width: int):
        super().__init__()
        self.dw = nn.Conv1d(width, width, 7, padding=3, groups=width)
        self.norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.scale = nn.Parameter(torch.full((width,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, W, T)
        h = self.norm(self.dw(x).transpose(1, 2))  # (B, T, W)
        return x + (self.scale * self.mlp(h)).transpose(1, 2)


@register_generator("istft", d="dcgan", bounded=False,
                    uncapturable="torch.istft checks its window on the host every call")
class ISTFTGenerator(nn.Module):
    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> ISTFTGenerator:
        return cls(length, cfg.nz, cfg.ngf, channels, cfg.layers or BLOCKS, cfg.n_fft, cfg.frame_hop, cfg.g_noise,
                   cfg.istft_phase)

    @staticmethod
    def check(cfg, length: int | None) -> None:
        no_postfilter(cfg, "istft")
        if length:
            istft_sizes(length, cfg.n_fft, cfg.frame_hop)

    def __init__(self, length: int, nz: int, width: int, channels: int, blocks: int = 4, n_fft: int = 0, hop: int = 0,
                 noise: str = "none", phase: str = "if"):
        """`noise` ("none", "hidden", "output", "all"): StyleGAN noise inputs after every block (one map per frame
        position, learned per-channel scale), on the waveform, or both (as --g-noise for the other families).
        `phase`: "if" (instantaneous frequency, summed over frames) or "angle" (each frame's own)."""
        super().__init__()
        self.length, self.channels = length, channels
        self.n_fft, self.hop = istft_sizes(length, n_fft, hop)
        self.frames = length // self.hop + 1  # torch.istft's centred frames for `length` samples
        self.bins = self.n_fft // 2 + 1
        self.width = width
        self.dense = nn.Linear(nz, width * self.frames)
        hidden = noise in ("hidden", "all")
        self.blocks = nn.Sequential(*(layer for _ in range(blocks)
                                      for layer in [ConvNeXtBlock(width)] + ([NoiseInjection(width)] if hidden else [])))
        self.out_noise = output_noise(channels) if noise in ("output", "all") else nn.Identity()
        self.norm = nn.LayerNorm(width)
        self.head = nn.Conv1d(width, channels * 2 * self.bins, 1)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.phase = phase
        advance = 2 * math.pi * torch.arange(self.bins) * self.hop / self.n_fft  # of a tone at the bin's centre
        self.register_buffer("advance", advance.view(self.bins, 1), persistent=False)  # (F, 1)

    def spectrum(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The magnitude and phase (B C, F, T) G draws, before the inverse STFT (float32 always)."""
        b = z.shape[0]  # not len(z): a traced G (wavegen export) keeps the batch size free
        h = self.blocks(self.dense(z.flatten(1)).view(b, self.width, self.frames))  # (B, W, T)
        h = self.norm(h.transpose(1, 2)).transpose(1, 2)
        out = self.head(h).float().view(b * self.channels, 2, self.bins, self.frames)
        mag = out[:, 0].clamp(max=MAX_LOG_MAG).exp()  # (B C, F, T)
        phase = out[:, 1] if self.phase == "angle" else torch.cumsum(out[:, 1] + self.advance, dim=-1)  # (B C, F, T)
        return mag, phase

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mag, phase = self.spectrum(z)
        spec = torch.polar(mag, phase)  # mag * e^(i phase)
        x = torch.istft(spec, self.n_fft, self.hop, window=self.window, center=True, length=self.length)
        return self.out_noise(x.view(z.shape[0], self.channels, self.length))  # (B, C, L)
