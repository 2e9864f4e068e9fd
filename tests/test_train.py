import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import EXACT, TINY, run_cli, tiny_config
from wavegen import generate, read_stats, resume, train, write_summary
from wavegen import checkpoint
from wavegen.errors import WavegenError


def batch_rows(run):
    return [r for r in read_stats(run) if "loss/G" in r]


def final_state(run):
    return checkpoint.load(checkpoint.find(run))


def test_resume_is_bit_for_bit(gauss_data, tmp_path):
    straight = train(tiny_config(gauss_data, tmp_path / "straight", batches=200, **EXACT))
    half = train(tiny_config(gauss_data, tmp_path / "half", batches=100, **EXACT))
    resume(half, batches=200)
    a, b = final_state(straight), final_state(half)
    assert a["step"] == b["step"] == 200 and a["epoch"] == b["epoch"] == 40
    for part in ("G", "D"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    for k, v in a["opt_G"]["state"].items():
        assert torch.equal(v["exp_avg"], b["opt_G"]["state"][k]["exp_avg"])
    assert batch_rows(straight) == batch_rows(half)  # the stats too, every value, every batch
    assert [r["step"] for r in batch_rows(half)] == list(range(1, 201))
    for name in os.listdir(straight / "previews"):
        assert np.array_equal(np.load(straight / "previews" / name), np.load(half / "previews" / name))


def test_stats_and_previews(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=30))
    rows = batch_rows(run)
    assert len(rows) == 30
    assert set(rows[0]) == {"step", "epoch", "loss/G", "loss/D", "D/real", "D/fake", "grad_norm/G", "grad_norm/D"}
    assert all(np.isfinite(v) for r in rows for v in r.values())
    # the post's statistic, recomputed from the final checkpoint is not possible (grads are not saved), but its
    # BCE losses have a known range at the start: D's soft-label loss near 2 * ln 2
    assert 0.5 < rows[0]["loss/D"] < 3.0
    previews = sorted(os.listdir(run / "previews"))
    assert previews == ["step_00000000.npy", "step_00000010.npy", "step_00000020.npy", "step_00000030.npy"]
    assert np.load(run / "previews" / previews[1]).shape == (64, 1, 100)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["ngf"] == 32 and cfg["lr_g"] == 5e-5 and cfg["beta1"] == 0.9 and cfg["label_noise"] == 0.1
    assert json.loads((run / "data.json").read_text())["meta"]["kind"] == "gaussian"


def test_training_changes_both_models(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=20))
    s = final_state(run)
    first = checkpoint.load(checkpoint.find(run, 20))
    assert s["step"] == 20
    assert s["opt_G"]["state"] and s["opt_D"]["state"]  # both optimisers stepped
    assert first["config"]["out"] == str(run)


def test_run_folder_is_never_overwritten(gauss_data, tmp_path):
    cfg = tiny_config(gauss_data, tmp_path / "r", batches=5)
    train(cfg)
    before = (tmp_path / "r" / "stats.jsonl").read_text()
    with pytest.raises(WavegenError, match="exists"):
        train(cfg)
    assert (tmp_path / "r" / "stats.jsonl").read_text() == before
    r = run_cli("train", gauss_data, "--out", tmp_path / "r", "--batches", 5)
    assert r.returncode == 2 and "--resume" in r.stderr


def test_checkpoint_keeps_newest_and_skips_corrupt(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=100, keep_ckpts=2))
    names = [p.name for p in checkpoint.list_ckpts(run)]
    assert names == ["ckpt_00000080.pt", "ckpt_00000100.pt"]
    # a torn newest file (as from a crash mid-write, were writes not atomic) is reported and the older one used
    newest = checkpoint.list_ckpts(run)[-1]
    newest.write_bytes(newest.read_bytes()[:1000])
    path, state = checkpoint.load_latest_good(run)
    assert path.name == "ckpt_00000080.pt" and state["step"] == 80


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/wavegen_pwned",))


def test_hostile_checkpoint_is_refused(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=5))
    evil = checkpoint.ckpt_dir(run) / "ckpt_00000010.pt"
    state = final_state(run)
    state["payload"] = Evil()
    torch.save(state, evil)
    marker = "/tmp/wavegen_pwned"
    if os.path.exists(marker):
        os.remove(marker)
    with pytest.raises(WavegenError, match="not a loadable"):
        checkpoint.load(evil)
    r = run_cli("generate", run, "--n", 2, "--out", tmp_path / "g")
    assert r.returncode == 2 and "ckpt_00000010.pt" in r.stderr
    assert not os.path.exists(marker)


