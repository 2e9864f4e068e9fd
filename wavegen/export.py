"""A run's sampling generator as one standalone file: ONNX (for onnxruntime and other runtimes) or TorchScript
(for `torch.jit.load`), neither needing wavegen to run.

The file holds G as `wavegen generate` samples it: the averaged weights (G_ema) where the run keeps them, in the
run's sample mode. Its inputs are the noise z (B, nz, 1) and, for a conditional run, the class index y (B,) int64;
its output is the waveform (B, C, L) at the run's sample rate. The config, rate and class names go into the file's
metadata (ONNX metadata_props; TorchScript's extra file `wavegen.json`), read back by `read_metadata`.

How each sample mode is kept (wavegen/models/build.py, `generator_mode`): "eval" uses BatchNorm's running averages;
"batch" and "train" normalise with the batch's own statistics, so a sample depends on the rest of its batch, as in
`wavegen generate`, which runs batches of the training batch size (metadata `batch_size`); "train" also keeps
Dropout live, drawing its masks from the runtime's own random stream. Noise inputs (--g-noise) draw from that stream
too, so only a G without either is a fixed function of z (and y), which is what the tests compare with `generate`.

ONNX goes through torch's TorchScript-based exporter (`dynamo=False`): with torch 2.13 it exports every family
offline in a fraction of a second, where the dynamo exporter needs onnxscript, takes seconds per model and produced
an istft graph onnxruntime refused. ONNX has no inverse STFT, so the istft family's is written out here as matrix
products and an overlap-add (`ExportISTFT`).
"""
from __future__ import annotations

import copy
import io
import json
import math
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from . import atomic, checkpoint, runfolder
from .errors import WavegenError
from .models.build import noise
from .models.istft import ISTFTGenerator
from .sampling import load_generator

FORMATS = ("onnx", "torchscript")
OPSET = 17  # the ONNX opset written: LayerNorm is native from 17 on, and onnxruntime has run it for years
TRACE_BATCH = 2  # the batch G is traced with; the files take any batch size
EXTRA_FILE = "wavegen.json"  # TorchScript: the metadata, as one JSON object
TEXT_KEYS = ("format", "z_dist", "sample_mode", "checkpoint")  # ONNX: kept as text; every other value as JSON


class BatchStatNorm(nn.Module):
    """BatchNorm that normalises with its batch's own statistics (modes "batch" and "train"), written out so
    that both exporters keep it as it is instead of folding in the running averages."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm):
        super().__init__()
        self.weight, self.bias, self.eps = bn.weight, bn.bias, bn.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L)
        mean = x.mean(dim=(0, 2), keepdim=True)  # (1, C, 1)
        var = ((x - mean) ** 2).mean(dim=(0, 2), keepdim=True)  # biased, as BatchNorm normalises in training
        x = (x - mean) / torch.sqrt(var + self.eps)
        if self.weight is not None:
            x = x * self.weight[:, None] + self.bias[:, None]
        return x


class LiveDropout(nn.Module):
    """Dropout as in training (mode "train"): fresh masks on every call. Written out, because onnxruntime's own
    Dropout drew the same masks on every run of a session; a uniform draw (RandomUniformLike) does not."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = torch.rand_like(x) >= self.p  # kept with probability 1 - p, as nn.Dropout
        return x * keep.to(x.dtype) / (1 - self.p)


