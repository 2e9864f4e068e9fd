"""The judge (a classifier fitted on the data's own classes) and the metrics read from it: each must tell real
sounds from a one-class collapse, one repeated sound, noisy sounds and white noise, on tiny data in seconds."""
import json
import os

import numpy as np
import pytest
import torch

from wavegen.data import make_sounds
from wavegen.data.synthetic import SOUND_CLASSES, sound
from wavegen.errors import WavegenError
from wavegen.evaluation.judge import JudgeSpec, fit, judge_for, mel_filterbank
from wavegen.evaluation.metrics import METRICS, EvalSets, evaluate
from wavegen.evaluation.metrics.cls_acc import per_class
from wavegen.evaluation.metrics.prdc import prdc

SR, SECONDS, N = 4000, 0.25, 200  # per set; the judge trains on N files
CLASSES = sorted(SOUND_CLASSES)  # the judge numbers the class folders in sorted order
K = len(CLASSES)

# metric -> the bad cases it must rank worse than fresh real sounds
CATCHES = {
    "cls_fd": ["one_class", "repeated", "noisy", "noise"],
    "kid": ["one_class", "repeated", "noisy", "noise"],
    "is": ["one_class", "noise"],
    "mis": ["repeated"],  # diversity within a class: one repeated sound per class scores 1
    "cls_acc": ["one_class", "repeated", "noisy", "noise"],
    "precision": ["noisy", "noise"],
    "recall": ["one_class", "repeated"],
    "density": ["repeated", "noisy", "noise"],  # fidelity: real sounds of one class are as dense as any
    "coverage": ["one_class", "repeated", "noisy", "noise"],
}


