"""G and D from a Config: one entry point for every family, noise for G, and sampling G without disturbing it."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from ..errors import WavegenError
from . import dcgan, discriminators, istft, wavegan, hpn  # noqa: F401  (each registers its families, in this order)
from .dcgan import SEED_LENGTH
from .discriminators import Ensemble
from .layers import dcgan_init, use_int32_dropout
from .registry import DISCRIMINATORS, GENERATORS


def d_names(cfg) -> list[str]:
    """The sub-discriminators of an ensemble D (empty: the --arch family's own D), or a one-line error."""
    names = [n.strip() for n in cfg.d_arch.split(",") if n.strip()]
    for n in names:
        if n not in DISCRIMINATORS:
            raise WavegenError(f"unknown d_arch {n!r} (known: {', '.join(DISCRIMINATORS)})")
    if len(set(names)) < len(names):
        raise WavegenError(f"d_arch names a sub-discriminator twice: {cfg.d_arch!r}")
    if names and cfg.loss == "bce":
        raise WavegenError(f"an ensemble D (d_arch {cfg.d_arch!r}) does not take the post's soft labels (loss bce); "
                           "use nonsat, lsgan, hinge or wgan-gp")
    if names and cfg.d_batch == "joint":
        raise WavegenError("an ensemble D (d_arch) does not take d_batch joint yet")
    if cfg.feature_matching > 0 and not names:
        raise WavegenError("feature_matching needs an ensemble D (d_arch), whose sub-discriminators return features")
    return names


def family_d(cfg) -> str:
    """The D of the --arch family, used when d_arch names no ensemble (the istft G is judged by the dcgan D)."""
    return GENERATORS[cfg.arch].d


def check_model(cfg, length: int | None) -> None:
    """Refuse widths (and, when known, a length) the architecture cannot make, with a one-line error."""
    names = d_names(cfg)
    if cfg.arch not in GENERATORS:
        raise WavegenError(f"unknown arch {cfg.arch!r} (known: {', '.join(GENERATORS)})")
    GENERATORS[cfg.arch].check(cfg, length)
    for n in names or [family_d(cfg)]:
        DISCRIMINATORS[n].check(cfg, length)


def _generator(cfg, channels: int, length: int) -> nn.Module:
    return GENERATORS[cfg.arch].build(cfg, channels, length)


def _discriminator(cfg, channels: int, length: int) -> nn.Module:
    """The --arch family's D, or the ensemble --d-arch names (ndf is each sub-discriminator's width d)."""
    names = d_names(cfg)
    if not names:
        return DISCRIMINATORS[family_d(cfg)].build(cfg, channels, length)
    return Ensemble({n: DISCRIMINATORS[n].build(cfg, channels, length) for n in names})


def build_models(cfg, channels: int, length: int | None = None) -> tuple[nn.Module, nn.Module]:
    """G and D from a Config (models are always rebuilt this way: from the config saved with the weights).
    `length` is the examples' length (None: cfg.length, or the post's 100 when that is 0)."""
    length = length or cfg.length or SEED_LENGTH
    G, D = _generator(cfg, channels, length), _discriminator(cfg, channels, length)
    if cfg.init == "dcgan":
        dcgan_init(G)
        dcgan_init(D)
    if cfg.dropout_masks == "int32":
        use_int32_dropout(G)
        use_int32_dropout(D)
    if cfg.spectral_norm:  # after the init: the parametrisation keeps the initialised weight as its original
        for m in D.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
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
