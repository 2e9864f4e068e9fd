"""The loss registry: each loss is a pair of functions, D's and G's, registered under the name `--loss` takes.

    d(d_real, d_fake, y_real, y_fake) -> D's loss      g(d_fake, y_real) -> G's loss

from D's outputs (B,) taken as logits (critic values for wgan-gp); y are the soft labels only "bce" reads (None
for the others). The pairs live in training/losses.py; config.py lists the names as `loss`'s allowed values, and
tests/test_losses.py checks the two agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class LossPair:
    name: str
    d: Callable  # d(d_real, d_fake, y_real, y_fake) -> scalar tensor
    g: Callable  # g(d_fake, y_real) -> scalar tensor


LOSSES: dict[str, LossPair] = {}


def register_loss(name: str, d: Callable, g: Callable) -> LossPair:
    """Add the pair (D's loss, G's loss) to LOSSES under `name`."""
    if name in LOSSES:
        raise ValueError(f"loss {name!r} registered twice")
    LOSSES[name] = LossPair(name, d, g)
    return LOSSES[name]
