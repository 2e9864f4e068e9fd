"""What keeps a GAN stable besides its loss: gradient penalties, instance noise, and a moving average of G.

Spectral normalisation is a property of D's layers (`models.build_models`); TTUR is lr_g != lr_d; D steps per
G step are the trainer's loop. Each piece here is small and tested on its own.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .losses import per_example


def _input_grad_sq(D: nn.Module, x: torch.Tensor, view=None) -> torch.Tensor:
    """|dD(x)/dx|^2 per example (B,), with a graph so that the penalty itself can be minimised. An ensemble's D(x)
    is the sum of its heads (`losses.per_example`), so the penalty bounds the critic its loss uses. `view`: what D
    is shown of x (the run's augmentation): the gradient is then D's through it, as StyleGAN2-ADA penalises."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(per_example(D(view(x) if view else x)).sum(), x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1)


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, view=None) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al.): (|grad D(x)| - 1)^2 at random points x between real and fake examples.
    Multiply by gp_lambda."""
    eps = torch.rand(len(real), 1, 1, device=real.device)  # one mixing weight per example
    x = eps * real + (1 - eps) * fake
    return (_input_grad_sq(D, x, view).add(1e-12).sqrt() - 1).pow(2).mean()  # tiny offset: sqrt has no gradient at 0


def r1_penalty(D: nn.Module, real: torch.Tensor, view=None) -> torch.Tensor:
    """R1 (Mescheder et al.): |grad D(x)|^2 on real examples. Multiply by gamma / 2."""
    return _input_grad_sq(D, real, view).mean()


def instance_noise_std(std: float, fade_batches: int, step: int) -> float:
    """The std of the noise added to D's inputs at batch `step`: `std`, fading linearly to 0 over
    `fade_batches` (0 = no fading)."""
    if fade_batches <= 0:
        return std
    return std * max(0.0, 1.0 - step / fade_batches)


class EMA:
    """A copy of G whose weights follow G's as an exponential moving average (decay ~0.999); buffers
    (BatchNorm's running statistics) are copied. Sampling from it gives smoother, often better, output.

    The decay warms up as min(decay, (1 + t) / (10 + t)) after t updates (as TensorFlow's moving average with
    num_updates): a plain 0.999 would keep a trace of the untrained weights for thousands of batches, so
    previews, scores and best.pt early in a run would show an average dragged back towards the init."""

    def __init__(self, G: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(G).requires_grad_(False)

    @staticmethod
    def weight(decay: float, step: int) -> float:
        """G's weight in the average at its update after batch `step` (0 for the first): 1 - the warmed-up decay."""
        return 1.0 - min(decay, (1 + step) / (10 + step))

    def update(self, G: nn.Module, step: int) -> None:
        """Average in G's weights after its update at batch `step` (0 for the first)."""
        self.lerp(G, self.weight(self.decay, step))

    @torch.no_grad()
    def lerp(self, G: nn.Module, weight: float | torch.Tensor) -> None:
        """Move the average towards G's weights by `weight` (a number, or a 0-d tensor a CUDA graph reads)."""
        ema_p, g_p = list(self.model.parameters()), list(G.parameters())
        if isinstance(weight, torch.Tensor):  # one weight per tensor: a lone tensor would be read back to the host
            torch._foreach_lerp_(ema_p, g_p, [weight] * len(ema_p))
        else:
            torch._foreach_lerp_(ema_p, g_p, weight)
        for b_ema, b in zip(self.model.buffers(), G.buffers()):
            b_ema.copy_(b)
