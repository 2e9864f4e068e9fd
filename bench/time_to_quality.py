"""Time to quality on the post's data: wall-clock seconds and batches until G's samples first reach quality bars.

    python -m bench.time_to_quality [--data data/gaussian] [--bar 1.5] [--c2st-bar 0.6] [--ref-batches 2000]
                                    [--batches 1500] [--seeds 0,1,2]

Scored every --every batches, 500 samples of G in its sample mode against 500 fresh draws of the data's recipe,
three bars:
- Frechet: a Frechet distance (wavegen.evaluation.metrics.frechet, raw samples) at or under --bar;
- c2st: the classifier test's held-out accuracy at or under --c2st-bar (0.5 = told apart no better than chance);
- both: c2st at or under --c2st-bar and Frechet at or under --rvr-factor x its real-vs-real value, at one
  evaluation (issue 16's bar, here at 500 samples, whose real-vs-real Frechet is about twice that at 1,000).
Contenders, each from
scratch (seed 0, and for `fast` every seed of --seeds, since one seed's transition can come hundreds of batches
sooner or later than another's):
- reference: the post's loop as written (tests/oracles/reference_loop.py, the post's hyperparameters and PyTorch's
  default init); scoring time is not counted;
- wavegen `post` preset (the post's loop and hyperparameters, DCGAN init);
- wavegen `fast` preset.
Times are training-loop seconds at the batch a bar was first met (wavegen: the run's loop time, scaled to that
batch, scoring included). A contender that never meets a bar is reported with the time it ran.
"""
import argparse
import tempfile

import torch

# the post's loop: the one copy the suite checks (tests/oracles/__init__.py says why it lives there)
from tests.oracles.reference_loop import run as reference_run
from wavegen import make_config, read_stats, train
from wavegen.data import load_folder, read_meta
from wavegen.evaluation.scoring import real_sets
from wavegen.sampling import draw
from wavegen.evaluation.metrics import METRICS


class Bars:
    """The three bars of the module docstring, and the first batch each was met at."""

    def __init__(self, frechet: float, c2st: float, both_frechet: float):
        self.limits = {"frechet": frechet, "c2st": c2st, "both": both_frechet}
        self.hits: dict[str, int] = {}

    def check(self, batch: int, fd: float, c2st: float) -> None:
        met = {"frechet": fd <= self.limits["frechet"], "c2st": c2st <= self.limits["c2st"],
               "both": c2st <= self.limits["c2st"] and fd <= self.limits["both"]}
        for name, ok in met.items():
            if ok and name not in self.hits:
                self.hits[name] = batch


def reference(data: str, batches: int, every: int, n: int, bars: Bars) -> dict:
    x = load_folder(data).x
    sets, _ = real_sets(x, read_meta(data), 16000, 0.0, 0, n)
    cfg = make_config("post")  # what draw() reads: the post's batch size and noise (batch 100, nz 100, normal)
    seconds = {}

    def score(batch, G, elapsed):
        samples = draw(G, cfg, n, "train", 0, torch.device("cpu")).numpy()
        fd, c2st = METRICS["frechet"].fn(samples, sets, 0), METRICS["c2st"].fn(samples, sets, 0)
        print(f"  reference batch {batch}: frechet {fd:.3f} c2st {c2st:.3f}", flush=True)
        bars.check(batch, fd, c2st)
        for name, hit in bars.hits.items():
            seconds.setdefault(name, elapsed)

    r = reference_run(data, batches, callback=score, callback_every=every)
    return {"hits": {k: {"batch": b, "seconds": seconds[k]} for k, b in bars.hits.items()},
            "ran_batches": r["batches"], "ran_seconds": r["seconds"]}


