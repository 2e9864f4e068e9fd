"""The post's training loop as the post writes it: the oracle wavegen's step is checked against (tests/test_bench.py)
and the loop the benchmarks time beside wavegen's (bench/throughput.py, bf16.py, time_to_quality.py).

Same models (wavegen's layers at the post's shape equal the post's), a Dataset that reads one wav file per example on every
epoch through a DataLoader (soundfile stands in for torchaudio.load, whose I/O is gone), soft labels of the full
batch size sliced to the actual batch, G step then D step, and the statistics computed the post's way: a Python
loop over parameters building a tensor of per-parameter norms, then `.item()` four times per batch.
"""
from __future__ import annotations

import time
from pathlib import Path

import soundfile as sf
import torch
from torch import nn

from wavegen.models import Discriminator, Generator, seed_plan


class WavDataset(torch.utils.data.Dataset):
    def __init__(self, root: str, formats=("wav",)):
        self.files = [str(p) for fmt in formats for p in Path(root).rglob("*." + fmt)]

    def __len__(self):
        return len(self.files)

    def __getitem__(self, idx):
        x, _ = sf.read(self.files[idx], dtype="float32", always_2d=True)
        return torch.from_numpy(x.T.copy())  # (C, L), as torchaudio.load returns


def post_step(generator, discriminator, opt_g, opt_d, loss_func, real_batch, hard_real, hard_fake, nz: int) -> tuple:
    """One batch of the post's loop, statements in the post's order; returns its six printed statistics."""
    n = real_batch.size()[0]
    real_labels = torch.randn_like(hard_real) * 0.10 + hard_real
    fake_labels = torch.randn_like(hard_fake) * 0.10 + hard_fake

    opt_g.zero_grad()
    noise = torch.randn(n, nz, 1, device=real_batch.device)
    fake_batch = generator(noise)
    fake_output = discriminator(fake_batch).view(-1)
    loss_g = loss_func(fake_output, real_labels[:n])
    loss_g.backward()
    opt_g.step()

    opt_d.zero_grad()
    real_output = discriminator(real_batch).view(-1)
    fake_output = discriminator(fake_batch.detach()).view(-1)
    loss_d = loss_func(real_output, real_labels[:n]) + loss_func(fake_output, fake_labels[:n])
    loss_d.backward()
    opt_d.step()

    g_norms = [p.grad.norm() for p in generator.parameters()]
    mean_g = torch.tensor(g_norms).mean().item()
    d_norms = [p.grad.norm() for p in discriminator.parameters()]
    mean_d = torch.tensor(d_norms).mean().item()
    return loss_g.item(), loss_d.item(), real_output.mean().item(), fake_output.mean().item(), mean_g, mean_d


def run(data: str, batches: int, seed: int = 0, nz: int = 100, ngf: int = 512, ndf: int = 512,
        batch_size: int = 100, lr: float = 5e-5, beta1: float = 0.9, log_every: int = 10,
        callback=None, callback_every: int = 0) -> dict:
    """Train `batches` batches; returns the timings and the last statistics. `callback(batch, generator,
    seconds)` runs every `callback_every` batches, its own time not counted in `seconds`."""
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    hard_real = torch.full((batch_size,), 1.0, device=device)
    hard_fake = torch.full((batch_size,), 0.0, device=device)
    loader = torch.utils.data.DataLoader(WavDataset(data), batch_size=batch_size, shuffle=True)
    plan = seed_plan(ngf, ndf)
    generator = Generator(plan, nz, 0.2).to(device)
    discriminator = Discriminator(plan, 1, 0.2).to(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(beta1, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(beta1, 0.999))
    loss_func = nn.BCEWithLogitsLoss()
    done, lines = 0, []
    t0 = time.perf_counter()
    while done < batches:
        for i, data_batch in enumerate(loader):
            stats = post_step(generator, discriminator, opt_g, opt_d, loss_func, data_batch.to(device), hard_real, hard_fake, nz)
            if i % log_every == 0:  # the post prints here; we keep the formatted line instead of printing it
                lines.append("loss_g: {:.4f}, loss_d: {:.4f}, real: {:.4f}, fake: {:.4f}, g: {:.4f}, d: {:.4f}".format(*stats))
            done += 1
            if callback_every and done % callback_every == 0:
                paused = time.perf_counter()
                callback(done, generator, paused - t0)
                t0 += time.perf_counter() - paused  # the callback's time is not training time
            if done >= batches:
                break
    seconds = time.perf_counter() - t0
    return {"batches": done, "seconds": seconds, "last": lines[-1] if lines else ""}
