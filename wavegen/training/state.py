"""What a run trains and where it is: G, D, the G that samples (its average, where the run keeps one), both
optimisers and the augmentation's p (ADA adapts it), built in one place and saved and restored together; and the
run's progress (batches, time, best score, rollbacks)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config
from ..errors import WavegenError
from ..models.conditional import build_pair
from .augment import Augment, build_augment
from .distributed import World, convert_sync_bn, wrap
from .init_from import start_from
from .regularisers import EMA


def optimisers(G: nn.Module, D: nn.Module, cfg: Config, device: torch.device = torch.device("cpu"),
               capturable: bool = False) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and for D, each with its own learning rate (TTUR when they differ) and the shared betas. On CUDA
    the fused kernels (one launch per step, not one per tensor), and with `capturable` state a CUDA graph can
    replay; on the CPU torch's default, which the documented CPU figures were measured with."""
    kw = dict(fused=True, capturable=capturable) if device.type == "cuda" else {}
    trainable = lambda m: [p for p in m.parameters() if p.requires_grad]  # noqa: E731  (--freeze-d leaves some out)
    return (torch.optim.Adam(trainable(G), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2), **kw),
            torch.optim.Adam(trainable(D), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2), **kw))


@dataclass
class Progress:
    """Where a run is, besides its data order: saved in every checkpoint (top-level keys, beside the weights)."""
    step: int = 0  # batches done
    wall: float = 0.0  # seconds spent training
    best: dict | None = None  # {"step", "value"} of the best `best_metric` score so far
    rollbacks: int = 0  # times the run went back to a checkpoint after a NaN

    def state_dict(self) -> dict:
        return {"step": self.step, "wall": self.wall, "best": self.best, "rollbacks": self.rollbacks}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.wall, self.best = state["step"], state["wall"], state["best"]
        self.rollbacks = state.get("rollbacks", 0)  # older checkpoints: no rollbacks


@dataclass
class State:
    """The trained objects of a run. `G_run` and `d_pair` are what the step calls (DDP-wrapped under torchrun);
    `G_sample` is what previews, scores and best.pt sample from."""
    G: nn.Module
    D: nn.Module
    ema: EMA | None
    opt_G: torch.optim.Adam
    opt_D: torch.optim.Adam
    G_run: nn.Module
    d_pair: nn.Module
    augment: Augment | None = None

    @property
    def G_sample(self) -> nn.Module:
        return self.ema.model if self.ema else self.G

    def train(self) -> None:
        self.G.train()
        self.D.train()

    def state_dict(self) -> dict:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
                **({"G_ema": self.ema.model.state_dict()} if self.ema else {}),
                **({"augment": self.augment.state_dict()} if self.augment else {})}

    def load_state_dict(self, state: dict, where: str) -> None:
        """Weights and optimiser states from a checkpoint; a checkpoint of another model is refused in one line."""
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            if self.ema:
                self.ema.model.load_state_dict(state["G_ema"])
            if self.augment:
                self.augment.load_state_dict(state["augment"])
            for opt, key in ((self.opt_G, "opt_G"), (self.opt_D, "opt_D")):
                kinds = [{k: g[k] for k in ("fused", "capturable") if k in g} for g in opt.param_groups]
                opt.load_state_dict(state[key])
                for group, kind in zip(opt.param_groups, kinds):  # how to step is this device's, not the saver's
                    group.update(kind)
                    if group.get("fused") or group.get("capturable"):  # their step counts live beside the weights
                        for p in group["params"]:
                            if "step" in opt.state.get(p, {}):
                                opt.state[p]["step"] = opt.state[p]["step"].to(p.device, torch.float32)
        except (RuntimeError, KeyError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WavegenError(f"{where}: the checkpoint holds another model than config.json describes "
                               f"({first[:160]})") from None

    def scale_lr(self, factor: float) -> None:
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] *= factor


def build_state(cfg: Config, channels: int, length: int, classes: list[str], world: World, device: torch.device,
                capturable: bool = False) -> State:
    """G and D with their initial weights (the run's first random draws: seeded here, or another run's with
    --init-from), the average, the optimisers."""
    torch.manual_seed(cfg.seed)
    G, D = build_pair(cfg, channels, length, len(classes))
    if cfg.sync_bn:
        G, D = convert_sync_bn(G), convert_sync_bn(D)
    G, D = G.to(device), D.to(device)
    ema = EMA(G, cfg.ema) if cfg.ema > 0 else None
    start_from(cfg, G, D, ema, channels, length, classes)
    opt_G, opt_D = optimisers(G, D, cfg, device, capturable)
    G_run, d_pair = wrap(G, D, world, device)
    return State(G, D, ema, opt_G, opt_D, G_run, d_pair, build_augment(cfg, device))
