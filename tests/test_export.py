"""`wavegen export`: every family and the conditional wrapper export to ONNX and TorchScript; the files reproduce
`wavegen generate` for the same noise; their metadata carries the config; bad input is one line."""
import shutil

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf
import torch

from conftest import EXACT, tiny_config
from wavegen import generate, train
from wavegen.cli import main
from wavegen.data import make_sounds
from wavegen.export import FORMATS, export, read_metadata
from wavegen.models.build import generator_mode, noise
from wavegen.sampling import load_generator
from wavegen import checkpoint

SHORT = dict(batch_size=8, batches=2, ckpt_every=2, preview_every=2, layer_every=0, **EXACT)
RUNS = {"post": dict(preset="post", ngf=16, ndf=16),
        "wavegan": dict(preset="audio", length=512, sample_rate=4000, ngf=4, ndf=4),
        "conditional": dict(preset="dcgan", length=512, ngf=16, ndf=16, conditional=True),
        "istft": dict(preset="dcgan", arch="istft", length=512, ngf=8, ndf=16),
        "hpn": dict(preset="dcgan", arch="hpn", length=512, sample_rate=4000, ngf=8, ndf=16, harmonics=8,
                    noise_bands=4)}
MODES = {"post": "batch", "wavegan": None, "conditional": None, "istft": None, "hpn": None}  # post samples with Dropout live


@pytest.fixture(scope="module")
def runs(tmp_path_factory, gauss_data):
    root = tmp_path_factory.mktemp("export")
    sounds = make_sounds(root / "sounds", n=40, sample_rate=4000, seconds=0.128, seed=0)
    return {name: train(tiny_config(gauss_data if name == "post" else sounds, root / name, **{**SHORT, **kw}))
            for name, kw in RUNS.items()}


def run_file(path, z, y=None):
    """The waveform an exported file makes, through onnxruntime or torch.jit.load alone."""
    if str(path).endswith(".onnx"):
        feed = {"z": z.numpy()} if y is None else {"z": z.numpy(), "y": y.numpy()}
        return ort.InferenceSession(str(path)).run(None, feed)[0]
    G = torch.jit.load(str(path))
    return (G(z) if y is None else G(z, y)).numpy()


def exported(runs, tmp_path_factory, name, fmt):
    out = tmp_path_factory.mktemp("files") / f"{name}.{'onnx' if fmt == 'onnx' else 'pt'}"
    return export(runs[name], out, fmt, mode=MODES[name])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["post", "wavegan", "conditional"])
def test_the_file_reproduces_generate(runs, tmp_path_factory, tmp_path, name, fmt):
    path = exported(runs, tmp_path_factory, name, fmt)
    meta = read_metadata(path)
    cfg = checkpoint.config_of(checkpoint.load(checkpoint.find(runs[name])), path)
    assert meta["config"] == cfg.to_dict() and meta["batch_size"] == cfg.batch_size
    generate(runs[name], cfg.batch_size, tmp_path, mode=MODES[name], seed=3)
    wavs = np.stack([sf.read(p, dtype="float32")[0] for p in sorted(tmp_path.glob("*.wav"))])  # (B, L)
    torch.manual_seed(3)  # what generate draws: the seed, then one batch of noise
    z = noise(cfg, cfg.batch_size, torch.device("cpu"))
    y = torch.arange(cfg.batch_size) % len(meta["classes"]) if meta["classes"] else None  # every class in turn
    audio = run_file(path, z, y)  # (B, C, L)
    assert audio.shape == (cfg.batch_size, 1, meta["length"])
    assert np.abs(audio[:, 0] - wavs).max() < 1e-4


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_family_exports(runs, tmp_path_factory, fmt):
    """The istft G (its inverse STFT written out for ONNX) and a batch of another size than the traced one."""
    path = exported(runs, tmp_path_factory, "istft", fmt)
    G, cfg, _ = load_generator(checkpoint.find(runs["istft"]))
    z = noise(cfg, 5, torch.device("cpu"), torch.Generator().manual_seed(1))
    with generator_mode(G, cfg.sample_mode, torch.device("cpu")):
        want = G(z).numpy()
    got = run_file(path, z)
    assert got.shape == want.shape == (5, 1, 512)
    assert np.abs(got - want).max() < 1e-3 * np.abs(want).max()  # a DFT by matrix product, not torch's FFT
    meta = read_metadata(path)
    assert (meta["sample_rate"], meta["classes"], meta["nz"]) == (4000, [], cfg.nz)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_hpn_synthesiser_exports(runs, tmp_path_factory, fmt):
    """Its cumsum in float64, gathers and DFT matrices as they are. Its noise is drawn anew by each runtime, so the
    noise bands are shut in the checkpoint first: what is left, the harmonics, is a fixed function of z."""
    path = checkpoint.find(runs["hpn"])
    state = checkpoint.load(path)
    state["G"]["head.bias"][-4:] = -30.0  # the head's last outputs, the 4 noise bands: exp_sigmoid(-30), 1e-7
    quiet = tmp_path_factory.mktemp("hpn") / "run"
    shutil.copytree(runs["hpn"], quiet)
    torch.save(state, checkpoint.find(quiet))
    G, cfg, _ = load_generator(checkpoint.find(quiet))
    z = noise(cfg, 5, torch.device("cpu"), torch.Generator().manual_seed(1))
    with generator_mode(G, cfg.sample_mode, torch.device("cpu")):
        want = G(z).numpy()
    got = run_file(export(quiet, tmp_path_factory.mktemp("files") / f"hpn.{fmt}", fmt), z)
    assert got.shape == want.shape == (5, 1, 512) and np.abs(want).max() > 0.01
    assert np.abs(got - want).max() < 1e-4


def test_conditional_metadata_names_the_classes(runs, tmp_path_factory):
    meta = read_metadata(exported(runs, tmp_path_factory, "conditional", "onnx"))
    assert meta["classes"] == ["chirp", "kick", "snare", "tone"] and meta["sample_rate"] == 4000


def test_bad_input_is_one_line(runs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(runs["post"] / "config.json", empty / "config.json")
    taken = tmp_path / "taken.onnx"
    taken.write_bytes(b"x")
    cases = {(str(empty), "onnx", "a.onnx"): "no checkpoints",
             (str(runs["post"] / "config.json"), "onnx", "b.onnx"): "not a run folder",
             (str(runs["post"]), "tflite", "c.onnx"): "unknown export format",
             (str(runs["post"]), "onnx", str(taken)): "exists"}
    for (run, fmt, out), words in cases.items():
        out = out if out == str(taken) else str(tmp_path / out)
        assert main(["export", run, "--format", fmt, "--out", out]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
    assert taken.read_bytes() == b"x" and not list(tmp_path.glob("*.onnx"))[1:]


def test_a_full_disk_is_one_line_and_leaves_no_file(runs, tmp_path, monkeypatch):
    import errno

    from wavegen import atomic
    from wavegen.errors import WavegenError

    def full(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "atomic_write", full)
    with pytest.raises(WavegenError, match=r"post\.pt: no space left on device"):
        export(runs["post"], tmp_path / "post.pt", "torchscript")
    assert not (tmp_path / "post.pt").exists()
