"""Where the ensemble's pull on G comes from as its D trains: the adversarial part against feature matching.

    python -m bench.ensemble_grad --data data/words8k [--length 2048] [--steps 150] [--every 25] [--set k=v ...]

G stays at its initial weights while D trains alone (the preset's loss and Adam) on real clips against G's samples;
every --every D steps it prints the norm of G's gradient (the mean over G's parameters, as `grad_norm/G` in
stats.jsonl) from the ensemble's adversarial loss alone and from feature matching alone, and the mean |feature| of
D's maps on real clips. A part that grows with D's training, while the other stays, is what drives G's steps once
D is strong: what a long run on a GPU reaches and a short CPU run does not.
"""
from __future__ import annotations

import argparse

import torch

from wavegen.config import make_config, parse_value
from wavegen.data.source import open_examples
from wavegen.models.build import noise
from wavegen.models.conditional import build_pair, given_classes
from wavegen.training import losses
from wavegen.training.regularisers import r1_penalty
from wavegen.training.state import optimisers
from wavegen.training.step import mean_grad_norm


def g_grad_norms(G, D, cfg, real, y) -> tuple[float, float, float]:
    """G's gradient norm from the adversarial loss and from weighted feature matching, and D's mean |feature|."""
    given_classes(G, D, y)
    out = []
    for part in ("adv", "fm"):
        G.zero_grad(set_to_none=True)
        fake = G(noise(cfg, len(real), real.device))
        judged = D(fake)
        with torch.no_grad():
            judged_real = D(real)
        loss = losses.ensemble_g_loss(cfg.loss, judged) if part == "adv" else \
            cfg.feature_matching * losses.feature_matching(judged_real, judged)
        loss.backward()
        out.append(mean_grad_norm(list(G.parameters())).item())
    feats = [f.abs().mean().item() for _, maps in judged_real.values() for head in maps for f in head[:-1]]
    D.zero_grad(set_to_none=True)
    return out[0], out[1], sum(feats) / len(feats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--preset", default="ensemble")
    ap.add_argument("--length", type=int, default=2048)
    ap.add_argument("--sample-rate", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--set", nargs="*", default=[], help="config overrides, key=value")
    a = ap.parse_args()
    sets = dict(kv.split("=", 1) for kv in a.set)
    cfg = make_config(a.preset, data=a.data, length=a.length, sample_rate=a.sample_rate, conditional=True,
                      feature_matching=2.0, **{k: parse_value(k, v) for k, v in sets.items()})
    torch.manual_seed(0)
    ex = open_examples(cfg)
    ex.set_epoch(0, 0)
    G, D = build_pair(cfg, ex.channels, ex.length, len(ex.classes))
    _, opt_D = optimisers(G, D, cfg)
    print(f"{a.preset} {sets}: D step | G grad, adversarial | G grad, feature matching x{cfg.feature_matching:g} | "
          "D's mean |feature| on real")
    for step in range(a.steps + 1):
        idx = torch.randint(ex.n, (cfg.batch_size,))
        real, y = ex.get(idx), torch.as_tensor(ex.labels[idx.numpy()])
        if step % a.every == 0:
            adv, fm, feat = g_grad_norms(G, D, cfg, real, y)
            print(f"{step:5d} | {adv:.3g} | {fm:.3g} | {feat:.3g}", flush=True)
        given_classes(G, D, y)
        with torch.no_grad():
            fake = G(noise(cfg, len(real), real.device))
        loss, _ = losses.ensemble_d_loss(cfg.loss, D(real), D(fake))
        if cfg.r1_gamma > 0 and step % cfg.penalty_every == 0:  # lazily, as the trainer does
            loss = loss + cfg.penalty_every * cfg.r1_gamma / 2 * r1_penalty(D, real)
        opt_D.zero_grad(set_to_none=True)
        loss.backward()
        opt_D.step()


if __name__ == "__main__":
    main()
