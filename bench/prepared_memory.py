"""How much memory training on a prepared folder takes, next to the size of the data set.

    python -m bench.prepared_memory [--gb 1.0] [--files 200] [--rate 16000] [--seconds 20] [--keep]

Writes (once) a synthetic folder of `--files` 16-bit wavs (noise plus a few sines) holding `--gb` GB of audio
once decoded to float32, then in a fresh process each: `audio.prepare` (decodes it into samples.npy), and a loop
that draws random batches of 64 windows of 16384 samples (`Windows.get`, window="random", a new epoch every
n / 64 batches) for `--seconds`. For each it prints wall time and memory from /proc/self/status:
  VmHWM       the process's peak resident memory, everything counted;
  RssAnon     its private memory (Python, torch, numpy arrays): what it needs of the machine's RAM;
  RssFile     pages of samples.npy mapped into it: the kernel's page cache, shared and dropped under memory
              pressure (re-read from disk when touched again), so a data set larger than RAM still trains.
The loop's RssAnon is sampled every 50 batches; its peak is reported. The folder is removed afterwards unless
--keep (under bench/.data/, which git ignores).
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def status_mb() -> dict:
    """VmHWM, VmRSS, RssAnon and RssFile of this process, in MB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024  # kB -> MB
    return out


def write_folder(folder: Path, files: int, samples_per_file: int, rate: int) -> None:
    """`files` wavs of noise plus three sines each, in 4 class sub-folders, 16-bit (half the float32 size on disk)."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(samples_per_file) / rate
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for i in range(files):
        f = rng.uniform(50, 4000, 3)  # (3,) Hz
        x = 0.1 * rng.standard_normal(samples_per_file).astype(np.float32)
        for freq in f:
            x += np.float32(0.2) * np.sin(2 * np.pi * freq * t, dtype=np.float32)
        path = tmp / f"class{i % 4}" / f"{i:05d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x, rate, subtype="PCM_16")
    tmp.rename(folder)


def worker_prepare(folder: str, cache_dir: str) -> dict:
    from wavegen.data import prepare, read_prepared

    before = status_mb()
    t = time.perf_counter()
    out = prepare(folder, cache_dir=cache_dir)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "after_import": before, "end": status_mb(), "meta": read_prepared(out), "out": str(out)}


def worker_loop(prepared: str, seconds: float, batch: int, length: int) -> dict:
    from wavegen.data import Windows

    before = status_mb()
    w = Windows(prepared, length, window="random")
    rng = np.random.default_rng(0)
    per_epoch = max(1, w.n // batch)
    peak_anon, batches, epoch = 0.0, 0, 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if batches % per_epoch == 0:
            w.set_epoch(epoch, seed=0)
            epoch += 1
        x = w.get(rng.integers(0, w.n, batch))  # (B, C, L)
        assert x.shape == (batch, w.channels, length)
        batches += 1
        if batches % 50 == 0:
            peak_anon = max(peak_anon, status_mb()["RssAnon"])
    elapsed = time.perf_counter() - t0
    end = status_mb()
    return {"batches": batches, "seconds": elapsed, "epochs": epoch, "n": w.n, "after_import": before, "end": end,
            "peak_anon": max(peak_anon, end["RssAnon"])}


def run_worker(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", __spec__.name, "--worker", *args], capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gb", type=float, default=1.0, help="size of the data set as float32, in GB (default 1.0)")
    p.add_argument("--files", type=int, default=200)
    p.add_argument("--rate", type=int, default=16000)
    p.add_argument("--seconds", type=float, default=20.0, help="length of the batch loop (default 20)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--length", type=int, default=16384)
    p.add_argument("--root", default=str(HERE / ".data" / "prepared"))
    p.add_argument("--keep", action="store_true", help="keep the folder and its cache for another run")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        kind, *rest = a.worker
        result = worker_prepare(*rest) if kind == "prepare" else worker_loop(rest[0], float(rest[1]), int(rest[2]), int(rest[3]))
        print(json.dumps(result))
        return

    per_file = int(a.gb * 2**30 / 4 / a.files)
    folder = Path(a.root) / f"{a.files}x{per_file}"
    t = time.perf_counter()
    if not folder.exists():
        write_folder(folder, a.files, per_file, a.rate)
    print(f"data: {a.files} files of {per_file / a.rate:.1f} s at {a.rate} Hz, written in {time.perf_counter() - t:.1f} s")
    try:
        cache = Path(a.root) / "cache"  # a cache of its own, emptied first: a real decode, not a reuse
        shutil.rmtree(cache, ignore_errors=True)
        pr = run_worker("prepare", str(folder), str(cache))
        m = pr["meta"]
        lp = run_worker("loop", pr["out"], str(a.seconds), str(a.batch), str(a.length))
    finally:
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(Path(a.root) / "cache", ignore_errors=True)
    gb = m["bytes"] / 2**30
    base_p, base_l = pr["after_import"], lp["after_import"]  # Python, numpy, torch (its libraries are RssFile too)
    data_pages = lp["end"]["RssFile"] - base_l["RssFile"]  # samples.npy pages mapped by the loop
    print(f"prepared: {m['n_files']} files, {m['hours']:.2f} hours, samples.npy {gb:.2f} GB, in {pr['seconds']:.1f} s "
          f"({m['total_samples'] / pr['seconds'] / 1e6:.0f} M samples/s)")
    print(f"  prepare: peak RSS (VmHWM) {pr['end']['VmHWM']:.0f} MB; {base_p['VmRSS']:.0f} MB after the imports, "
          f"so decoding added {pr['end']['VmHWM'] - base_p['VmRSS']:.0f} MB")
    print(f"  batches: {lp['batches']} of {a.batch} x {a.length} in {lp['seconds']:.1f} s ({lp['batches'] / lp['seconds']:.0f}/s, "
          f"{lp['batches'] * a.batch * a.length * 4 / 2**30:.1f} GB served, {lp['epochs']} epochs of {lp['n']} windows)")
    print(f"  batches: peak RSS (VmHWM) {lp['end']['VmHWM']:.0f} MB; {base_l['VmRSS']:.0f} MB after the imports; "
          f"private memory (RssAnon) peak {lp['peak_anon']:.0f} MB (+{lp['peak_anon'] - base_l['RssAnon']:.0f} MB over the "
          f"imports); samples.npy pages mapped (RssFile growth, page cache) {data_pages:.0f} MB")
    print("| data set | prepare | prepare peak RSS | batch loop peak RSS | private (RssAnon) | samples.npy pages mapped |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {gb:.2f} GB ({m['hours']:.1f} h) | {pr['seconds']:.0f} s | {pr['end']['VmHWM']:.0f} MB | "
          f"{lp['end']['VmHWM']:.0f} MB | {lp['peak_anon']:.0f} MB | {data_pages:.0f} MB |")

if __name__ == "__main__":
    main()
