"""Per-layer norms, cheaply, every few batches: what happens inside the networks (around the transition).

For every weight matrix or kernel (parameters with 2+ dimensions: convolutions, linear layers): its weight norm before the optimiser step, its gradient norm, and the
update-to-weight ratio |w_after - w_before| / |w_before|. Rows go to run/layers.jsonl as
{"step": s, "G/main.0.weight": [weight_norm, grad_norm, update_ratio], ...}, one device sync per row.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..atomic import append_text

from ..runfolder import read_jsonl
class LayerStats:
    def __init__(self, path: Path, models: dict[str, nn.Module]):
        self.path = path
        self.named = {k: [(n, p) for n, p in m.named_parameters() if p.ndim > 1 and p.requires_grad]  # frozen: no grad
                      for k, m in models.items()}
        self.before: dict[str, list[torch.Tensor]] = {}
        self.measured: dict[str, torch.Tensor] = {}

    def snapshot(self, model: str) -> None:
        """Call just before the model's optimiser step."""
        self.before[model] = [p.detach().clone() for _, p in self.named[model]]

    def measure(self, model: str) -> None:
        """Call just after the step; the gradients are still in place."""
        params = [p.detach() for _, p in self.named[model]]
        before = self.before.pop(model)
        w = torch.stack(torch._foreach_norm(before))  # (P,)
        g = torch.stack(torch._foreach_norm([p.grad for _, p in self.named[model]]))
        u = torch.stack(torch._foreach_norm(torch._foreach_sub(params, before)))
        self.measured[model] = torch.stack([w, g, u / w.clamp_min(1e-12)], 1)  # (P, 3)

    def write(self, step: int) -> None:
        row = {"step": step}
        for model, values in self.measured.items():
            for (name, _), v in zip(self.named[model], values.tolist()):
                row[f"{model}/{name}"] = v
        self.measured.clear()
        append_text(self.path, json.dumps(row) + "\n")


def read_layers(run: str | Path) -> list[dict]:
    path = Path(run) / "layers.jsonl"
    if not path.exists():
        return []
    return [row for _, row in read_jsonl(path)]  # a last line torn by a crash is dropped
