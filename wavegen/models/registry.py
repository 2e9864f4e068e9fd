"""The model registries: every G (`--arch`) and every D.

A generator family is one class with a `from_config(cfg, channels, length)` classmethod plus one
`@register_generator(name, d=...)`: `d` names the D it is judged by when --d-arch names no ensemble, `bounded` says
its output stays in [-1, 1] (a Tanh at the end), and `uncapturable` says why its step cannot be replayed from a CUDA
graph ("": it can). config.py lists the names as `arch`'s allowed values; tests/test_models.py checks the two agree.

The discriminator registry: every D, whether a family's own (`--arch dcgan|wavegan`) or a sub-discriminator of
an ensemble (`--d-arch mpd,msd,...`), is one class with a `from_config(cfg, channels, length)` classmethod plus one
`@register_discriminator(name, min_length=...)`. An optional `check(cfg, length)` classmethod refuses, with a
one-line WavegenError, settings the class cannot build (length None: not known yet).

A sub-discriminator that returns a `Judgement` is a `PatchDiscriminator`: the conditional ensemble
(models/conditional.py) adds its projection term to each head's patch logits, and feature matching
(training/losses.py) compares the feature maps. A D that returns plain logits (B,) joins an ensemble as one head.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import torch
from torch import nn

from ..errors import WavegenError

Judgement = tuple[list[torch.Tensor], list[list[torch.Tensor]]]  # per head: logits (B, N), and its feature maps


class Head(Protocol):
    """One head of a PatchDiscriminator: x (B, C, L) -> patch logits (B, N) and its feature maps, the last of which
    is the output map and the one before it (`feats[-2]`) the last hidden map (B, width, ...), laid out as the
    patch logits."""
    width: int  # channels of the last hidden map, which the output layer reads (before any minibatch-std channel)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]: ...


@runtime_checkable
class PatchDiscriminator(Protocol):
    """What the conditional D and feature matching need of a sub-discriminator: its heads, and a Judgement."""
    heads: Sequence[Head]

    def __call__(self, x: torch.Tensor) -> Judgement: ...


@dataclass(frozen=True)
class DiscriminatorSpec:
    name: str
    cls: type[nn.Module]
    min_length: int  # the shortest examples it can judge (0: any)

    def check(self, cfg, length: int | None) -> None:
        if length and length < self.min_length:
            raise WavegenError(f"{self.name} needs examples of at least {self.min_length} samples, got {length}")
        if hasattr(self.cls, "check"):
            self.cls.check(cfg, length)

    def build(self, cfg, channels: int, length: int) -> nn.Module:
        return self.cls.from_config(cfg, channels, length)


DISCRIMINATORS: dict[str, DiscriminatorSpec] = {}


@dataclass(frozen=True)
class GeneratorSpec:
    name: str
    cls: type[nn.Module]
    d: str  # the discriminator (a DISCRIMINATORS name) of the family when d_arch names no ensemble
    bounded: bool  # its output stays in [-1, 1]
    uncapturable: str  # why a CUDA graph cannot hold its step ("": it can)

    def check(self, cfg, length: int | None) -> None:
        if hasattr(self.cls, "check"):
            self.cls.check(cfg, length)

    def build(self, cfg, channels: int, length: int) -> nn.Module:
        return self.cls.from_config(cfg, channels, length)


GENERATORS: dict[str, GeneratorSpec] = {}


def register_generator(name: str, d: str = "dcgan", bounded: bool = True, uncapturable: str = ""):
    """Class decorator: add a G (with `from_config`) to GENERATORS under `name`, the word `--arch` takes."""
    def deco(cls):
        if name in GENERATORS:
            raise ValueError(f"generator {name!r} registered twice")
        if not hasattr(cls, "from_config"):
            raise TypeError(f"generator {name!r} needs a from_config(cfg, channels, length) classmethod")
        GENERATORS[name] = GeneratorSpec(name, cls, d, bounded, uncapturable)
        return cls
    return deco


def register_discriminator(name: str, min_length: int = 0):
    """Class decorator: add a D (with `from_config`) to DISCRIMINATORS under `name`, the word `--d-arch` takes."""
    def deco(cls):
        if name in DISCRIMINATORS:
            raise ValueError(f"discriminator {name!r} registered twice")
        if not hasattr(cls, "from_config"):
            raise TypeError(f"discriminator {name!r} needs a from_config(cfg, channels, length) classmethod")
        DISCRIMINATORS[name] = DiscriminatorSpec(name, cls, min_length)
        return cls
    return deco