class ExportISTFT(nn.Module):
    """The istft G with torch.istft written as an inverse real DFT (two matrix products), the window, an
    overlap-add (a transposed convolution with an identity kernel) and the division by the summed squared window:
    the same waveform, in operations ONNX has."""

    def __init__(self, G: ISTFTGenerator):
        super().__init__()
        self.G = G
        n, hop, bins = G.n_fft, G.hop, G.bins
        angle = 2 * math.pi * torch.arange(bins)[:, None] * torch.arange(n)[None] / n  # (F, n)
        weight = torch.full((bins, 1), 2.0)  # every bin stands for itself and its mirror image ...
        weight[0] = 1.0  # ... except DC and, for an even n, Nyquist
        if n % 2 == 0:
            weight[-1] = 1.0
        window = G.window.float()
        self.register_buffer("cos", weight * torch.cos(angle) / n * window, persistent=False)  # (F, n)
        self.register_buffer("sin", -weight * torch.sin(angle) / n * window, persistent=False)  # (F, n)
        self.register_buffer("eye", torch.eye(n)[:, None, :], persistent=False)  # (n, 1, n)
        ones = torch.ones(1, n, G.frames)
        envelope = F.conv_transpose1d(ones * window[None, :, None] ** 2, self.eye, stride=hop)  # (1, 1, samples)
        self.register_buffer("envelope", envelope, persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        G = self.G
        mag, phase = G.spectrum(z)  # (B C, F, T)
        re, im = mag * torch.cos(phase), mag * torch.sin(phase)
        frames = re.transpose(1, 2) @ self.cos + im.transpose(1, 2) @ self.sin  # (B C, T, n): windowed frames
        x = F.conv_transpose1d(frames.transpose(1, 2), self.eye, stride=G.hop) / self.envelope  # (B C, 1, samples)
        start = G.n_fft // 2  # centred frames: the signal starts half a window in
        x = x[:, :, start:start + G.length]
        return G.out_noise(x.reshape(z.shape[0], G.channels, G.length))  # (B, C, L)


def standalone(G: nn.Module, mode: str) -> nn.Module:
    """A copy of G that runs as `generator_mode(G, mode)` does, in operations both exporters keep."""
    G = copy.deepcopy(G).eval()
    for parent in list(G.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm) and mode != "eval":
                setattr(parent, name, BatchStatNorm(child))
            elif isinstance(child, nn.Dropout):
                setattr(parent, name, LiveDropout(child.p) if mode == "train" else nn.Identity())
            elif isinstance(child, ISTFTGenerator):
                setattr(parent, name, ExportISTFT(child))
    for p in G.parameters():
        p.requires_grad_(False)
    return ExportISTFT(G) if isinstance(G, ISTFTGenerator) else G


def metadata(cfg, state: dict, path: Path, mode: str) -> dict:
    """What a user of the file needs to feed it and play its output."""
    data = state["data"]
    return {"format": "wavegen generator", "sample_rate": data["sample_rate"], "channels": data["channels"],
            "length": data["length"], "nz": cfg.nz, "z_dist": cfg.z_dist,
            "classes": (data.get("classes") or []) if cfg.conditional else [],  # y's names; none: no y
            "sample_mode": mode, "batch_size": cfg.batch_size, "step": state["step"], "checkpoint": str(path),
            "averaged": "G_ema" in state, "config": cfg.to_dict()}


def _onnx_bytes(G: nn.Module, inputs: tuple, meta: dict) -> bytes:
    try:
        import onnx
    except ImportError:
        raise WavegenError("--format onnx needs the onnx package: pip install 'wavegen[export]'") from None

    names = ["z", "y"][:len(inputs)]
    f = io.BytesIO()
    with warnings.catch_warnings():  # the exporter's deprecation and tracer warnings say nothing to a user
        warnings.simplefilter("ignore")
        torch.onnx.export(G, inputs, f, input_names=names, output_names=["audio"], opset_version=OPSET,
                          dynamic_axes={n: {0: "batch"} for n in [*names, "audio"]}, dynamo=False)
    model = onnx.load_from_string(f.getvalue())
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value if key in TEXT_KEYS else json.dumps(value))
    return model.SerializeToString()


def _torchscript_bytes(G: nn.Module, inputs: tuple, meta: dict) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(G, inputs, check_trace=False)  # a G with noise inputs differs run to run
    f = io.BytesIO()
    torch.jit.save(traced, f, _extra_files={EXTRA_FILE: json.dumps(meta)})
    return f.getvalue()


def export(run: str | Path, out: str | Path, fmt: str, step: int | None = None, best: bool = False,
           mode: str | None = None) -> Path:
    """Write the sampling G of `run` (its newest checkpoint, the one at batch `step`, or best.pt) to `out` as
    `fmt` ("onnx" or "torchscript"); `mode` overrides the run's sample mode. Never overwrites `out`."""
    if fmt not in FORMATS:
        raise WavegenError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    out = Path(out)
    if out.exists():
        raise WavegenError(f"{out}: exists; export to a new file")
    run = runfolder.require_run(run)
    path = checkpoint.find(run, step, best)
    G, cfg, state = load_generator(path)
    mode = mode or cfg.sample_mode
    M = standalone(G, mode)
    z = noise(cfg, TRACE_BATCH, torch.device("cpu"), torch.Generator().manual_seed(0))  # (B, nz, 1)
    inputs = (z, torch.arange(TRACE_BATCH) % G.classes) if getattr(cfg, "conditional", False) else (z,)
    meta = metadata(cfg, state, path, mode)
    blob = (_onnx_bytes if fmt == "onnx" else _torchscript_bytes)(M, inputs, meta)
    try:
        atomic.atomic_write(out, lambda f: f.write(blob))
    except OSError as e:
        raise atomic.write_failed(out, e) from None
    return out


def read_metadata(path: str | Path) -> dict:
    """The metadata `export` wrote into a file of either format (the config as a dict)."""
    path = Path(path)
    if not zipfile.is_zipfile(path):  # a TorchScript file is a zip archive, an ONNX file a protobuf
        import onnx

        props = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
        return {k: v if k in TEXT_KEYS else json.loads(v) for k, v in props.items()}
    extra = {EXTRA_FILE: ""}
    torch.jit.load(path, _extra_files=extra)
    return json.loads(extra[EXTRA_FILE])
