"""Starting from a trained model against starting from scratch, in the same minutes (docs/finetune.md).

    python -m experiments.finetune data ROOT                   # sounds at 8 kHz, 50 clips per word, sounds at 16 kHz
    python -m experiments.finetune source ROOT --minutes 8     # the source: --preset audio on the sounds at 8 kHz
                                                         # (again: it goes on training the source)
    python -m experiments.finetune row ROOT --target words --start finetune --seed 0 --minutes 3
    python -m experiments.finetune table ROOT                  # every row so far, as Markdown

One row per command, each one training run (stopped with SIGINT after --minutes, as `timeout -s INT` does, so it
writes its checkpoint) and one `wavegen eval --metrics cls_fd` of its newest checkpoint; rows are appended to
ROOT/rows.jsonl. Targets: "words" (50 clips of each of ten spoken words at 8 kHz: another sound, little data) and
"rate" (the sounds at 16 kHz: another sample rate, the same 8192 samples per example, so half the duration). Starts:
"scratch" (the source's recipe, `--preset audio`) or "finetune" (`--init-from` the source: the same recipe and
architecture, the source's weights). Run it with OMP_NUM_THREADS=1, one command at a time.
"""
import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

RECIPE = ["--preset", "audio", "--length", "8192", "--layer-every", "0", "--ckpt-every", "100000",
          "--preview-every", "100000"]
TARGETS = {"words": ("words8k", 8000), "rate": ("sounds16k", 16000)}
EVAL_N = 256


def wavegen(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "wavegen", *args], check=True)


def make_data(root: Path) -> None:
    wavegen("data", "sounds", str(root / "data/sounds8k"), "--n", "2000", "--sample-rate", "8000", "--seconds", "1.024")
    wavegen("data", "words", str(root / "data/words8k"), "--n", "500", "--sample-rate", "8000", "--seconds", "1.024")
    wavegen("data", "sounds", str(root / "data/sounds16k"), "--n", "500", "--sample-rate", "16000",
            "--seconds", "0.512", "--seed", "1")


def timed_train(args: list[str], minutes: float) -> float:
    """`wavegen train ARGS`, interrupted after `minutes` as Ctrl-C would (it checkpoints and stops); wall seconds."""
    start = time.time()
    p = subprocess.Popen([sys.executable, "-m", "wavegen", "train", *args])
    try:
        p.wait(timeout=minutes * 60)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        p.wait()
    if p.returncode not in (0, 130):
        raise SystemExit(f"wavegen train exited with {p.returncode}")
    return time.time() - start


def batches(run: Path) -> int:
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    return max(r["step"] for r in rows)


def cls_fd(run: Path) -> float:
    wavegen("eval", str(run), "--n", str(EVAL_N), "--metrics", "cls_fd")
    return json.loads((run / "eval.json").read_text())["metrics"]["cls_fd"]["value"]


def row(root: Path, target: str, start: str, seed: int, minutes: float) -> None:
    folder, rate = TARGETS[target]
    run = root / "runs" / f"{target}-{start}-s{seed}"
    args = [str(root / "data" / folder), "--out", str(run), "--seed", str(seed), "--sample-rate", str(rate)]
    args += ["--init-from", str(root / "runs/source")] if start == "finetune" else RECIPE
    seconds = timed_train(args, minutes)
    result = {"target": target, "start": start, "seed": seed, "minutes": minutes, "wall_s": round(seconds),
              "batches": batches(run), "cls_fd": cls_fd(run), "date": time.strftime("%Y-%m-%d")}
    with open(root / "rows.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps(result))


def table(root: Path) -> None:
    rows = [json.loads(line) for line in (root / "rows.jsonl").read_text().splitlines() if line.strip()]
    print("| target | start | seed | minutes | batches | cls_fd |\n|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['target']} | {r['start']} | {r['seed']} | {r['minutes']:g} | {r['batches']:,} | {r['cls_fd']:.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["data", "source", "row", "table"])
    p.add_argument("root", type=Path, help="folder for the data, the runs and rows.jsonl")
    p.add_argument("--target", choices=list(TARGETS), default="words")
    p.add_argument("--start", choices=["scratch", "finetune"], default="finetune")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=3.0)
    a = p.parse_args()
    if a.what == "data":
        make_data(a.root)
    elif a.what == "source":  # a second call goes on training it
        run = a.root / "runs/source"
        args = ["--resume", str(run)] if (run / "config.json").exists() else \
            [str(a.root / "data/sounds8k"), "--out", str(run), "--sample-rate", "8000", *RECIPE]
        timed_train(args, a.minutes)
    elif a.what == "row":
        row(a.root, a.target, a.start, a.seed, a.minutes)
    else:
        table(a.root)


if __name__ == "__main__":
    main()