def test_sigterm_checkpoints_and_resumes(gauss_data, tmp_path):
    run = tmp_path / "r"
    args = [sys.executable, "-m", "wavegen", "train", str(gauss_data), "--out", str(run), "--batches", "100000",
            *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()], "--ckpt-every", "100000"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(batch_rows(run)) < 20:
        time.sleep(0.2)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert "wavegen train --resume" in out
    step = final_state(run)["step"]
    assert step >= 20 and batch_rows(run)[-1]["step"] == step
    r = run_cli("train", "--resume", run, "--batches", step + 10)
    assert r.returncode == 0, r.stderr
    assert final_state(run)["step"] == step + 10
    assert [r["step"] for r in batch_rows(run)] == list(range(1, step + 11))


def test_plot_generate_summary_end_to_end(gauss_data, tmp_path):
    run = tmp_path / "r"
    r = run_cli("train", gauss_data, "--out", run, "--batches", 40, *[f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()])
    assert r.returncode == 0, r.stderr
    assert "batch" in r.stdout and "done: 40 batches" in r.stdout
    r = run_cli("plot", run)
    assert r.returncode == 0, r.stderr
    for name in ["progress.png", "samples_000000.png", "samples_000040.png", "samples_overview.png"]:
        assert (run / "figures" / name).read_bytes()[:4] == b"\x89PNG"
    r = run_cli("generate", run, "--n", 30, "--out", tmp_path / "wavs")
    assert r.returncode == 0, r.stderr
    wavs = sorted((tmp_path / "wavs").glob("*.wav"))
    assert len(wavs) == 30
    x, sr = sf.read(wavs[0])
    assert x.shape == (100,) and sr == 16000 and np.abs(x).max() <= 1.0
    r = run_cli("generate", run, "--n", 30, "--out", tmp_path / "wavs")  # would overwrite: refused
    assert r.returncode == 2 and "exists" in r.stderr
    text = write_summary(run)
    assert "trained 40 batches" in text and "| batch | shape |" in text and (run / "summary.md").exists()


def test_generate_modes_and_chosen_checkpoint(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=40))
    a = generate(run, 5, tmp_path / "a", step=20)
    b = generate(run, 5, tmp_path / "b", step=20)
    assert np.array_equal(sf.read(a[0])[0], sf.read(b[0])[0])  # same seed, same checkpoint: same wavs
    c = generate(run, 5, tmp_path / "c", mode="eval")
    assert not np.array_equal(sf.read(a[0])[0], sf.read(c[0])[0])
    with pytest.raises(WavegenError, match="no checkpoint at batch 7"):
        generate(run, 5, tmp_path / "d", step=7)


@pytest.mark.parametrize("args,needle", [
    (["--batch-size", "0"], "batch_size"),
    (["--lr-g", "-1"], "lr_g"),
    (["--lr-d", "fast"], "lr_d"),
    (["--ngf", "30"], "ngf"),
    (["--dropout-g", "1.5"], "dropout_g"),
    (["--init", "xavier"], "init"),
    (["--length", "10"], "too short"),
    (["--layers", "9"], "too short for 9"),
    (["--loss", "wasserstein"], "loss"),
    (["--d-steps", "0"], "d_steps"),
    (["--batches", "-5"], "batches"),
])
def test_bad_config_is_refused_before_anything_is_written(gauss_data, tmp_path, args, needle):
    r = run_cli("train", gauss_data, "--out", tmp_path / "r", *args)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_resume_of_a_missing_run_is_refused(tmp_path):
    r = run_cli("train", "--resume", tmp_path / "nope")
    assert r.returncode == 2 and "not a run folder" in r.stderr


def test_resume_of_a_folder_holding_another_model_is_refused(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=2))
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "ngf": 64}))  # the checkpoint holds a G of width 32
    before = sorted(p.name for p in run.rglob("*"))
    r = run_cli("train", "--resume", run, "--batches", "4")
    assert r.returncode == 2 and "another model" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert sorted(p.name for p in run.rglob("*")) == before


def test_run_stopped_before_its_first_checkpoint_resumes(gauss_data, tmp_path):
    early = train(tiny_config(gauss_data, tmp_path / "early", batches=0, **EXACT))
    assert not checkpoint.list_ckpts(early) and (early / "config.json").exists()
    resume(early, batches=10)
    straight = train(tiny_config(gauss_data, tmp_path / "straight", batches=10, **EXACT))
    assert batch_rows(early) == batch_rows(straight)
    assert torch.equal(final_state(early)["G"]["main.0.weight"], final_state(straight)["G"]["main.0.weight"])


def test_tensorboard_logs_the_scalars(gauss_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train(tiny_config(gauss_data, tmp_path / "r", batches=10, tensorboard=True))
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) >= {"loss/G", "loss/D", "D/real", "D/fake", "grad_norm/G", "grad_norm/D"}
    assert [e.step for e in acc.Scalars("loss/G")] == list(range(1, 11))
    assert {"preview/0", "preview/3"} <= set(acc.Tags()["audio"])  # fixed-noise previews, to listen to
    assert "preview/samples" in acc.Tags()["images"]  # and to look at


