"""The offline quality metrics: each one must tell a good generator from the bad ones it is meant to catch.

The "generators" are made from the post's Gaussian-curve data (GaussianSpec): fresh draws (good), one curve
repeated (collapsed), draws + 0.3 (shifted, the seed GAN's known failure), noise 0.3 instead of 0.1 (noisy),
copies of the training set (memorised) and plain noise (garbage, the GAN's first phase).
"""

import numpy as np
import pytest
import torch

from wavegen.data import GaussianSpec
from wavegen.errors import WavegenError
from wavegen.evaluation.metrics import METRICS, EvalSets, evaluate, format_table, register
import wavegen.evaluation.metrics.c2st as c2st_module
from wavegen.evaluation.metrics.c2st import c2st_accuracy
from wavegen.evaluation.metrics.features import features
from wavegen.evaluation.metrics.gaussian_fit import fit_curves

N = 1000  # examples per set
SPEC = GaussianSpec()  # the post's data: amplitude 0.5, sigma 8, noise 0.1, length 100

# metric -> the bad cases it must rank worse than the good generator
CATCHES = {
    "frechet": ["collapsed", "shifted", "noisy", "garbage"],
    "mmd": ["collapsed", "shifted", "noisy", "garbage"],
    "c2st": ["collapsed", "shifted", "noisy", "garbage"],
    "ndb": ["collapsed", "garbage"],
    "nn_ratio": ["memorised", "shifted", "garbage"],
    "ideal_rmse": ["shifted", "noisy", "garbage"],
    "fit_failed": ["garbage"],
    "fit_amplitude": ["collapsed", "noisy", "garbage"],
    "fit_centre": ["collapsed", "noisy", "garbage"],
    "fit_width": ["collapsed", "noisy", "garbage"],
    "fit_offset": ["collapsed", "shifted"],
    "fit_spread": ["collapsed", "noisy"],
    "precision": ["shifted", "noisy", "garbage"],
    "recall": ["collapsed", "shifted"],  # noise has huge k-NN balls that hold every real example: coverage catches it
    "density": ["collapsed", "shifted", "noisy", "garbage"],
    "coverage": ["collapsed", "shifted", "noisy", "garbage"],
}
JUDGED = {"cls_fd", "kid", "is", "mis", "cls_acc"}  # need a judge fitted on classes: tests/test_judge.py
AUDIO = {"harmonicity"}  # applies to audio only: test_harmonicity_tells_voiced_from_noise


def draw(n, seed, spec=SPEC):
    return spec.draw(n, np.random.default_rng(seed))[:, None, :]  # (n, 1, L)


@pytest.fixture(scope="module")
def gauss():
    """The evaluation sets and every case's evaluate() results."""
    train, real, real2 = draw(N, 1), draw(N, 2), draw(N, 3)
    sets = EvalSets(real, real2, train, SPEC.sample_rate, {"kind": "gaussian", **SPEC.__dict__})
    rng = np.random.default_rng(4)
    cases = {
        "good": draw(N, 5),
        "collapsed": draw(1, 6) + 0.001 * rng.standard_normal((N, 1, SPEC.length), dtype=np.float32),
        "shifted": draw(N, 7) + 0.3,
        "noisy": draw(N, 8, GaussianSpec(noise=0.3)),
        "memorised": train[rng.permutation(N)],
        "garbage": 0.5 * rng.standard_normal((N, 1, SPEC.length), dtype=np.float32),
    }
    # evaluate() once (its real-vs-real pass is the same for every case); the metric functions for the rest
    results = {"good": evaluate(cases.pop("good"), sets)}
    for case, x in cases.items():
        results[case] = {name: {"value": m.fn(x, sets, 0)} for name, m in METRICS.items() if m.applies(sets)}
    return sets, results


def test_every_metric_is_tested():
    assert set(CATCHES) | JUDGED | AUDIO == set(METRICS) and not set(CATCHES) & (JUDGED | AUDIO)


