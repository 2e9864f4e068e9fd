"""Building blocks shared by the model families: the DCGAN hidden layer, cheaper Dropout masks, phase shuffle,
the DCGAN paper's initialisation, StyleGAN's noise inputs and minibatch standard deviation, and upsampling
without a transposed convolution's checkerboard."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import WavegenError


def hidden(conv: nn.Module, width: int, dropout: float, batchnorm: bool = True, noise: bool = False) -> list[nn.Module]:
    """conv -> [noise inputs] -> [BatchNorm] -> LeakyReLU(0.2) -> [Dropout]: the DCGAN family's hidden layer."""
    layers = [conv] + ([NoiseInjection(width)] if noise else [])
    layers += [nn.BatchNorm1d(width)] if batchnorm else []
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return layers


class Int32Dropout(nn.Dropout):
    """nn.Dropout with its mask drawn as 32-bit integers: an element is kept when its integer is at or above
    p * 2^32 from the bottom, so kept with probability 1 - p (to within 2^-32, finer than a float32 uniform).

    The same law as nn.Dropout's mask, from a different random stream. Why: on CPU torch draws bernoulli_ one
    element at a time (about 6 ns each here), while full-range int64 draws split in two int32 halves and compared
    cost about 2 ns an element; in the post preset the masks were a quarter of the step (bench/dropout_masks.py)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        n = x.numel()
        bits = torch.randint(-2**63, 2**63 - 1, ((n + 1) // 2,), dtype=torch.int64, device=x.device)
        keep = bits.view(torch.int32)[:n].view(x.shape) >= round(-2**31 + self.p * 2**32)
        return x * keep * (1 / (1 - self.p))


def use_int32_dropout(model: nn.Module) -> None:
    """Swap every nn.Dropout in `model` for an Int32Dropout of the same p (no state: checkpoints are unchanged)."""
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, Int32Dropout(child.p))


class PhaseShuffle(nn.Module):
    """WaveGAN's phase shuffle: in training, shift each example by its own random whole number of samples in
    [-radius, radius], reflecting at the edges, so D cannot key on the exact phase of G's upsampling artefacts."""

    def __init__(self, radius: int):
        super().__init__()
        self.radius = radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.radius == 0:
            return x
        b, c, length = x.shape
        r = self.radius
        shift = torch.randint(-r, r + 1, (b, 1), device=x.device)  # (B, 1)
        padded = nn.functional.pad(x, (r, r), mode="reflect")  # (B, C, L + 2r)
        idx = torch.arange(length, device=x.device) + r - shift  # (B, L): out[t] = x[t - shift]
        return padded.gather(2, idx[:, None, :].expand(b, c, length))



def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02) and shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# The output's noise scale starts here, not at 0: at scale 0 the noise's gradient averages to 0 (the loss depends
# on the scale through its square there), so a zero scale leaves 0 only by chance, which on the seed data took
# longer than a run (scale 0.0004 after 1,500 batches); a small start lets D's pull on it grow it.
OUTPUT_NOISE_INIT = 0.02


class NoiseInjection(nn.Module):
    """StyleGAN's noise inputs: adds fresh Gaussian noise to every example, times a learned scale per channel
    (zero at first, so a new G starts as it would without; at G's output see OUTPUT_NOISE_INIT). `shared`: one noise map for all channels, as in
    StyleGAN's hidden layers; otherwise each channel its own (at G's output, where channels are audio channels
    whose noise need not be the same). The noise is part of G: drawn in every mode, from torch's global stream."""

    def __init__(self, channels: int, shared: bool = True, init: float = 0.0):
        super().__init__()
        self.shared = shared
        self.scale = nn.Parameter(torch.full((channels, 1), init))  # (C, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, length = x.shape
        n = torch.randn(b, 1 if self.shared else c, length, device=x.device, dtype=x.dtype)  # (B, 1 or C, L)
        return x + self.scale.to(x.dtype) * n


def output_noise(channels: int) -> NoiseInjection:
    """Noise inputs for G's output (after its final activation): each channel its own, at OUTPUT_NOISE_INIT."""
    return NoiseInjection(channels, shared=False, init=OUTPUT_NOISE_INIT)


def no_postfilter(cfg, family: str) -> None:
    """The one-line refusal of --g-postfilter by a G whose output has no upsampling tones to notch."""
    if cfg.g_postfilter:
        raise WavegenError(f"g_postfilter is for the dcgan and wavegan G, whose upsampling leaves tones; the {family} "
                           "G has none")


class PostFilter(nn.Module):
    """WaveGAN's post-processing filter: one learned FIR filter per channel on G's output, long enough (the paper:
    512 taps) to notch the tones that upsampling by a fixed stride leaves at multiples of the lower rates. It
    starts as the identity (a unit impulse), so G starts as it would without it."""

    def __init__(self, channels: int, taps: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, taps, groups=channels, bias=False)
        self.pad = ((taps - 1) // 2, taps // 2)  # the output keeps the input's length and alignment
        with torch.no_grad():
            self.conv.weight.zero_()[:, :, self.pad[0]] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L) -> (B, C, L)
        return self.conv(F.pad(x, self.pad))


class UpConv(nn.Module):
    """A transposed convolution's replacement without its checkerboard: upsample by the stride with `mode`
    ("nearest" or "linear"), then a convolution, padded so that the output has the transposed convolution's
    length, (L - 1) * stride + kernel, for any length. Every output sample gets the same number of taps, where a
    transposed convolution whose kernel is not a multiple of its stride gives alternate samples more or fewer."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, mode: str, bias: bool = True):
        super().__init__()
        self.stride, self.mode = stride, mode
        self.conv_kernel = kernel + 1 - kernel % 2  # odd, so the taps centre on a sample
        total = kernel - stride + self.conv_kernel - 1  # L * stride + total - conv_kernel + 1 = (L - 1) * stride + kernel
        self.pad = (total // 2, total - total // 2)
        self.conv = nn.Conv1d(c_in, c_out, self.conv_kernel, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            up = dict(mode=self.mode) if self.mode == "nearest" else dict(mode=self.mode, align_corners=False)
            x = nn.functional.interpolate(x, scale_factor=self.stride, **up)  # (B, C_in, L * stride)
        return self.conv(nn.functional.pad(x, self.pad))  # (B, C_out, (L - 1) * stride + kernel)


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """StyleGAN's minibatch standard deviation: the std of each feature over a group of `group` examples,
    averaged into one number per group and appended as a constant channel, (B, C, ...) -> (B, C + 1, ...). It lets
    D see a batch's variety, which no single example shows. A batch that does not divide into groups is one group."""
    b, c, *rest = x.shape
    g = min(group, b)
    if b % g:
        g = b
    y = x.float().reshape(g, b // g, c, -1)  # group members are examples b // g apart
    std = (y.var(0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2))  # (B / g,)
    feat = std.repeat(g).view(b, 1, *[1] * len(rest)).expand(b, 1, *rest).to(x.dtype)  # (B, 1, ...)
    return torch.cat([x, feat], 1)


class MinibatchStd(nn.Module):
    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minibatch_stddev(x, self.group)
