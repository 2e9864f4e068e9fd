"""What G and D minimise, given D's logits on real and fake examples: one small function pair per loss.

Each loss is a pair registered in LOSSES (loss_registry.py). `d_loss(name, d_real, d_fake, y_real, y_fake)` and
`g_loss(name, d_fake, y_real)` take D's outputs (B,) as logits (critic values for wgan-gp). Only "bce" uses the
soft labels y (the post's N(1, 0.1) and N(0, 0.1)); "nonsat" is the same loss with exact labels, as the DCGAN
paper trains it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .loss_registry import LOSSES, register_loss


def _bce_d(d_real, d_fake, y_real, y_fake):  # the post's: a sum of the two BCE terms, soft labels
    return F.binary_cross_entropy_with_logits(d_real, y_real) + F.binary_cross_entropy_with_logits(d_fake, y_fake)


def _bce_g(d_fake, y_real):  # the post's: fakes labelled with the real soft labels
    return F.binary_cross_entropy_with_logits(d_fake, y_real)


def _nonsat_d(d_real, d_fake, y_real=None, y_fake=None):  # -log sigmoid(real) - log(1 - sigmoid(fake))
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def _nonsat_g(d_fake, y_real=None):  # -log sigmoid(fake): strong gradients while D rejects the fakes
    return F.softplus(-d_fake).mean()


def _lsgan_d(d_real, d_fake, y_real=None, y_fake=None):  # Mao et al.: least squares to the targets 1 and 0
    return 0.5 * ((d_real - 1).pow(2).mean() + d_fake.pow(2).mean())


def _lsgan_g(d_fake, y_real=None):
    return 0.5 * (d_fake - 1).pow(2).mean()


def _hinge_d(d_real, d_fake, y_real=None, y_fake=None):
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def _wgan_d(d_real, d_fake, y_real=None, y_fake=None):  # the critic's Wasserstein estimate, negated (+ penalty)
    return d_fake.mean() - d_real.mean()


def _critic_g(d_fake, y_real=None):  # hinge and wgan-gp: raise the critic's value of the fakes
    return -d_fake.mean()


register_loss("bce", _bce_d, _bce_g)
register_loss("nonsat", _nonsat_d, _nonsat_g)
register_loss("lsgan", _lsgan_d, _lsgan_g)
register_loss("hinge", _hinge_d, _critic_g)
register_loss("wgan-gp", _wgan_d, _critic_g)


def _pair(name: str):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}")
    return LOSSES[name]


def d_loss(name: str, d_real: torch.Tensor, d_fake: torch.Tensor, y_real=None, y_fake=None) -> torch.Tensor:
    return _pair(name).d(d_real, d_fake, y_real, y_fake)


def g_loss(name: str, d_fake: torch.Tensor, y_real=None) -> torch.Tensor:
    return _pair(name).g(d_fake, y_real)


def ensemble_d_loss(name: str, real: dict, fake: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """D's loss over an ensemble's judgements ({sub: (logits per head, features)}): the loss of every head's patch
    logits (B, N), summed over heads and sub-discriminators (HiFi-GAN's sum); also each sub-discriminator's part."""
    parts = {k: sum(d_loss(name, r.float(), f.float()) for r, f in zip(real[k][0], fake[k][0])) for k in fake}
    return sum(parts.values()), parts


def ensemble_g_loss(name: str, fake: dict) -> torch.Tensor:
    return sum(g_loss(name, f.float()) for logits, _ in fake.values() for f in logits)


def per_example(judged) -> torch.Tensor:
    """D's judgement of each example (B,): its logit, or for an ensemble the sum over heads of each head's mean
    patch logit, the critic whose mean the ensemble's wgan-gp loss takes; gradient penalties differentiate this."""
    if not isinstance(judged, dict):
        return judged.float()
    return sum(y.float().flatten(1).mean(1) for logits, _ in judged.values() for y in logits)


def per_example_mean(judged) -> torch.Tensor:
    """D's mean output on each example (B,): its logit, or for an ensemble the mean over heads and patches (on the
    scale of one head's logits, where per_example sums the heads)."""
    if not isinstance(judged, dict):
        return judged.float()
    return per_example(judged) / sum(len(logits) for logits, _ in judged.values())


def mean_logit(judged: dict) -> torch.Tensor:
    """The mean of every head's logits: the ensemble's `D/real` or `D/fake` statistic."""
    return torch.stack([y.float().mean() for logits, _ in judged.values() for y in logits]).mean()


def feature_matching(real: dict, fake: dict) -> torch.Tensor:
    """Feature matching for generation from noise (Salimans et al. 2016, with HiFi-GAN's L1 and its sum over maps,
    heads and sub-discriminators): the L1 distance between the batch means of D's feature maps on real and on fake
    examples, at every channel and position, averaged within each map (real's maps carry no gradient). HiFi-GAN
    compares each fake with the real clip it reconstructs; here fake i has no partner, and pulling it towards an
    unrelated real i pulls every sample towards the median clip: one sound for every z."""
    total = torch.zeros((), device=next(iter(fake.values()))[0][0].device)
    for name, (_, fake_feats) in fake.items():
        for head_real, head_fake in zip(real[name][1], fake_feats):
            for r, f in zip(head_real, head_fake):
                total = total + (r.detach().float().mean(0) - f.float().mean(0)).abs().mean()
    return total