def sounds(n, seed, classes=None):
    """n fresh sounds of the data's recipe, asked-for class i % K (or all `classes`): ((n, 1, L), (n,) labels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * SECONDS)) / SR
    labels = np.arange(n) % K if classes is None else np.full(n, classes)
    return np.stack([sound(CLASSES[k], t, rng) for k in labels])[:, None], labels


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    root = tmp_path_factory.mktemp("judge")
    data = make_sounds(root / "sounds", n=N, sample_rate=SR, seconds=SECONDS, seed=1)
    spec = JudgeSpec(str(data), cache_dir=str(root / "cache"))
    return spec, fit(spec, epochs=6, say=lambda s: None)


@pytest.fixture(scope="module")
def cases(judged):
    _, judge = judged
    real, real_labels = sounds(N, 2)
    real2, real2_labels = sounds(N, 3)
    good, asked = sounds(N, 4)
    sets = EvalSets(real, real2, real, SR, judge=judge, real_labels=real_labels, real2_labels=real2_labels,
                    sample_labels=asked)
    rng = np.random.default_rng(5)
    noise_at_0db = rng.standard_normal(good.shape).astype(np.float32) * np.sqrt((good ** 2).mean(2, keepdims=True))
    xs = {"one_class": sounds(N, 6, classes=0)[0],  # every ask answered with a chirp
          "repeated": np.repeat(good[:K], N // K, 0) + 1e-3 * rng.standard_normal(good.shape, dtype=np.float32),
          "noisy": good + noise_at_0db,
          "noise": 0.3 * rng.standard_normal(good.shape, dtype=np.float32)}
    results = {"good": evaluate(good, sets, list(CATCHES))}
    for case, x in xs.items():
        results[case] = {name: {"value": METRICS[name].fn(x, sets, 0)} for name in CATCHES}
    return sets, good, results


def test_judge_fits_and_is_reused_until_the_data_changes(judged):
    spec, judge = judged
    assert judge.classes == sorted(SOUND_CLASSES) and judge.meta["accuracy"] >= 0.8, judge.meta
    state = torch.load(judge.path / "judge.pt", weights_only=True)  # weights only: no pickled code
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert json.loads((judge.path / "judge.json").read_text())["classes"] == judge.classes
    said = []
    again = fit(spec, epochs=6, say=said.append)
    assert "reusing" in said[0] and again.path == judge.path
    x = sounds(8, 9)[0]
    assert np.allclose(again.outputs(x)[0], judge.outputs(x)[0], atol=1e-5)
    wav = next(p for p in sorted(os.scandir(spec.data + "/kick"), key=lambda e: e.name))
    os.utime(wav.path, ns=(0, 0))  # a file changed: the judge is fitted again
    said.clear()
    fit(spec, epochs=1, say=said.append)
    assert said[0].startswith("fitting")


def test_judge_refuses_data_without_classes(tmp_path):
    from conftest import write_wav

    x = np.sin(np.arange(1000) / 5).astype(np.float32)
    for i in range(3):
        write_wav(tmp_path / "flat" / f"{i}.wav", x, SR)
        write_wav(tmp_path / "one" / "kick" / f"{i}.wav", x, SR)
    write_wav(tmp_path / "few" / "kick" / "0.wav", x, SR)
    write_wav(tmp_path / "few" / "kick" / "1.wav", x, SR)
    write_wav(tmp_path / "few" / "snare" / "0.wav", x, SR)
    for folder, message in [("flat", "no class sub-folders"), ("one", "one class"), ("few", "'snare' has 1 file")]:
        with pytest.raises(WavegenError, match=message):
            fit(JudgeSpec(str(tmp_path / folder), cache_dir="none"), epochs=1)
    assert judge_for(JudgeSpec(str(tmp_path / "flat"), cache_dir="none")) is None  # the metrics just do not apply


def test_mel_filterbank():
    fb = mel_filterbank(16000, 512, 64)
    assert fb.shape == (64, 257) and torch.allclose(fb.sum(1), torch.ones(64))
    centres = (fb * torch.arange(257)).sum(1)
    assert (centres.diff() > 0).all()  # bands rise in frequency, narrow at the bottom, wide at the top
    assert centres.diff()[-1] > 5 * centres.diff()[0]


@pytest.mark.parametrize("name", sorted(CATCHES))
def test_judged_metric_tells_real_from_bad(cases, name):
    _, _, results = cases
    m = METRICS[name]
    good, perfect = m.badness(results["good"][name]["value"]), m.badness(results["good"][name]["real_vs_real"])
    bad = {case: m.badness(results[case][name]["value"]) for case in CATCHES[name]}
    for case, b in bad.items():
        assert b > good, f"{name}: {case} ({results[case][name]['value']:.4g}) not worse than real ({results['good'][name]['value']:.4g})"
    assert good <= perfect + 0.25 * (min(bad.values()) - perfect), (name, good, perfect, bad)


def test_judged_headline_values(cases):
    sets, good, r = cases
    assert r["good"]["cls_acc"]["value"] > 0.8 and r["one_class"]["cls_acc"]["value"] < 0.4
    assert r["good"]["is"]["value"] > 1.5 and r["one_class"]["is"]["value"] < 1.2  # a judge of 6 epochs is unsure
    assert abs(r["good"]["kid"]["real_vs_real"]) < 0.1 * r["noise"]["kid"]["value"]
    table = per_class(good, sets)
    assert list(table) == sorted(SOUND_CLASSES) and min(table.values()) > 0.6


def test_prdc_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0]])
    out = prdc(real, real + 0.1, k=2)
    assert out["precision"] == 1 and out["coverage"] == 1 and out["recall"] == 1
    far = prdc(real, real + 100, k=2)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    assert prdc(real, np.full((7, 1), 3.0), k=2)["coverage"] == pytest.approx(3 / 7)  # balls of 2, 3, 4 hold it



def test_training_scores_and_eval_use_the_judge(judged, tmp_path, monkeypatch, capsys):
    """A run on labelled data fits (or reuses) the judge before training and scores cls_fd as it trains;
    `wavegen eval` prints every judged metric beside its real-vs-real value; `classifier fit` works from the CLI."""
    from conftest import tiny_config
    from wavegen.cli import main
    from wavegen import read_stats, train
    from wavegen.evaluation.scoring import evaluate_run

    import wavegen.evaluation.judge as judge_module

    spec, _ = judged
    monkeypatch.setenv("WAVEGEN_CACHE_DIR", spec.cache_dir)
    monkeypatch.setattr(judge_module, "EPOCHS", 2)  # the run's length needs a judge of its own: a quick one
    run = train(tiny_config(spec.data, tmp_path / "r", preset="dcgan", length=1000, batches=10, eval_every=10,
                            eval_n=20, holdout=0.3, eval_metrics=("cls_fd", "coverage"), best_metric="cls_fd"))
    row = [r for r in read_stats(run) if "eval/cls_fd" in r][0]
    assert row["eval/cls_fd"] > 0 and 0 <= row["eval/coverage"] <= 1
    result = evaluate_run(run, n=20)
    assert {"cls_fd", "kid", "is", "mis", "precision", "coverage"} <= set(result["metrics"])
    assert "cls_acc" not in result["metrics"]  # an unconditional run asks for no class
    capsys.readouterr()
    assert main(["classifier", "fit", str(run), "--epochs", "1"]) == 0  # a run folder: its data at its length
    assert "held-out accuracy" in capsys.readouterr().out
    assert main(["classifier", "fit", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a folder" in err
