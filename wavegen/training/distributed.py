"""Several processes, one model: data-parallel training launched by torchrun (gloo on CPU, NCCL on CUDA).

Each rank trains on its own disjoint shard of every global batch; G and D are wrapped in PyTorch's
DistributedDataParallel, which averages their gradients across ranks during the backward pass. D runs on the
real and the fake batch as two passes inside one forward call (`DPair`), so DDP sees one forward per backward
while BatchNorm still normalises each batch on its own, as the post's D does. BatchNorm statistics are per
rank, or over the whole global batch with `sync_bn` (`SyncBatchNorm1d`, which, unlike torch's, runs on CPU).

The random draws that define the batch (noise, soft labels, the epoch's order) come from one generator that
every rank seeds alike, and each rank takes its slice of the global draw: with dropout and label noise off
and synchronised BatchNorm, N ranks reproduce one process on the global batch. The draws that belong to the
rank's own examples (dropout masks, phase shuffle, instance noise) come from a per-rank seed.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..errors import WavegenError


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0  # the one process that writes stats, previews and checkpoints

    def any(self, flag: bool) -> bool:
        """True on every rank if `flag` is true on any (stop requests, divergence)."""
        if self.size == 1:
            return flag
        t = torch.tensor([float(flag)])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        """The mean of `t` over the ranks (per-batch stats)."""
        if self.size == 1:
            return t
        t = t.clone()
        dist.all_reduce(t)
        return t / self.size

    def gather(self, obj) -> list:
        """`obj` from every rank, in rank order, on every rank."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()


def init_world(device: torch.device) -> World:
    """The torchrun process group (from its environment variables), or a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend)
    return World(rank, size, local_rank)


def rank_device(world: World, device: torch.device) -> torch.device:
    """Each rank on its own GPU (its local rank) when training on CUDA."""
    if world.size > 1 and device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def shared_draw(make, b: int, world: World, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """`make(n, device, generator)` for the whole global batch, this rank's `b` of it. In one process the draw is
    made directly, from the global generator, as the post's loop does."""
    if world.size == 1:
        return make(b, device, None)
    return make(b * world.size, torch.device("cpu"), generator)[world.rank * b:(world.rank + 1) * b].to(device)


class DPair(nn.Module):
    """D on the real and on the fake batch in one call: two separate passes (BatchNorm sees each alone), or with
    `joint` one pass over both (BatchNorm's statistics shared, so D sees an offset or gain between them)."""

    def __init__(self, D: nn.Module):
        super().__init__()
        self.D = D

    def forward(self, real: torch.Tensor, fake: torch.Tensor, joint: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        if joint:
            out = self.D(torch.cat([real, fake]))  # (B_real + B_fake,) logits
            return out[:len(real)], out[len(real):]
        return self.D(real), self.D(fake)


def wrap(G: nn.Module, D: nn.Module, world: World, device: torch.device):
    """(G to call in training, D pair to call in D steps): DDP-wrapped when there are several ranks."""
    pair = DPair(D)
    if world.size == 1:
        return G, pair
    # broadcast_buffers=False: each rank keeps its own BatchNorm running statistics (or syncs them itself). Torch
    # warns that it is deprecated but says to keep it for rank-local buffers until its replacement exists.
    kw = dict(device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*broadcast_buffers", category=FutureWarning)
        return DistributedDataParallel(G, **kw), DistributedDataParallel(pair, **kw)


class SyncBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over the global batch: the per-channel sums are added up across ranks (differentiably), so
    N ranks normalise exactly as one process with the whole batch would. Works on CPU (gloo) and CUDA.
    Only passes that train (gradients on) are synchronised: rank 0 samples previews and scores on its own."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L)
        if not (self.training and torch.is_grad_enabled() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce  # carries the gradients back to every rank

        count = torch.tensor([x.shape[0] * x.shape[2]], dtype=x.dtype, device=x.device)
        with warnings.catch_warnings():  # deprecated in favour of a private module without this autograd support
            warnings.filterwarnings("ignore", category=FutureWarning)
            sums = all_reduce(torch.cat([x.sum((0, 2)), x.pow(2).sum((0, 2)), count]))  # (2C + 1,)
        c = x.shape[1]
        n = sums[-1]
        mean = sums[:c] / n
        var = (sums[c:2 * c] / n - mean.pow(2)).clamp_min(0)  # biased, as BatchNorm normalises
        if self.track_running_stats:
            with torch.no_grad():
                m = self.momentum
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1), m)  # unbiased, as BatchNorm keeps it
                self.num_batches_tracked += 1
        y = (x - mean[None, :, None]) * torch.rsqrt(var[None, :, None] + self.eps)
        return y * self.weight[None, :, None] + self.bias[None, :, None] if self.affine else y


def convert_sync_bn(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm1d in `module` by a SyncBatchNorm1d with the same parameters and buffers."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm1d:
            sync = SyncBatchNorm1d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            sync.load_state_dict(child.state_dict())
            setattr(module, name, sync)
        else:
            convert_sync_bn(child)
    return module


def restore_streams(rng: dict, world: World, device: torch.device, shared: torch.Generator | None, seed: int,
                    step: int) -> bool:
    """Put the random streams back as a checkpoint saved them (`rng`), each rank its own: True. A checkpoint of
    another world size gets fresh streams seeded from the step instead: False (the data order starts a new epoch)."""
    ranks = rng.get("ranks") or [rng["torch"]]
    if len(ranks) == world.size:
        torch.set_rng_state(ranks[world.rank].cpu())  # RNG states are CPU byte tensors, wherever we loaded to
        if device.type == "cuda" and rng["cuda"] is not None:
            torch.cuda.set_rng_state(rng["cuda"].cpu(), device)
        if shared is not None and rng.get("shared") is not None:
            shared.set_state(rng["shared"])
        return True
    torch.manual_seed(seed * 1000 + 1 + world.rank + step)
    if shared is not None:
        shared.manual_seed(seed + step)
    return False


def check_batch(batch_size: int, scope: str, world: World) -> int:
    """This rank's examples per batch."""
    if scope == "rank":
        return batch_size
    if batch_size % world.size:
        raise WavegenError(f"batch_size {batch_size} (global) does not split over {world.size} ranks")
    return batch_size // world.size
