"""What a training run shows while it trains: a progress bar with the newest stats, a line every print_every
batches, and what to do next when it ends. Only rank 0 shows anything."""
from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm


class Console:
    def __init__(self, print_every: int, main: bool):
        self.print_every, self.main = print_every, main
        self.bar: tqdm | None = None

    def open(self, total: int | None, done: int) -> None:
        self.bar = tqdm(total=total, initial=done, unit="batch", dynamic_ncols=True, disable=None if self.main else True)

    def close(self) -> None:
        self.bar.close()

    def say(self, line: str) -> None:
        self.bar.write(line)
        sys.stdout.flush()  # console lines show up at once when stdout is a file or a pipe

    def report(self, last: dict, step: int, epoch: int, rate: float) -> None:
        """The newest stats (`last`, a stats.jsonl row) on the progress bar, and as a line every print_every."""
        augmented = "augment/p" in last  # --augment: its p, and r_t, D's share of reals scored positive (ADA's)
        self.bar.set_postfix({"G": f"{last['loss/G']:.3f}", "D": f"{last['loss/D']:.3f}",
                              "real": f"{last['D/real']:.2f}", "fake": f"{last['D/fake']:.2f}",
                              **({"p": f"{last['augment/p']:.3f}"} if augmented else {})}, refresh=False)
        self.bar.update(step - self.bar.n)
        if step % self.print_every == 0:
            aug = f" | augment p {last['augment/p']:.3f} r_t {last['augment/rt']:+.2f}" if augmented else ""
            self.say(f"batch {step:>6} epoch {epoch:>4} | loss G {last['loss/G']:.4f} D {last['loss/D']:.4f} | "
                     f"D(real) {last['D/real']:+.3f} D(fake) {last['D/fake']:+.3f} | "
                     f"grad G {last['grad_norm/G']:.4f} D {last['grad_norm/D']:.4f}{aug} | {rate:.1f} batch/s")

    def say_next(self, run: Path, stopped: bool, step: int, epoch: int, wall: float) -> None:
        if not self.main:
            return
        if stopped:
            print(f"stopped at batch {step}; checkpoint saved. Continue with: wavegen train --resume {run}", flush=True)
        else:
            print(f"done: {step} batches, {epoch} epochs, {wall:.0f} s. Run folder: {run}\n"
                  f"next: wavegen report {run}  (or plot / eval / generate / summary)", flush=True)
