"""Training: the post's loop, generalised, with stats, previews, checkpoints and exact resume.

One batch, as in the post (the seed preset):
  1. draw soft labels  y_real ~ N(label_real, label_noise), y_fake ~ N(label_fake, label_noise)
  2. G step: fake = G(z); loss_G = BCE(D(fake), y_real); step G
  3. D step: loss_D = BCE(D(real), y_real) + BCE(D(fake.detach()), y_fake); step D
     (real and fake go through D separately, so BatchNorm normalises each batch on its own)
Other presets change the loss (losses.py), add penalties, instance noise or an average of G (regularisers.py),
or take d_steps D steps per G step, each on its own real batch. Every random draw comes from torch's global
generator, seeded once, saved in every checkpoint with the epoch's data order, so a resumed run repeats a
straight run bit for bit on CPU.
"""
from __future__ import annotations

import json
import math
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import checkpoint
from .analysis import analyse_rows
from .config import Config, config_from_dict, load_config, validate
from . import losses
from .data import GaussianSpec, describe_skipped, read_meta
from .errors import WavegenError
from .evaluation import real_sets, score, split_holdout
from .layerstats import LayerStats
from .metrics import METRICS
from .distributed import DPair, World, check_batch, convert_sync_bn, init_world, rank_device, shared_draw, wrap
from .models import build_models, check_model, noise, sample
from .regularisers import EMA, gradient_penalty, instance_noise_std, r1_penalty
from .source import open_examples

PREVIEW_WAVS = 4  # fixed-noise previews of audio runs also written as wav files, per preview step
STAT_KEYS = ("loss/G", "loss/D", "D/real", "D/fake", "grad_norm/G", "grad_norm/D")
PENALTY_KEY = "loss/penalty"  # logged when a gradient penalty is on (wgan-gp, R1)


def stat_keys(cfg: Config) -> tuple[str, ...]:
    """The per-batch stats of a run, in the order `gan_step` returns them."""
    return STAT_KEYS + ((PENALTY_KEY,) if cfg.loss == "wgan-gp" or cfg.r1_gamma > 0 else ())


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise WavegenError(f"device {name!r} asked for, but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise WavegenError(f"unknown device {name!r}") from None


def mean_grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """The post's statistic: the mean over parameters of each parameter's gradient norm (no sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    return torch.stack(torch._foreach_norm(grads)).mean()


def optimisers(G: torch.nn.Module, D: torch.nn.Module, cfg: Config) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and for D, each with its own learning rate (TTUR when they differ) and the shared betas."""
    return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2)),
            torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2)))


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


