"""Does the post's loop leave its garbage phase on a given Gaussian data set? A lean copy of the post's loop
on in-memory data, printing every 100 batches the D logits and the RMSE (in noise units) of G's output on
fixed noise (G in train mode) to the ideal curve. Used to choose the post's data's defaults (docs/findings.md, "The
transition"), for example:

    python -m experiments.transition_probe --amp 1.0 --sigma 8 --noise 0.05            # stuck, RMSE ~20 x noise
    python -m experiments.transition_probe --amp 0.5 --sigma 8 --noise 0.1 --init dcgan  # transition near 650
"""
import argparse
import json
import time

import torch
import torch.nn as nn

from wavegen.models import Discriminator, Generator, dcgan_init, seed_plan

ap = argparse.ArgumentParser()
ap.add_argument('--amp', type=float, default=1.0)
ap.add_argument('--sigma', type=float, default=8.0)
ap.add_argument('--noise', type=float, default=0.05)
ap.add_argument('--init', default='default')
ap.add_argument('--batches', type=int, default=1500)
ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--threads', type=int, default=1)
ap.add_argument('--lr', type=float, default=5e-5)
ap.add_argument('--beta1', type=float, default=0.9)
ap.add_argument('--ngf', type=int, default=512)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
t = torch.arange(100.)
ideal = a.amp * torch.exp(-0.5 * ((t - 49.5) / a.sigma) ** 2)
data = (ideal + a.noise * torch.randn(10000, 100)).clamp(-1, 1).unsqueeze(1)
p = seed_plan(a.ngf, a.ngf)
G = Generator(p, 100, 0.2); D = Discriminator(p, 1, 0.2)
if a.init == 'dcgan':
    dcgan_init(G)
    dcgan_init(D)
oG = torch.optim.Adam(G.parameters(), a.lr, betas=(a.beta1, 0.999))
oD = torch.optim.Adam(D.parameters(), a.lr, betas=(a.beta1, 0.999))
bce = nn.BCEWithLogitsLoss()
zfix = torch.randn(200, 100, 1)
step = 0; t0 = time.time()
while step < a.batches:
    perm = torch.randperm(10000)
    for i in range(100):
        real = data[perm[i*100:(i+1)*100]]
        rl = torch.randn(100) * 0.1 + 1; fl = torch.randn(100) * 0.1
        oG.zero_grad(); fake = G(torch.randn(100, 100, 1)); lg = bce(D(fake), rl); lg.backward(); oG.step()
        oD.zero_grad(); ro = D(real); fo = D(fake.detach()); ld = bce(ro, rl) + bce(fo, fl); ld.backward(); oD.step()
        step += 1
        if step % 100 == 0:
            with torch.no_grad():
                x = G(zfix).squeeze(1)
            rmse = ((x - ideal) ** 2).mean().sqrt().item()
            print(json.dumps(dict(step=step, t=round(time.time()-t0,1), lg=round(lg.item(),3), ld=round(ld.item(),3), real=round(ro.mean().item(),2), fake=round(fo.mean().item(),2), rmse_over_noise=round(rmse/a.noise,2), absmean=round(x.abs().mean().item(),3))), flush=True)
        if step >= a.batches: break
