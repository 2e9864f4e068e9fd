"""How loading a folder of small wavs scales: decode time, cached load time and memory at 1x, 10x, 100x files,
and the cached load from the cache folder beside the one older versions kept in the data folder.

    python -m bench.data_scale [--sizes 10000,100000,1000000] [--root bench/.data/scale] [--repeat 3]

For each size it writes (once) that many 100-sample wavs of the post's data, then in a fresh process each: loads
with no cache (decodes every file and writes the cache into the cache folder: $WAVEGEN_CACHE_DIR, else the user
cache folder), loads again from the cache folder, and loads from the same cache moved beside the data as
`.wavegen-cache.npz` (where versions before 1.0 wrote it, and which is still read). Each cached load runs
--repeat times, alternating the two places, and the median is reported, with wall seconds and the process's
peak RSS. The first decode runs with the files in the OS page cache ("warm"), as on any second run. The bench's
caches are removed at the end.
"""
import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(folder: str, mode: str) -> dict:
    from wavegen.data import load_folder

    t = time.perf_counter()
    s = load_folder(folder)
    seconds = time.perf_counter() - t
    return {"n": len(s.x), "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "tensor_mb": s.x.numel() * 4 / 2**20, "cache": str(s.cache), "built": s.built}


def run(folder: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-m", __spec__.name, "--worker", str(folder), mode], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def one_size(folder: Path, repeat: int) -> dict:
    """The decode, then `repeat` cached loads from each place, the two places taking turns."""
    from wavegen.data.cache import cache_root, entry
    from wavegen.data.folder import CACHE_FILE, CACHE_NAME

    ours, beside = entry(cache_root(), folder) / CACHE_FILE, folder / CACHE_NAME
    ours.unlink(missing_ok=True)
    beside.unlink(missing_ok=True)
    decode = run(folder, "decode")
    assert decode["built"] and Path(decode["cache"]) == ours, decode
    new, old = [], []
    try:
        for _ in range(repeat):
            new.append(run(folder, "cached"))
            assert Path(new[-1]["cache"]) == ours and not new[-1]["built"], new[-1]
            ours.rename(beside)  # the same file, now where an older version would have left it
            try:
                old.append(run(folder, "beside"))
            finally:
                beside.rename(ours)
            assert Path(old[-1]["cache"]) == beside and not old[-1]["built"], old[-1]
    finally:
        shutil.rmtree(ours.parent, ignore_errors=True)

    def median(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {"decode": decode, "new_s": median(new, "seconds"), "new_rss": median(new, "peak_rss_mb"),
            "old_s": median(old, "seconds"), "old_rss": median(old, "peak_rss_mb"), "cache": str(ours.parent.parent)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--root", default=str(HERE / ".data" / "scale"))
    p.add_argument("--repeat", type=int, default=3, help="cached loads from each place (the median is shown)")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(measure(*a.worker)))
        return
    from wavegen import GaussianSpec, make_gaussian

    print("| files | decode (no cache) s | peak RSS MB | cached load, cache folder s | peak RSS MB "
          "| cached load, beside the data (before 1.0) s | peak RSS MB | data MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in [int(x) for x in a.sizes.split(",")]:
        folder = Path(a.root) / str(n)
        if not (folder / "wavegen_data.json").exists():
            t = time.perf_counter()
            make_gaussian(folder, GaussianSpec(n=n))
            print(f"(wrote {n:,} files in {time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
        r = one_size(folder, a.repeat)
        d = r["decode"]
        print(f"| {n:,} | {d['seconds']:.2f} | {d['peak_rss_mb']:.0f} | {r['new_s']:.3f} | {r['new_rss']:.0f} "
              f"| {r['old_s']:.3f} | {r['old_rss']:.0f} | {d['tensor_mb']:.0f} |", flush=True)
    print(f"(cache folder: {r['cache']})", file=sys.stderr)


if __name__ == "__main__":
    main()
