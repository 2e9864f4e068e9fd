"""The training loop: data, models and the step set up once, then batches with stats, previews, scores and
checkpoints until the run's end, a stop request or divergence.

Every random draw comes from torch's global generator, seeded once, and is saved in every checkpoint with the
epoch's data order, so a resumed run repeats a straight run bit for bit on CPU. The order of the draws is part
of that contract: the models' initial weights, then the fixed preview noise, then the first epoch's order,
then the batches (step.py).
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from .. import checkpoint
from ..config import Config, config_from_dict, load_config, validate
from ..errors import WavegenError
from ..evaluation.metrics import check_run_metrics
from ..models.build import generator_mode, noise
from ..atomic import write_json
from ..runfolder import truncate_jsonl
from ..runlock import FolderLock, claim_run, new_run_id
from .console import Console
from .distributed import init_world, rank_device, restore_streams
from .graph import GraphStep
from .layerstats import LayerStats
from .order import DataOrder
from .precision import choose_precision
from .previews import preview_path, save_preview
from .setup import TrainingData, check_run, pick_device
from .state import Progress, build_state
from .stats import StatsLog
from .step import Step, schedule, stat_keys
from .stop import StopFlag
from .watch import Watch

# may change on resume: the end point and bookkeeping that leaves the numbers alone
RESUMABLE = {"batches", "epochs", "minutes", "device", "stats_every", "print_every", "tensorboard", "cache_dir",
             "cuda_graph"}


class Trainer:
    """One run. Built in the order of its random draws; `run()` trains it. Under torchrun every rank builds one;
    rank 0 alone writes to the run folder."""

    def __init__(self, cfg: Config, resume: bool = False, lock: FolderLock | None = None):
        validate(cfg)
        check_run_metrics(cfg)  # the metric names are the evaluation layer's to know, above config's
        self.cfg, self.run_dir, self.lock = cfg, Path(cfg.out), lock or FolderLock()
        asked = pick_device(cfg.device)
        self.world = world = init_world(asked)
        self.device = rank_device(world, asked)
        self.main = world.main
        if self.main:  # the run folder is rank 0's (the others may see it appear)
            check_run(cfg, resume)
        self.td = td = TrainingData(cfg, world)
        ex = self.examples = td.examples
        self.cfg, graphed = choose_precision(self.cfg, self.device, world, ex.channels, ex.length)
        self.state = build_state(self.cfg, ex.channels, ex.length, ex.classes, world, self.device, graphed)
        self.shared = torch.Generator() if world.size > 1 else None  # the draws all ranks agree on
        if self.main:  # only now that data and models are known to be good
            self._create_run(resume)
        world.barrier()
        self.z_fix = noise(self.cfg, self.cfg.n_preview, self.device)  # drawn first: the same for every run of a seed
        if self.shared is not None:  # continues the stream one process would use: N ranks can reproduce one process
            self.shared.set_state(torch.get_rng_state())
        self.data = DataOrder(self.cfg, ex, td.train_idx, td.b, world, td.labels, self.shared, self.device)
        self.data.start()
        self.progress = Progress()
        if world.size > 1:
            torch.manual_seed(self.cfg.seed * 1000 + 1 + world.rank)  # each rank its own dropout masks
        s = self.state
        self.step = Step(self.cfg, s.G_run, s.D, s.opt_G, s.opt_D, s.ema, s.d_pair, world, self.shared, graphed,
                         s.augment)
        self.graph = GraphStep(self.step, self.cfg, td.b) if graphed else None
        self._resume_or_start(resume)
        self.log = StatsLog(self.run_dir / "stats.jsonl" if self.main else None,
                            self.run_dir / "tensorboard" if self.cfg.tensorboard and self.main else None,
                            self.progress.step, stat_keys(self.cfg))
        self.layers = LayerStats(self.run_dir / "layers.jsonl", {"G": s.G, "D": s.D})
        self.watch = Watch(self.cfg, self.run_dir, td.eval_sets, self.log, self.device) if td.eval_sets else None
        self.console = Console(self.cfg.print_every, self.main)

    def _create_run(self, resume: bool) -> None:
        claim_run(self.lock, self.run_dir, fresh=not resume)  # the run folder's one writer from here on
        self.cfg = self.cfg if resume else replace(self.cfg, run_id=new_run_id())
        write_json(self.run_dir / "config.json", self.cfg.to_dict())  # a resume's new end point too

    def _resume_or_start(self, resume: bool) -> None:
        run, main = self.run_dir, self.main
        if resume and checkpoint.list_ckpts(run):
            path, state = self.latest_own()
            saved = {k: state["data"][k] for k in ("n", "channels", "length", "sample_rate", "held_out")}
            if saved != {k: self.td.info[k] for k in saved}:
                raise WavegenError(f"{self.cfg.data}: the data changed since the checkpoint ({saved} then, "
                                   f"{self.td.info['n']} files now)")
            self.restore(state)
            if main:
                print(f"resuming {run} from {path.name} (batch {self.progress.step}, epoch {self.data.epoch})",
                      flush=True)
            return
        if resume and main:  # stopped before its first checkpoint: start it again from the same seed
            print(f"{run}: no checkpoint yet, starting the run again from batch 0", flush=True)
            (run / "stats.jsonl").unlink(missing_ok=True)
            (run / "layers.jsonl").unlink(missing_ok=True)
        if main:
            write_json(run / "data.json", {**self.td.info, "folder": str(self.cfg.data)})

    # Checkpoints.

    def state_dict(self, rng_ranks: list | None) -> dict:
        cuda = self.device.type == "cuda"
        return {
            "config": self.cfg.to_dict(), "data": self.td.info, **self.state.state_dict(),
            **self.progress.state_dict(), **self.data.state_dict(), "z_fix": self.z_fix.cpu(),
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(self.device) if cuda else None,
                    "ranks": rng_ranks, "shared": self.shared.get_state() if self.shared is not None else None},
        }

    def restore(self, state: dict) -> None:
        """Put the run back where `state` (a checkpoint) was: weights, optimisers, data position, RNG."""
        self.state.load_state_dict(state, str(self.run_dir))
        self.progress.load_state_dict(state)
        self.data.load_state_dict(state)
        self.z_fix.copy_(state["z_fix"])
        if not restore_streams(state["rng"], self.world, self.device, self.shared, self.cfg.seed, self.progress.step):
            self.data.restart_epoch()
            if self.main:
                print(f"the checkpoint is from another number of processes than this run's {self.world.size}: "
                      "continuing from its weights with a new data order", flush=True)
        if self.graph:  # its captured pointers are to the tensors the load replaced
            self.graph.reset()
        if self.main:
            truncate_jsonl(self.run_dir / "stats.jsonl", self.progress.step)
            truncate_jsonl(self.run_dir / "layers.jsonl", self.progress.step)

    def latest_own(self) -> tuple[Path, dict]:
        """The newest checkpoint that loads and is this run's own (checkpoint.not_of_run), and its state."""
        models = {"G": self.state.G, "D": self.state.D}
        return checkpoint.load_latest_good(self.run_dir, self.device,
                                           lambda s: checkpoint.not_of_run(s, self.cfg, RESUMABLE, models))

    def save_checkpoint(self) -> None:
        rng_ranks = self.world.gather(torch.get_rng_state())  # every rank takes part; rank 0 writes
        if self.main:
            self.log.write({"step": self.progress.step, "time/wall_s": round(self.progress.wall, 3)})
            checkpoint.save(self.run_dir, self.progress.step, self.state_dict(rng_ranks), self.cfg.keep_ckpts)

    # NaN.

    def checked(self) -> bool:
        """Flush the stats (the one device sync); a NaN or Inf among them sends the run back to its last good
        checkpoint (False), so that nothing trains on past it or saves it."""
        bad = self.log.flush()
        if bad is None:
            return True
        self.on_nan(*bad)
        return False

    def on_nan(self, step: int, keys: list[str]) -> None:
        """Go back to the last good checkpoint with lower learning rates, or stop."""
        cfg, p, run = self.cfg, self.progress, self.run_dir
        where = f"batch {step}: {', '.join(keys)} not finite"
        good = checkpoint.list_ckpts(run) if self.main else [True]
        if cfg.on_nan == "stop" or p.rollbacks >= cfg.max_rollbacks or not self.world.any(bool(good)):
            why = ("on_nan is stop" if cfg.on_nan == "stop" else "no checkpoint to go back to" if not good
                   else f"{p.rollbacks} rollbacks already")
            if self.main:
                self.log.write({"step": p.step, "event/nan": ", ".join(keys), "event/stop": why})
            raise WavegenError(f"{run}: {where} ({why}); the newest checkpoint is left as it was. "
                               "Lower --lr-g / --lr-d, or resume with --resume to retry")
        path, state = self.latest_own()
        self.restore(state)
        p.rollbacks += 1
        self.state.scale_lr(cfg.nan_lr_factor)
        if self.main:
            lr = {"lr/G": self.state.opt_G.param_groups[0]["lr"], "lr/D": self.state.opt_D.param_groups[0]["lr"]}
            self.log.write({"step": p.step, "event/rollback": p.rollbacks, "event/nan": ", ".join(keys), **lr})
            self.console.say(f"{where}: back to {path.name} (batch {p.step}), learning rates x {cfg.nan_lr_factor}")

    # The loop.

    def preview(self) -> None:
        with generator_mode(self.state.G_sample, self.cfg.sample_mode, self.device):
            out = self.state.G_sample(self.z_fix).float().cpu()  # (n_preview, C, L)
        save_preview(self.run_dir, self.progress.step, out, self.examples.sample_rate, self.td.audio, self.log.tb)

    def run_step(self, reals: list[torch.Tensor], ys: list[torch.Tensor] | None,
                 layers: LayerStats | None) -> torch.Tensor:
        """The stats of one step on these batches, as batch number progress.step (captured or eager)."""
        if self.graph:
            return self.graph(reals, ys, self.progress.step, layers)
        return self.step(reals, ys, schedule(self.cfg, self.progress.step, len(reals)), layers)

    def train_batch(self) -> None:
        """One batch: a G step and D steps on the next d_steps real batches."""
        cfg, p, data = self.cfg, self.progress, self.data
        track = self.main and cfg.layer_every and (p.step + 1) % cfg.layer_every == 0
        fetched = []
        for i in range(cfg.d_steps):  # the post's order: a batch is fetched, used, and only then the epoch may end
            if i:
                data.advance()
            fetched.append(data.fetch())  # (b, C, L) and (b,) or None each
        ys = [y for _, y in fetched] if cfg.conditional else None
        stats = self.run_step([r for r, _ in fetched], ys, self.layers if track else None)
        p.step += 1
        self.log.add(p.step, data.epoch, self.world.mean(stats))
        if track:
            self.layers.write(p.step)
        data.advance()

    def done(self) -> bool:
        cfg, p = self.cfg, self.progress
        return ((cfg.batches is not None and p.step >= cfg.batches) or (cfg.epochs is not None and self.data.epoch >= cfg.epochs)
                or (cfg.minutes is not None and p.wall >= cfg.minutes * 60))  # p.wall: rank 0's, hence world.any below

    def run(self) -> Path:
        cfg, p, main, run = self.cfg, self.progress, self.main, self.run_dir
        if main and p.step == 0 and not preview_path(run, 0).exists():
            self.preview()  # the untrained generator, for the figures
        if self.done():
            if main:
                print(f"{run}: already trained to batch {p.step} (epoch {self.data.epoch}); raise --batches, "
                      "--epochs or --minutes to go on", flush=True)
            return run
        total = cfg.batches if cfg.epochs is None else self.data.batches_per_epoch * cfg.epochs
        if cfg.batches is not None:
            total = min(total, cfg.batches)
        self.console.open(total, p.step)
        self.examples.set_epoch(self.data.epoch, cfg.seed)
        self.state.train()
        stop, stopping, why = StopFlag(), False, None
        t_last, step_at_last, step_at_start = time.perf_counter(), p.step, p.step
        with stop.installed():
            try:
                while not self.done() and not stopping:
                    self.train_batch()
                    step = p.step
                    preview, save = step % cfg.preview_every == 0, step % cfg.ckpt_every == 0
                    scores = bool(cfg.eval_every) and step % cfg.eval_every == 0
                    # the same batches on every rank: a rollback is collective
                    if (step % cfg.stats_every == 0 or self.done() or preview or scores or save) and not self.checked():
                        continue  # went back to a checkpoint
                    if main and (step % cfg.stats_every == 0 or self.done()):
                        now = time.perf_counter()
                        p.wall += now - t_last
                        rate = (step - step_at_last) / max(now - t_last, 1e-9)
                        t_last, step_at_last = now, step
                        self.console.report(self.log.last, step, self.data.epoch, rate)
                    if main and preview:
                        self.preview()
                    if main and scores:
                        scores = self.watch.evaluate(self.state.G_sample, step)
                        self.watch.keep_best(scores, p, lambda: self.state_dict(None))
                        why = self.watch.diverged(p.best)
                        if why:
                            self.console.say(why)
                    if save:
                        self.save_checkpoint()
                    stopping = self.world.any(stop.requested or why is not None or self.done())  # all at one batch
            finally:
                self.console.close()
            # Reached only at a batch boundary (normal end or a stop request), so the state is consistent.
            p.wall += time.perf_counter() - t_last
            if self.checked():
                if main and p.step % cfg.preview_every:
                    self.preview()
                if p.step % cfg.ckpt_every or p.step == step_at_start:  # not twice for the last batch
                    self.save_checkpoint()
            self.log.close()
        self.console.say_next(run, stopping and not self.done(), p.step, self.data.epoch, p.wall)
        return run


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
