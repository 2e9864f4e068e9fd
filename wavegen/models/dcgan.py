"""G and D of the post's 1-D DCGAN family, planned for any length (WaveGAN is in wavegan.py).

A DCGAN pair is built from one `Plan` (kernels, strides, channel widths), so the exact layers of the post are
one plan among many. Each hidden layer is conv -> BatchNorm -> LeakyReLU(0.2) -> Dropout, no biases where
BatchNorm's shift makes them redundant; G ends in Tanh, D in a raw logit (losses take logits).

Planning a length L (`dcgan_plan`): G works backwards from L, each stride-2 layer with kernel 4 (even lengths)
or 5 (odd), as the post's kernel 4, until at most START_MAX samples remain; G's first layer makes those from
the noise (stride 1, kernel = that length). D starts as the post's (kernel 4, stride 1), halves with kernel 4
stride 2 while the length is at least 8, and its last layer's kernel is the length left, so it ends in one
logit. At L = 100 the plan is the post's exact layers.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import WavegenError
from .layers import MinibatchStd, PhaseShuffle, PostFilter, UpConv, hidden, output_noise
from .registry import register_discriminator, register_generator


SEED_LENGTH = 100  # the post's examples, made by its exact layers
MIN_LENGTH = 16  # shortest length the DCGAN planner takes
START_MAX = 8  # G's first layer makes at most this many samples from the noise (the post's: 4)
FIRST_MAX = 16  # with a fixed layer count, the longest first layer allowed before asking for more layers
G_NARROWEST = 8  # G's widths halve per layer down to ngf / G_NARROWEST (the seed: 512 -> 64)
D_NARROWEST = 16  # D's widths double per layer from ndf / D_NARROWEST (the seed: 32 -> 512)


@dataclass(frozen=True)
class Plan:
    """Layer geometry of a G/D pair. G's layers are listed from noise to waveform, D's from waveform to logit."""
    g_channels: tuple[int, ...]  # widths after each G layer, last one = audio channels
    g_kernels: tuple[int, ...]
    g_strides: tuple[int, ...]
    d_channels: tuple[int, ...]  # widths after each D layer, last one = 1 logit
    d_kernels: tuple[int, ...]
    d_strides: tuple[int, ...]

    def g_lengths(self) -> list[int]:
        """Lengths from the noise (length 1) to the output: L_out = (L_in - 1) * stride + kernel."""
        lengths = [1]
        for k, s in zip(self.g_kernels, self.g_strides):
            lengths.append((lengths[-1] - 1) * s + k)
        return lengths

    def d_lengths(self, length: int) -> list[int]:
        """Lengths from the waveform down to the logit: L_out = (L_in - kernel) // stride + 1."""
        lengths = [length]
        for k, s in zip(self.d_kernels, self.d_strides):
            lengths.append((lengths[-1] - k) // s + 1)
        return lengths


def seed_plan(ngf: int, ndf: int, channels: int = 1) -> Plan:
    """The post's exact layers: G 1 -> 4 -> 10 -> 22 -> 46 -> 100, D 100 -> 97 -> 47 -> 22 -> 10 -> 4 -> 1."""
    check_widths(ngf, ndf)
    return Plan(
        g_channels=(ngf, ngf // 2, ngf // 4, ngf // 8, channels),
        g_kernels=(4, 4, 4, 4, 10),
        g_strides=(1, 2, 2, 2, 2),
        d_channels=(ndf // 16, ndf // 8, ndf // 4, ndf // 2, ndf, 1),
        d_kernels=(4, 4, 4, 4, 4, 4),
        d_strides=(1, 2, 2, 2, 2, 2),
    )


def check_widths(ngf: int, ndf: int) -> None:
    if ngf % G_NARROWEST or ngf < G_NARROWEST:
        raise WavegenError(f"ngf must be a positive multiple of {G_NARROWEST} (G halves it {G_NARROWEST.bit_length() - 1} times), got {ngf}")
    if ndf % D_NARROWEST or ndf < D_NARROWEST:
        raise WavegenError(f"ndf must be a positive multiple of {D_NARROWEST} (D starts at ndf / {D_NARROWEST}), got {ndf}")


def dcgan_plan(length: int, ngf: int, ndf: int, channels: int = 1, layers: int = 0) -> Plan:
    """Layers that make exactly `length` samples and reduce them to one logit (module docstring)."""
    if length == SEED_LENGTH and layers in (0, 4):
        return seed_plan(ngf, ndf, channels)
    check_widths(ngf, ndf)
    if length < MIN_LENGTH:
        raise WavegenError(f"length {length} is too short for the dcgan layers (at least {MIN_LENGTH})")
    g_kernels = []  # stride-2 layers, from the output backwards
    l = length
    while (len(g_kernels) < layers) if layers else (l > START_MAX):
        if l < 4:
            raise WavegenError(f"length {length} is too short for {layers} upsampling layers (at most {len(g_kernels) - 1})")
        k = 4 if l % 2 == 0 else 5  # (l - k) must be even for a stride-2 layer to hit l exactly
        g_kernels.append(k)
        l = (l - k) // 2 + 1
    if l > FIRST_MAX:
        raise WavegenError(f"length {length} needs more than {layers} upsampling layers (or layers 0 to plan them)")
    g_kernels = [l] + g_kernels[::-1]  # the first layer turns the noise (length 1) into l samples
    n_hidden = len(g_kernels) - 1
    g_channels = [ngf >> min(i, G_NARROWEST.bit_length() - 1) for i in range(n_hidden)] + [channels]

    d_kernels, d_strides = [4], [1]
    l = length - 3
    while l >= 8:
        d_kernels.append(4)
        d_strides.append(2)
        l = (l - 4) // 2 + 1
    d_kernels.append(l)  # the last layer sees the whole remaining length: one logit
    d_strides.append(1)
    n_hidden = len(d_kernels) - 1
    d_channels = [ndf >> min(n_hidden - 1 - i, D_NARROWEST.bit_length() - 1) for i in range(n_hidden)] + [1]
    return Plan(tuple(g_channels), tuple(g_kernels), (1,) + (2,) * (len(g_kernels) - 1),
                tuple(d_channels), tuple(d_kernels), tuple(d_strides))


@register_generator("dcgan", d="dcgan")
class Generator(nn.Module):
    """`upsample`: "transpose"d convolutions (the post's), or "nearest" / "linear" upsampling + convolution
    (layers.UpConv) in every stride-2 layer. `noise`: StyleGAN noise inputs (layers.NoiseInjection) after every
    hidden convolution ("hidden"), added to the output after the Tanh ("output"), or "all" of them."""

    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> Generator:
        plan = dcgan_plan(length, cfg.ngf, cfg.ndf, channels, cfg.layers)
        return cls(plan, cfg.nz, cfg.dropout_g, cfg.g_batchnorm, cfg.upsample, cfg.g_noise, cfg.g_postfilter)

    @staticmethod
    def check(cfg, length: int | None) -> None:
        Discriminator.check(cfg, length)  # G and D share the dcgan plan

    def __init__(self, plan: Plan, nz: int, dropout: float, batchnorm: bool = True, upsample: str = "transpose",
                 noise: str = "none", postfilter: int = 0):
        super().__init__()
        self.nz = nz
        layers: list[nn.Module] = []
        c_in = nz
        last = len(plan.g_channels) - 1
        for i, (c, k, s) in enumerate(zip(plan.g_channels, plan.g_kernels, plan.g_strides)):
            bias = not batchnorm and i != last
            if upsample == "transpose" or s == 1:  # a stride-1 layer has no checkerboard to remove
                conv = nn.ConvTranspose1d(c_in, c, k, stride=s, bias=bias)
            else:
                conv = UpConv(c_in, c, k, s, upsample, bias=bias)
            if i == last:
                layers += [conv, nn.Tanh()] + ([PostFilter(c, postfilter)] if postfilter else [])
                layers += [output_noise(c)] if noise in ("output", "all") else []
            else:
                layers += hidden(conv, c, dropout, batchnorm, noise in ("hidden", "all"))
            c_in = c
        self.main = nn.Sequential(*layers)
        self.out_length = plan.g_lengths()[-1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)  # (B, nz, 1) -> (B, C, L)


@register_discriminator("dcgan")
class Discriminator(nn.Module):
    """`mbstd`: a minibatch standard-deviation channel (layers.minibatch_stddev, groups of `mbstd`) before the
    layer that makes the logit (0 = none)."""

    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> Discriminator:
        plan = dcgan_plan(length, cfg.ngf, cfg.ndf, channels, cfg.layers)
        return cls(plan, channels, cfg.dropout_d, cfg.d_batchnorm, cfg.phase_shuffle, cfg.d_mbstd)

    @staticmethod
    def check(cfg, length: int | None) -> None:
        if length:
            dcgan_plan(length, cfg.ngf, cfg.ndf, 1, cfg.layers)
        else:
            check_widths(cfg.ngf, cfg.ndf)

    def __init__(self, plan: Plan, channels: int, dropout: float, batchnorm: bool = True, phase_shuffle: int = 0,
                 mbstd: int = 0):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        last = len(plan.d_channels) - 1
        for i, (c, k, s) in enumerate(zip(plan.d_channels, plan.d_kernels, plan.d_strides)):
            if i == last and mbstd:
                layers.append(MinibatchStd(mbstd))
                c_in += 1
            conv = nn.Conv1d(c_in, c, k, stride=s, bias=not batchnorm)  # a bias only where no BatchNorm shifts
            layers += [conv] if i == last else hidden(conv, c, dropout, batchnorm)
            if phase_shuffle and i < last - 1:  # as WaveGAN: not before the layer that makes the logit
                layers.append(PhaseShuffle(phase_shuffle))
            c_in = c
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten(1).mean(1)  # (B, C, L) -> (B,) logits
