"""wavegen's training step of a config on one fixed real batch, for the benches that time or profile the step alone.

    G, D, step = fixed_batch_step(make_config("post", dropout_masks="int32"))
    step()  # one wavegen.training.step.gan_step; returns its stats tensor
"""
import torch

from wavegen.models import build_models
from wavegen.training.state import optimisers
from wavegen.training.step import gan_step


def fixed_batch_step(cfg):
    """G, D (seeded with 0) and a function running one G + D step of `cfg` on one fixed batch of small noise."""
    torch.manual_seed(0)
    G, D = build_models(cfg, 1)
    opt_G, opt_D = optimisers(G, D, cfg)
    real = torch.randn(cfg.batch_size, 1, 100) * 0.1  # (B, C, L): the step's cost does not depend on the data
    return G, D, lambda: gan_step(G, D, opt_G, opt_D, real, cfg)
