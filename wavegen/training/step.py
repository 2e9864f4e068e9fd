"""One training step: a G step, then D steps, with the losses, penalties and statistics of a run.

One batch, as in the post (the `post` preset):
  1. draw soft labels  y_real ~ N(label_real, label_noise), y_fake ~ N(label_fake, label_noise)
  2. G step: fake = G(z); loss_G = BCE(D(fake), y_real); step G
  3. D step: loss_D = BCE(D(real), y_real) + BCE(D(fake.detach()), y_fake); step D
     (real and fake go through D separately, so BatchNorm normalises each batch on its own; with d_batch
     "joint" they go through together, in the G step too, so that BatchNorm cannot hide an offset or gain)
Other presets change the loss (losses.py), add penalties, instance noise or an average of G (regularisers.py),
or take d_steps D steps per G step, each on its own real batch.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch

from ..config import Config
from ..models.build import d_names, noise
from ..models.conditional import given_classes
from . import losses
from .distributed import DPair, World, shared_draw
from .layerstats import LayerStats
from .regularisers import EMA, gradient_penalty, instance_noise_std, r1_penalty

STAT_KEYS = ("loss/G", "loss/D", "D/real", "D/fake", "grad_norm/G", "grad_norm/D")
PENALTY_KEY = "loss/penalty"  # wgan-gp or R1 on: the penalty added to D's loss, mean over the batch's D steps
FM_KEY = "loss/G/fm"  # feature matching's part of loss/G (already weighted)


def stat_keys(cfg: Config) -> tuple[str, ...]:
    """The per-batch stats of a run, in the order `gan_step` returns them: an ensemble D adds each
    sub-discriminator's part of loss/D (`loss/D/mpd`, ...)."""
    return (STAT_KEYS + ((PENALTY_KEY,) if cfg.loss == "wgan-gp" or cfg.r1_gamma > 0 else ())
            + tuple(f"loss/D/{name}" for name in d_names(cfg)) + ((FM_KEY,) if cfg.feature_matching > 0 else ()))


def mean_grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """The post's statistic: the mean over parameters of each parameter's gradient norm (no sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    return torch.stack(torch._foreach_norm(grads)).mean()


def optimisers(G: torch.nn.Module, D: torch.nn.Module, cfg: Config) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and for D, each with its own learning rate (TTUR when they differ) and the shared betas."""
    trainable = lambda m: [p for p in m.parameters() if p.requires_grad]  # noqa: E731  (--freeze-d leaves some out)
    return (torch.optim.Adam(trainable(G), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2)),
            torch.optim.Adam(trainable(D), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2)))


@contextmanager
def frozen(model: torch.nn.Module):
    """Inside, autograd records no gradient for `model`'s weights: the G step needs D's input gradients only.
    The post computes D's weight gradients there too and then zeroes them unused; skipping them is the same
    update for less work (a backward pass through D costs about two forwards, and this is one of them)."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _g_objective(cfg: Config, D, judged, judge_real, y_real) -> tuple[torch.Tensor, torch.Tensor]:
    """G's loss from D's judgement of the fakes, and feature matching's (weighted) part of it, 0 without. An ensemble
    judges as {sub-discriminator: (logits per head, feature maps)}; `judge_real()` gives its judgement of reals."""
    if not isinstance(judged, dict):
        return losses.g_loss(cfg.loss, judged.float(), y_real), torch.zeros((), device=judged.device)
    loss = losses.ensemble_g_loss(cfg.loss, judged)
    if cfg.feature_matching <= 0:
        return loss, torch.zeros((), device=loss.device)
    with torch.no_grad():  # real's features are targets: no graph through them
        judged_real = judge_real()
    fm = cfg.feature_matching * losses.feature_matching(judged_real, judged)
    return loss + fm, fm


def _d_objective(cfg: Config, out_real, out_fake, y_real, y_fake):
    """D's loss, its logits on real and on fake ((B,), or an ensemble's mean), and an ensemble's per-sub parts."""
    if isinstance(out_real, dict):
        loss, parts = losses.ensemble_d_loss(cfg.loss, out_real, out_fake)
        return loss, losses.mean_logit(out_real), losses.mean_logit(out_fake), parts
    d_real, d_fake = out_real.float(), out_fake.float()
    return losses.d_loss(cfg.loss, d_real, d_fake, y_real, y_fake), d_real, d_fake, {}


def _penalty(cfg: Config, D, real: torch.Tensor, fake: torch.Tensor, d_step: int) -> torch.Tensor:
    """The gradient penalties (wgan-gp, R1) of D step number `d_step`, counted across batches so that a resumed run
    keeps the rhythm: lazily, on every penalty_every-th step only and that many times over."""
    penalty = torch.zeros((), device=real.device)
    if d_step % cfg.penalty_every:
        return penalty
    if cfg.loss == "wgan-gp":
        penalty = cfg.gp_lambda * gradient_penalty(D, real, fake)
    if cfg.r1_gamma > 0:
        penalty = penalty + cfg.r1_gamma / 2 * r1_penalty(D, real)
    return cfg.penalty_every * penalty