def gan_step(G, D, opt_G, opt_D, real: torch.Tensor | list[torch.Tensor], cfg: Config, layers: LayerStats | None = None,
             step: int = 0, ema: EMA | None = None, d_pair=None, world: World = World(),
             shared: torch.Generator | None = None) -> torch.Tensor:
    """One G step, then one D step per real batch in `real` ((B, C, L), or a list of cfg.d_steps of them).
    Returns the stats in `stat_keys(cfg)` order, as one tensor on the device (no sync). With `layers`, also
    measures per-layer norms around the optimiser steps; with `ema`, updates G's moving average. Under
    torchrun, G and `d_pair` are the DDP-wrapped models (distributed.py) and `shared` the generator of the
    draws every rank agrees on."""
    reals = real if isinstance(real, list) else [real]
    device = reals[0].device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp)  # bf16 needs no loss scaling
    sigma = instance_noise_std(cfg.instance_noise, cfg.instance_noise_batches, step)
    if d_pair is None:
        d_pair = DPair(D)

    def d(x: torch.Tensor) -> torch.Tensor:  # instance noise on D's input
        return x + sigma * torch.randn_like(x) if sigma > 0 else x

    def z(b: int) -> torch.Tensor:  # (b, nz, 1)
        return shared_draw(lambda n, dev, g: noise(cfg, n, dev, g), b, world, shared, device)

    def labels(b: int):  # the seed's soft labels, redrawn every batch (only "bce" uses them)
        if cfg.loss != "bce":
            return None, None
        draw = lambda n, dev, g: torch.randn(n, device=dev, generator=g)  # noqa: E731
        return (cfg.label_real + cfg.label_noise * shared_draw(draw, b, world, shared, device),
                cfg.label_fake + cfg.label_noise * shared_draw(draw, b, world, shared, device))

    # G step: make D call the fakes real
    y_real, y_fake = labels(len(reals[0]))
    with autocast, frozen(D):  # the graph keeps no path to D's weights, so backward skips their gradients
        fake = G(z(len(reals[0])))  # (B, C, L)
        loss_G = losses.g_loss(cfg.loss, D(d(fake)).float(), y_real)
    opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    if layers:
        layers.snapshot("G")
    opt_G.step()
    if ema:
        ema.update(G, step)

    # D steps: real and (detached) fake as two separate passes, as in the post
    for i, real in enumerate(reals):
        penalty = torch.zeros((), device=device)  # this D step's gradient penalties (the last one is logged)
        if i:  # each further D step gets its own labels and fakes
            y_real, y_fake = labels(len(real))
            with torch.no_grad(), autocast:
                fake = G(z(len(real)))
        fake = fake.detach()
        with autocast:
            d_real, d_fake = (o.float() for o in d_pair(d(real), d(fake)))  # (B,) logits each
        loss_D = losses.d_loss(cfg.loss, d_real, d_fake, y_real, y_fake)
        if cfg.loss == "wgan-gp":
            penalty = cfg.gp_lambda * gradient_penalty(D, real, fake)
        if cfg.r1_gamma > 0:
            penalty = penalty + cfg.r1_gamma / 2 * r1_penalty(D, real)
        opt_D.zero_grad(set_to_none=True)
        (loss_D + penalty).backward()
        if layers and i == len(reals) - 1:
            layers.snapshot("D")
        opt_D.step()
    if layers:  # after all steps: G's gradients are untouched by the D steps (fakes were detached)
        layers.measure("G")
        layers.measure("D")
    stats = [loss_G.detach(), loss_D.detach(), d_real.detach().mean(), d_fake.detach().mean(),
             mean_grad_norm(list(G.parameters())), mean_grad_norm(list(D.parameters()))]
    if len(stat_keys(cfg)) > len(STAT_KEYS):
        stats.append(penalty.detach())
    return torch.stack(stats)


class StatsLog:
    """Buffers per-batch stats as tensors and writes them to stats.jsonl in one device sync per flush."""

    def __init__(self, path: Path | None, tb_dir: Path | None, start_step: int, keys: tuple[str, ...] = STAT_KEYS):
        self.path = path
        self.keys = keys
        self.rows: list[tuple[int, int, torch.Tensor]] = []
        self.last: dict = {}
        self.tb = None
        if tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # imported only when asked for: it is slow
            self.tb = SummaryWriter(str(tb_dir), purge_step=start_step + 1)

    def add(self, step: int, epoch: int, values: torch.Tensor) -> None:
        self.rows.append((step, epoch, values))

    def discard(self) -> None:
        """Forget the rows not yet written (a rollback goes back before them)."""
        self.rows.clear()

    def flush(self) -> None:
        if self.path is None:  # not the writing rank
            self.rows.clear()
            return
        if not self.rows:
            return
        values = torch.stack([v for _, _, v in self.rows]).tolist()  # the one sync
        with open(self.path, "a") as f:
            for (step, epoch, _), vals in zip(self.rows, values):
                row = {"step": step, "epoch": epoch, **dict(zip(self.keys, vals))}
                f.write(json.dumps(row) + "\n")
                if self.tb is not None:
                    for k in self.keys:
                        self.tb.add_scalar(k, row[k], step)
        self.last = row
        self.rows.clear()

    def write(self, row: dict) -> None:
        """A row of its own (timings): kept apart from the batch rows, which are deterministic."""
        self.flush()
        if self.path is None:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def preview(self, step: int, x: torch.Tensor, sample_rate: int) -> None:
        """TensorBoard only: the first fixed-noise samples (n, C, L) as audio and as a figure."""
        if self.tb is None:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        for i in range(min(4, len(x))):
            self.tb.add_audio(f"preview/{i}", x[i].mean(0).clamp(-1, 1), step, sample_rate)  # channels mixed to mono
        fig, axes = plt.subplots(2, 4, figsize=(10, 4), sharex=True, sharey=True)
        for ax, s in zip(axes.flat, x):
            ax.plot(s.T.numpy(), lw=0.7)
        self.tb.add_figure("preview/samples", fig, step)  # closes the figure

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_stats(run: str | Path) -> list[dict]:
    """All rows of a run's stats.jsonl (batch rows and timing rows); a last line torn by a crash is left out."""
    path = Path(run) / "stats.jsonl"
    if not path.exists():
        return []
    return [row for _, row in checkpoint.read_jsonl(path)]


