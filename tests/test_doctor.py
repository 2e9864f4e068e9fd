"""`wavegen doctor`: findings with evidence and remedies, doctor.json, read-only on a live run, and remedies that
work (each broken run trained again with the flags its finding suggests)."""
import json
import os
import time

import numpy as np
import pytest

from conftest import tiny_config
from wavegen import cli
from wavegen.config import make_config
from wavegen.data import make_sounds
from wavegen.errors import WavegenError
from wavegen.evaluation.doctor import CHECKS, MEANINGS, diagnose, doctor, is_live, one_line
from wavegen.evaluation.doctor.data import MIN_EXAMPLES
from wavegen.evaluation.doctor.evidence import Evidence
from wavegen.training.loop import train

SMALL = dict(ngf=16, ndf=16, batch_size=20, stats_every=5, print_every=10_000, preview_every=20, ckpt_every=50,
             layer_every=10, device="cpu")


def small_run(data, out, preset="post", **kw):
    cfg = make_config(preset, data=str(data), out=str(out), **{**SMALL, **kw})
    train(cfg)
    return out


def first(run) -> str:
    return diagnose(run)[0][0].code


def retrain_with_remedy(run, data, out, finding, **kw):
    """The broken run again, with the flags its finding suggests (the run's own settings otherwise)."""
    cfg = json.loads((run / "config.json").read_text())
    keep = {k: cfg[k] for k in SMALL if k in cfg}
    base = {k: v for k, v in cfg.items() if k in ("lr_g", "lr_d", "loss", "d_steps", "batches", "beta1", "seed")}
    return small_run(data, out, cfg["preset"], **{**base, **keep, **kw, **finding.flags})


@pytest.fixture(scope="module")
def stuck(gauss_data, tmp_path_factory):
    """Learning rates so small the weights barely move."""
    return small_run(gauss_data, tmp_path_factory.mktemp("doctor") / "stuck", lr_g=1e-8, lr_d=1e-8, batches=60)


