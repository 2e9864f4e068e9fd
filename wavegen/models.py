"""The seed's 1-D DCGAN: a transposed-conv generator and a strided-conv discriminator.

Both are built from one `Plan` (kernels, strides, channel widths), so the exact layers of the post are
one plan among many. Each hidden layer is conv -> BatchNorm -> LeakyReLU(0.2) -> Dropout, no biases
(BatchNorm's shift makes them redundant); G ends in Tanh, D in a raw logit (paired with BCE-with-logits).
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn


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
    if ngf % 8 or ngf < 8:
        raise ValueError(f"ngf must be a positive multiple of 8 for the seed layers, got {ngf}")
    if ndf % 16 or ndf < 16:
        raise ValueError(f"ndf must be a positive multiple of 16 for the seed layers, got {ndf}")
    return Plan(
        g_channels=(ngf, ngf // 2, ngf // 4, ngf // 8, channels),
        g_kernels=(4, 4, 4, 4, 10),
        g_strides=(1, 2, 2, 2, 2),
        d_channels=(ndf // 16, ndf // 8, ndf // 4, ndf // 2, ndf, 1),
        d_kernels=(4, 4, 4, 4, 4, 4),
        d_strides=(1, 2, 2, 2, 2, 2),
    )


def _hidden(conv: nn.Module, width: int, dropout: float, batchnorm: bool = True) -> list[nn.Module]:
    layers = [conv, nn.BatchNorm1d(width)] if batchnorm else [conv]
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return layers


class Generator(nn.Module):
    def __init__(self, plan: Plan, nz: int, dropout: float):
        super().__init__()
        self.nz = nz
        layers: list[nn.Module] = []
        c_in = nz
        last = len(plan.g_channels) - 1
        for i, (c, k, s) in enumerate(zip(plan.g_channels, plan.g_kernels, plan.g_strides)):
            conv = nn.ConvTranspose1d(c_in, c, k, stride=s, bias=False)
            layers += [conv, nn.Tanh()] if i == last else _hidden(conv, c, dropout)
            c_in = c
        self.main = nn.Sequential(*layers)
        self.out_length = plan.g_lengths()[-1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)  # (B, nz, 1) -> (B, C, L)


class Discriminator(nn.Module):
    def __init__(self, plan: Plan, channels: int, dropout: float, batchnorm: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        last = len(plan.d_channels) - 1
        for i, (c, k, s) in enumerate(zip(plan.d_channels, plan.d_kernels, plan.d_strides)):
            conv = nn.Conv1d(c_in, c, k, stride=s, bias=not batchnorm)  # a bias only where no BatchNorm shifts
            layers += [conv] if i == last else _hidden(conv, c, dropout, batchnorm)
            c_in = c
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten(1).mean(1)  # (B, C, L) -> (B,) logits


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02) and shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_models(cfg, channels: int) -> tuple[Generator, Discriminator]:
    """G and D from a Config (models are always rebuilt this way: from the config saved with the weights)."""
    plan = seed_plan(cfg.ngf, cfg.ndf, channels)
    G = Generator(plan, cfg.nz, cfg.dropout)
    D = Discriminator(plan, channels, cfg.dropout, cfg.d_batchnorm)
    if cfg.init == "dcgan":
        dcgan_init(G)
        dcgan_init(D)
    return G, D


@contextmanager
def sample(G: nn.Module, mode: str, device: torch.device):
    """Run G without touching its training state: no grads, running statistics unchanged, and the
    global RNG stream left as it was, so previews never change the course of training.

    mode "batch": BatchNorm normalises with the batch's own statistics (as in training), no Dropout;
    mode "train": exactly as in training, Dropout included; mode "eval": BatchNorm's running averages.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    drops = [m for m in G.modules() if isinstance(m, nn.Dropout)]
    was_training = G.training
    tracked = [m.track_running_stats for m in bns]
    G.train(mode != "eval")
    if mode != "eval":
        for m in bns:
            m.track_running_stats = False  # in train mode: use batch statistics and leave the running ones alone
    if mode == "batch":
        for m in drops:
            m.eval()
    fork = torch.random.fork_rng(devices=[device] if device.type == "cuda" else []) if mode == "train" else nullcontext()
    try:
        with fork, torch.no_grad():
            yield G
    finally:
        for m, t in zip(bns, tracked):
            m.track_running_stats = t
        G.train(was_training)