def _truncate_jsonl(path: Path, step: int) -> None:
    """Drop rows written after the checkpoint we resume from: they will be written again. A last line torn by a
    crash mid-append goes too; a bad line before it is corruption (WavegenError naming the file and line)."""
    if not path.exists():
        return
    rows = checkpoint.read_jsonl(path)
    for line, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise WavegenError(f"{path}: a row without a batch number ('step'), {line[:60]!r}; the file is corrupt")
    keep = [line for line, row in rows if row["step"] <= step]
    checkpoint.atomic_write(path, lambda f: f.write("".join(line + "\n" for line in keep).encode()))


class StopFlag:
    """Ctrl-C or SIGTERM asks the loop to stop at the end of the current batch and checkpoint;
    a second Ctrl-C stops at once (the last periodic checkpoint is still there)."""

    def __init__(self):
        self.requested = False

    def _handler(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    @contextmanager
    def installed(self):
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for s in old:
                signal.signal(s, self._handler)
        except ValueError:  # not the main thread: no signal handling, plain behaviour
            old = {}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def _save_npy(path: Path, array: np.ndarray) -> None:
    checkpoint.atomic_write(path, lambda f: np.save(f, array))


def _save_wav(path: Path, x: np.ndarray, sample_rate: int) -> None:
    """(C, L) float32 as a float wav (no clipping, no quantisation)."""
    checkpoint.atomic_write(path, lambda f: sf.write(f, x.T, sample_rate, format="WAV", subtype="FLOAT"))


def _check_run(cfg: Config, resume: bool) -> Path:
    """The run folder must exist to resume, and must not (or be empty) to start: runs are never overwritten."""
    run = Path(cfg.out)
    if not cfg.out:
        raise WavegenError("no run folder given (--out)")
    if resume and not (run / "config.json").exists():
        raise WavegenError(f"{run}: not a run folder (no config.json) to resume")
    if not resume and run.exists() and any(not checkpoint.TEMP.match(f.name) for f in run.iterdir()):  # temp files: a start killed mid-write
        raise WavegenError(f"{run}: run folder exists; resume it with --resume {run} or choose another --out")
    return run


def _prepare_run(cfg: Config, resume: bool) -> Path:
    run = _check_run(cfg, resume)
    if resume:
        return run
    run.mkdir(parents=True, exist_ok=True)
    _write_json(run / "config.json", cfg.to_dict())
    return run


def _write_json(path: Path, obj: dict) -> None:
    checkpoint.atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def train(cfg: Config, resume: bool = False) -> Path:
    """Train a run from `cfg` (a new run folder at cfg.out), or continue the run at cfg.out with resume=True.
    Under torchrun every rank calls this; rank 0 alone writes to the run folder."""
    validate(cfg)
    asked = pick_device(cfg.device)
    world = init_world(asked)
    device = rank_device(world, asked)
    main = world.main
    if main:  # the run folder is rank 0's (the others may see it appear)
        _check_run(cfg, resume)
    examples = open_examples(cfg)
    if main and examples.skipped:
        print(describe_skipped(examples.skipped), flush=True)
    train_idx, _ = split_holdout(examples.n, cfg.holdout, cfg.seed)  # (n,) example numbers used for training
    n, channels, length = len(train_idx), examples.channels, examples.length
    check_model(cfg, length)  # a length the layers cannot make is refused before anything is written
    b = check_batch(cfg.batch_size, cfg.batch_scope, world)  # this rank's examples per batch
    global_b = b * world.size
    # one process keeps the last partial batch, as a DataLoader does; several take full batches only, so that
    # every rank's shard of a batch has b examples
    batches_per_epoch = math.ceil(n / global_b) if world.size == 1 else n // global_b
    if batches_per_epoch == 0:
        raise WavegenError(f"{cfg.data}: {n} training examples are fewer than one batch of {global_b} over {world.size} ranks")

    torch.manual_seed(cfg.seed)  # before the models: their initial weights are the run's first random draws
    G, D = build_models(cfg, channels, length)
    if cfg.sync_bn:
        G, D = convert_sync_bn(G), convert_sync_bn(D)
    G, D = G.to(device), D.to(device)
    ema = EMA(G, cfg.ema) if cfg.ema > 0 else None
    G_sample = ema.model if ema else G  # what previews, scores and best.pt sample from
    opt_G, opt_D = optimisers(G, D, cfg)
    G_run, d_pair = wrap(G, D, world, device)  # DDP-wrapped under torchrun
    shared = torch.Generator() if world.size > 1 else None  # the draws all ranks agree on (None: the global stream)
    data_info = {"n": n, "channels": channels, "length": length, "sample_rate": examples.sample_rate,
                 "meta": read_meta(cfg.data), "held_out": examples.n - n, "classes": examples.classes}
    if cfg.eval_every and main:
        eval_sets, _ = real_sets(examples, data_info["meta"], examples.sample_rate, cfg.holdout, cfg.seed, cfg.eval_n)
    run = Path(cfg.out)
    if main:
        _prepare_run(cfg, resume)  # only now that data and models are known to be good
    world.barrier()

    z_fix = noise(cfg, cfg.n_preview, device)  # drawn first: the same for every run of a seed
    if shared is not None:  # continues the stream one process would use: N ranks can reproduce one process
        shared.set_state(torch.get_rng_state())
    p = {"step": 0, "epoch": 0, "pos": 0, "wall": 0.0,
         "best": None,  # {"step", "value"} of the best `best_metric` score so far
         "rollbacks": 0,  # times the run went back to a checkpoint after a NaN
         "order": torch.randperm(n, generator=shared)}  # this epoch's shuffled order of the training examples
    if world.size > 1:
        torch.manual_seed(cfg.seed * 1000 + 1 + world.rank)  # each rank its own dropout masks

    def restore(state: dict) -> None:
        """Put the run back where `state` (a checkpoint) was: weights, optimisers, data position, RNG."""
        try:
            G.load_state_dict(state["G"])
            D.load_state_dict(state["D"])
            if ema:
                ema.model.load_state_dict(state["G_ema"])
            opt_G.load_state_dict(state["opt_G"])
            opt_D.load_state_dict(state["opt_D"])
        except (RuntimeError, KeyError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WavegenError(f"{run}: the checkpoint holds another model than config.json describes ({first[:160]})") from None
        p.update({k: state[k] for k in ("step", "epoch", "pos", "order", "wall", "best")}, rollbacks=state.get("rollbacks", 0))
        z_fix.copy_(state["z_fix"])
        rng = state["rng"]
        ranks = rng.get("ranks") or [rng["torch"]]
        if len(ranks) == world.size:  # the same world size: each rank continues its own random stream
            torch.set_rng_state(ranks[world.rank].cpu())  # RNG states are CPU byte tensors, wherever we loaded to
            if device.type == "cuda" and rng["cuda"] is not None:
                torch.cuda.set_rng_state(rng["cuda"].cpu(), device)
            if shared is not None and rng.get("shared") is not None:
                shared.set_state(rng["shared"])
        else:  # another world size: same weights and step, fresh streams and a fresh epoch
            torch.manual_seed(cfg.seed * 1000 + 1 + world.rank + p["step"])
            if shared is not None:
                shared.manual_seed(cfg.seed + p["step"])
            p.update(pos=0, order=torch.randperm(n, generator=shared))
            if main:
                print(f"the checkpoint is from {len(ranks)} process(es), this run has {world.size}: continuing from its "
                      "weights with a new data order", flush=True)
        if main:
            _truncate_jsonl(run / "stats.jsonl", p["step"])
            _truncate_jsonl(run / "layers.jsonl", p["step"])

    if resume and checkpoint.list_ckpts(run):
        path, state = checkpoint.load_latest_good(run, map_location=device)
        saved = {k: state["data"][k] for k in ("n", "channels", "length", "sample_rate", "held_out")}
        if saved != {k: data_info[k] for k in saved}:
            raise WavegenError(f"{cfg.data}: the data changed since the checkpoint ({saved} then, {data_info['n']} files now)")
        restore(state)
        if main:
            print(f"resuming {run} from {path.name} (batch {p['step']}, epoch {p['epoch']})", flush=True)
    else:
        if resume and main:  # stopped before its first checkpoint: start it again from the same seed
            print(f"{run}: no checkpoint yet, starting the run again from batch 0", flush=True)
            (run / "stats.jsonl").unlink(missing_ok=True)
            (run / "layers.jsonl").unlink(missing_ok=True)
        if main:
            _write_json(run / "data.json", {**data_info, "folder": str(cfg.data)})

    def done() -> bool:
        return (cfg.batches is not None and p["step"] >= cfg.batches) or (cfg.epochs is not None and p["epoch"] >= cfg.epochs)

    def state_dict(rng_ranks: list | None) -> dict:
        return {
            "config": cfg.to_dict(), "data": data_info,
            "G": G.state_dict(), "D": D.state_dict(), "opt_G": opt_G.state_dict(), "opt_D": opt_D.state_dict(),
            **({"G_ema": ema.model.state_dict()} if ema else {}),
            **{k: p[k] for k in ("step", "epoch", "pos", "order", "wall", "best", "rollbacks")}, "z_fix": z_fix.cpu(),
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                    "ranks": rng_ranks, "shared": shared.get_state() if shared is not None else None},
        }

    def preview() -> None:
        with sample(G_sample, cfg.sample_mode, device):
            out = G_sample(z_fix).float().cpu()  # (n_preview, C, L)
        step = p["step"]
        _save_npy(run / "previews" / f"step_{step:08d}.npy", out.numpy())
        if GaussianSpec.from_meta(data_info["meta"]) is None:  # audio, not the seed's curves: previews to listen to
            for i in range(min(PREVIEW_WAVS, len(out))):
                _save_wav(run / "previews" / f"step_{step:08d}_{i}.wav", out[i].numpy(), examples.sample_rate)
        log.preview(step, out, examples.sample_rate)

    def evaluate() -> bool:
        """Score G, keep best.pt, and say whether the run has diverged (when asked to stop on it)."""
        step = p["step"]
        scores = score(G_sample, cfg, eval_sets, list(cfg.eval_metrics), device)
        log.write({"step": step, **{f"eval/{k}": v for k, v in scores.items()}})
        value = scores.get(cfg.best_metric)
        badness = METRICS[cfg.best_metric].badness  # lower is better whatever the metric's direction
        if value is not None and not math.isnan(badness(value)) and (
                p["best"] is None or badness(value) < badness(p["best"]["value"])):
            p["best"] = {"step": step, "value": value}
            checkpoint.atomic_write(checkpoint.ckpt_dir(run) / "best.pt", lambda f: torch.save(state_dict(None), f))
        if cfg.stop_on_divergence:
            found = analyse_rows(read_stats(run), cfg.best_metric)
            if found["divergence"] is not None:
                say(f"diverged at batch {found['divergence']} (best {cfg.best_metric} {p['best']['value']:.4g} at batch "
                    f"{p['best']['step']}, kept in checkpoints/best.pt): stopping")
                return True
        return False

    def save_checkpoint() -> None:
        rng_ranks = world.gather(torch.get_rng_state())  # every rank takes part; rank 0 writes
        if main:
            log.write({"step": p["step"], "time/wall_s": round(p["wall"], 3)})
            checkpoint.save(run, p["step"], state_dict(rng_ranks), cfg.keep_ckpts)

    def on_nan(stats: torch.Tensor) -> bool:
        """A loss or gradient is NaN or Inf: go back to the last good checkpoint with lower learning rates, or
        stop. True: the run goes on. Nothing of the bad batch reaches a checkpoint."""
        bad = [k for k, v in zip(stat_keys(cfg), stats.tolist()) if not math.isfinite(v)]
        where = f"batch {p['step'] + 1}: {', '.join(bad)} not finite"
        log.discard()
        good = checkpoint.list_ckpts(run) if main else [True]
        if cfg.on_nan == "stop" or p["rollbacks"] >= cfg.max_rollbacks or not world.any(bool(good)):
            why = ("on_nan is stop" if cfg.on_nan == "stop" else "no checkpoint to go back to" if not good
                   else f"{p['rollbacks']} rollbacks already")
            raise WavegenError(f"{run}: {where} ({why}); the newest checkpoint is left as it was. "
                               "Lower --lr-g / --lr-d, or resume with --resume to retry")
        path, state = checkpoint.load_latest_good(run, map_location=device)
        restore(state)
        p["rollbacks"] += 1
        for opt in (opt_G, opt_D):
            for group in opt.param_groups:
                group["lr"] *= cfg.nan_lr_factor
        if main:
            log.write({"step": p["step"], "event/rollback": p["rollbacks"], "lr/G": opt_G.param_groups[0]["lr"],
                       "lr/D": opt_D.param_groups[0]["lr"]})
            say(f"{where}: back to {path.name} (batch {p['step']}), learning rates x {cfg.nan_lr_factor}")
        return True

    def advance() -> None:
        p["pos"] += 1
        if p["pos"] == batches_per_epoch:  # reshuffle, as a DataLoader with shuffle=True does
            p["epoch"] += 1
            p["pos"] = 0
            p["order"] = torch.randperm(n, generator=shared)
            examples.set_epoch(p["epoch"], cfg.seed)

    def fetch() -> torch.Tensor:
        """This rank's shard of the next batch, (b, C, L) on the device."""
        start = p["pos"] * global_b + world.rank * b
        return examples.get(train_idx[p["order"][start:start + b]]).to(device)

    log = StatsLog(run / "stats.jsonl" if main else None, run / "tensorboard" if cfg.tensorboard and main else None,
                   p["step"], stat_keys(cfg))
    layers = LayerStats(run / "layers.jsonl", {"G": G, "D": D})
    if main and p["step"] == 0 and not (run / "previews" / f"step_{0:08d}.npy").exists():
        preview()  # the untrained generator, for the figures
    if done():
        if main:
            print(f"{run}: already trained to batch {p['step']} (epoch {p['epoch']}); raise --batches or --epochs to go on", flush=True)
        return run

    total = cfg.batches if cfg.epochs is None else batches_per_epoch * cfg.epochs
    if cfg.batches is not None:
        total = min(total, cfg.batches)
    bar = tqdm(total=total, initial=p["step"], unit="batch", dynamic_ncols=True, disable=None if main else True)

    def say(line: str) -> None:
        bar.write(line)
        sys.stdout.flush()  # console lines show up at once when stdout is a file or a pipe

    examples.set_epoch(p["epoch"], cfg.seed)
    G.train()
    D.train()
    stop = StopFlag()
    stopping = diverged = False
    t_last = time.perf_counter()
    step_at_last = step_at_start = p["step"]
    with stop.installed():
        try:
            while not done() and not stopping:
                step = p["step"]
                track = main and cfg.layer_every and (step + 1) % cfg.layer_every == 0
                reals = []
                for i in range(cfg.d_steps):  # the post's order: a batch is fetched, used, and only then the epoch may end
                    if i:
                        advance()
                    reals.append(fetch())
                stats = gan_step(G_run, D, opt_G, opt_D, reals, cfg, layers if track else None, step, ema,
                                 d_pair, world, shared)  # reals: (b, C, L) each
                stats = world.mean(stats)
                if not torch.isfinite(stats).all():  # one sync per batch: a NaN must never be trained past or saved
                    on_nan(stats)
                    continue
                p["step"] = step = step + 1
                log.add(step, p["epoch"], stats)
                if track:
                    layers.write(step)
                advance()

                if main and (step % cfg.stats_every == 0 or done()):
                    now = time.perf_counter()
                    p["wall"] += now - t_last
                    rate = (step - step_at_last) / max(now - t_last, 1e-9)
                    t_last, step_at_last = now, step
                    log.flush()
                    last = log.last
                    bar.set_postfix({"G": f"{last['loss/G']:.3f}", "D": f"{last['loss/D']:.3f}",
                                     "real": f"{last['D/real']:.2f}", "fake": f"{last['D/fake']:.2f}"}, refresh=False)
                    bar.update(step - bar.n)
                    if step % cfg.print_every == 0:
                        say(f"batch {step:>6} epoch {p['epoch']:>4} | loss G {last['loss/G']:.4f} D {last['loss/D']:.4f} | "
                            f"D(real) {last['D/real']:+.3f} D(fake) {last['D/fake']:+.3f} | "
                            f"grad G {last['grad_norm/G']:.4f} D {last['grad_norm/D']:.4f} | {rate:.1f} batch/s")
                if main and step % cfg.preview_every == 0:
                    preview()
                if main and cfg.eval_every and step % cfg.eval_every == 0:
                    log.flush()
                    diverged = evaluate()
                if step % cfg.ckpt_every == 0:
                    save_checkpoint()
                stopping = world.any(stop.requested or diverged)  # every rank stops at the same batch
        finally:
            bar.close()
        # Reached only at a batch boundary (normal end or a stop request), so the state is consistent.
        p["wall"] += time.perf_counter() - t_last
        if main and p["step"] % cfg.preview_every:
            preview()
        if p["step"] % cfg.ckpt_every or p["step"] == step_at_start:  # not twice for the last batch
            save_checkpoint()
        log.close()
    if main and stopping:
        print(f"stopped at batch {p['step']}; checkpoint saved. Continue with: wavegen train --resume {run}", flush=True)
    elif main:
        print(f"done: {p['step']} batches, {p['epoch']} epochs, {p['wall']:.0f} s. Run folder: {run}\n"
              f"next: wavegen report {run}  (or plot / eval / generate / summary)", flush=True)
    return run


def resume(run: str | Path, **overrides) -> Path:
    """Continue the run in `run`, optionally with new stopping points (batches=, epochs=) or bookkeeping values."""
    if not (Path(run) / "config.json").exists():
        raise WavegenError(f"{run}: not a run folder (no config.json) to resume")
    cfg = load_config(Path(run) / "config.json")
    allowed = {"batches", "epochs", "device", "stats_every", "print_every", "tensorboard"}
    bad = set(overrides) - allowed
    if bad:
        raise WavegenError(f"cannot change {sorted(bad)[0]!r} when resuming (only {', '.join(sorted(allowed))})")
    d = cfg.to_dict()
    d.update({k: v for k, v in overrides.items() if v is not None})
    d["out"] = str(run)
    cfg = config_from_dict(d)
    if overrides:
        _write_json(Path(run) / "config.json", cfg.to_dict())
    return train(cfg, resume=True)