def test_resume_refuses_changed_data(tmp_path):
    from wavegen.data import GaussianSpec, make_gaussian

    data = make_gaussian(tmp_path / "d", GaussianSpec(n=40))
    run = train(tiny_config(data, tmp_path / "r", batches=5))
    (data / "00.wav").unlink()  # 40 files are named 00.wav ... 39.wav
    with pytest.raises(WavegenError, match="data changed"):
        resume(run, batches=10)


def test_presets_are_overlays(gauss_data, tmp_path):
    from wavegen.config import PRESETS, Config, make_config

    post, fast = make_config("post"), make_config("fast")
    for key in ("nz", "batch_size", "label_noise", "dropout_d"):  # what the presets do not name stays the default
        assert getattr(post, key) == getattr(fast, key) == getattr(Config(), key)
    assert make_config("seed") == post and post.preset == "post"  # the preset's older name still works
    assert (fast.lr_g, fast.beta1, fast.ngf, fast.dropout_masks) == (2e-4, 0.5, 128, "int32")
    assert (fast.g_noise, fast.upsample, fast.d_batch, fast.best_metric) == ("output", "nearest", "joint", "c2st")
    assert make_config("fast", lr_g=1e-3).lr_g == 1e-3  # the command line wins over the preset
    assert set(PRESETS["post"]) == {"init", "epochs", "amp"} and post.amp == "false"  # the post's float32, always
    run = train(make_config("fast", data=str(gauss_data), out=str(tmp_path / "r"), batches=10, batch_size=20, eval_every=5))
    assert [r["step"] for r in read_stats(run) if "eval/frechet" in r] == [5, 10]


def test_mixed_precision_trains(gauss_data, tmp_path):
    """bf16 autocast (meant for GPUs) runs through the same step; here on the CPU, where autocast also exists."""
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=10, amp=True))
    rows = batch_rows(run)
    assert len(rows) == 10 and all(np.isfinite(v) for r in rows for v in r.values())
    assert final_state(run)["G"]["main.0.weight"].dtype == torch.float32  # weights stay float32


def test_unknown_flags_are_one_line_errors(gauss_data, tmp_path):
    for args in (["--no-such", "1"], ["--lr-g"]):
        r = run_cli("train", gauss_data, "--out", tmp_path / "r", *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("wavegen: error:")
    assert not (tmp_path / "r").exists()


def test_generate_skips_a_torn_newest_checkpoint(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=40, ckpt_every=20))
    newest = checkpoint.list_ckpts(run)[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # torn: the zip has lost its end
    r = run_cli("generate", run, "--n", "2", "--out", tmp_path / "wavs")
    assert r.returncode == 0, r.stderr
    assert "not a complete checkpoint" in r.stdout and len(list((tmp_path / "wavs").glob("*.wav"))) == 2


def test_issue16_options_train_and_resume_bit_for_bit(gauss_data, tmp_path):
    """Noise inputs draw from the run's random stream, so a resumed run still repeats a straight one exactly."""
    opts = dict(g_noise="all", upsample="linear", d_mbstd=4, d_batchnorm=False, dropout_g=0.0, ema=0.99,
                eval_every=10, eval_n=20, eval_metrics=("frechet", "c2st"), best_metric="c2st", **EXACT)
    straight = train(tiny_config(gauss_data, tmp_path / "straight", "fast", batches=40, **opts))
    half = train(tiny_config(gauss_data, tmp_path / "half", "fast", batches=20, **opts))
    resume(half, batches=40)
    a, b = final_state(straight), final_state(half)
    for part in ("G", "D", "G_ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    assert batch_rows(straight) == batch_rows(half)
    out_scale = [v for k, v in a["G"].items() if k.endswith("scale")][-1]  # the output's noise inputs, G's last layer
    assert float(out_scale.sub(0.02).abs().max()) > 0  # trained away from where it starts
    assert (straight / "checkpoints" / "best.pt").exists()


def test_joint_d_batch_refuses_conditional():
    from wavegen.config import make_config

    with pytest.raises(WavegenError, match="d_batch joint"):
        make_config("fast", conditional=True, length=100)  # fast runs D on one joint batch
    assert make_config("fast", conditional=True, length=100, d_batch="separate").conditional


def test_minutes_ends_a_run_on_the_loops_own_time_and_a_resume_can_extend_it(gauss_data, tmp_path):
    """--minutes races recipes of different speeds at equal time: the run stops at the first batch past it, its
    seconds summed over resumes, and a resume may raise it (a bookkeeping field)."""
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=10**6, minutes=0.002, stats_every=1))  # 0.12 s
    first = final_state(run)
    assert 0 < first["step"] < 10**6 and first["wall"] >= 0.12
    resume(run, minutes=0.002)  # already there: nothing more is trained
    assert final_state(run)["step"] == first["step"]
    resume(run, minutes=0.004)
    again = final_state(run)
    assert again["step"] > first["step"] and again["wall"] >= 0.24
    assert [r["step"] for r in batch_rows(run)] == list(range(1, again["step"] + 1))
