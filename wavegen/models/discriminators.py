"""Discriminators that look at audio the way it is built, for an ensemble D (issue: audio that sounds like the data).

- MPD, HiFi-GAN's multi-period discriminator (Kong et al. 2020): the waveform folded into 2-D by a period p
  (B, C, L / p, p), so that each column holds every p-th sample; Conv2d with kernel (5, 1) and stride (3, 1) then
  judges periodic structure (pitch, its harmonics) that a 1-D receptive field sees only by chance.
- MSD, MelGAN's multi-scale discriminator (Kumar et al. 2019): the waveform, and average-pooled x2 and x4, each
  through strided, grouped 1-D convolutions with kernel 41: coarse and fine structure in time.
- MRD, the multi-resolution spectrogram discriminator of UnivNet (Jang et al. 2021), as in EnCodec, DAC and Vocos:
  2-D convolutions over log-magnitude STFTs at several window sizes: timbre, which a waveform D learns slowly.
  Its width is 4x --ndf: its layers keep one width, where MPD and MSD grow to 32x.
- SPEC, a cheap spectral critic for CPUs: log-magnitude STFTs at three windows, each one's frequency bins the
  channels of 1-D convolutions over frames (as small audio classifiers read spectrograms), where MRD's 2-D
  convolutions cost hundreds of times more at the same width. Its log has a floor 54 dB under a full-scale sine's
  peak bin, so it sees what a waveform D barely can: a faint noise floor where the data is silent, a line too wide.
A waveform D stays in the ensemble beside MRD: a G trained against a spectral D alone made grainy sounds with the
right spectral statistics (WaveGAN's author). Every head returns its patch logits (B, N) and its feature maps, which
feature matching (training/losses.py) compares between real and fake.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import minibatch_stddev
from .registry import Judgement, register_discriminator

SLOPE = 0.1  # LeakyReLU slope of HiFi-GAN, MelGAN and UnivNet
SPEC_FLOOR = 1e-3  # SPEC's log floor, as a share of its window's sum (twice a full-scale sine's peak bin)
MIN_MRD_LENGTH = 64  # the smallest window (16) times four: at least five frames to judge
MRD_WIDTH = 4  # MRD channels per --ndf: one width through its layers, where MPD and MSD grow to 32x (UnivNet, DAC: 32)
SPEC_WIDTH = 4  # SPEC channels per --ndf, for the same reason


def _run(layers: nn.ModuleList, out: nn.Module, x: torch.Tensor, mbstd: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    feats = []
    for layer in layers:
        x = F.leaky_relu(layer(x), SLOPE)
        feats.append(x)
    x = out(minibatch_stddev(x, mbstd) if mbstd else x)
    feats.append(x)
    return x.flatten(1), feats  # (B, N) patch logits


class PeriodHead(nn.Module):
    """One period of the MPD. Widths d, 4d, 16d, 32d, 32d (HiFi-GAN: d = 32)."""

    def __init__(self, period: int, channels: int, d: int, mbstd: int = 0):
        super().__init__()
        self.period, self.mbstd = period, mbstd
        widths = [channels, d, 4 * d, 16 * d, 32 * d]
        self.layers = nn.ModuleList(nn.Conv2d(a, b, (5, 1), (3, 1), padding=(2, 0)) for a, b in zip(widths, widths[1:]))
        self.layers.append(nn.Conv2d(widths[-1], widths[-1], (5, 1), 1, padding=(2, 0)))
        self.width = widths[-1]  # of the map the output layer reads, before any minibatch-std channel
        self.out = nn.Conv2d(widths[-1] + bool(mbstd), 1, (3, 1), 1, padding=(1, 0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, length = x.shape
        pad = -length % self.period
        if pad:  # reflect needs pad < length: fine for the periods (<= 11) against any clip worth judging
            x = F.pad(x, (0, pad), mode="reflect")
        return _run(self.layers, self.out, x.view(b, c, -1, self.period), self.mbstd)  # (B, C, L / p, p)


class ScaleHead(nn.Module):
    """One scale of the MSD: 1-D convolutions, the middle ones strided by 4 and grouped (kernel 41, MelGAN's
    groups of 4 input channels). Widths d, 4d, 16d, 32d, 32d (MelGAN: d = 16, up to 1024)."""

    def __init__(self, channels: int, d: int, mbstd: int = 0):
        super().__init__()
        self.mbstd = mbstd
        widths = [d, 4 * d, 16 * d, 32 * d]
        self.layers = nn.ModuleList([nn.Conv1d(channels, d, 15, 1, padding=7)])
        for a, b in zip(widths, widths[1:]):
            self.layers.append(nn.Conv1d(a, b, 41, 4, padding=20, groups=max(1, a // 4)))
        self.layers.append(nn.Conv1d(widths[-1], widths[-1], 5, 1, padding=2))
        self.width = widths[-1]
        self.out = nn.Conv1d(widths[-1] + bool(mbstd), 1, 3, 1, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return _run(self.layers, self.out, x, self.mbstd)


def _magnitude(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """(B, C, L) -> |STFT| (B, C, F, T) with `window` and hop a quarter of it, in float32 (under autocast too)."""
    b, c, length = x.shape
    n_fft = len(window)
    spec = torch.stft(x.reshape(b * c, length).float(), n_fft, n_fft // 4, window=window, center=True,
                      return_complex=True)  # (B C, F, T)
    return spec.abs().view(b, c, *spec.shape[1:])


class ResolutionHead(nn.Module):
    """One resolution of the MRD: log-magnitude STFT (window n_fft, hop n_fft / 4) laid out as (time, frequency),
    then 2-D convolutions with kernel (3, 9), striding frequency by 2 three times, as DAC does (width d; DAC: 32).
    Striding frequency rather than time (UnivNet) keeps every frame of a short clip, whose widest window has only
    a few, and quarters the work of the later layers."""

    def __init__(self, n_fft: int, channels: int, d: int, mbstd: int = 0):
        super().__init__()
        self.mbstd = mbstd
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.layers = nn.ModuleList([nn.Conv2d(channels, d, (3, 9), padding=(1, 4))])
        self.layers.extend(nn.Conv2d(d, d, (3, 9), (1, 2), padding=(1, 4)) for _ in range(3))
        self.layers.append(nn.Conv2d(d, d, (3, 3), padding=(1, 1)))
        self.width = d
        self.out = nn.Conv2d(d + bool(mbstd), 1, (3, 3), padding=(1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        mag = torch.log1p(_magnitude(x, self.window)).transpose(2, 3)  # (B, C, T, F)
        return _run(self.layers, self.out, mag.to(x.dtype), self.mbstd)


class SpectrumHead(nn.Module):
    """One window of SPEC: log(1 + |STFT| / floor) (window n_fft, hop n_fft / 4), frequency bins as channels,
    then 1-D convolutions over frames with kernel 5, the last two strided by 2 (width d throughout)."""

    def __init__(self, n_fft: int, channels: int, d: int, mbstd: int = 0):
        super().__init__()
        self.mbstd = mbstd
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.floor = SPEC_FLOOR * self.window.sum().item()
        bins = channels * (n_fft // 2 + 1)
        self.layers = nn.ModuleList([nn.Conv1d(bins, d, 5, padding=2), nn.Conv1d(d, d, 5, 2, padding=2),
                                     nn.Conv1d(d, d, 5, 2, padding=2)])
        self.width = d
        self.out = nn.Conv1d(d + bool(mbstd), 1, 3, padding=1)

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L) -> (B, C F, T)
        return torch.log1p(_magnitude(x, self.window) / self.floor).flatten(1, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return _run(self.layers, self.out, self.spectrum(x).to(x.dtype), self.mbstd)


@register_discriminator("mpd")
class MultiPeriod(nn.Module):
    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> MultiPeriod:
        return cls(channels, cfg.ndf, mbstd=cfg.d_mbstd)

    def __init__(self, channels: int, d: int, periods: tuple[int, ...] = (2, 3, 5, 7, 11), mbstd: int = 0):
        super().__init__()
        self.heads = nn.ModuleList(PeriodHead(p, channels, d, mbstd) for p in periods)

    def forward(self, x: torch.Tensor) -> Judgement:
        return _judge(self.heads, [x] * len(self.heads))


@register_discriminator("msd")
class MultiScale(nn.Module):
    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> MultiScale:
        return cls(channels, cfg.ndf, mbstd=cfg.d_mbstd)

    def __init__(self, channels: int, d: int, scales: int = 3, mbstd: int = 0):
        super().__init__()
        self.heads = nn.ModuleList(ScaleHead(channels, d, mbstd) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> Judgement:
        inputs = [x]
        for _ in self.heads[1:]:  # each further scale halves the rate, as MelGAN's pooling (kernel 4, stride 2)
            inputs.append(F.avg_pool1d(inputs[-1], 4, 2, padding=2, count_include_pad=False))
        return _judge(self.heads, inputs)


class _Windows(nn.Module):
    """One head of kind `Head` per STFT window, each judging the same waveform."""
    Head: type[nn.Module]

    def __init__(self, channels: int, d: int, ffts: tuple[int, ...], mbstd: int = 0):
        super().__init__()
        self.heads = nn.ModuleList(self.Head(n, channels, d, mbstd) for n in ffts)

    def forward(self, x: torch.Tensor) -> Judgement:
        return _judge(self.heads, [x] * len(self.heads))


@register_discriminator("mrd", min_length=MIN_MRD_LENGTH)
class MultiResolution(_Windows):
    Head = ResolutionHead

    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> MultiResolution:
        return cls(channels, MRD_WIDTH * cfg.ndf, mrd_ffts(length), cfg.d_mbstd)


@register_discriminator("spec", min_length=MIN_MRD_LENGTH)
class MultiSpectrum(_Windows):
    Head = SpectrumHead

    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> MultiSpectrum:
        return cls(channels, SPEC_WIDTH * cfg.ndf, spec_ffts(length), cfg.d_mbstd)


def _judge(heads: nn.ModuleList, inputs: list[torch.Tensor]) -> Judgement:
    logits, feats = [], []
    for head, x in zip(heads, inputs):
        out, f = head(x)
        logits.append(out)
        feats.append(f)
    return logits, feats


def mrd_ffts(length: int) -> tuple[int, ...]:
    """UnivNet's windows (2048, 1024, 512), scaled down until a window is at most a quarter of the clip, and at
    least 16 samples: a clip of 8192 samples gets 2048, 1024, 512; one of 1024 gets 256, 128, 64."""
    largest = 2048
    while largest > 64 and largest * 4 > length:
        largest //= 2
    return tuple(max(16, largest >> i) for i in range(3))


def spec_ffts(length: int) -> tuple[int, ...]:
    """MRD's windows a quarter the size (frames short enough to place an onset), each once: 512, 256, 128 for 8192
    samples or more; 64, 32, 16 for 1024; 16 alone for 100."""
    return tuple(sorted({max(16, n // 4) for n in mrd_ffts(length)}, reverse=True))


class Ensemble(nn.Module):
    """Named sub-discriminators judged together: {name: Judgement}. A plain D (the dcgan or wavegan family,
    which returns logits (B,)) joins as one head without features."""

    def __init__(self, subs: dict[str, nn.Module]):
        super().__init__()
        self.subs = nn.ModuleDict(subs)

    def forward(self, x: torch.Tensor) -> dict[str, Judgement]:
        out = {}
        for name, sub in self.subs.items():
            y = sub(x)
            out[name] = ([y.view(len(x), -1)], [[]]) if isinstance(y, torch.Tensor) else y
        return out

