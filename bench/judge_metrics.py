"""The judge's held-out accuracy, and every metric for sets a listener would rank: held-out real sounds, real sounds
with white noise added at 20, 10 and 0 dB SNR, a one-class collapse (every sound a kick), one sound repeated, and
white noise. The figures in docs/judge.md.

    wavegen data sounds data/sounds --n 2000        # or: wavegen data words data/words --n 2000
    python -m bench.judge_metrics data/sounds [--n 1000]

Real sets A and B and the held-out real case are fresh draws from the data's recipe (the `sounds` of
wavegen/data/synthetic.py, or the espeak-ng `words` of wavegen/data/speech.py, with seeds the folder was not made
with), which neither the judge nor any generator has seen; each draw asks for class i mod K, so cls_acc scores each case as
the output of a conditional generator asked for those classes. The training set (for nn_ratio and ndb's bins) is
windows of the data folder.
"""
import argparse
import time

import numpy as np

from wavegen.data.speech import speak
from wavegen.data.synthetic import read_meta, sound
from wavegen.evaluation.judge import JudgeSpec, fit, open_labelled
from wavegen.evaluation.metrics import EvalSets, evaluate

CASES = ("held-out real", "noise 20 dB", "noise 10 dB", "noise 0 dB", "one class", "one sound", "white noise")


def draw(kind, classes, n, seed, sr, length, only=None):
    """n fresh clips of the recipe, clip i of class i mod K (or all of class `only`): ((n, 1, L), (n,) labels)."""
    labels = np.arange(n) % len(classes)
    names = [classes[only if only is not None else k] for k in labels]
    if kind == "words":
        return speak(names, sr, length, 1000 + seed)[:, None], labels
    rng = np.random.default_rng(seed)
    t = np.arange(length) / sr
    return np.stack([sound(name, t, rng) for name in names])[:, None].astype(np.float32), labels


def with_noise(x, snr_db, rng):
    """x (n, 1, L) plus white noise at `snr_db` below each example's own power."""
    power = (x ** 2).mean(2, keepdims=True)
    return (x + np.sqrt(power * 10 ** (-snr_db / 10)) * rng.standard_normal(x.shape)).astype(np.float32)


def cases(kind, classes, n, sr, length):
    rng = np.random.default_rng(10)
    real, _ = draw(kind, classes, n, 3, sr, length)
    rms = float(np.sqrt((real ** 2).mean()))
    out = {"held-out real": real}
    for snr in (20, 10, 0):
        out[f"noise {snr} dB"] = with_noise(real, snr, rng)
    only = classes.index("kick") if "kick" in classes else 0
    out["one class"] = draw(kind, classes, n, 4, sr, length, only=only)[0]
    out["one sound"] = np.repeat(real[:1], n, 0) + 1e-4 * rng.standard_normal(real.shape).astype(np.float32)
    out["white noise"] = (rms * rng.standard_normal(real.shape)).astype(np.float32)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", help="a folder written by `wavegen data sounds` or `wavegen data words`")
    p.add_argument("--n", type=int, default=1000, help="examples per set (default 1000)")
    a = p.parse_args()
    meta = read_meta(a.data)
    if not meta or meta.get("kind") not in ("sounds", "words"):
        raise SystemExit(f"{a.data}: not a folder written by `wavegen data sounds` or `wavegen data words`")
    kind = meta["kind"]
    began = time.time()
    judge = fit(JudgeSpec(a.data))
    print(f"judge: held-out accuracy {judge.meta['accuracy']:.4f} on {judge.meta['held_out_windows']} clips "
          f"({judge.meta['seconds']:.0f} s to fit; {time.time() - began:.0f} s now)")
    classes, sr, length = judge.classes, judge.sample_rate, judge.meta["length"]
    w, _ = open_labelled(JudgeSpec(a.data))
    train = w.get(np.random.default_rng(0).permutation(w.n)[:a.n]).numpy()
    (real, real_labels), (real2, real2_labels) = (draw(kind, classes, a.n, s, sr, length) for s in (1, 2))
    sets = EvalSets(real, real2, train, sr, judge=judge, real_labels=real_labels, real2_labels=real2_labels,
                    sample_labels=np.arange(a.n) % len(classes))
    table = {}
    for case, x in cases(kind, classes, a.n, sr, length).items():
        table[case] = evaluate(x, sets)
        print(f"  {case}: {time.time() - began:.0f} s", flush=True)
    names = list(table[CASES[0]])
    print("\n| metric | better | real vs real | " + " | ".join(CASES) + " |")
    print("|---|---|---|" + "---|" * len(CASES))
    for name in names:
        r = table[CASES[0]][name]
        better = f"~{r['target']:g}" if r["target"] is not None else ("lower" if r["lower_is_better"] else "higher")
        print(f"| `{name}` | {better} | {r['real_vs_real']:.4g} | " +
              " | ".join(f"{table[c][name]['value']:.4g}" for c in CASES) + " |")


if __name__ == "__main__":
    main()
