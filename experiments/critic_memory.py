"""Does the critic memorise its training clips? With a few thousand clips, a run of 20 minutes shows each to D
dozens of times, and a critic that learns the clips themselves rather than what real audio is like tells G nothing
it can use (the limited-data failure that DiffAugment and ADA address). For each kept checkpoint of RUN, D's mean
score on 256 of its training clips, on 256 fresh clips of the same recipe that it never saw, and on 256 of G's
samples; `memorised` is (train - fresh) / (train - fake): 0 when D scores unseen real clips as it scores the
clips it trained on, 1 when it scores them as fakes.

    wavegen data sounds data/fresh_sounds --n 400 --sample-rate 8000 --seconds 1.024 --seed 99
    python -m experiments.critic_memory RUN data/fresh_sounds
"""
import argparse
from dataclasses import replace

import numpy as np
import torch

from wavegen import checkpoint
from wavegen.data.source import open_examples
from wavegen.evaluation.scoring import split_holdout
from wavegen.models.conditional import build_pair
from wavegen.sampling import draw
from wavegen.training.losses import per_example

N = 256  # clips of each kind


def scores(D, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """D's score per clip, (n,): the judgement its loss and penalties use (a critic's logit, an ensemble's sum of
    its heads' mean logits)."""
    with torch.no_grad():
        return torch.cat([per_example(D(x[i:i + batch])) for i in range(0, len(x), batch)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a run folder of an unconditional run (its kept checkpoints are read)")
    ap.add_argument("fresh", help="a folder of clips of the run's data recipe that the run never saw")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if not checkpoint.list_ckpts(a.run):
        raise SystemExit(f"{a.run}: no checkpoints to read (is it a run folder?)")
    print("| batch | D on training clips | D on fresh clips | D on G's samples | memorised |\n|---:|---:|---:|---:|---:|")
    for path in checkpoint.list_ckpts(a.run):
        state = checkpoint.load(path, map_location="cpu")
        cfg = checkpoint.config_of(state, path)
        if cfg.conditional:
            raise SystemExit(f"{a.run}: a conditional run; critic_memory reads unconditional runs")
        G, D = build_pair(cfg, state["data"]["channels"], state["data"]["length"])
        checkpoint.load_weights(G, state["G_ema"] if "G_ema" in state else state["G"], path)
        checkpoint.load_weights(D, state["D"], path)
        G.eval(), D.eval()
        seen = open_examples(cfg)
        trained_on = split_holdout(seen.n, cfg.holdout, cfg.seed)[0].numpy()  # the run's training examples
        train = seen.get(torch.from_numpy(np.random.default_rng(0).choice(trained_on, N, replace=False)))  # (N, C, L)
        fresh = open_examples(replace(cfg, data=a.fresh)).get(torch.arange(N))
        fake = draw(G, cfg, N, "eval", 0, torch.device("cpu"))
        t, f, g = (scores(D, x).mean().item() for x in (train, fresh, fake))
        print(f"| {state['step']} | {t:.3f} | {f:.3f} | {g:.3f} | {(t - f) / (t - g):.3f} |", flush=True)


if __name__ == "__main__":
    main()
