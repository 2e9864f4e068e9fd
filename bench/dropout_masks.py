"""How much cheaper dropout masks would speed up the seed step (issue 5's profile: masks are ~17% of a batch).

    python bench/dropout_masks.py

Times 100 seed-preset batches (wavegen.train.gan_step, fixed real batch) with torch's nn.Dropout (bernoulli_
masks) and with a mask drawn as uniform >= p: the same Bernoulli(1 - p) distribution, drawn differently. Not
used by any preset yet: it would change every random draw, and with them every figure measured so far.
"""
import time

import torch
from torch import nn

from wavegen import make_config
from wavegen.models import build_models
from wavegen.train import gan_step


class UniformDropout(nn.Dropout):
    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).uniform_() >= self.p
        return torch.where(keep, x * (1 / (1 - self.p)), 0.0)


def batches_per_second(uniform: bool) -> float:
    cfg = make_config("seed")
    torch.manual_seed(0)
    G, D = build_models(cfg, 1)
    if uniform:
        for model in (G, D):
            for name, module in model.main.named_children():
                if isinstance(module, nn.Dropout):
                    model.main._modules[name] = UniformDropout(module.p)
    opt_G = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_D = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    real = torch.randn(cfg.batch_size, 1, 100) * 0.1
    for _ in range(10):  # warm-up
        gan_step(G, D, opt_G, opt_D, real, cfg)
    t = time.perf_counter()
    for _ in range(100):
        stats = gan_step(G, D, opt_G, opt_D, real, cfg)
    stats.tolist()
    return 100 / (time.perf_counter() - t)


for round_ in range(2):
    print(f"round {round_ + 1}: bernoulli_ masks {batches_per_second(False):.2f} batches/s, "
          f"uniform masks {batches_per_second(True):.2f} batches/s")