def gan_step(G, D, opt_G, opt_D, real: torch.Tensor | list[torch.Tensor], cfg: Config, layers: LayerStats | None = None,
             step: int = 0, ema: EMA | None = None, d_pair=None, world: World = World(),
             shared: torch.Generator | None = None, labels: list[torch.Tensor] | None = None) -> torch.Tensor:
    """One G step, then one D step per real batch in `real` ((B, C, L), or a list of cfg.d_steps of them).
    Returns the stats in `stat_keys(cfg)` order, as one tensor on the device (no sync). With `layers`, also
    measures per-layer norms around the optimiser steps; with `ema`, updates G's moving average. Under
    torchrun, G and `d_pair` are the DDP-wrapped models (distributed.py) and `shared` the generator of the
    draws every rank agrees on. A conditional pair gets the classes (B,) of each real batch in `labels`; its fakes
    are made for the same classes."""
    reals = real if isinstance(real, list) else [real]
    ys = labels if labels is not None else [None] * len(reals)
    given_classes(G, D, ys[0])  # the G step's fakes are made for the first real batch's classes
    device = reals[0].device
    # bf16 needs no loss scaling. The trainer resolves amp "auto" (precision.py); unresolved, it means off.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "true")
    sigma = instance_noise_std(cfg.instance_noise, cfg.instance_noise_batches, step)
    if d_pair is None:
        d_pair = DPair(D)

    def d(x: torch.Tensor) -> torch.Tensor:  # instance noise on D's input
        return x + sigma * torch.randn_like(x) if sigma > 0 else x

    def z(b: int) -> torch.Tensor:  # (b, nz, 1)
        return shared_draw(lambda n, dev, g: noise(cfg, n, dev, g), b, world, shared, device)

    def labels(b: int):  # the post's soft labels, redrawn every batch (only "bce" uses them)
        if cfg.loss != "bce":
            return None, None
        draw = lambda n, dev, g: torch.randn(n, device=dev, generator=g)  # noqa: E731
        return (cfg.label_real + cfg.label_noise * shared_draw(draw, b, world, shared, device),
                cfg.label_fake + cfg.label_noise * shared_draw(draw, b, world, shared, device))

    # G step: make D call the fakes real
    y_real, y_fake = labels(len(reals[0]))
    with autocast, frozen(D):  # the graph keeps no path to D's weights, so backward skips their gradients
        fake = G(z(len(reals[0])))  # (B, C, L)
        if cfg.d_batch == "joint":  # the real batch shares BatchNorm's statistics; only the fakes' logits count
            judged = D(torch.cat([d(reals[0]), d(fake)]))[len(reals[0]):]
        else:
            judged = D(d(fake))
        loss_G, fm = _g_objective(cfg, D, judged, lambda: D(d(reals[0])), y_real)
    opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    if layers:
        layers.snapshot("G")
    opt_G.step()
    if ema:
        ema.update(G, step)

    # D steps: real and (detached) fake as two separate passes, as in the post
    penalties = torch.zeros((), device=device)  # the penalty terms added to D's losses, summed over this batch's steps
    for i, real in enumerate(reals):
        given_classes(G, D, ys[i])
        if i:  # each further D step gets its own labels and fakes
            y_real, y_fake = labels(len(real))
            with torch.no_grad(), autocast:
                fake = G(z(len(real)))
        fake = fake.detach()
        with autocast:
            out_real, out_fake = d_pair(d(real), d(fake), joint=cfg.d_batch == "joint")  # (B,) each, or ensembles'
            loss_D, d_real, d_fake, parts = _d_objective(cfg, out_real, out_fake, y_real, y_fake)
        with autocast:  # the penalties' double backward is D's costliest pass: it runs in bf16 too
            penalty = _penalty(cfg, D, real, fake, step * len(reals) + i)
        penalties = penalties + penalty.detach()
        opt_D.zero_grad(set_to_none=True)
        (loss_D + penalty).backward()
        if layers and i == len(reals) - 1:
            layers.snapshot("D")
        opt_D.step()
    given_classes(G, D, None)
    if layers:  # after all steps: G's gradients are untouched by the D steps (fakes were detached)
        layers.measure("G")
        layers.measure("D")
    stats = [loss_G, loss_D, d_real.mean(), d_fake.mean(), mean_grad_norm(list(G.parameters())),
             mean_grad_norm(list(D.parameters()))]
    optional = ([penalties / len(reals)] * (cfg.loss == "wgan-gp" or cfg.r1_gamma > 0) + list(parts.values())
                + [fm] * (cfg.feature_matching > 0))
    return torch.stack([x.detach() for x in stats + optional])  # in stat_keys(cfg) order (parts: d_arch's)
