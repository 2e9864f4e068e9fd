"""Two at once: one writer per run folder, checkpoints that belong to their run, nothing written into the data.

The lock is an flock, held per open file: a lock the test takes on a folder refuses a trainer in the same
process just as it refuses one in another process (test_processes.py races real processes).
"""
import json
import os
import shutil

import pytest
import torch

from conftest import tiny_config
from wavegen import checkpoint
from wavegen.errors import WavegenError
from wavegen.runlock import FolderLock
from wavegen.training.loop import resume, train

SMALL = dict(ngf=16, ndf=16, batch_size=10, ckpt_every=5, preview_every=5)


@pytest.fixture(scope="module")
def runs(gauss_data, tmp_path_factory):
    """Two runs of one model and settings and one of another width, 5 batches each; tests copy them."""
    root = tmp_path_factory.mktemp("runs")
    return {name: train(tiny_config(gauss_data, root / name, batches=5, **{**SMALL, **kw}))
            for name, kw in {"a": dict(seed=1), "b": dict(seed=1), "wide": dict(seed=1, ngf=32)}.items()}


def copy(run, tmp_path, name="run"):
    return shutil.copytree(run, tmp_path / name)


def test_a_second_writer_is_refused_naming_the_holder(runs, gauss_data, tmp_path):
    run = copy(runs["a"], tmp_path)
    with FolderLock().claim(run, "test"):
        with pytest.raises(WavegenError, match=f"process {os.getpid()} \\(test\\) is writing this folder") as e:
            resume(run, batches=10)
        assert "\n" not in str(e.value)
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        with FolderLock().claim(fresh, "test"):  # a fresh --out another training has just claimed
            with pytest.raises(WavegenError, match="is writing this folder"):
                train(tiny_config(gauss_data, fresh, batches=5, **SMALL))
        assert [p.name for p in fresh.iterdir()] == [".wavegen.lock"]
    resume(run, batches=10)  # the lock went with its holder
    assert checkpoint.list_ckpts(run)[-1].name == "ckpt_00000010.pt"
    with pytest.raises(WavegenError, match="run folder exists"):
        train(tiny_config(gauss_data, run, batches=5, **SMALL))


def test_every_checkpoint_carries_the_run_id(runs):
    ids = {json.loads((r / "config.json").read_text())["run_id"] for r in runs.values()}
    assert len(ids) == 3 and all(len(i) == 16 for i in ids)
    a = runs["a"]
    assert checkpoint.load(checkpoint.find(a))["config"]["run_id"] == json.loads((a / "config.json").read_text())["run_id"]


@pytest.mark.parametrize("other, why", [("b", "belongs to another run"), ("wide", "another model")])
def test_a_checkpoint_of_another_run_or_width_is_refused_and_the_own_one_used(runs, tmp_path, capsys, other, why):
    run = copy(runs["a"], tmp_path)
    intruder = checkpoint.ckpt_dir(run) / "ckpt_00000009.pt"
    shutil.copy(checkpoint.find(runs[other]), intruder)
    resume(run, batches=10)
    out = capsys.readouterr().out
    warning = next(line for line in out.splitlines() if line.startswith("warning:"))
    assert str(intruder) in warning and why in warning and "trying an older checkpoint" in warning
    assert "resuming" in out and "from ckpt_00000005.pt" in out
    newest = checkpoint.load(checkpoint.find(run))
    assert newest["step"] == 10 and newest["config"]["run_id"] == json.loads((run / "config.json").read_text())["run_id"]


def test_a_run_from_before_run_ids_resumes(runs, tmp_path):
    run = copy(runs["a"], tmp_path)
    cfg = json.loads((run / "config.json").read_text())
    del cfg["run_id"]
    (run / "config.json").write_text(json.dumps(cfg))
    for p in checkpoint.list_ckpts(run):
        state = torch.load(p, weights_only=True)
        del state["config"]["run_id"]
        torch.save(state, p)
    resume(run, batches=10)
    assert checkpoint.load(checkpoint.find(run))["step"] == 10


def test_nothing_is_written_inside_the_data_folder(runs, gauss_data):
    from wavegen.cli import main

    before = sorted(os.listdir(gauss_data))
    with pytest.raises(WavegenError, match="inside the data folder"):
        train(tiny_config(gauss_data, gauss_data / "run", batches=5, **SMALL))
    with pytest.raises(WavegenError, match="inside the data folder"):
        train(tiny_config(gauss_data, gauss_data, batches=5, **SMALL))
    assert main(["generate", str(runs["a"]), "--n", "2", "--out", str(gauss_data / "gen")]) == 2
    assert main(["data", "prepare", str(gauss_data), "--out", str(gauss_data / "cache")]) == 2
    assert main(["train", str(gauss_data), "--out", "x", "--cache-dir", str(gauss_data / "c")]) == 2
    assert sorted(os.listdir(gauss_data)) == before
