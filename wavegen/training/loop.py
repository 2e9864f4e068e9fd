"""The training loop: data, models and optimisers set up once, then batches with stats, previews, scores and
checkpoints until the run's end, a stop request or divergence.

Every random draw comes from torch's global generator, seeded once, and is saved in every checkpoint with the
epoch's data order, so a resumed run repeats a straight run bit for bit on CPU. The order of the draws is part
of that contract: the models' initial weights, then the fixed preview noise, then the first epoch's order,
then the batches (step.py).
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import Config, config_from_dict, load_config, validate
from ..data.files import describe_skipped
from ..data.source import open_examples
from ..data.synthetic import GaussianSpec, read_meta
from ..errors import WavegenError
from ..evaluation.analysis import analyse_rows
from ..evaluation.metrics import METRICS
from ..evaluation.scoring import add_judge, real_sets, score, split_holdout
from ..models.build import check_model, generator_mode, noise
from ..models.conditional import build_pair
from ..runfolder import outside_data, read_stats, truncate_jsonl, write_json
from ..runlock import FolderLock, claim_run, leftovers, new_run_id
from .. import checkpoint
from .distributed import check_batch, convert_sync_bn, init_world, rank_device, wrap
from .init_from import start_from
from .layerstats import LayerStats
from .precision import autotune_convolutions, forward_gflops, resolve_amp
from .previews import preview_path, save_preview
from .regularisers import EMA
from .stats import StatsLog
from .step import gan_step, optimisers, stat_keys
from .stop import StopFlag

RESUMABLE = {"batches", "epochs", "minutes", "device", "stats_every", "print_every", "tensorboard", "cache_dir"}  # may change on resume


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise WavegenError(f"device {name!r} asked for, but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise WavegenError(f"unknown device {name!r}") from None


@dataclass
class Progress:
    """Where a run is: saved in every checkpoint (as top-level keys, beside the weights)."""
    step: int = 0  # batches done
    epoch: int = 0  # passes over the data done
    pos: int = 0  # batches done in this epoch
    order: torch.Tensor | None = None  # this epoch's shuffled order of the training examples
    wall: float = 0.0  # seconds spent training
    best: dict | None = None  # {"step", "value"} of the best `best_metric` score so far
    rollbacks: int = 0  # times the run went back to a checkpoint after a NaN

    KEYS = ("step", "epoch", "pos", "order", "wall", "best", "rollbacks")

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.KEYS}

    def load_state_dict(self, state: dict) -> None:
        for k in self.KEYS:
            setattr(self, k, state.get(k, 0) if k == "rollbacks" else state[k])  # older checkpoints: no rollbacks
        self.order = self.order.cpu()  # it indexes the examples, which live on the CPU, wherever the weights loaded to


def check_run(cfg: Config, resume: bool) -> Path:
    """The run folder must exist to resume, and must not (or be empty) to start: runs are never overwritten."""
    run = Path(cfg.out)
    if not cfg.out:
        raise WavegenError("no run folder given (--out)")
    if run.exists() and not run.is_dir():
        raise WavegenError(f"{run}: is a file, not a run folder (--out names the folder to train into)")
    if resume and not (run / "config.json").exists():
        raise WavegenError(f"{run}: not a run folder (no config.json) to resume")
    outside_data(cfg.data, run, "the run folder (--out)")
    if not resume and run.exists() and leftovers(run):  # temp files and the lock: a start killed mid-write
        raise WavegenError(f"{run}: run folder exists; resume it with --resume {run} or choose another --out")
    return run


class Trainer:
    """One run. Built in the order of its random draws; `run()` trains it. Under torchrun every rank builds one;
    rank 0 alone writes to the run folder."""

    def __init__(self, cfg: Config, resume: bool = False, lock: FolderLock | None = None):
        validate(cfg)
        self.cfg, self.run_dir, self.lock = cfg, Path(cfg.out), lock or FolderLock()
        asked = pick_device(cfg.device)
        self.world = world = init_world(asked)
        self.device = rank_device(world, asked)
        self.main = world.main
        if self.main:  # the run folder is rank 0's (the others may see it appear)
            check_run(cfg, resume)
        self._open_data()
        self._choose_precision()
        self._build_models()
        if self.main:  # only now that data and models are known to be good
            self._create_run(resume)
        world.barrier()
        self.z_fix = noise(cfg, cfg.n_preview, self.device)  # drawn first: the same for every run of a seed
        if self.shared is not None:  # continues the stream one process would use: N ranks can reproduce one process
            self.shared.set_state(torch.get_rng_state())
        self.progress = Progress(order=self.new_order())
        if world.size > 1:
            torch.manual_seed(cfg.seed * 1000 + 1 + world.rank)  # each rank its own dropout masks
        self._resume_or_start(resume)
        self.log = StatsLog(self.run_dir / "stats.jsonl" if self.main else None,
                            self.run_dir / "tensorboard" if cfg.tensorboard and self.main else None,
                            self.progress.step, stat_keys(cfg))
        self.layers = LayerStats(self.run_dir / "layers.jsonl", {"G": self.G, "D": self.D})
        self.bar = None

    # Setup.

    def _open_data(self) -> None:
        cfg, world = self.cfg, self.world
        self.examples = examples = open_examples(cfg)
        if self.main and examples.skipped:
            print(describe_skipped(examples.skipped), flush=True)
        self.train_idx, _ = split_holdout(examples.n, cfg.holdout, cfg.seed)  # (n,) example numbers used for training
        self.n = n = len(self.train_idx)
        check_model(cfg, examples.length)  # a length the layers cannot make is refused before anything is written
        self.b = check_batch(cfg.batch_size, cfg.batch_scope, world)  # this rank's examples per batch
        self.global_b = self.b * world.size
        # one process keeps the last partial batch, as a DataLoader does; several take full batches only, so that
        # every rank's shard of a batch has b examples
        self.batches_per_epoch = math.ceil(n / self.global_b) if world.size == 1 else n // self.global_b
        if self.batches_per_epoch == 0:
            raise WavegenError(f"{cfg.data}: {n} training examples are fewer than one batch of {self.global_b} "
                               f"over {world.size} ranks")
        self.data_info = {"n": n, "channels": examples.channels, "length": examples.length,
                          "sample_rate": examples.sample_rate, "meta": read_meta(cfg.data),
                          "held_out": examples.n - n, "classes": examples.classes}
        self.audio = GaussianSpec.from_meta(self.data_info["meta"]) is None  # audio, not the post's curves
        self.labels = self._check_classes()  # (n,) the training examples' classes, or None
        if cfg.eval_every and self.main:
            self.eval_sets, _ = real_sets(examples, self.data_info["meta"], examples.sample_rate, cfg.holdout,
                                          cfg.seed, cfg.eval_n)
            add_judge(self.eval_sets, cfg, list(cfg.eval_metrics))  # fitted before training, once per data

    def _check_classes(self) -> np.ndarray | None:
        """The classes of the training examples when the run uses them (conditional, balanced_classes); data
        without two classes, or with files outside the class folders, is refused."""
        cfg, ex = self.cfg, self.examples
        if not (cfg.conditional or cfg.balanced_classes):
            return None
        what = "conditional" if cfg.conditional else "balanced_classes"
        if len(ex.classes) < 2:
            raise WavegenError(f"{cfg.data}: {what} needs at least two classes (first-level sub-folders with audio), "
                               f"found {len(ex.classes)}{': ' + ex.classes[0] if ex.classes else ''}")
        labels = ex.labels[self.train_idx.numpy()]
        if (labels < 0).any():
            raise WavegenError(f"{cfg.data}: {what}: {int((labels < 0).sum())} training examples come from files "
                               "outside the class sub-folders; move them into one")
        empty = sorted(d.name for d in Path(cfg.data).iterdir()
                       if d.is_dir() and not d.name.startswith(".") and d.name not in ex.classes)
        if empty:  # a class the user meant to have, with nothing in it that decodes
            raise WavegenError(f"{Path(cfg.data) / empty[0]}: a class folder without audio ({what} would leave the "
                               "class out); add its files or remove the folder")
        counts = np.bincount(labels, minlength=len(ex.classes))
        if counts.min() < self.b:
            few = ex.classes[int(counts.argmin())]
            raise WavegenError(f"{cfg.data}: {what}: class {few!r} has {counts.min()} training examples, fewer than a "
                               f"batch of {self.b}; add examples or lower --batch-size")
        return labels

    def new_order(self) -> torch.Tensor:
        """An epoch's order of the training examples: a shuffle, or with balanced_classes a draw (with repeats)
        in which every class is equally likely."""
        if self.labels is None or not self.cfg.balanced_classes:
            return torch.randperm(self.n, generator=self.shared)
        counts = np.bincount(self.labels)
        weights = torch.from_numpy(1.0 / counts[self.labels])  # (n,) each class sums to 1
        return torch.multinomial(weights, self.n, replacement=True, generator=self.shared)

    def _choose_precision(self) -> None:
        """Resolve amp "auto" for this device and model (config.json records the choice, so a resume keeps it), and
        whether cuDNN autotunes."""
        gflops = forward_gflops(self.cfg, self.examples.channels, self.examples.length)
        amp, why = resolve_amp(self.cfg.amp, self.device, gflops)
        self.cfg = replace(self.cfg, amp=amp)
        autotune_convolutions(self.device, gflops)
        if self.main:
            print(f"bf16 autocast: {'on' if amp == 'true' else 'off'} ({why})", flush=True)

    def _build_models(self) -> None:
        cfg, device = self.cfg, self.device
        torch.manual_seed(cfg.seed)  # before the models: their initial weights are the run's first random draws
        G, D = build_pair(cfg, self.examples.channels, self.examples.length, len(self.examples.classes))
        if cfg.sync_bn:
            G, D = convert_sync_bn(G), convert_sync_bn(D)
        self.G, self.D = G.to(device), D.to(device)
        self.ema = EMA(self.G, cfg.ema) if cfg.ema > 0 else None
        self.G_sample = self.ema.model if self.ema else self.G  # what previews, scores and best.pt sample from
        start_from(cfg, self.G, self.D, self.ema, self.examples.channels, self.examples.length, self.examples.classes)
        self.opt_G, self.opt_D = optimisers(self.G, self.D, cfg)
        self.G_run, self.d_pair = wrap(self.G, self.D, self.world, device)  # DDP-wrapped under torchrun
        self.shared = torch.Generator() if self.world.size > 1 else None  # the draws all ranks agree on

    def _create_run(self, resume: bool) -> None:
        claim_run(self.lock, self.run_dir, fresh=not resume)  # the run folder's one writer from here on
        self.cfg = self.cfg if resume else replace(self.cfg, run_id=new_run_id())
        write_json(self.run_dir / "config.json", self.cfg.to_dict())  # a resume's new end point too

    def _resume_or_start(self, resume: bool) -> None:
        run, main = self.run_dir, self.main
        if resume and checkpoint.list_ckpts(run):
            path, state = checkpoint.load_latest_good(run, self.device, lambda s: checkpoint.not_of_run(
                s, self.cfg, RESUMABLE, {"G": self.G, "D": self.D}))
            saved = {k: state["data"][k] for k in ("n", "channels", "length", "sample_rate", "held_out")}
            if saved != {k: self.data_info[k] for k in saved}:
                raise WavegenError(f"{self.cfg.data}: the data changed since the checkpoint ({saved} then, "
                                   f"{self.data_info['n']} files now)")
            self.restore(state)
            if main:
                print(f"resuming {run} from {path.name} (batch {self.progress.step}, epoch {self.progress.epoch})",
                      flush=True)
            return
        if resume and main:  # stopped before its first checkpoint: start it again from the same seed
            print(f"{run}: no checkpoint yet, starting the run again from batch 0", flush=True)
            (run / "stats.jsonl").unlink(missing_ok=True)
            (run / "layers.jsonl").unlink(missing_ok=True)
        if main:
            write_json(run / "data.json", {**self.data_info, "folder": str(self.cfg.data)})

    # Checkpoints.

    def state_dict(self, rng_ranks: list | None) -> dict:
        cuda = self.device.type == "cuda"
        return {
            "config": self.cfg.to_dict(), "data": self.data_info,
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            **({"G_ema": self.ema.model.state_dict()} if self.ema else {}),
            **self.progress.state_dict(), "z_fix": self.z_fix.cpu(),
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(self.device) if cuda else None,
                    "ranks": rng_ranks, "shared": self.shared.get_state() if self.shared is not None else None},
        }

    def restore(self, state: dict) -> None:
        """Put the run back where `state` (a checkpoint) was: weights, optimisers, data position, RNG."""
        try:
            self.G.load_state_dict(state["G"])
            self.D.load_state_dict(state["D"])
            if self.ema:
                self.ema.model.load_state_dict(state["G_ema"])
            self.opt_G.load_state_dict(state["opt_G"])
            self.opt_D.load_state_dict(state["opt_D"])
        except (RuntimeError, KeyError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WavegenError(f"{self.run_dir}: the checkpoint holds another model than config.json describes "
                               f"({first[:160]})") from None
        self.progress.load_state_dict(state)
        self.z_fix.copy_(state["z_fix"])
        self._restore_rng(state["rng"])
        if self.main:
            truncate_jsonl(self.run_dir / "stats.jsonl", self.progress.step)
            truncate_jsonl(self.run_dir / "layers.jsonl", self.progress.step)

    def _restore_rng(self, rng: dict) -> None:
        world, p = self.world, self.progress
        ranks = rng.get("ranks") or [rng["torch"]]
        if len(ranks) == world.size:  # the same world size: each rank continues its own random stream
            torch.set_rng_state(ranks[world.rank].cpu())  # RNG states are CPU byte tensors, wherever we loaded to
            if self.device.type == "cuda" and rng["cuda"] is not None:
                torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)
            if self.shared is not None and rng.get("shared") is not None:
                self.shared.set_state(rng["shared"])
            return
        # another world size: same weights and step, fresh streams and a fresh epoch
        torch.manual_seed(self.cfg.seed * 1000 + 1 + world.rank + p.step)
        if self.shared is not None:
            self.shared.manual_seed(self.cfg.seed + p.step)
        p.pos, p.order = 0, self.new_order()
        if self.main:
            print(f"the checkpoint is from {len(ranks)} process(es), this run has {world.size}: continuing from its "
                  "weights with a new data order", flush=True)

    def save_checkpoint(self) -> None:
        rng_ranks = self.world.gather(torch.get_rng_state())  # every rank takes part; rank 0 writes
        if self.main:
            self.log.write({"step": self.progress.step, "time/wall_s": round(self.progress.wall, 3)})
            checkpoint.save(self.run_dir, self.progress.step, self.state_dict(rng_ranks), self.cfg.keep_ckpts)

    # Data order.

    def fetch(self) -> torch.Tensor:
        """This rank's shard of the next batch, (b, C, L) on the device."""
        return self.examples.get(self.train_idx[self._batch()]).to(self.device)

    def fetch_labels(self) -> torch.Tensor:
        """The classes (b,) of the batch `fetch` returns, on the device."""
        return torch.from_numpy(self.labels[self._batch().numpy()]).to(self.device)

    def _batch(self) -> torch.Tensor:
        """Which training examples (positions in train_idx) this rank's shard of the next batch is."""
        p = self.progress
        start = p.pos * self.global_b + self.world.rank * self.b
        return p.order[start:start + self.b]

    def advance(self) -> None:
        p = self.progress
        p.pos += 1
        if p.pos == self.batches_per_epoch:  # reshuffle, as a DataLoader with shuffle=True does
            p.epoch, p.pos = p.epoch + 1, 0
            p.order = self.new_order()
            self.examples.set_epoch(p.epoch, self.cfg.seed)

    def done(self) -> bool:
        cfg, p = self.cfg, self.progress
        return ((cfg.batches is not None and p.step >= cfg.batches) or (cfg.epochs is not None and p.epoch >= cfg.epochs)
                or (cfg.minutes is not None and p.wall >= cfg.minutes * 60))  # p.wall: rank 0's, hence world.any below

    # Previews, scores and divergence.

    def preview(self) -> None:
        with generator_mode(self.G_sample, self.cfg.sample_mode, self.device):
            out = self.G_sample(self.z_fix).float().cpu()  # (n_preview, C, L)
        save_preview(self.run_dir, self.progress.step, out, self.examples.sample_rate, self.audio, self.log.tb)

    def evaluate(self) -> dict[str, float]:
        """Score G on the real sets and log the scores."""
        scores = score(self.G_sample, self.cfg, self.eval_sets, list(self.cfg.eval_metrics), self.device)
        self.log.write({"step": self.progress.step, **{f"eval/{k}": v for k, v in scores.items()}})
        return scores

    def keep_best(self, scores: dict[str, float]) -> None:
        """Write checkpoints/best.pt when the run's best_metric is at its best so far."""
        p, value = self.progress, scores.get(self.cfg.best_metric)
        badness = METRICS[self.cfg.best_metric].badness  # lower is better whatever the metric's direction
        if value is None or math.isnan(badness(value)):
            return
        if p.best is None or badness(value) < badness(p.best["value"]):
            p.best = {"step": p.step, "value": value}
            checkpoint.save_best(self.run_dir, self.state_dict(None))

    def diverged(self) -> bool:
        """True when asked to stop on divergence and the run has drifted apart."""
        if not self.cfg.stop_on_divergence:
            return False
        metric, best = self.cfg.best_metric, self.progress.best
        found = analyse_rows(read_stats(self.run_dir), metric)
        if found["divergence"] is None:
            return False
        self.say(f"diverged at batch {found['divergence']} (best {metric} {best['value']:.4g} at batch "
                 f"{best['step']}, kept in checkpoints/best.pt): stopping")
        return True

    # NaN.

    def on_nan(self, stats: torch.Tensor) -> None:
        """A loss or gradient is NaN or Inf: go back to the last good checkpoint with lower learning rates, or
        stop. Nothing of the bad batch reaches a checkpoint."""
        cfg, p, run = self.cfg, self.progress, self.run_dir
        bad = [k for k, v in zip(stat_keys(cfg), stats.tolist()) if not math.isfinite(v)]
        where = f"batch {p.step + 1}: {', '.join(bad)} not finite"
        self.log.discard()
        good = checkpoint.list_ckpts(run) if self.main else [True]
        if cfg.on_nan == "stop" or p.rollbacks >= cfg.max_rollbacks or not self.world.any(bool(good)):
            why = ("on_nan is stop" if cfg.on_nan == "stop" else "no checkpoint to go back to" if not good
                   else f"{p.rollbacks} rollbacks already")
            self.log.write({"step": p.step, "event/nan": ", ".join(bad), "event/stop": why}) if self.main else None
            raise WavegenError(f"{run}: {where} ({why}); the newest checkpoint is left as it was. "
                               "Lower --lr-g / --lr-d, or resume with --resume to retry")
        path, state = checkpoint.load_latest_good(run, map_location=self.device)
        self.restore(state)
        p.rollbacks += 1
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] *= cfg.nan_lr_factor
        if self.main:
            self.log.write({"step": p.step, "event/rollback": p.rollbacks, "event/nan": ", ".join(bad),
                            "lr/G": self.opt_G.param_groups[0]["lr"],
                            "lr/D": self.opt_D.param_groups[0]["lr"]})
            self.say(f"{where}: back to {path.name} (batch {p.step}), learning rates x {cfg.nan_lr_factor}")

    # Console.

    def say(self, line: str) -> None:
        self.bar.write(line)
        sys.stdout.flush()  # console lines show up at once when stdout is a file or a pipe

    def _open_bar(self) -> tqdm:
        cfg = self.cfg
        total = cfg.batches if cfg.epochs is None else self.batches_per_epoch * cfg.epochs
        if cfg.batches is not None:
            total = min(total, cfg.batches)
        return tqdm(total=total, initial=self.progress.step, unit="batch", dynamic_ncols=True,
                    disable=None if self.main else True)

    def report(self, rate: float) -> None:
        """Flush the stats; show the newest on the progress bar, and as a console line every print_every."""
        self.log.flush()
        last, step = self.log.last, self.progress.step
        self.bar.set_postfix({"G": f"{last['loss/G']:.3f}", "D": f"{last['loss/D']:.3f}",
                              "real": f"{last['D/real']:.2f}", "fake": f"{last['D/fake']:.2f}"}, refresh=False)
        self.bar.update(step - self.bar.n)
        if step % self.cfg.print_every == 0:
            self.say(f"batch {step:>6} epoch {self.progress.epoch:>4} | loss G {last['loss/G']:.4f} D "
                     f"{last['loss/D']:.4f} | D(real) {last['D/real']:+.3f} D(fake) {last['D/fake']:+.3f} | "
                     f"grad G {last['grad_norm/G']:.4f} D {last['grad_norm/D']:.4f} | {rate:.1f} batch/s")

    # The loop.

    def train_batch(self) -> bool:
        """One batch: G step and D steps on the next d_steps real batches. False when it went back after a NaN."""
        cfg, p = self.cfg, self.progress
        track = self.main and cfg.layer_every and (p.step + 1) % cfg.layer_every == 0
        reals, labels = [], [] if cfg.conditional else None
        for i in range(cfg.d_steps):  # the post's order: a batch is fetched, used, and only then the epoch may end
            if i:
                self.advance()
            reals.append(self.fetch())  # (b, C, L) each
            if labels is not None:
                labels.append(self.fetch_labels())  # (b,)
        stats = gan_step(self.G_run, self.D, self.opt_G, self.opt_D, reals, cfg, self.layers if track else None,
                         p.step, self.ema, self.d_pair, self.world, self.shared, labels)
        stats = self.world.mean(stats)
        if not torch.isfinite(stats).all():  # one sync per batch: a NaN must never be trained past or saved
            self.on_nan(stats)
            return False
        p.step += 1
        self.log.add(p.step, p.epoch, stats)
        if track:
            self.layers.write(p.step)
        self.advance()
        return True

    def run(self) -> Path:
        cfg, p, main, run = self.cfg, self.progress, self.main, self.run_dir
        if main and p.step == 0 and not preview_path(run, 0).exists():
            self.preview()  # the untrained generator, for the figures
        if self.done():
            if main:
                print(f"{run}: already trained to batch {p.step} (epoch {p.epoch}); raise --batches, --epochs or --minutes to "
                      "go on", flush=True)
            return run
        self.bar = self._open_bar()
        self.examples.set_epoch(p.epoch, cfg.seed)
        self.G.train()
        self.D.train()
        stop, stopping, diverged = StopFlag(), False, False
        t_last, step_at_last, step_at_start = time.perf_counter(), p.step, p.step
        with stop.installed():
            try:
                while not self.done() and not stopping:
                    if not self.train_batch():
                        continue
                    step = p.step
                    if main and (step % cfg.stats_every == 0 or self.done()):
                        now = time.perf_counter()
                        p.wall += now - t_last
                        rate = (step - step_at_last) / max(now - t_last, 1e-9)
                        t_last, step_at_last = now, step
                        self.report(rate)
                    if main and step % cfg.preview_every == 0:
                        self.preview()
                    if main and cfg.eval_every and step % cfg.eval_every == 0:
                        self.log.flush()
                        scores = self.evaluate()
                        self.keep_best(scores)
                        diverged = self.diverged()
                    if step % cfg.ckpt_every == 0:
                        self.save_checkpoint()
                    stopping = self.world.any(stop.requested or diverged or self.done())  # every rank at one batch
            finally:
                self.bar.close()
            # Reached only at a batch boundary (normal end or a stop request), so the state is consistent.
            p.wall += time.perf_counter() - t_last
            if main and p.step % cfg.preview_every:
                self.preview()
            if p.step % cfg.ckpt_every or p.step == step_at_start:  # not twice for the last batch
                self.save_checkpoint()
            self.log.close()
        self._say_next(stopping and not self.done())
        return run

    def _say_next(self, stopped: bool) -> None:
        if not self.main:
            return
        p, run = self.progress, self.run_dir
        if stopped:
            print(f"stopped at batch {p.step}; checkpoint saved. Continue with: wavegen train --resume {run}", flush=True)
        else:
            print(f"done: {p.step} batches, {p.epoch} epochs, {p.wall:.0f} s. Run folder: {run}\n"
                  f"next: wavegen report {run}  (or plot / eval / generate / summary)", flush=True)


def train(cfg: Config, resume: bool = False) -> Path:
    """Train a run from `cfg` (a new run folder at cfg.out), or continue the run at cfg.out with resume=True."""
    with FolderLock() as lock:  # the run folder's writer lock, taken by the Trainer, let go however training ends
        return Trainer(cfg, resume, lock).run()


def resume(run: str | Path, **overrides) -> Path:
    """Continue the run in `run`, optionally with new stopping points (batches=, epochs=) or bookkeeping values."""
    if not (Path(run) / "config.json").exists():
        raise WavegenError(f"{run}: not a run folder (no config.json) to resume")
    cfg = load_config(Path(run) / "config.json")
    bad = set(overrides) - RESUMABLE
    if bad:
        raise WavegenError(f"cannot change {sorted(bad)[0]!r} when resuming (only {', '.join(sorted(RESUMABLE))})")
    d = cfg.to_dict()
    d.update({k: v for k, v in overrides.items() if v is not None})
    d["out"] = str(run)
    return train(config_from_dict(d), resume=True)  # config.json gets the new values under the run's lock
