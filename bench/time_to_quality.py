"""Time to quality on the seed data: wall-clock seconds and batches until G's samples first reach a quality bar.

    python bench/time_to_quality.py [--data data/gaussian] [--bar 1.5] [--ref-batches 2000] [--batches 1500] [--seeds 0,1,2]

The bar is a Frechet distance (wavegen.evaluation.metrics.frechet, raw samples, 500 samples of G in train mode against
500 fresh draws of the data's recipe) at or under --bar, scored every --every batches. Contenders, each from
scratch (seed 0, and for `fast` every seed of --seeds, since one seed's transition can come hundreds of batches
sooner or later than another's):
- reference: the post's loop as written (bench/reference_loop.py, the post's hyperparameters and PyTorch's
  default init); scoring time is not counted;
- wavegen `seed` preset (the post's loop and hyperparameters, DCGAN init);
- wavegen `fast` preset.
Times are training-loop seconds at the batch the bar was first met (wavegen: the run's loop time, scaled to
that batch, scoring included). A contender that never meets the bar is reported with the time it ran.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from reference_loop import run as reference_run  # noqa: E402

from wavegen import make_config, read_stats, train  # noqa: E402
from wavegen.data import load_folder, read_meta  # noqa: E402
from wavegen.evaluation.scoring import real_sets  # noqa: E402
from wavegen.sampling import draw  # noqa: E402
from wavegen.evaluation.metrics import METRICS  # noqa: E402


def reference(data: str, batches: int, every: int, n: int, bar: float) -> dict:
    x = load_folder(data).x
    sets, _ = real_sets(x, read_meta(data), 16000, 0.0, 0, n)
    cfg = make_config("post")  # what draw() reads: the post's batch size and noise (batch 100, nz 100, normal)
    hit = {}

    def score(batch, G, seconds):
        fd = METRICS["frechet"].fn(draw(G, cfg, n, "train", 0, torch.device("cpu")).numpy(), sets, 0)
        print(f"  reference batch {batch}: frechet {fd:.3f}", flush=True)
        if fd <= bar and not hit:
            hit.update(batch=batch, seconds=seconds)

    r = reference_run(data, batches, callback=score, callback_every=every)
    return {"hit": hit or None, "ran_batches": r["batches"], "ran_seconds": r["seconds"]}


def wavegen_run(data: str, preset: str, batches: int, every: int, n: int, bar: float, seed: int = 0,
                amp: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = train(make_config(preset, data=data, out=f"{tmp}/run", batches=batches, eval_every=every, eval_n=n,
                                eval_metrics=("frechet",), ckpt_every=10**9, print_every=10**9, seed=seed, amp=amp))
        rows = read_stats(run)
    wall = [r["time/wall_s"] for r in rows if "time/wall_s" in r][-1]
    print(f"  {preset} seed {seed}: " + " ".join(f"{r['step']}:{r['eval/frechet']:.2f}" for r in rows if "eval/frechet" in r),
          flush=True)
    hit = next((r["step"] for r in rows if r.get("eval/frechet", float("inf")) <= bar), None)
    return {"hit": {"batch": hit, "seconds": wall * hit / batches} if hit else None, "ran_batches": batches, "ran_seconds": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/gaussian")
    p.add_argument("--bar", type=float, default=1.5)  # 15x real vs real; an untrained G scores 3.9 (width 128) to 6.8
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--ref-batches", type=int, default=2000)
    p.add_argument("--batches", type=int, default=1500)
    p.add_argument("--seeds", default="0,1,2", help="seeds of the fast contender")
    p.add_argument("--amp", default=None, choices=["auto", "true", "false"],
                   help="bf16 autocast of the fast contender (default: the preset's, auto)")
    p.add_argument("--fast-only", action="store_true", help="only the fast contender (to compare --amp settings)")
    a = p.parse_args()
    results = {} if a.fast_only else {
        "reference (the post's loop)": reference(a.data, a.ref_batches, a.every, a.n, a.bar),
        "wavegen post": wavegen_run(a.data, "post", a.ref_batches, a.every, a.n, a.bar)}
    for seed in map(int, a.seeds.split(",")):
        results[f"wavegen fast, seed {seed}"] = wavegen_run(a.data, "fast", a.batches, a.every, a.n, a.bar, seed, a.amp)
    sets, _ = real_sets(load_folder(a.data).x, read_meta(a.data), 16000, 0.0, 0, a.n)
    real_vs_real = METRICS["frechet"].fn(sets.real2, sets, 0)
    print(f"\nbar: Frechet distance <= {a.bar} ({a.n} samples vs {a.n} fresh real; real vs real {real_vs_real:.3f})\n")
    print("| contender | batches to bar | seconds to bar | ran |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        ran = f"{r['ran_batches']} batches, {r['ran_seconds']:.0f} s"
        if r["hit"]:
            print(f"| {name} | {r['hit']['batch']} | {r['hit']['seconds']:.1f} | {ran} |")
        else:
            print(f"| {name} | not reached | > {r['ran_seconds']:.0f} | {ran} |")
    fast = [r for name, r in results.items() if name.startswith("wavegen fast")]
    if all(r["hit"] for r in fast):  # the slowest seed against each of the others
        slowest = max(r["hit"]["seconds"] for r in fast)
        for name in [k for k in results if not k.startswith("wavegen fast")]:
            other = results[name]
            if other["hit"]:
                print(f"\nfast (slowest seed) vs {name}: {other['hit']['seconds'] / slowest:.1f}x sooner")
            else:
                print(f"\nfast (slowest seed) vs {name}: at least {other['ran_seconds'] / slowest:.1f}x sooner (it never reached the bar)")
    else:
        print(f"\nfast missed the bar in {sum(not r['hit'] for r in fast)} of {len(fast)} seeds")


if __name__ == "__main__":
    main()