@pytest.mark.parametrize("name", sorted(CATCHES))
def test_metric_tells_good_from_bad(gauss, name):
    _, results = gauss
    metric = METRICS[name]
    bad = {case: metric.badness(results[case][name]["value"]) for case in CATCHES[name]}
    good = metric.badness(results["good"][name]["value"])
    perfect = metric.badness(results["good"][name]["real_vs_real"])
    for case, b in bad.items():
        assert b > good, f"{name}: {case} ({results[case][name]['value']:.4g}) not worse than good ({results['good'][name]['value']:.4g})"
    if bad:  # good is near the real-vs-real value: within a quarter of the way to the nearest bad case
        assert good <= perfect + 0.25 * (min(bad.values()) - perfect), (name, good, perfect, bad)


def test_headline_values(gauss):
    """The values that make the metrics readable on their own."""
    _, r = gauss
    assert 0.45 < r["good"]["c2st"]["value"] < 0.56 and r["shifted"]["c2st"]["value"] > 0.95
    assert r["memorised"]["nn_ratio"]["value"] < 0.05 and 0.9 < r["good"]["nn_ratio"]["value"] < 1.1
    assert 0.95 < r["good"]["ideal_rmse"]["real_vs_real"] < 1.05  # real data: the residual is the noise
    assert r["good"]["fit_failed"]["value"] == 0
    assert r["collapsed"]["fit_spread"]["value"] < 0.1 and 0.85 < r["good"]["fit_spread"]["value"] < 1.15
    assert r["good"]["ndb"]["value"] < 0.12 and r["collapsed"]["ndb"]["value"] > 0.25


def tones(n, seed, freqs=(440.0, 1000.0), length=4096, sr=16000):
    """Audio-like clips: a sine at one of `freqs`, random phase and level, a little noise. (n, 1, length)"""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / sr
    f = rng.choice(freqs, n)[:, None]
    x = rng.uniform(0.3, 0.6, (n, 1)) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (n, 1)))
    return (x + 0.01 * rng.standard_normal((n, length)))[:, None, :].astype(np.float32)


def test_spectral_features_separate_audio():
    n = 300
    sets = EvalSets(tones(n, 1), tones(n, 2), tones(n, 3), 16000, None)
    f = features(sets.real, 16000)
    assert f.shape == (n, 128) and f.dtype == np.float64  # log band energies: 64 means + 64 stds
    # phase does not matter: one tone at two phases gives (nearly) the same features
    t = np.arange(4096) / 16000
    pair = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t + 1.0)])[:, None, :]
    fp = features(pair, 16000)
    assert np.abs(fp[0] - fp[1]).max() < 0.05 * np.abs(fp[0]).max()

    names = ["frechet", "mmd", "c2st"]
    same = evaluate(tones(n, 4), sets, names)
    assert set(same) == set(names)
    for case, x in {"other tones": tones(n, 5, (700.0, 1500.0)),
                    "noise": (0.3 * np.random.default_rng(6).standard_normal((n, 1, 4096))).astype(np.float32)}.items():
        for name in names:
            m = METRICS[name]
            assert m.badness(m.fn(x, sets, 0)) > 10 * max(m.badness(same[name]["value"]), 0.01), (case, name)
    assert same["c2st"]["value"] < 0.6 and same["mmd"]["value"] < 0.01


def test_evaluate_format_and_errors(gauss):
    sets, results = gauss
    r = results["good"]
    assert list(r) == [n for n in METRICS if n not in JUDGED | AUDIO]  # gaussian data: all but the judge's and audio's
    for name, row in r.items():
        assert set(row) == {"value", "real_vs_real", "lower_is_better", "target", "doc"}
        assert isinstance(row["value"], float) and isinstance(row["real_vs_real"], float)
        assert row["doc"] == METRICS[name].doc and row["target"] == METRICS[name].target
    # without gaussian meta the fit metrics do not apply; names selects
    plain = EvalSets(sets.real, sets.real2, sets.train, sets.sample_rate, None)
    assert set(evaluate(draw(200, 9), plain)) == {"frechet", "mmd", "c2st", "ndb", "nn_ratio", "precision", "recall",
                                                  "density", "coverage"}
    assert list(evaluate(draw(200, 9), sets, ["ideal_rmse", "ndb"])) == ["ndb", "ideal_rmse"]
    with pytest.raises(WavegenError, match="unknown metric"):
        evaluate(draw(200, 9), sets, ["fid"])
    with pytest.raises(WavegenError, match="shape"):
        evaluate(np.zeros((10, 1, 99), np.float32), sets)
    with pytest.raises(WavegenError, match="NaN"):
        evaluate(np.full((10, 1, 100), np.nan, np.float32), sets)


