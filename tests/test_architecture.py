"""docs/architecture.md tells the truth: every file and `wavegen.` name it cites exists, and its discriminator recipe
(one class, one registration) trains in an ensemble."""
import importlib
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tiny_config
from wavegen.errors import WavegenError
from wavegen.models.registry import DISCRIMINATORS, PatchDiscriminator, register_discriminator

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"


def _resolve(dotted: str):
    """The object a dotted name names: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_file_and_name_the_architecture_page_cites_exists():
    text = DOC.read_text()
    paths = set(re.findall(r"`((?:wavegen|tests|docs|bench|experiments)/[\w/.]*)`", text))
    names = set(re.findall(r"`(wavegen(?:\.\w+)+)`", text))
    assert len(paths) > 20 and len(names) > 8
    assert not [p for p in paths if not (ROOT / p).exists()]
    for name in names:
        _resolve(name)  # raises if the module or the attribute is gone


class ToyHead(nn.Module):
    def __init__(self, channels: int, d: int):
        super().__init__()
        self.hidden, self.out, self.width = nn.Conv1d(channels, d, 9, 4, padding=4), nn.Conv1d(d, 1, 3, padding=1), d

    def forward(self, x):
        h = F.leaky_relu(self.hidden(x), 0.1)  # (B, d, L / 4)
        y = self.out(h)  # (B, 1, L / 4)
        return y.flatten(1), [h, y]  # patch logits (B, N), feature maps


class Toy(nn.Module):
    @classmethod
    def from_config(cls, cfg, channels, length):
        return cls(channels, cfg.ndf)

    def __init__(self, channels: int, d: int):
        super().__init__()
        self.heads = nn.ModuleList([ToyHead(channels, d)])

    def forward(self, x):
        logits, feats = zip(*(head(x) for head in self.heads))
        return list(logits), list(feats)


@pytest.fixture
def toy():
    """The page's toy discriminator, registered for one test (the registry is shared by the whole session)."""
    register_discriminator("toy", min_length=32)(Toy)
    yield Toy
    del DISCRIMINATORS["toy"]


def test_the_page_shows_the_toy_discriminator_this_test_trains():
    text = DOC.read_text()
    assert '@register_discriminator("toy", min_length=32)\nclass Toy(nn.Module):' in text
    assert "return list(logits), list(feats)" in text and "self.heads = nn.ModuleList([ToyHead(channels, d)])" in text


def test_a_registered_toy_discriminator_trains_in_an_ensemble(toy, gauss_data, tmp_path):
    from wavegen import read_stats, train
    from wavegen.models.conditional import build_pair

    assert isinstance(toy(1, 4), PatchDiscriminator)
    cfg = tiny_config(gauss_data, tmp_path / "r", "dcgan", arch="istft", d_arch="msd,toy", loss="lsgan", ngf=16, ndf=2,
                      feature_matching=1.0, batch_size=8, batches=2, stats_every=1, layer_every=0, device="cpu")
    with pytest.raises(WavegenError, match="toy needs examples of at least 32 samples, got 16"):
        DISCRIMINATORS["toy"].check(cfg, 16)
    G, D = build_pair(cfg, 1, 100, classes=3)  # the conditional contract: a projection per head
    D.given = torch.arange(4) % 3
    assert set(D(torch.randn(4, 1, 100))) == {"msd", "toy"}
    rows = [r for r in read_stats(train(cfg)) if "loss/G" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(r["loss/D"] == pytest.approx(r["loss/D/msd"] + r["loss/D/toy"], rel=1e-5) for r in rows)
