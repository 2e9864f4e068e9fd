"""Building blocks shared by the model families: the DCGAN hidden layer, cheaper Dropout masks, phase shuffle,
and the DCGAN paper's initialisation."""
from __future__ import annotations

import torch
from torch import nn


def hidden(conv: nn.Module, width: int, dropout: float, batchnorm: bool = True) -> list[nn.Module]:
    layers = [conv, nn.BatchNorm1d(width)] if batchnorm else [conv]
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
