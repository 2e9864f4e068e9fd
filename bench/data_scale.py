"""How loading a folder of small wavs scales: decode time, cached load time and memory at 1x, 10x, 100x files.

    python bench/data_scale.py [--sizes 10000,100000,1000000] [--root bench/.data/scale]

For each size it writes (once) that many 100-sample wavs of the seed data, then in a fresh process each:
loads with no cache (decodes every file), loads again (reads the cache), and reports wall seconds and the
process's peak RSS. The first decode runs with the files in the OS page cache ("warm"), as on any second run.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(folder: str, cache_present: bool) -> dict:
    from wavegen.data import load_folder
    from wavegen.data.folder import CACHE_NAME

    if not cache_present:
        (Path(folder) / CACHE_NAME).unlink(missing_ok=True)
    t = time.perf_counter()
    s = load_folder(folder)
    seconds = time.perf_counter() - t
    return {"n": len(s.x), "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "tensor_mb": s.x.numel() * 4 / 2**20}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--root", default=str(HERE / ".data" / "scale"))
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(measure(a.worker[0], a.worker[1] == "cached")))
        return
    from wavegen import GaussianSpec, make_gaussian

    print("| files | decode (no cache) s | peak RSS MB | cached load s | peak RSS MB | data MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in [int(x) for x in a.sizes.split(",")]:
        folder = Path(a.root) / str(n)
        if not (folder / "wavegen_data.json").exists():
            make_gaussian(folder, GaussianSpec(n=n))
        runs = []
        for mode in ("decode", "cached"):
            out = subprocess.run([sys.executable, __file__, "--worker", str(folder), mode], capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        d, c = runs
        print(f"| {n:,} | {d['seconds']:.2f} | {d['peak_rss_mb']:.0f} | {c['seconds']:.3f} | {c['peak_rss_mb']:.0f} | {d['tensor_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
