"""What Dropout's masks cost in the post step, and what `--dropout-masks int32` saves.

    python -m bench.dropout_masks

Prints the cost per element of drawing a Bernoulli(0.8) mask three ways (torch's bernoulli_, a float uniform
compared with p, full-range int64 draws read as two int32 halves, which Int32Dropout uses), then batches per
second of post-preset steps (wavegen.training.step.gan_step on a fixed real batch) with each `dropout_masks` setting.
"""
import time

import torch

from bench.fixed_batch_step import fixed_batch_step
from wavegen import make_config


def ns_per_element(draw, shape=(100, 128, 22), reps=200) -> float:
    draw(shape)
    t = time.perf_counter()
    for _ in range(reps):
        draw(shape)
    return (time.perf_counter() - t) / reps / torch.Size(shape).numel() * 1e9


def int32_halves(shape):
    n = torch.Size(shape).numel()
    bits = torch.randint(-2**63, 2**63 - 1, ((n + 1) // 2,), dtype=torch.int64)
    return bits.view(torch.int32)[:n].view(shape) >= round(-2**31 + 0.2 * 2**32)


def batches_per_second(masks: str, batches: int = 100) -> float:
    _, _, step = fixed_batch_step(make_config("post", dropout_masks=masks))
    for _ in range(10):  # warm-up
        step()
    t = time.perf_counter()
    for _ in range(batches):
        stats = step()
    stats.tolist()
    return batches / (time.perf_counter() - t)


if __name__ == "__main__":
    print(f"mask of (100, 128, 22), {torch.get_num_threads()} threads: "
          f"bernoulli_ {ns_per_element(lambda s: torch.empty(s).bernoulli_(0.8)):.2f} ns/element, "
          f"uniform >= p {ns_per_element(lambda s: torch.empty(s).uniform_() >= 0.2):.2f}, "
          f"int32 halves {ns_per_element(int32_halves):.2f}")
    for round_ in range(2):
        print(f"round {round_ + 1}: seed step with torch masks {batches_per_second('torch'):.2f} batches/s, "
              f"int32 masks {batches_per_second('int32'):.2f} batches/s")
