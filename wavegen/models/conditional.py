"""Class-conditional G and D for any model family, as wrappers around the family's own pair (`--conditional true`).

G: a learned embedding of the class (EMBED values) is joined to the noise, so the family's G is built for
nz + EMBED inputs and is otherwise unchanged:  G(z, y) = G_family(concat(z, embed(y)))   (B, nz + EMBED, 1).
D: a projection discriminator (Miyato and Koyama 2018): with phi(x) the features D's last layer reads (flattened)
and psi that last layer,  D(x, y) = psi(phi(x)) + <embed_D(y), phi(x)>,  so D judges the pair (sound, class),
not the sound alone, at the cost of one embedding row per class.

The training step gives both the classes of a batch with `given_classes(G, D, y)`, so every call it makes (the
G step, the D steps, joint batches, gradient penalties) stays `G(z)` and `D(x)`; D tiles the classes over a
batch that is several of them (a joint real + fake batch: the fakes are made for the real batch's classes). Called
without classes, G makes class i % K for the i-th example of a batch, so code that samples G(z) (previews,
giveaways) gets every class in turn.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..errors import WavegenError
from .build import build_models
from .discriminators import Ensemble
from .registry import PatchDiscriminator

EMBED = 32  # the class embedding joined to G's noise


def default_labels(n: int, classes: int, device: torch.device) -> torch.Tensor:
    """(n,) classes 0, 1, ..., K-1, 0, 1, ...: every class in turn."""
    return torch.arange(n, device=device) % classes


def given_classes(G: nn.Module, D: nn.Module, y: torch.Tensor | None) -> None:
    """The classes (B,) the next calls of a conditional G and D are for (None: back to G's default); a no-op for
    an unconditional pair. G may be wrapped for torchrun."""
    for m in (getattr(G, "module", G), D):
        if isinstance(m, (ConditionalG, ConditionalD, ConditionalEnsemble)):
            m.given = y


class ConditionalG(nn.Module):
    def __init__(self, G: nn.Module, classes: int, nz: int):
        super().__init__()
        self.G, self.classes, self.nz = G, classes, nz
        self.embed = nn.Embedding(classes, EMBED)
        self.out_length = getattr(G, "out_length", None)
        self.given: torch.Tensor | None = None  # set by given_classes

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            y = self.given if self.given is not None and len(self.given) == len(z) else \
                default_labels(len(z), self.classes, z.device)
        e = self.embed(y)[:, :, None].to(z.dtype)  # (B, EMBED, 1)
        return self.G(torch.cat([z, e], 1))  # (B, nz + EMBED, 1) -> (B, C, L)

    def blend(self, z: torch.Tensor, a: int, b: int, t: torch.Tensor) -> torch.Tensor:
        """G(z) with the class embedding (1 - t) embed(a) + t embed(b), t (B,): a walk from class a to class b."""
        w = self.embed.weight
        e = ((1 - t)[:, None] * w[a] + t[:, None] * w[b])[:, :, None].to(z.dtype)  # (B, EMBED, 1)
        return self.G(torch.cat([z, e], 1))


class ConditionalD(nn.Module):
    """Splits the family's D into its body (to phi(x)) and its last layer (psi) to add the projection term."""

    def __init__(self, D: nn.Module, classes: int, spectral_norm: bool = False):
        super().__init__()
        self.D, self.classes = D, classes
        head = D.out if hasattr(D, "out") else D.main[-1]  # WaveGAN's dense layer, or the DCGAN's last conv
        width = head.in_features if isinstance(head, nn.Linear) else head.in_channels * head.kernel_size[0]
        self.embed = nn.Embedding(classes, width)
        nn.init.xavier_uniform_(self.embed.weight)  # as the projection discriminator's code: N(0, 1) rows would swamp psi
        if spectral_norm:
            nn.utils.parametrizations.spectral_norm(self.embed)
        self.given: torch.Tensor | None = None  # set by given_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            if self.given is None or len(x) % len(self.given):
                raise RuntimeError(f"a conditional D needs the classes of its {len(x)} inputs")
            y = self.given.repeat(len(x) // len(self.given))  # a joint batch: real then fake, the same classes
        D = self.D
        if hasattr(D, "out"):  # WaveGAN: dense layer on the flattened features
            h = D.main(x).flatten(1)  # (B, F)
            logit = D.out(h).squeeze(1)
        else:  # DCGAN: the last conv's kernel spans the whole remaining length, a dense layer in effect
            h = D.main[:-1](x)  # (B, C, l)
            logit = D.main[-1](h).flatten(1).mean(1)
            h = h.flatten(1)  # (B, C * l)
        return logit + (self.embed(y).to(h.dtype) * h).sum(1)  # (B,)


class ConditionalEnsemble(nn.Module):
    """An ensemble D (`--d-arch`) judging (sound, class) pairs: the projection discriminator applied patch by patch.
    Each head's patch logits gain <embed_head(y), h_p(x)>, with h_p the head's last hidden features at patch p (what
    its output layer reads there); a family D in the ensemble becomes a ConditionalD. Feature maps are unchanged."""

    def __init__(self, D: Ensemble, classes: int, spectral_norm: bool = False):
        super().__init__()
        for name, sub in D.subs.items():
            if not isinstance(sub, PatchDiscriminator):  # the dcgan or wavegan family's own D: logits (B,)
                D.subs[name] = ConditionalD(sub, classes, spectral_norm)
        self.D, self.classes = D, classes
        self.embed = nn.ModuleDict({name: nn.ModuleList(nn.Embedding(classes, head.width)
                                                        for head in sub.heads)
                                    for name, sub in D.subs.items() if isinstance(sub, PatchDiscriminator)})
        for table in self.embed.values():
            for e in table:
                nn.init.xavier_uniform_(e.weight)
                if spectral_norm:
                    nn.utils.parametrizations.spectral_norm(e)
        self.given: torch.Tensor | None = None  # set by given_classes

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict:
        if y is None:
            if self.given is None or len(self.given) != len(x):
                raise RuntimeError(f"a conditional D needs the classes of its {len(x)} inputs")
            y = self.given
        out = {}
        for name, sub in self.D.subs.items():
            if isinstance(sub, ConditionalD):
                out[name] = ([sub(x, y).view(len(x), -1)], [[]])
                continue
            logits, feats = sub(x)
            projected = []
            for logit, f, embed in zip(logits, feats, self.embed[name]):
                h = f[-2]  # (B, C, ...): the last hidden map, laid out as the patch logits (registry.Head)
                e = embed(y).to(h.dtype).view(len(x), -1, *[1] * (h.dim() - 2))  # (B, C, 1, ...)
                projected.append(logit + (e * h).sum(1).flatten(1))  # (B, N)
            out[name] = (projected, feats)
        return out


def build_pair(cfg, channels: int, length: int | None = None, classes: int = 0) -> tuple[nn.Module, nn.Module]:
    """G and D for `cfg`: the family's own pair, or with cfg.conditional the conditional pair for `classes`."""
    if not getattr(cfg, "conditional", False):
        return build_models(cfg, channels, length)
    if classes < 2:
        raise WavegenError(f"conditional needs data with at least two classes (class sub-folders, --classes-from-names or --labels), got {classes}")
    G, D = build_models(replace(cfg, nz=cfg.nz + EMBED), channels, length)  # G's input: noise and class embedding
    D = ConditionalEnsemble(D, classes, cfg.spectral_norm) if isinstance(D, Ensemble) else \
        ConditionalD(D, classes, cfg.spectral_norm)
    return ConditionalG(G, classes, cfg.nz), D
