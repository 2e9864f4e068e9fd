"""The training step replayed from CUDA graphs (wavegen/training/graph.py). What a graph replays is the Step with its
schedule read from device tensors: that path is checked on any machine; the replay itself, against eager training
and across a Ctrl-C, where CUDA is present."""
import copy
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import run_cli, tiny_config
from wavegen.config import make_config
from wavegen.errors import WavegenError
from wavegen.models.conditional import build_pair
from wavegen.runfolder import read_stats
from wavegen.training.distributed import World
from wavegen.training.graph import resolve_cuda_graph
from wavegen.training.loop import train
from wavegen.training.regularisers import EMA
from wavegen.training.state import optimisers
from wavegen.training.step import Schedule, Step, schedule, stat_keys

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_auto_is_on_for_one_cuda_device_only_and_true_is_refused_where_it_cannot_be():
    cfg = lambda graph, **kw: make_config("post", cuda_graph=graph, **kw)  # noqa: E731
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert resolve_cuda_graph(cfg("auto"), cpu, World())[0] is False
    assert resolve_cuda_graph(cfg("false"), gpu, World())[0] is False
    assert resolve_cuda_graph(cfg("auto"), gpu, World())[0] is True
    assert resolve_cuda_graph(cfg("auto"), gpu, World(0, 2))[0] is False
    assert resolve_cuda_graph(cfg("auto", arch="istft"), gpu, World())[0] is False
    with pytest.raises(WavegenError, match="needs a CUDA device"):
        resolve_cuda_graph(cfg("true"), cpu, World())
    with pytest.raises(WavegenError, match="torchrun"):
        resolve_cuda_graph(cfg("true"), gpu, World(0, 2))
    with pytest.raises(WavegenError, match="istft"):
        resolve_cuda_graph(cfg("true", arch="istft"), gpu, World())


@pytest.mark.parametrize("preset, kw, classes", [
    ("post", dict(ngf=32, ndf=32), 0),
    ("fast", dict(), 0),
    ("audio", dict(length=2048, penalty_every=2, instance_noise=0.1, instance_noise_batches=50), 3),
    ("ensemble", dict(length=2048), 0),
    ("wavegan", dict(length=2048, ngf=8, ndf=8, amp="true", r1_gamma=1.0), 0),
    ("audio", dict(length=2048, penalty_every=2, r1_gamma=1.0, augment="ada"), 3),  # ADA's p moved on the device
    ("dcgan", dict(arch="hpn", length=2048, sample_rate=8000, ngf=8, ndf=16, g_noise="all"), 3),
])
def test_a_step_never_reads_a_tensor_back_to_the_host(preset, kw, classes):
    """What a CUDA graph cannot hold: a step that reads a value back (.item(), a tensor in an if). On the meta device
    every such read fails, so a whole step there, with its schedule as tensors, shows the step is capturable. (The
    optimiser is CUDA's fused Adam in a graph; SGD stands in for it here.)"""
    cfg = make_config(preset, batch_size=4, conditional=classes > 0, **kw)
    G, D = (m.to("meta") for m in build_pair(cfg, 1, cfg.length or 100, classes))
    sgd = lambda m: torch.optim.SGD(m.parameters(), lr=0.1)  # noqa: E731
    step = Step(cfg, G, D, sgd(G), sgd(D), EMA(G, 0.999), graphed=True)
    step.amp["device_type"] = "cpu"  # autocast has no meta device; the CPU's leaves meta tensors alone
    reals = [torch.zeros(4, 1, cfg.length or 100, device="meta") for _ in range(cfg.d_steps)]  # (B, C, L) each
    ys = [torch.zeros(4, dtype=torch.long, device="meta")] * cfg.d_steps if classes else None
    zero = torch.zeros((), device="meta")
    out = step(reals, ys, Schedule(zero, zero, schedule(cfg, 0).penalised))
    assert out.shape == (len(stat_keys(cfg)),)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where there is no CUDA")
def test_cuda_graph_true_without_cuda_is_one_line(gauss_data, tmp_path):
    r = run_cli("train", gauss_data, "--preset", "post", "--ngf", 16, "--ndf", 16, "--batches", 2, "--cuda-graph", "true",
                "--out", tmp_path / "run")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].endswith("--cuda-graph true needs a CUDA device, and this run is on cpu")