def wavegen_run(data: str, preset: str, batches: int, every: int, n: int, bars: Bars, seed: int = 0,
                amp: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config(preset, data=data, out=f"{tmp}/run", batches=batches, eval_every=every, eval_n=n,
                          eval_metrics=("frechet", "c2st"), ckpt_every=10**9, print_every=10**9, seed=seed, amp=amp)
        rows = read_stats(train(cfg))
    wall = [r["time/wall_s"] for r in rows if "time/wall_s" in r][-1]
    scored = [r for r in rows if "eval/frechet" in r]
    print(f"  {preset} seed {seed}: " + " ".join(f"{r['step']}:{r['eval/frechet']:.2f}/{r['eval/c2st']:.3f}"
                                                 for r in scored), flush=True)
    for r in scored:
        bars.check(r["step"], r["eval/frechet"], r["eval/c2st"])
    return {"hits": {k: {"batch": b, "seconds": wall * b / batches} for k, b in bars.hits.items()},
            "ran_batches": batches, "ran_seconds": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/gaussian")
    p.add_argument("--bar", type=float, default=1.5)  # 15x real vs real; an untrained G scores 3.9 (width 128) to 6.8
    p.add_argument("--c2st-bar", type=float, default=0.6)
    p.add_argument("--rvr-factor", type=float, default=1.5, help="the 'both' bar's Frechet, x real vs real")
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--ref-batches", type=int, default=2000)
    p.add_argument("--batches", type=int, default=1500)
    p.add_argument("--seeds", default="0,1,2", help="seeds of the fast contender")
    p.add_argument("--amp", default=None, choices=["auto", "true", "false"],
                   help="bf16 autocast of the fast contender (default: the preset's, auto)")
    p.add_argument("--fast-only", action="store_true", help="only the fast contender (to compare --amp settings)")
    a = p.parse_args()
    sets, _ = real_sets(load_folder(a.data).x, read_meta(a.data), 16000, 0.0, 0, a.n)
    real_vs_real = METRICS["frechet"].fn(sets.real2, sets, 0)
    bars = lambda: Bars(a.bar, a.c2st_bar, a.rvr_factor * real_vs_real)  # noqa: E731
    results = {} if a.fast_only else {
        "reference (the post's loop)": reference(a.data, a.ref_batches, a.every, a.n, bars()),
        "wavegen post": wavegen_run(a.data, "post", a.ref_batches, a.every, a.n, bars())}
    for seed in map(int, a.seeds.split(",")):
        results[f"wavegen fast, seed {seed}"] = wavegen_run(a.data, "fast", a.batches, a.every, a.n, bars(), seed,
                                                            a.amp)
    print(f"\nbars ({a.n} samples vs {a.n} fresh real; real-vs-real Frechet {real_vs_real:.3f}): Frechet <= {a.bar}; "
          f"c2st <= {a.c2st_bar}; both: c2st <= {a.c2st_bar} and Frechet <= {a.rvr_factor * real_vs_real:.3f} "
          f"({a.rvr_factor}x real vs real) at one evaluation\n")
    print("| contender | Frechet bar: batch, s | c2st bar: batch, s | both: batch, s | ran |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        cells = [f"{r['hits'][k]['batch']}, {r['hits'][k]['seconds']:.1f}" if k in r["hits"]
                 else f"not reached (> {r['ran_seconds']:.0f} s)" for k in ("frechet", "c2st", "both")]
        print(f"| {name} | " + " | ".join(cells) + f" | {r['ran_batches']} batches, {r['ran_seconds']:.0f} s |")
    fast = {name: r for name, r in results.items() if name.startswith("wavegen fast")}
    for bar in ("frechet", "c2st", "both"):
        missed = [name for name, r in fast.items() if bar not in r["hits"]]
        if missed:
            print(f"\n{bar}: fast missed the bar in {len(missed)} of {len(fast)} seeds")
            continue
        slowest = max(r["hits"][bar]["seconds"] for r in fast.values())
        for name in [k for k in results if k not in fast]:
            other = results[name]
            if bar in other["hits"]:
                print(f"\n{bar}: fast (slowest seed) vs {name}: {other['hits'][bar]['seconds'] / slowest:.1f}x sooner")
            else:
                print(f"\n{bar}: fast (slowest seed) vs {name}: at least {other['ran_seconds'] / slowest:.1f}x sooner "
                      "(it never reached the bar)")


if __name__ == "__main__":
    main()