def test_format_table(gauss):
    _, results = gauss
    r = dict(results["good"])
    r["fit_centre"] = {**r["fit_centre"], "value": float("nan")}
    lines = format_table(r).splitlines()
    assert lines[0].split() == ["metric", "generated", "real", "vs", "real", "better"]
    assert len(lines) == 2 + len(r)
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["c2st"][2] == "~0.5" and rows["frechet"][2] == "lower" and rows["nn_ratio"][2] == "~1"
    assert float(rows["frechet"][0]) == pytest.approx(r["frechet"]["value"], rel=1e-3)
    assert rows["fit_centre"][0] == "nan"


def test_registry():
    for name, m in METRICS.items():
        assert m.name == name and m.doc and "\n" not in m.doc and len(m.doc) < 160
        assert m.better() in ("lower", "higher") or m.better().startswith("~")
    assert len({m.doc for m in METRICS.values()}) == len(METRICS)
    with pytest.raises(ValueError, match="twice"):
        register("frechet")(lambda samples, sets, seed: 0.0)


def test_c2st_is_seeded_and_leaves_rng_and_threads_alone(monkeypatch):
    a, b = draw(N, 10)[:, 0].astype(np.float64), draw(N, 11)[:, 0].astype(np.float64) + 0.05
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()
    with torch.no_grad():  # as when evaluating during training
        acc = c2st_accuracy(a, b, seed=3)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads  # THREADS = 1 is undone after the call
    assert acc > 0.8  # a 0.05 offset on every sample is plain to see
    small = c2st_accuracy(a[:300], b[:300], seed=3)
    assert c2st_accuracy(a[:300], b[:300], seed=3) == small
    monkeypatch.setattr(c2st_module, "THREADS", None)  # torch's own threads: the same answer
    assert c2st_accuracy(a[:300], b[:300], seed=3) == pytest.approx(small, abs=0.02)  # (up to summation order)


def test_fit_curves_recovers_parameters():
    t = np.arange(100.0)
    truth = np.array([[0.5, 49.5, 8.0, 0.0], [-0.3, 30.0, 4.0, 0.2], [1.0, 70.2, 15.0, -0.3]])  # a, c, w, b
    y = truth[:, :1] * np.exp(-0.5 * ((t - truth[:, 1:2]) / truth[:, 2:3]) ** 2) + truth[:, 3:]
    assert np.abs(fit_curves(y) - truth).max() < 1e-3
    assert np.isnan(fit_curves(np.zeros((2, 100)))).all()  # no bump: the fit fails


def test_harmonicity_tells_voiced_from_noise():
    """Voiced clips (a pitch and its harmonics) score near real vs real; white noise and silence score nothing."""
    sr, n, length = 8000, 24, 4096
    rng = np.random.default_rng(0)

    def voiced(seed):  # (n, 1, L): 120-220 Hz with 8 harmonics falling off, a little noise
        r = np.random.default_rng(seed)
        t = np.arange(length) / sr
        f0 = r.uniform(120, 220, (n, 1, 1))
        x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 9))
        return (0.3 * x + 0.01 * r.standard_normal((n, 1, length))).astype(np.float32)
    real = voiced(1)
    sets = EvalSets(real, voiced(2), real, sr)
    m = METRICS["harmonicity"]
    assert m.applies(sets)
    good, perfect = m.fn(voiced(3), sets, 0), m.fn(sets.real2, sets, 0)
    noise = m.fn(0.3 * rng.standard_normal((n, 1, length)).astype(np.float32), sets, 0)
    assert abs(good - perfect) < 0.1 and perfect > 0.8 and noise < 0.05
