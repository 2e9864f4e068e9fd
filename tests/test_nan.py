"""A NaN or Inf in a loss or gradient is caught at the next read of the stats: the run rolls back to its last good
checkpoint with lower learning rates, or stops with a clear message; no NaN ever reaches a checkpoint."""
import importlib
import json

import pytest
import torch

from conftest import tiny_config
from wavegen import checkpoint
from wavegen.errors import WavegenError

T = importlib.import_module("wavegen.training.loop")


def poison_at(monkeypatch, bad_steps: set[int]):
    """The trainer's step turns G's weights and the stats to NaN at the given batch numbers (0-based), once each."""
    real_step = T.Trainer.run_step
    hit = []

    def step(self, *a, **k):
        s = self.progress.step
        stats = real_step(self, *a, **k)
        if s in bad_steps and s not in hit:
            hit.append(s)
            with torch.no_grad():
                for p in self.state.G.parameters():
                    p.fill_(float("nan"))
            stats = stats.clone()
            stats[0] = float("nan")  # loss/G
        return stats

    monkeypatch.setattr(T.Trainer, "run_step", step)
    return hit


def finite(state):
    return all(torch.isfinite(v).all() for m in ("G", "D") for v in state[m].values() if v.is_floating_point())


def test_rollback_to_the_last_good_checkpoint_with_lower_rates(gauss_data, tmp_path, monkeypatch):
    hit = poison_at(monkeypatch, {7})
    cfg = tiny_config(gauss_data, tmp_path / "run", batches=12, ckpt_every=5, keep_ckpts=0)
    T.train(cfg)
    assert hit == [7]
    for path in checkpoint.list_ckpts(cfg.out):
        assert finite(checkpoint.load(path)), path
    last = checkpoint.load(checkpoint.find(cfg.out))
    assert last["step"] == 12 and last["rollbacks"] == 1
    assert last["opt_G"]["param_groups"][0]["lr"] == pytest.approx(cfg.lr_g * cfg.nan_lr_factor)
    rows = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert any(r.get("event/rollback") == 1 and r["step"] == 5 for r in rows)
    batch_steps = [r["step"] for r in rows if "loss/G" in r]
    assert batch_steps == list(range(1, 13))  # the lost batches 6-7 are written once, from the second attempt
    assert all(r["loss/G"] == r["loss/G"] for r in rows if "loss/G" in r)  # no NaN logged


def test_stop_leaves_the_newest_checkpoint_alone(gauss_data, tmp_path, monkeypatch):
    poison_at(monkeypatch, {7})
    cfg = tiny_config(gauss_data, tmp_path / "run", batches=12, ckpt_every=5, on_nan="stop")
    with pytest.raises(WavegenError, match=r"batch 8: loss/G.* not finite \(on_nan is stop\)"):
        T.train(cfg)
    assert [p.name for p in checkpoint.list_ckpts(cfg.out)] == ["ckpt_00000005.pt"]
    assert finite(checkpoint.load(checkpoint.find(cfg.out)))


def test_without_a_checkpoint_or_rollbacks_left_it_stops(gauss_data, tmp_path, monkeypatch):
    poison_at(monkeypatch, {1})
    cfg = tiny_config(gauss_data, tmp_path / "a", batches=6, ckpt_every=5)
    with pytest.raises(WavegenError, match="no checkpoint to go back to"):
        T.train(cfg)
    assert checkpoint.list_ckpts(cfg.out) == []
    poison_at(monkeypatch, {6, 11})  # the second after the first rollback (NaNs are found at each read of the stats)
    cfg = tiny_config(gauss_data, tmp_path / "b", batches=12, ckpt_every=5, max_rollbacks=1)
    with pytest.raises(WavegenError, match="1 rollbacks already"):
        T.train(cfg)
