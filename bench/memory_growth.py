"""A long run does not grow in memory: train for many batches in a subprocess and watch its resident set size.

    python -m bench.memory_growth                       # 5000 batches, fast preset at ngf = ndf = 64, batch 100
    python -m bench.memory_growth --batches 20000 --threshold-mb 50 -- --layer-every 10

The run is an ordinary `wavegen train` (scores every 100 batches, per-layer norms every 50, previews every 100,
checkpoints every 500, as the preset and the defaults have them) on the post's data at data/gaussian (made if
missing). Once a second the script reads the trainer's VmRSS from /proc/PID/status and the batch it has reached
from the last row of its stats.jsonl, then prints RSS after warm-up (the first sample past batch 200), at the
middle and at the end (the last sample before the final batch), with the growth; and, for information, after the
last batch (final checkpoint and exit). Exit status 1 if the growth from warm-up to the end exceeds
--threshold-mb (default 50), 2 if the run itself fails.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def batch_reached(stats: Path) -> int | None:
    """The step of the last batch row in stats.jsonl, reading only the file's tail."""
    try:
        with open(stats, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            tail = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    for line in reversed(tail.split("\n")):
        try:
            row = json.loads(line)
        except ValueError:
            continue  # empty, torn by a concurrent append, or cut at the start of the tail
        if "loss/G" in row:
            return row["step"]
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=5000)
    p.add_argument("--data", default=str(ROOT / "data" / "gaussian"))
    p.add_argument("--out", default=None, help="run folder (default: a temporary one, removed afterwards)")
    p.add_argument("--threshold-mb", type=float, default=50.0)
    p.add_argument("--warmup", type=int, default=200, help="batch after which the baseline is taken")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    p.add_argument("train_args", nargs="*", help="extra `wavegen train` flags, after --")
    a = p.parse_args(argv)

    data = Path(a.data)
    if not data.is_dir():
        print(f"making the post's data set in {data}", flush=True)
        subprocess.run([sys.executable, "-m", "wavegen", "data", "gaussian", str(data), "--n", "10000", "--length", "100"],
                       check=True, cwd=ROOT)
    tmp = None
    if a.out is None:
        tmp = tempfile.mkdtemp(prefix="wavegen-memory-")
        run = Path(tmp) / "run"
    else:
        run = Path(a.out)
    cmd = [sys.executable, "-m", "wavegen", "train", str(data), "--out", str(run), "--preset", "fast", "--ngf", "64",
           "--ndf", "64", "--batch-size", "100", "--batches", str(a.batches), *a.train_args]
    print("running:", " ".join(cmd[1:]), flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, int, float]] = []  # (seconds, batch, RSS MB)
    try:
        while proc.poll() is None:
            rss = rss_mb(proc.pid)
            step = batch_reached(run / "stats.jsonl")
            if rss is not None and step is not None:
                samples.append((time.monotonic() - t0, step, rss))
            time.sleep(a.interval)
        err = proc.stderr.read()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        print(f"the run failed (exit {proc.returncode}):\n{err[-3000:]}", file=sys.stderr)
        return 2

    after = [s for s in samples if s[1] > a.warmup]
    if len(after) < 3:
        print(f"too few samples past batch {a.warmup} ({len(after)} of {len(samples)}): raise --batches", file=sys.stderr)
        return 2
    base = after[0]
    mid = next(s for s in after if s[1] >= (base[1] + after[-1][1]) / 2)
    last = after[-1][1]
    end = [s for s in after if s[1] < last][-1]  # the last sample still training (not in the final save and exit)
    final = next(s for s in after if s[1] == last)
    peak = max(s[2] for s in samples)
    growth = end[2] - base[2]
    per_k = growth / max(end[1] - base[1], 1) * 1000

    print(f"\n{a.batches} batches in {wall:.0f} s ({a.batches / wall:.1f} batches/s with start-up), {len(samples)} samples")
    print(f"{'point':<22} {'seconds':>8} {'batch':>7} {'RSS MB':>8} {'vs warm-up MB':>14}")
    for name, s in [(f"warm-up (> batch {a.warmup})", base), ("middle", mid), ("end (still training)", end),
                    ("after the last batch", final)]:
        print(f"{name:<22} {s[0]:>8.1f} {s[1]:>7} {s[2]:>8.1f} {s[2] - base[2]:>+14.1f}")
    print(f"peak RSS {peak:.1f} MB; growth {growth:+.1f} MB over {end[1] - base[1]} batches = {per_k:+.2f} MB per 1000 batches")
    # a coarse timeline, to tell a slow leak (steady rise) from a one-off step
    marks = [after[min(len(after) - 1, round(i * (len(after) - 1) / 10))] for i in range(11)]
    print("timeline (batch @ seconds: MB): " + ", ".join(f"{s[1]} @ {s[0]:.0f}: {s[2]:.0f}" for s in marks))
    if growth > a.threshold_mb:
        print(f"FAIL: RSS grew {growth:.1f} MB (> {a.threshold_mb:g} MB)")
        return 1
    print(f"ok: growth {growth:+.1f} MB is within {a.threshold_mb:g} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
