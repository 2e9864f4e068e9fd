"""WaveGAN (Donahue, McAuley and Puckette, 2018): kernel 25, stride 4, a dense first layer, no BatchNorm.

G: z (nz) -> dense -> (16, 16d) -> ReLU, then one upsampling layer per stride, widths halving to d, the last
to the audio channels with Tanh: 16 -> 64 -> 256 -> 1024 -> 4096 -> 16384 at the paper's length. D mirrors
it with strided convolutions, LeakyReLU(0.2) and phase shuffle, then a dense layer to one logit. A length is
16 x the product of the strides, all 4 but the last, which is 2 for lengths like 32768: so any power of two
from 32 up. At 16384 and d = 64: G 19.1M and D 17.4M parameters, as in the paper.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import WavegenError
from .layers import MinibatchStd, NoiseInjection, output_noise, PhaseShuffle, PostFilter
from .registry import register_discriminator, register_generator

KERNEL = 25  # the paper's kernel length
START = 16  # samples after G's dense layer (and before D's)
SHUFFLED = 4  # D's first layers followed by phase shuffle (the paper: layers 0-3)


def wavegan_strides(length: int, layers: int = 0) -> list[int]:
    """The strides that make `length` from START samples (module docstring), or a one-line error."""
    q, r = divmod(length, START)
    if r or q < 2 or q & (q - 1):
        raise WavegenError(f"wavegan makes lengths of {START} x a power of two (32, 64, ..., 16384, 32768, 65536), "
                           f"got {length}: use --length or the dcgan arch")
    n4, n2 = divmod(int(math.log2(q)), 2)
    strides = [4] * n4 + [2] * n2
    if layers and layers != len(strides):
        raise WavegenError(f"wavegan at length {length} has {len(strides)} layers, not {layers} (use layers 0)")
    return strides


def _padding(stride: int) -> tuple[int, int]:
    """(padding, output_padding) for a transposed conv that multiplies the length by `stride` exactly."""
    pad = (KERNEL - stride + 1) // 2
    return pad, 2 * pad - (KERNEL - stride)


def _extras(width: int, batchnorm: bool, dropout: float, act: nn.Module) -> list[nn.Module]:
    layers = [nn.BatchNorm1d(width)] if batchnorm else []
    layers.append(act)
    return layers + ([nn.Dropout(dropout)] if dropout > 0 else [])


@register_generator("wavegan", d="wavegan")
class WaveGANGenerator(nn.Module):
    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> WaveGANGenerator:
        return cls(wavegan_strides(length, cfg.layers), cfg.nz, cfg.ngf, channels, cfg.upsample, cfg.g_batchnorm,
                   cfg.dropout_g, cfg.g_noise, cfg.g_postfilter)

    @staticmethod
    def check(cfg, length: int | None) -> None:
        if length:
            wavegan_strides(length, cfg.layers)

    def __init__(self, strides: list[int], nz: int, d: int, channels: int, upsample: str = "transpose",
                 batchnorm: bool = False, dropout: float = 0.0, noise: str = "none", postfilter: int = 0):
        super().__init__()
        self.nz = nz
        width = d * 2 ** (len(strides) - 1)  # 16d at 16384, 32d with the sixth layer
        self.start_width = width
        self.dense = nn.Linear(nz, START * width)
        self.start = nn.Sequential(*_extras(width, batchnorm, dropout, nn.ReLU()))
        layers: list[nn.Module] = []
        for i, s in enumerate(strides):
            last = i == len(strides) - 1
            c_out = channels if last else width // 2
            if upsample != "transpose":  # the paper's alternative to transposed convolution (no checkerboard artefacts)
                layers += [nn.Upsample(scale_factor=s, mode=upsample), nn.Conv1d(width, c_out, KERNEL, padding=KERNEL // 2)]
            else:
                pad, out_pad = _padding(s)
                layers.append(nn.ConvTranspose1d(width, c_out, KERNEL, stride=s, padding=pad, output_padding=out_pad))
            if last:
                layers += [nn.Tanh()] + ([PostFilter(c_out, postfilter)] if postfilter else [])
                layers += [output_noise(c_out)] if noise in ("output", "all") else []
            else:
                layers += ([NoiseInjection(c_out)] if noise in ("hidden", "all") else [])
                layers += _extras(c_out, batchnorm, dropout, nn.ReLU())
            width = c_out
        self.main = nn.Sequential(*layers)
        self.out_length = START * math.prod(strides)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dense(z.flatten(1)).view(z.shape[0], self.start_width, START)  # (B, nz, 1) -> (B, 16d, 16)
        return self.main(self.start(h))  # (B, C, L)


@register_discriminator("wavegan")
class WaveGANDiscriminator(nn.Module):
    @classmethod
    def from_config(cls, cfg, channels: int, length: int) -> WaveGANDiscriminator:
        strides = wavegan_strides(length, cfg.layers)
        return cls(strides, cfg.ndf, channels, cfg.phase_shuffle, cfg.d_batchnorm, cfg.dropout_d, cfg.d_mbstd)

    @staticmethod
    def check(cfg, length: int | None) -> None:
        if length:
            wavegan_strides(length, cfg.layers)

    def __init__(self, strides: list[int], d: int, channels: int, phase_shuffle: int = 2, batchnorm: bool = False,
                 dropout: float = 0.0, mbstd: int = 0):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for i, s in enumerate(strides):
            width = d * 2 ** i
            layers.append(nn.Conv1d(c_in, width, KERNEL, stride=s, padding=KERNEL // 2))  # length / stride exactly
            layers += _extras(width, batchnorm, dropout, nn.LeakyReLU(0.2))
            if phase_shuffle and i < min(SHUFFLED, len(strides) - 1):
                layers.append(PhaseShuffle(phase_shuffle))
            c_in = width
        if mbstd:  # the minibatch std channel (layers.minibatch_stddev) before the dense layer to the logit
            layers.append(MinibatchStd(mbstd))
            c_in += 1
        self.main = nn.Sequential(*layers)
        self.out = nn.Linear(START * c_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.main(x).flatten(1)).squeeze(1)  # (B, C, L) -> (B, 16 * (16d + mbstd)) -> (B,) logits
