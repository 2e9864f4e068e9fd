"""The whole training step as one CUDA graph: captured once, then replayed for every batch.

A small GAN's step is hundreds of kernel launches of a few microseconds each, so on a GPU it is bound by Python
and launches, not arithmetic. A CUDA graph records the step's kernels once (the D steps with their penalties'
double backward, the G step, both fused Adam updates, the average of G) and replays them with one launch.

What that needs, and where it is done:
  - static shapes: every captured batch has the run's batch size. An epoch's last short batch runs uncaptured
    (eagerly), so the data order is the same with and without a graph, and a run resumes on either;
  - random draws (noise, soft labels, Dropout, phase shuffle, instance noise, penalty mixes) from the default CUDA
    generator, which torch makes graph-safe: each replay takes fresh numbers and checkpoints save the stream;
  - what changes with the batch number is read from device tensors refilled before each replay (instance noise's
    std, the average's weight); the rhythm of lazy penalties gets one graph per phase. The augmentation's p (and
    ADA's sums) are device tensors the step itself updates in place, every batch, so a replay reads and moves them
    as an eager step would; a resume copies the saved ones into them;
  - no host sync inside: statistics stay on the device until the trainer reads them (loop.py's NaN guard);
  - previews, per-layer statistics, scores and checkpoints run outside it; a batch with per-layer statistics is
    an eager step, and a rollback or a change of learning rate throws the graphs away to capture them again.
torchrun's NCCL all-reduce is not captured, nor torch.istft (it checks its window on the host): several processes
and the istft generator train eagerly (`resolve_cuda_graph`).
"""
from __future__ import annotations

import torch

from ..config import Config
from ..errors import WavegenError
from ..models.registry import GENERATORS
from .distributed import World
from .layerstats import LayerStats
from .step import Schedule, Step, schedule

WARMUP = 3  # eager steps before the first capture: optimiser state and cuDNN's choices are made outside the graph


def resolve_cuda_graph(cfg: Config, device: torch.device, world: World) -> tuple[bool, str]:
    """Whether the run's steps are captured (`--cuda-graph auto|true|false`), and why."""
    asked = cfg.cuda_graph
    if asked == "false":
        return False, "as configured"
    why = GENERATORS[cfg.arch].uncapturable  # e.g. torch.istft reads its window's envelope back to the host
    if why:
        if asked == "true":
            raise WavegenError(f"--cuda-graph true cannot capture the {cfg.arch} generator ({why}); use "
                               "--cuda-graph false")
        return False, f"auto: the {cfg.arch} generator cannot be captured"
    if device.type != "cuda":
        if asked == "true":
            raise WavegenError(f"--cuda-graph true needs a CUDA device, and this run is on {device.type}")
        return False, f"auto: {device.type}, not CUDA"
    if world.size > 1:
        if asked == "true":
            raise WavegenError("--cuda-graph true is not supported under torchrun (the all-reduce of several "
                               "processes is not captured); use --cuda-graph false")
        return False, "auto: several processes (torchrun)"
    return True, ("as configured" if asked == "true" else
                  "auto: one CUDA device; the small presets' steps are bound by kernel launches")


class GraphStep:
    """A `Step` whose full-size batches are replayed from CUDA graphs; called as the trainer calls a step, with
    the batch number. Returns the stats tensor of the batch (a copy: the next replay overwrites the graph's)."""

    def __init__(self, step: Step, cfg: Config, batch: int):
        self.step, self.cfg, self.batch = step, cfg, batch
        self.graphs: dict[tuple[bool, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self.reals: list[torch.Tensor] = []  # static inputs: the graphs read the batch from here
        self.ys: list[torch.Tensor] | None = None
        self.sigma = self.ema_weight = None  # 0-d device tensors, refilled before each replay
        self.warm_steps = 0

    def reset(self) -> None:
        """Forget the graphs: the weights or optimiser states were replaced, or a learning rate changed."""
        self.graphs.clear()
        self.warm_steps = 0

    def __call__(self, reals: list[torch.Tensor], ys: list[torch.Tensor] | None, step: int,
                 layers: LayerStats | None = None) -> torch.Tensor:
        sched = schedule(self.cfg, step, len(reals))
        if layers or self.warm_steps < WARMUP or any(len(r) != self.batch for r in reals):
            return self._eager(reals, ys, sched, layers)
        self._load(reals, ys, sched)
        key = sched.penalised
        if key not in self.graphs:
            self.graphs[key] = self._capture(sched)
        graph, out = self.graphs[key]
        graph.replay()
        return out.clone()

    def _eager(self, reals, ys, sched: Schedule, layers) -> torch.Tensor:
        """An uncaptured step. The warm-up before a capture runs on a side stream, as torch's notes on CUDA graphs
        ask, so that what it initialises lazily is not made on the stream being captured."""
        if self.warm_steps >= WARMUP:
            return self.step(reals, ys, sched, layers)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = self.step(reals, ys, sched, layers)
        torch.cuda.current_stream().wait_stream(side)
        self.warm_steps += 1
        return out

    def _load(self, reals, ys, sched: Schedule) -> None:
        """Copy the batch and the schedule into the tensors the graphs read."""
        if not self.reals:
            self.reals = [torch.empty_like(r) for r in reals]
            self.ys = [torch.empty_like(y) for y in ys] if ys is not None else None
            device = reals[0].device
            self.sigma = torch.zeros((), device=device)
            self.ema_weight = torch.zeros((), device=device)
        for static, r in zip(self.reals, reals):
            static.copy_(r, non_blocking=True)
        for static, y in zip(self.ys or [], ys or []):
            static.copy_(y, non_blocking=True)
        self.sigma.fill_(float(sched.sigma))
        self.ema_weight.fill_(float(sched.ema_weight))

    def _capture(self, sched: Schedule) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        """Record one step over the static tensors (nothing runs while recording); the caller replays it."""
        static = Schedule(self.sigma, self.ema_weight, sched.penalised)
        graph = torch.cuda.CUDAGraph()
        self.step.opt_G.zero_grad(set_to_none=True)  # gradients are then allocated in the graph's own memory
        self.step.opt_D.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            out = self.step(self.reals, self.ys, static)
        return graph, out
