"""Knowing whether it worked: scores during training, best checkpoint, `wavegen eval`, analysis, figures."""
import importlib
import json

import pytest

from conftest import EXACT, run_cli, tiny_config
from wavegen import read_stats, train
from wavegen import checkpoint
from wavegen.runfolder import read_layers

train_module = importlib.import_module("wavegen.training.loop")
EVAL = dict(eval_every=10, eval_n=100, eval_metrics=("frechet", "mmd"), layer_every=5)


def test_scores_best_checkpoint_and_layer_stats(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=40, **EVAL))
    evals = [r for r in read_stats(run) if "eval/frechet" in r]
    assert [r["step"] for r in evals] == [10, 20, 30, 40]
    assert all(r["eval/frechet"] > 0 and "eval/mmd" in r for r in evals)
    best = min(evals, key=lambda r: r["eval/frechet"])
    state = checkpoint.load(checkpoint.ckpt_dir(run) / "best.pt")
    assert state["step"] == best["step"] and state["best"]["value"] == best["eval/frechet"]
    layers = read_layers(run)
    assert [r["step"] for r in layers] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert set(layers[0]) - {"step"} == {"G/main.0.weight", "G/main.4.weight", "G/main.8.weight", "G/main.12.weight",
                                         "G/main.16.weight", "D/main.0.weight", "D/main.4.weight", "D/main.8.weight",
                                         "D/main.12.weight", "D/main.16.weight", "D/main.20.weight"}
    w, g, ratio = layers[0]["G/main.0.weight"]
    assert w > 0 and g > 0 and 0 < ratio < 0.1  # Adam at lr 5e-5 moves weights by a tiny fraction per step


def test_resume_is_exact_with_scores_and_layer_stats(gauss_data, tmp_path):
    straight = train(tiny_config(gauss_data, tmp_path / "a", batches=40, **EVAL, **EXACT))
    half = train(tiny_config(gauss_data, tmp_path / "b", batches=20, **EVAL, **EXACT))
    train_module.resume(half, batches=40)
    strip = lambda rows: [r for r in rows if "time/wall_s" not in r]  # noqa: E731
    assert strip(read_stats(straight)) == strip(read_stats(half))
    assert read_layers(straight) == read_layers(half)


def test_eval_cli_scores_against_real_vs_real(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=20, **EVAL))
    r = run_cli("eval", run, "--n", 200)
    assert r.returncode == 0, r.stderr
    assert "real vs real" in r.stdout and "frechet" in r.stdout and "c2st" in r.stdout
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 20 and result["n"] == 200 and "fresh draws" in result["real"]
    fd = result["metrics"]["frechet"]
    assert fd["value"] > 5 * fd["real_vs_real"]  # 20 batches of training are far from real
    r = run_cli("eval", run, "--best", "--metrics", "frechet,ndb", "--n", 200)
    assert r.returncode == 0 and "ndb" in r.stdout and "mmd" not in r.stdout
    r = run_cli("eval", run, "--metrics", "nope")
    assert r.returncode == 2 and "unknown metric 'nope'" in r.stderr
    r = run_cli("eval", "--list")
    assert r.returncode == 0 and "ndb" in r.stdout


def test_generate_best_samples_best_pt(gauss_data, tmp_path):
    """`generate --best` writes the samples of checkpoints/best.pt: those of the checkpoint at the best batch."""
    import soundfile as sf

    run = train(tiny_config(gauss_data, tmp_path / "r", batches=30, ckpt_every=10, keep_ckpts=0, **EVAL))
    best_step = checkpoint.load(checkpoint.ckpt_dir(run) / "best.pt")["step"]
    for name, args in (("best", ["--best"]), ("at", ["--step", best_step]), ("newest", [])):
        r = run_cli("generate", run, "--n", 3, "--out", tmp_path / name, *args)
        assert r.returncode == 0, r.stderr
    read = lambda d: [sf.read(p)[0] for p in sorted((tmp_path / d).glob("*.wav"))]  # noqa: E731
    best, at, newest = read("best"), read("at"), read("newest")
    assert len(best) == 3 and all((b == a).all() for b, a in zip(best, at))
    assert all((b == n).all() for b, n in zip(best, newest)) == (best_step == 30)
    r = run_cli("generate", run, "--best", "--step", 10, "--n", 3, "--out", tmp_path / "both")
    assert r.returncode == 2 and "--best and --step" in r.stderr


def test_stop_on_divergence_stops_with_a_checkpoint(gauss_data, tmp_path, monkeypatch):
    seen = []

    def diverged_at_20(rows, metric=None):  # the detector itself is tested in test_analysis.py
        seen.append(metric)
        step = max(r["step"] for r in rows)
        return {"divergence": 20 if step >= 20 else None}

    monkeypatch.setattr(importlib.import_module("wavegen.training.watch"), "analyse_rows", diverged_at_20)
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=100, stop_on_divergence=True, **EVAL))
    assert checkpoint.load(checkpoint.find(run))["step"] == 20 and seen == ["frechet", "frechet"]


def test_plot_marks_and_layers_figure(gauss_data, tmp_path):
    run = train(tiny_config(gauss_data, tmp_path / "r", batches=30, **EVAL))
    r = run_cli("plot", run)
    assert r.returncode == 0, r.stderr
    assert (run / "figures" / "layers.png").exists() and (run / "figures" / "progress.png").exists()
    assert set(json.loads((run / "analysis.json").read_text())) >= {"transition", "divergence", "best"}
    r = run_cli("analyse", run)
    assert r.returncode == 0 and "transition" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--eval-metrics", "frechet,bogus"], "unknown metric 'bogus'"),
    (["--eval-every", "10", "--best-metric", "mmd"], "best_metric"),
    (["--holdout", "1.5"], "holdout"),
])
def test_bad_eval_config(gauss_data, tmp_path, args, needle):
    r = run_cli("train", gauss_data, "--out", tmp_path / "r", *args)
    assert r.returncode == 2 and needle in r.stderr


def test_holdout_is_kept_out_of_training(tmp_path):
    from wavegen.data import GaussianSpec, make_gaussian
    from wavegen.evaluation.scoring import real_sets, split_holdout

    data = make_gaussian(tmp_path / "d", GaussianSpec(n=100))
    run = train(tiny_config(data, tmp_path / "r", batches=5, holdout=0.2))
    assert json.loads((run / "data.json").read_text())["n"] == 80
    train_idx, held = split_holdout(100, 0.2, 0)
    assert len(held) == 20 and not set(train_idx.tolist()) & set(held.tolist())
    import torch

    x = torch.arange(100.0).reshape(100, 1, 1)
    sets, source = real_sets(x, None, 16000, 0.2, 0, 50)
    assert source == "held-out examples" and len(sets.real) == len(sets.real2) == 10
    assert set(sets.real[:, 0, 0].tolist()) <= set(held.tolist())
    assert not set(sets.real[:, 0, 0].tolist()) & set(sets.real2[:, 0, 0].tolist())
