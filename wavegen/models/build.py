"""G and D from a Config: one entry point for every family, noise for G, and sampling G without disturbing it."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .dcgan import SEED_LENGTH, Discriminator, Generator, _check_widths, dcgan_plan
from .layers import dcgan_init, use_int32_dropout
from .wavegan import WaveGANDiscriminator, WaveGANGenerator, wavegan_strides


def check_model(cfg, length: int | None) -> None:
    """Refuse widths (and, when known, a length) the architecture cannot make, with a one-line error."""
    if cfg.arch == "wavegan":
        if length:
            wavegan_strides(length, cfg.layers)
    elif length:
        dcgan_plan(length, cfg.ngf, cfg.ndf, 1, cfg.layers)
    else:
        _check_widths(cfg.ngf, cfg.ndf)


def build_models(cfg, channels: int, length: int | None = None) -> tuple[nn.Module, nn.Module]:
    """G and D from a Config (models are always rebuilt this way: from the config saved with the weights).
    `length` is the examples' length (None: cfg.length, or the post's 100 when that is 0)."""
    length = length or cfg.length or SEED_LENGTH
    if cfg.arch == "wavegan":
        strides = wavegan_strides(length, cfg.layers)
        G = WaveGANGenerator(strides, cfg.nz, cfg.ngf, channels, cfg.upsample, cfg.g_batchnorm, cfg.dropout_g,
                             cfg.g_noise)
        D = WaveGANDiscriminator(strides, cfg.ndf, channels, cfg.phase_shuffle, cfg.d_batchnorm, cfg.dropout_d,
                                 cfg.d_mbstd)
    else:
        plan = dcgan_plan(length, cfg.ngf, cfg.ndf, channels, cfg.layers)
        G = Generator(plan, cfg.nz, cfg.dropout_g, cfg.g_batchnorm, cfg.upsample, cfg.g_noise)
        D = Discriminator(plan, channels, cfg.dropout_d, cfg.d_batchnorm, cfg.phase_shuffle, cfg.d_mbstd)
    if cfg.init == "dcgan":
        dcgan_init(G)
        dcgan_init(D)
    if cfg.dropout_masks == "int32":
        use_int32_dropout(G)
        use_int32_dropout(D)
    if cfg.spectral_norm:  # after the init: the parametrisation keeps the initialised weight as its original
        for m in D.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.utils.parametrizations.spectral_norm(m)
    return G, D


def noise(cfg, n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
    """G's input: `n` noise vectors (n, nz, 1), N(0, 1) or U(-1, 1) (cfg.z_dist)."""
    if cfg.z_dist == "uniform":
        return torch.rand(n, cfg.nz, 1, device=device, generator=generator) * 2 - 1
    return torch.randn(n, cfg.nz, 1, device=device, generator=generator)


@contextmanager
def generator_mode(G: nn.Module, mode: str, device: torch.device):
    """Run G without touching its training state: no grads, running statistics unchanged, and the
    global RNG stream left as it was, so previews never change the course of training.

    mode "batch": BatchNorm normalises with the batch's own statistics (as in training), no Dropout;
    mode "train": exactly as in training, Dropout included; mode "eval": BatchNorm's running averages.
    Noise inputs (cfg.g_noise) are part of G and draw fresh noise in every mode.
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
    # every mode draws from the global stream when G has noise inputs, "train" for Dropout too: fork it always
    fork = torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
    try:
        with fork, torch.no_grad():
            yield G
    finally:
        for m, t in zip(bns, tracked):
            m.track_running_stats = t
        G.train(was_training)
