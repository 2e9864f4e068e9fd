"""Does a generator's noise floor drive cls_fd? The judge's features of 256 samples of RUN's newest checkpoint, as
drawn and with every frame quieter than -T dB of its clip's loudest frame set to silence, against 256 real clips of
DATA (peak-normalised, as the audio presets train); real clips gated alike show what the gate itself costs.

    python -m experiments.floor_gate RUN DATA
"""
import argparse
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from wavegen import checkpoint
from wavegen.evaluation import judge
from wavegen.evaluation.metrics.frechet import frechet_distance
from wavegen.sampling import draw, load_generator

FRAME = 64  # samples per frame the gate decides on (8 ms at 8 kHz)


def gate(x: np.ndarray, db: float) -> np.ndarray:
    """(N, C, L) with every frame whose RMS is under -db dB of its clip's loudest frame zeroed."""
    n, c, length = x.shape
    frames = x[..., :length - length % FRAME].reshape(n, c, -1, FRAME)
    rms = np.sqrt((frames ** 2).mean(-1, keepdims=True))
    kept = (frames * (rms >= rms.max(2, keepdims=True) * 10 ** (-db / 20))).reshape(n, c, -1)
    return np.concatenate([kept, x[..., kept.shape[-1]:]], -1)


def real_clips(data: str, length: int, n: int) -> np.ndarray:
    files = sorted(Path(data).rglob("*.wav"))
    clips = []
    for i in np.random.default_rng(0).choice(len(files), n, replace=False):
        y, _ = sf.read(files[i], dtype="float32", always_2d=True)
        y = np.pad(y.mean(1)[:length], (0, max(0, length - len(y))))
        clips.append(y / max(1e-9, np.abs(y).max()))
    return np.stack(clips)[:, None]  # (n, 1, L)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a run folder")
    ap.add_argument("data", help="its data folder (class sub-folders: the judge's)")
    a = ap.parse_args()
    G, cfg, _ = load_generator(checkpoint.find(a.run))
    x = draw(G, cfg, 256, "eval", 0, torch.device("cpu")).numpy()  # (N, C, L)
    j = judge.judge_for(judge.JudgeSpec.of_config(cfg), say=lambda *_: None)
    real = real_clips(a.data, cfg.length, 512)
    feats = lambda clips: j.outputs(clips)[1]  # noqa: E731
    ref = feats(real[:256])
    print(f"| gate | samples' cls_fd | real clips' cls_fd |\n|---|---:|---:|\n| none | "
          f"{frechet_distance(ref, feats(x)):.1f} | {frechet_distance(ref, feats(real[256:])):.1f} |")
    for db in (30, 40, 50, 60):
        print(f"| -{db} dB | {frechet_distance(ref, feats(gate(x, db))):.1f} | "
              f"{frechet_distance(ref, feats(gate(real[256:], db))):.1f} |")


if __name__ == "__main__":
    main()
