"""One training step: a G step, then D steps, with the losses, penalties and statistics of a run.

One batch, as in the post (the `post` preset):
  1. draw soft labels  y_real ~ N(label_real, label_noise), y_fake ~ N(label_fake, label_noise)
  2. G step: fake = G(z); loss_G = BCE(D(fake), y_real); step G
  3. D step: loss_D = BCE(D(real), y_real) + BCE(D(fake.detach()), y_fake); step D
     (real and fake go through D separately, so BatchNorm normalises each batch on its own; with d_batch
     "joint" they go through together, in the G step too, so that BatchNorm cannot hide an offset or gain)
Other presets change the loss (losses.py), add penalties, instance noise or an average of G (regularisers.py),
or take d_steps D steps per G step, each on its own real batch. With `augment`, everything D sees, penalties
included, goes through the run's augmentations first (augment.py), and ADA's p is adjusted on the device.

`Step` is built once per run: the config's branches are resolved there, so a call is the same sequence of tensor
operations every time, with no host sync, which is what lets graph.py capture it as one CUDA graph. What changes
with the batch number (instance noise's fade, the average's warm-up, the rhythm of lazy penalties) comes in as a
`Schedule`.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..config import Config
from ..models.build import d_names, noise
from ..models.conditional import given_classes
from ..statkeys import AUGMENT_KEYS, FM_KEY, PENALTY_KEY, STAT_KEYS
from . import losses
from .augment import Augment, build_augment, real_sign
from .distributed import DPair, World, shared_draw
from .layerstats import LayerStats
from .regularisers import EMA, gradient_penalty, instance_noise_std, r1_penalty


def penalised(cfg: Config) -> bool:
    return cfg.loss == "wgan-gp" or cfg.r1_gamma > 0


def stat_keys(cfg: Config) -> tuple[str, ...]:
    """The per-batch stats of a run, in the order a step returns them: an ensemble D adds each sub-discriminator's
    part of loss/D (`loss/D/mpd`, ...); augmentation adds its p and r_t."""
    return (STAT_KEYS + ((PENALTY_KEY,) if penalised(cfg) else ())
            + tuple(f"loss/D/{name}" for name in d_names(cfg)) + ((FM_KEY,) if cfg.feature_matching > 0 else ())
            + (AUGMENT_KEYS if cfg.augment != "none" else ()))


@dataclass(frozen=True)
class Schedule:
    """What a step takes from the batch number: instance noise's std, the weight of G in its average, and which
    of the batch's D steps carry the (lazy) gradient penalty. Python numbers for an eager step; a captured graph
    reads `sigma` and `ema_weight` from 0-d device tensors refilled before each replay (graph.py)."""
    sigma: float | torch.Tensor
    ema_weight: float | torch.Tensor
    penalised: tuple[bool, ...]


def schedule(cfg: Config, step: int, d_steps: int | None = None) -> Schedule:
    """The schedule of batch `step` (0-based). Lazy penalties count D steps across batches, so that a resumed run
    keeps the rhythm."""
    d_steps = cfg.d_steps if d_steps is None else d_steps
    return Schedule(instance_noise_std(cfg.instance_noise, cfg.instance_noise_batches, step),
                    EMA.weight(cfg.ema, step) if cfg.ema > 0 else 0.0,
                    tuple((step * d_steps + i) % cfg.penalty_every == 0 for i in range(d_steps)))


def mean_grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """The post's statistic: the mean over parameters of each parameter's gradient norm (no sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    return torch.stack(torch._foreach_norm(grads)).mean()


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


class Step:
    """One G step, then one D step per real batch, for a run's config; `step(reals, labels, sched)` returns the
    stats in `stat_keys(cfg)` order as one tensor on the device (no sync).

    G_run and d_pair are what the step calls (DDP-wrapped under torchrun, distributed.py); `shared` is the
    generator of the draws every rank agrees on. `graphed`: the step will be captured (autocast without its weight
    cache, instance noise always drawn, its std a tensor). `augment`: the run's (State's, which saves its p); by
    default one of the step's own."""

    def __init__(self, cfg: Config, G_run, D, opt_G, opt_D, ema: EMA | None = None, d_pair=None,
                 world: World = World(), shared: torch.Generator | None = None, graphed: bool = False,
                 augment: Augment | None = None):
        self.cfg, self.G, self.D, self.opt_G, self.opt_D, self.ema = cfg, G_run, D, opt_G, opt_D, ema
        self.d_pair = d_pair if d_pair is not None else DPair(D)
        self.world, self.shared = world, shared
        device = next(D.parameters()).device
        # bf16 needs no loss scaling. The trainer resolves amp "auto" (precision.py); unresolved, it means off.
        self.amp = dict(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.amp == "true",
                        cache_enabled=not graphed)
        self.noisy = cfg.instance_noise > 0
        self.always_noisy = graphed  # a graph cannot skip the draw once the noise has faded: its std goes to 0
        self.joint = cfg.d_batch == "joint"
        self.soft_labels = cfg.loss == "bce"  # the post's soft labels: only "bce" uses them
        self.penalty = penalised(cfg)
        self.feature_matching = cfg.feature_matching
        self.augment = augment if augment is not None else build_augment(cfg, device)

    # Draws: noise, soft labels, instance noise (graph-safe on CUDA: the default generator).

    def z(self, b: int, device: torch.device) -> torch.Tensor:  # (b, nz, 1)
        return shared_draw(lambda n, dev, g: noise(self.cfg, n, dev, g), b, self.world, self.shared, device)

    def labels(self, b: int, device: torch.device):
        if not self.soft_labels:
            return None, None
        cfg = self.cfg
        draw = lambda n, dev, g: torch.randn(n, device=dev, generator=g)  # noqa: E731
        return (cfg.label_real + cfg.label_noise * shared_draw(draw, b, self.world, self.shared, device),
                cfg.label_fake + cfg.label_noise * shared_draw(draw, b, self.world, self.shared, device))

    def d_input(self, x: torch.Tensor, sigma) -> torch.Tensor:
        """What D sees of x: its augmentation (when on), then instance noise."""
        if self.augment is not None:
            x = self.augment(x)
        if self.noisy and (self.always_noisy or sigma > 0):
            return x + sigma * torch.randn_like(x)
        return x

    # Objectives.

    def g_objective(self, judged, judge_real, y_real) -> tuple[torch.Tensor, torch.Tensor]:
        """G's loss from D's judgement of the fakes, and feature matching's (weighted) part of it, 0 without. An
        ensemble judges as {sub-discriminator: (logits per head, feature maps)}; `judge_real()` judges reals."""
        loss_name = self.cfg.loss
        if not isinstance(judged, dict):
            return losses.g_loss(loss_name, judged.float(), y_real), torch.zeros((), device=judged.device)
        loss = losses.ensemble_g_loss(loss_name, judged)
        if self.feature_matching <= 0:
            return loss, torch.zeros((), device=loss.device)
        with torch.no_grad():  # real's features are targets: no graph through them
            judged_real = judge_real()
        fm = self.feature_matching * losses.feature_matching(judged_real, judged)
        return loss + fm, fm

    def d_objective(self, out_real, out_fake, y_real, y_fake):
        """D's loss, its logits on real and on fake ((B,), or an ensemble's mean), and an ensemble's per-sub parts."""
        if isinstance(out_real, dict):
            loss, parts = losses.ensemble_d_loss(self.cfg.loss, out_real, out_fake)
            return loss, losses.mean_logit(out_real), losses.mean_logit(out_fake), parts
        d_real, d_fake = out_real.float(), out_fake.float()
        return losses.d_loss(self.cfg.loss, d_real, d_fake, y_real, y_fake), d_real, d_fake, {}

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """The penalties (wgan-gp, R1) of a D step that carries them, weighted by penalty_every (lazy)."""
        cfg, penalty, view = self.cfg, torch.zeros((), device=real.device), self.augment
        if cfg.loss == "wgan-gp":
            penalty = cfg.gp_lambda * gradient_penalty(self.D, real, fake, view)
        if cfg.r1_gamma > 0:
            penalty = penalty + cfg.r1_gamma / 2 * r1_penalty(self.D, real, view)
        return cfg.penalty_every * penalty

    # The step.

    def __call__(self, reals: list[torch.Tensor], ys: list | None, sched: Schedule,
                 layers: LayerStats | None = None) -> torch.Tensor:
        """`reals`: cfg.d_steps real batches (B, C, L); `ys`: their classes (B,) each for a conditional pair, whose
        fakes are made for the same classes; `layers`: per-layer norms measured around the optimiser steps."""
        G, D, autocast = self.G, self.D, lambda: torch.autocast(**self.amp)
        ys = ys if ys is not None else [None] * len(reals)
        device, b = reals[0].device, len(reals[0])
        d = lambda x: self.d_input(x, sched.sigma)  # noqa: E731

        # G step: make D call the fakes real
        given_classes(G, D, ys[0])  # the G step's fakes are made for the first real batch's classes
        y_real, y_fake = self.labels(b, device)
        with autocast(), frozen(D):  # the graph keeps no path to D's weights, so backward skips their gradients
            fake = G(self.z(b, device))  # (B, C, L)
            if self.joint:  # the real batch shares BatchNorm's statistics; only the fakes' logits count
                judged = D(torch.cat([d(reals[0]), d(fake)]))[b:]
            else:
                judged = D(d(fake))
            loss_G, fm = self.g_objective(judged, lambda: D(d(reals[0])), y_real)
        self.opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        if layers:
            layers.snapshot("G")
        self.opt_G.step()
        if self.ema:
            self.ema.lerp(G, sched.ema_weight)

        # D steps: real and (detached) fake as two separate passes, as in the post
        penalties = torch.zeros((), device=device)  # the penalty terms added to D's losses, summed over the steps
        rts = []  # ADA's E[sign(D(real))] of each D step
        for i, real in enumerate(reals):
            given_classes(G, D, ys[i])
            if i:  # each further D step gets its own labels and fakes
                y_real, y_fake = self.labels(len(real), device)
                with torch.no_grad(), autocast():
                    fake = G(self.z(len(real), device))
            fake = fake.detach()
            with autocast():
                out_real, out_fake = self.d_pair(d(real), d(fake), joint=self.joint)  # (B,) each, or ensembles'
                loss_D, d_real, d_fake, parts = self.d_objective(out_real, out_fake, y_real, y_fake)
            if self.augment is not None:
                rts.append(real_sign(out_real, out_fake, self.cfg.loss).detach())
            penalty = torch.zeros((), device=device)
            if self.penalty and sched.penalised[i]:
                with autocast():  # the penalties' double backward is D's costliest pass: it runs in bf16 too
                    penalty = self.gradient_penalty(real, fake)
            penalties = penalties + penalty.detach()
            self.opt_D.zero_grad(set_to_none=True)
            (loss_D + penalty).backward()
            if layers and i == len(reals) - 1:
                layers.snapshot("D")
            self.opt_D.step()
        given_classes(G, D, None)
        if layers:  # after all steps: G's gradients are untouched by the D steps (fakes were detached)
            layers.measure("G")
            layers.measure("D")
        stats = [loss_G, loss_D, d_real.mean(), d_fake.mean(), mean_grad_norm(list(G.parameters())),
                 mean_grad_norm(list(D.parameters()))]
        optional = [penalties / len(reals)] * self.penalty + list(parts.values()) + [fm] * (self.feature_matching > 0)
        if self.augment is not None:
            optional += self.adapt(rts)
        return torch.stack([x.detach() for x in stats + optional])  # in stat_keys(cfg) order (parts: d_arch's)

    def adapt(self, rts: list[torch.Tensor]) -> list[torch.Tensor]:
        """The batch's augmentation stats (the p it used, its r_t over the ranks), then ADA's step on p."""
        p, rt = self.augment.p.clone(), self.world.mean(torch.stack(rts).mean())
        self.augment.observe(rt)
        return [p, rt]


def gan_step(G, D, opt_G, opt_D, real: torch.Tensor | list[torch.Tensor], cfg: Config, step: int = 0,
             ema: EMA | None = None, labels: list[torch.Tensor] | None = None) -> torch.Tensor:
    """One batch of `cfg`'s step on G and D, as batch number `step` of a run (benchmarks and tests; the trainer
    builds its Step once)."""
    reals = real if isinstance(real, list) else [real]
    return Step(cfg, G, D, opt_G, opt_D, ema)(reals, labels, schedule(cfg, step, len(reals)))