def test_lazy_penalties_get_one_schedule_per_phase():
    """The penalty rhythm counts D steps across batches: with 2 D steps and a penalty every 3rd, batches cycle
    through three patterns, one graph each."""
    cfg = make_config("audio", penalty_every=3, d_steps=2)
    assert [schedule(cfg, s).penalised for s in range(4)] == [(True, False), (False, True), (False, False),
                                                              (True, False)]


def test_the_step_reads_its_schedule_from_tensors_as_it_does_from_numbers():
    """What a graph captures: the instance noise's std and the average's weight as 0-d tensors (and noise always
    drawn) give the same update as the eager step's numbers, penalties and conditioning included."""
    cfg = make_config("audio", length=1024, ngf=4, ndf=4, batch_size=4, conditional=True, instance_noise=0.1,
                      instance_noise_batches=100, penalty_every=2, amp="false")
    torch.manual_seed(0)
    G, D = build_pair(cfg, 1, 1024, 3)
    reals = [torch.randn(4, 1, 1024).clamp(-1, 1) for _ in range(cfg.d_steps)]  # (B, C, L) each
    ys = [torch.tensor([0, 1, 2, 0]) for _ in range(cfg.d_steps)]
    results = []
    for graphed in (False, True):
        g, d = copy.deepcopy(G), copy.deepcopy(D)
        ema = EMA(g, cfg.ema)
        step = Step(cfg, g, d, *optimisers(g, d, cfg), ema, graphed=graphed)
        torch.manual_seed(1)
        out = []
        for s in range(3):
            sched = schedule(cfg, s)
            if graphed:
                sched = Schedule(torch.tensor(sched.sigma), torch.tensor(sched.ema_weight), sched.penalised)
            out.append(step(reals, ys, sched))
        results.append((torch.stack(out), [p.detach() for p in [*g.parameters(), *ema.model.parameters()]]))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-5, atol=1e-6)
    for a, b in zip(results[1][1], results[0][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def batch_rows(run) -> list[dict]:
    return [r for r in read_stats(run) if "loss/G" in r]


@cuda
@pytest.mark.parametrize("preset, kw", [
    ("post", dict(ngf=32, ndf=32, batch_size=20)),
    ("audio", dict(length=2048, batch_size=8, conditional=False, penalty_every=3, instance_noise=0.05,
                   instance_noise_batches=100)),
])
def test_a_graph_run_gives_the_statistics_of_an_eager_run(gauss_data, tmp_path, preset, kw):
    """200 batches from one seed, eager and replayed (an epoch's short last batch runs eagerly in both)."""
    if preset == "audio":
        from wavegen.data.synthetic import make_sounds
        data = make_sounds(tmp_path / "sounds", 40, 8000, 0.3, 0)
    else:
        data = gauss_data
    runs = {}
    for graph in ("false", "true"):
        cfg = tiny_config(data, tmp_path / graph, preset, batches=200, device="cuda", cuda_graph=graph, **kw)
        runs[graph] = batch_rows(train(cfg))
    keys = [k for k in runs["false"][0] if k not in ("step", "epoch")]
    eager = torch.tensor([[r[k] for k in keys] for r in runs["false"]])
    graphed = torch.tensor([[r[k] for k in keys] for r in runs["true"]])
    assert [r["step"] for r in runs["true"]] == list(range(1, 201))
    torch.testing.assert_close(graphed, eager, rtol=1e-3, atol=1e-4)


@cuda
def test_a_graph_run_resumes_after_ctrl_c(gauss_data, tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "wavegen", "train", str(gauss_data), "--preset", "post", "--ngf", "32", "--ndf", "32",
            "--batch-size", "20", "--batches", "100000", "--stats-every", "5", "--device", "cuda", "--cuda-graph",
            "true", "--out", str(run)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(batch_rows(run) if (run / "stats.jsonl").exists() else []) < 50:
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err[-2000:]
    assert "Continue with: wavegen train --resume" in out
    done = batch_rows(run)[-1]["step"]
    r = run_cli("train", "--resume", run, "--batches", done + 30)
    assert r.returncode == 0, r.stderr[-2000:]
    assert [row["step"] for row in batch_rows(run)] == list(range(1, done + 31))