def test_cli_prints_findings_and_writes_doctor_json(stuck, capsys):
    assert cli.main(["doctor", str(stuck)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("too_short (batch 60)") and "evidence: G's median per-layer update ratio" in out
    assert "run: wavegen train" in out and f"wrote {stuck}/doctor.json" in out
    saved = json.loads((stuck / "doctor.json").read_text())
    f = saved["findings"][0]
    assert set(f) >= {"code", "severity", "batch", "evidence", "remedy"} and set(f["remedy"]) >= {"flags", "why"}
    assert f["code"] == "too_short" and f["remedy"]["flags"]["lr_g"] == pytest.approx(5e-5)
    assert cli.main(["doctor", str(stuck), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["findings"][0]["code"] == "too_short"


def test_a_live_run_is_read_but_never_written(stuck, capsys):
    (stuck / "doctor.json").unlink(missing_ok=True)
    now = time.time()
    for ckpt in (stuck / "checkpoints").glob("*.pt"):
        os.utime(ckpt, (now - 60, now - 60))
    os.utime(stuck / "stats.jsonl", (now, now))  # stats newer than the newest checkpoint: still training
    assert is_live(stuck)
    findings, _, written = doctor(stuck)
    assert findings[0].code == "too_short" and not written and not (stuck / "doctor.json").exists()
    assert cli.main(["doctor", str(stuck)]) == 0
    assert "is being trained: doctor.json not written" in capsys.readouterr().out
    assert not is_live(stuck, now=now + 3600)


def test_not_a_run_is_one_line(tmp_path, capsys):
    assert cli.main(["doctor", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"wavegen: error: {tmp_path}: not a run folder (no config.json)"


def test_every_code_is_documented():
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "doctor.md")).read()
    for code in MEANINGS:
        assert f"### `{code}`" in doc, code
    assert {"nan", "data", "silence", "divergence", "unstable", "mode_collapse", "d_wins", "memorised", "noise",
            "g_wins", "too_short"} <= set(CHECKS)


def test_remedy_stuck_learning_rates(stuck, gauss_data, tmp_path):
    f = diagnose(stuck)[0][0]
    assert f.code == "too_short" and one_line([f]).startswith("doctor: too_short")
    fixed = retrain_with_remedy(stuck, gauss_data, tmp_path / "fixed", f)
    assert not any("update_ratio" in g.values for g in diagnose(fixed)[0])  # the weights move now


def nan_codes(run) -> list[str]:
    return [f.code for f in diagnose(run, codes=["nan"])[0]]


def test_remedy_nan(gauss_data, tmp_path):
    """lsgan without BatchNorm at learning rate 10 overflows within a few batches; the run stops (no checkpoint to go
    back to) and says so in stats.jsonl; the remedy's learning rates train without a NaN."""
    broken = tmp_path / "nan"
    with pytest.raises(WavegenError, match="not finite"):
        small_run(gauss_data, broken, loss="lsgan", lr_g=10.0, lr_d=10.0, beta2=0.9, g_batchnorm=False,
                  d_batchnorm=False, batches=40)
    f = diagnose(broken)[0][0]
    assert f.code == "nan" and f.values["stopped"] and "stopped at batch" in f.evidence
    assert f.flags["lr_g"] < 1.0
    fixed = retrain_with_remedy(broken, gauss_data, tmp_path / "fixed", f, g_batchnorm=False, d_batchnorm=False,
                                beta2=0.9, batches=40)
    assert nan_codes(fixed) == ["healthy"]


@pytest.fixture(scope="module")
def sounds_data(tmp_path_factory):
    return make_sounds(tmp_path_factory.mktemp("doctor") / "sounds", 48, 8000, 0.128, 0)


def test_remedy_dead_d(sounds_data, tmp_path):
    """The dcgan family with the DCGAN init on 1,024 samples: D's output is its bias alone from batch 1."""
    kw = dict(length=1024, sample_rate=8000, ngf=16, ndf=32, batch_size=8, batches=20)
    broken = small_run(sounds_data, tmp_path / "dead", "dcgan", **kw)
    f = diagnose(broken, codes=["dead_d"])[0][0]
    assert f.code == "dead_d" and f.flags == {"init": "default"}
    fixed = small_run(sounds_data, tmp_path / "fixed", "dcgan", **kw, **f.flags)
    assert diagnose(fixed, codes=["dead_d"])[0][0].code == "healthy"


def test_new_run_command_is_a_new_run(gauss_data, tmp_path):
    """A remedy's command trains a new run: the broken run's settings and the remedy's flags, never its identity."""
    from wavegen.evaluation.doctor.remedy import new_run_command

    broken = small_run(gauss_data, tmp_path / "broken", batches=2)
    cmd = new_run_command(Evidence(broken), {"lr_g": 1e-4})
    assert "--run-id" not in cmd and "--lr-g 0.0001" in cmd and cmd.endswith(f"--out {broken}-fix")
    assert cli.main(cmd.split()[1:-2] + ["--batches", "1", "--out", str(tmp_path / "fix")]) == 0


def test_remedy_data_few_examples(tmp_path):
    """Ten files of 2,000 samples cut into 1,024-sample windows without overlap are too few examples; the remedy's
    hop (the largest power-of-two share of the length that does) cuts enough."""
    few = make_sounds(tmp_path / "few", 10, 8000, 0.25, 1)
    kw = dict(length=1024, sample_rate=8000, ngf=16, ndf=16, batch_size=4, batches=2, init="default",
              window="random")  # auto would take each one-shot's onset only: then no hop cuts more
    broken = small_run(few, tmp_path / "broken", "dcgan", **kw)
    f = diagnose(broken, codes=["data"])[0][0]
    assert f.code == "data" and f.values["n_train"] < MIN_EXAMPLES and f.flags == {"hop": 64}  # 2 windows to 17
    fixed = small_run(few, tmp_path / "fixed", "dcgan", **kw, **f.flags)
    assert diagnose(fixed, codes=["data"])[0][0].code == "healthy"


def test_remedy_data_louder_than_g(tmp_path):
    """Float WAVs at 30x full scale, trained without normalisation: G's Tanh cannot reach them (its samples are
    silence beside them). The remedy's peak normalisation brings them into G's range."""
    import soundfile as sf

    loud = make_sounds(tmp_path / "loud", 60, 8000, 0.25, 1)
    for p in loud.rglob("*.wav"):
        x, sr = sf.read(p, dtype="float32")
        sf.write(p, 30 * x, sr, subtype="FLOAT")
    kw = dict(length=1024, sample_rate=8000, ngf=16, ndf=16, batch_size=8, batches=20, init="default",
              window="random")  # 120 windows: the one-shots' onsets alone would be too few examples first
    broken = small_run(loud, tmp_path / "broken", "dcgan", normalise="none", **kw)
    f = diagnose(broken, codes=["data"])[0][0]
    assert f.code == "data" and "beyond [-1, 1]" in f.evidence and f.flags == {"normalise": "peak"}
    fixed = small_run(loud, tmp_path / "fixed", "dcgan", **kw, **f.flags)
    assert diagnose(fixed, codes=["data"])[0][0].code == "healthy"


def test_remedy_g_wins(gauss_data, tmp_path):
    """D frozen by a learning rate of 1e-8 while G trains: D at chance, samples far from the data. The remedy's D
    learning rate gives D a margin again."""
    broken = small_run(gauss_data, tmp_path / "broken", lr_d=1e-8, lr_g=5e-4, batches=60)
    f = diagnose(broken, codes=["g_wins"])[0][0]
    assert f.code == "g_wins" and f.flags["lr_d"] == pytest.approx(5e-4)
    fixed = retrain_with_remedy(broken, gauss_data, tmp_path / "fixed", f)
    assert diagnose(fixed, codes=["g_wins"])[0][0].code == "healthy"



def test_remedy_unstable(gauss_data, tmp_path):
    """lsgan without BatchNorm at a learning rate of 1, 20,000x the post's: D's margin swings by thousands and the
    samples are far from the data, named as the rate's doing. With the remedy (the preset's rates) it is stable."""
    kw = dict(loss="lsgan", g_batchnorm=False, d_batchnorm=False, beta2=0.9)
    broken = small_run(gauss_data, tmp_path / "broken", lr_g=1.0, lr_d=1.0, batches=200, **kw)
    f = diagnose(broken)[0][0]  # ranked first: a setting causes it
    assert f.code == "unstable" and f.values["over"] >= 100 and f.flags == {"lr_g": 5e-5, "lr_d": 5e-5}
    fixed = retrain_with_remedy(broken, gauss_data, tmp_path / "fixed", f, **kw)
    assert diagnose(fixed, codes=["unstable"])[0][0].code == "healthy"


def test_remedy_mode_collapse(gauss_data, tmp_path):
    """A latent of one number: G's samples alike. The remedy's latent (the preset's) lets them vary."""
    broken = small_run(gauss_data, tmp_path / "broken", nz=1, batches=250)
    f = diagnose(broken)[0][0]  # ranked first: a setting causes it
    assert f.code == "mode_collapse" and f.flags == {"nz": 100} and f.values["spread"] < 0.3
    fixed = retrain_with_remedy(broken, gauss_data, tmp_path / "fixed", f)
    assert diagnose(fixed, codes=["mode_collapse"])[0][0].code == "healthy"
    assert Evidence(fixed).cfg.nz == 100


def test_remedy_divergence(gauss_data, tmp_path):
    """Going on from a run's G at 10x the fast preset's learning rates with beta1 0.9 takes the previews 5x farther
    from the data than the G it started from. With the remedy (the preset's rates and beta1, stop_on_divergence) it
    does not diverge."""
    kw = dict(ngf=32, ndf=32, eval_every=0)
    start = small_run(gauss_data, tmp_path / "start", "fast", batches=400, **kw)
    kw.update(init_from=str(sorted((start / "checkpoints").glob("ckpt_*.pt"))[-1]), beta1=0.9, batches=100)
    broken = small_run(gauss_data, tmp_path / "broken", "fast", lr_g=2e-3, lr_d=2e-3, **kw)
    f = diagnose(broken)[0][0]
    assert f.code == "divergence" and f.values["worse"] >= 2 and f.flags == {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5,
                                                                            "stop_on_divergence": True}
    fixed = small_run(gauss_data, tmp_path / "fixed", "fast", **{**kw, **f.flags})
    assert diagnose(fixed, codes=["divergence"])[0][0].code == "healthy"


def test_remedy_noise(tmp_path):
    """The fast preset at 250x its G rate with beta1 0.9 (bench/doctor_eval.py's fast-noise-lrg at 50x made noise on
    one CPU and not on another: its course is chaotic): G's samples are loud, flat noise strewn far beyond the data.
    With the remedy's rates (the preset's, so far above them) and beta1 they are not noise, and nearer the data."""
    from wavegen.data import GaussianSpec, make_gaussian

    data = make_gaussian(tmp_path / "gauss", GaussianSpec(n=500, seed=31))
    kw = dict(ngf=32, ndf=32, batch_size=20, preview_every=50, ckpt_every=100, print_every=10_000, device="cpu",
              beta1=0.9, lr_g=5e-2, batches=300)
    broken = tmp_path / "broken"
    train(make_config("fast", data=str(data), out=str(broken), **kw))
    f = diagnose(broken, codes=["noise"])[0][0]
    assert f.code == "noise" and f.flags == {"lr_g": 2e-4, "lr_d": 1e-4, "beta1": 0.5}
    fixed = tmp_path / "fixed"
    train(make_config("fast", data=str(data), out=str(fixed), **{**kw, **f.flags}))
    assert diagnose(fixed, codes=["noise"])[0][0].code == "healthy"
    assert Evidence(fixed).far_ratio < f.values["far"] / 2


def test_exploded_outputs_are_nan(gauss_data, tmp_path):
    """hinge at a learning rate of 10 stays finite (its loss is linear in D's outputs) while D's margin grows past
    1e6: the doctor names it with the NaNs, whose cause and remedy it shares."""
    n = 100
    grown = np.logspace(0, 15, n)
    found = diagnose(synthetic_run(tmp_path / "grown", gauss_data, grown, np.ones(n), loss="hinge", n=n))[0]
    assert found[0].code == "nan" and "blew up" in found[0].evidence and found[0].flags["lr_g"] < 2e-4 * 100


def synthetic_run(out, gauss_data, margin, grad_g, loss="bce", n=400, seed=0, c2st=()):
    """A run folder with only config.json and stats.jsonl: D's margin and G's gradient norm per batch as given
    (spikes and swings that would take minutes of training to produce), and c2st scores (accuracies) logged evenly
    along the run with eval_n 200."""
    from wavegen.atomic import write_json
    out.mkdir()
    cfg = make_config("post", data=str(gauss_data), out=str(out), loss=loss, batches=n, eval_n=200,
                      eval_every=n // max(1, len(c2st)), eval_metrics=("c2st",), best_metric="c2st")
    write_json(out / "config.json", cfg.to_dict())
    rng = np.random.default_rng(seed)
    every = n // max(1, len(c2st))
    with open(out / "stats.jsonl", "w") as f:
        for i in range(n):
            row = {"step": i + 1, "epoch": 0, "loss/G": 1.0, "loss/D": 1.0, "D/real": margin[i] / 2,
                   "D/fake": -margin[i] / 2, "grad_norm/G": grad_g[i], "grad_norm/D": 1.0 + 0.1 * rng.random()}
            f.write(json.dumps(row) + "\n")
            if c2st and (i + 1) % every == 0 and (i + 1) // every <= len(c2st):
                f.write(json.dumps({"step": i + 1, "eval/c2st": c2st[(i + 1) // every - 1]}) + "\n")
    return out


def test_a_c2st_gain_within_its_sampling_noise_is_no_gain(gauss_data, tmp_path):
    """c2st on 200 examples has a sampling noise of 0.5 / sqrt(200) = 0.035 in |accuracy - 0.5|: a last half going
    from 0.09 to 0.02-0.03 (h6-healthy-fast) is done; one going from 0.4 to 0.2 is still improving."""
    n, calm = 400, np.ones(400)
    done = [0.5 + b for b in (0.5, 0.5, 0.485, 0.295, 0.09, 0.09, 0.105, 0.085, 0.05, 0.035, 0.01, 0.035, 0.03, 0.015,
                              0.025)]  # h6-healthy-fast's
    busy = [1.0, 0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.92, 0.9, 0.88, 0.86, 0.8, 0.76, 0.74, 0.72, 0.7]
    run = synthetic_run(tmp_path / "done", gauss_data, calm, calm, n=n, c2st=done)
    assert diagnose(run, codes=["too_short"])[0][0].code == "healthy"
    run = synthetic_run(tmp_path / "busy", gauss_data, calm, calm, n=n, c2st=busy)
    f = diagnose(run, codes=["too_short"])[0][0]
    assert f.code == "too_short" and "c2st improved" in f.evidence


def test_spikes_of_a_saturated_d_are_d_wins_not_unstable(gauss_data, tmp_path):
    """G's gradient spikes in 5% of the batches. While D's margin sits saturated (8 logits, bce) that is D winning;
    the same spikes with D unsaturated (margin 1) are instability."""
    n = 400
    grad = np.full(n, 0.01)
    grad[::20] = 1.0  # 100x the median, every 20th batch
    won = diagnose(synthetic_run(tmp_path / "won", gauss_data, np.full(n, 8.0), grad), codes=["d_wins", "unstable"])
    assert [f.code for f in won[0]] == ["d_wins"]
    calm = diagnose(synthetic_run(tmp_path / "calm", gauss_data, np.full(n, 1.0), grad), codes=["d_wins", "unstable"])
    assert [f.code for f in calm[0]] == ["unstable"] and calm[0][0].values["spikes"] >= 0.02


def test_dead_d_from_batch_1_only(gauss_data, tmp_path):
    """dead_d needs D's outputs equal and G's gradient vanishing from the first batch rows; a D that learned and
    then saturated is not dead."""
    n = 100
    dead = diagnose(synthetic_run(tmp_path / "dead", gauss_data, np.zeros(n), np.full(n, 1e-13), n=n), codes=["dead_d"])
    assert dead[0][0].code == "dead_d" and dead[0][0].batch == 1
    late = np.r_[np.full(20, 1e-3), np.full(n - 20, 1e-13)]
    alive = diagnose(synthetic_run(tmp_path / "alive", gauss_data, np.r_[np.ones(20), np.zeros(n - 20)], late, n=n),
                     codes=["dead_d"])
    assert alive[0][0].code == "healthy"


def test_remedy_d_wins(gauss_data, tmp_path):
    """Three D steps at 40x G's learning rate: D's margin saturates (bce logits over 5); one D step at G's rate,
    with label noise, keeps it off saturation."""
    broken = small_run(gauss_data, tmp_path / "broken", lr_d=2e-3, d_steps=3, batches=60)
    f = diagnose(broken, codes=["d_wins"])[0][0]
    assert f.code == "d_wins" and f.flags == {"d_steps": 1, "lr_d": 5e-5, "label_noise": 0.2}
    fixed = retrain_with_remedy(broken, gauss_data, tmp_path / "fixed", f)
    assert diagnose(fixed, codes=["d_wins"])[0][0].code == "healthy"
    assert f.values["margin"] > 2 * float(np.median(Evidence(fixed).tail(Evidence(fixed).margin)))


def sample_run(out, gauss_data, samples, start=None, **cfg_kw):
    """A run folder whose only previews are `start` (batch 0; default: as varied as the data) and `samples` (batch
    200): what G made, for the sample checks (silence, noise, collapse, copies) without the minutes of training that
    make it happen."""
    import soundfile as sf
    from wavegen.atomic import write_json
    out.mkdir()
    write_json(out / "config.json", make_config("post", data=str(gauss_data), out=str(out), **cfg_kw).to_dict())
    (out / "previews").mkdir()
    real = np.stack([sf.read(p, dtype="float32")[0] for p in sorted(gauss_data.glob("*.wav"))[:64]])[:, None]
    np.save(out / "previews" / "step_00000000.npy", real[::-1].copy() if start is None else start)
    np.save(out / "previews" / "step_00000200.npy", samples(real).astype(np.float32))
    return out


@pytest.mark.parametrize("code, samples", [
    ("silence", lambda real: real * 1e-3),
    ("noise", lambda real: np.random.default_rng(0).uniform(-1, 1, real.shape)),
    ("mode_collapse", lambda real: real[:1].repeat(len(real), 0) + 1e-3 * np.random.default_rng(0).normal(
        size=real.shape)),
    ("memorised", lambda real: real + 1e-4 * np.random.default_rng(0).normal(size=real.shape)),
])
def test_sample_checks_on_constructed_samples(gauss_data, tmp_path, code, samples):
    """Each sample check names its code first on samples made to show it, and names nothing on real data."""
    codes = ["silence", "noise", "mode_collapse", "memorised"]
    found = diagnose(sample_run(tmp_path / code, gauss_data, samples), codes=codes)[0]
    assert found[0].code == code, [(f.code, f.evidence) for f in found]
    assert found[0].flags and found[0].command.startswith("wavegen ")
    if code == "memorised":
        assert found[0].flags["augment"] == "ada"  # 100 examples that D saw as they are
        return
    fine = diagnose(sample_run(tmp_path / "real", gauss_data, lambda real: real[::-1] * 1.0), codes=codes)[0]
    assert [f.code for f in fine] in (["healthy"], ["memorised"])  # real examples are training examples


def test_nan_in_previews_and_checkpoints(stuck, gauss_data, tmp_path):
    """Runs written before the trainer logged its NaNs: NaN in G's newest preview, or in the newest checkpoint of a
    run that ended before its batches."""
    import shutil

    import torch

    run = sample_run(tmp_path / "preview", gauss_data, lambda real: np.full_like(real, np.nan))
    f = diagnose(run, codes=["nan"])[0][0]
    assert f.code == "nan" and "preview at batch 200 holds NaN" in f.evidence
    copy = tmp_path / "ckpt"
    shutil.copytree(stuck, copy)
    cfg = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**cfg, "batches": 1000}))  # it stopped at 60 of 1000
    last = sorted((copy / "checkpoints").glob("ckpt_*.pt"))[-1]
    state = torch.load(last, weights_only=True)
    next(iter(state["G"].values())).fill_(float("nan"))
    torch.save(state, last)
    f = diagnose(copy, codes=["nan"])[0][0]
    assert f.code == "nan" and f"G's weights in {last.name} hold NaN" in f.evidence


def test_no_advice_that_follows_from_a_named_cause():
    """A dead D also makes flat, spiky and slow statistics; advice read from those (smaller rates, longer training)
    would contradict the cure of the cause, so those findings become notes naming their cause."""
    from wavegen.evaluation.doctor.registry import finding, without_consequences

    found = [finding("dead_d", 1, "e", "w"), finding("unstable", 9, "e", "w"), finding("too_short", 9, "e", "w")]
    kept, notes = without_consequences(found)
    assert [f.code for f in kept] == ["dead_d"]
    assert notes == [f"{c} also seen; it follows from dead_d, so it has no advice of its own"
                     for c in ("unstable", "too_short")]
    kept, _ = without_consequences([finding("data", None, "e", "w"), finding("too_short", 9, "e", "w")])
    assert [f.code for f in kept] == ["data", "too_short"]  # too few examples does not explain a short run
    for c in CHECKS.values():  # every code a check explains is a code of the vocabulary
        assert set(c.explains) <= set(CHECKS) - {c.code}


def test_remedy_d_wins_on_small_data_is_augmentation(gauss_data, tmp_path):
    """A D 8 times wider than G, at G's learning rate, wins on the 100 examples (hinge margin 2.7, 60 batches): no
    setting favours it, the data is small and D saw it as it is, so the remedy is ADA (with p free to move within
    the 60 batches). Retrained with it, D no longer wins (margin 1.9: ADA holds D's r_t, which bounds the margin
    only loosely). Both runs take about 1 s each."""
    kw = dict(loss="hinge", ngf=8, ndf=64, lr_g=5e-4, lr_d=5e-4, dropout_d=0.0, batches=60)
    broken = small_run(gauss_data, tmp_path / "broken", **kw)
    f = diagnose(broken, codes=["d_wins"])[0][0]
    assert f.code == "d_wins" and f.flags == {"augment": "ada", "ada_speed": 15} and "--augment ada" in f.command
    fixed = small_run(gauss_data, tmp_path / "fixed", **{**kw, **f.flags})
    assert diagnose(fixed, codes=["d_wins"])[0][0].code == "healthy"
    assert f.values["margin"] > 1.2 * float(np.median(Evidence(fixed).tail(Evidence(fixed).margin)))
