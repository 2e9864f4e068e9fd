"""torchrun on CPU (gloo): ranks stay identical, N ranks reproduce one process, and two "nodes" meet through a
c10d rendezvous on loopback. Each test launches real processes, as a user would."""
import socket
import subprocess
import sys

import pytest
import torch

from wavegen.checkpoint import find, load

# Runs wavegen's trainer under torchrun and saves each rank's final G and D (what the rank holds in memory).
DRIVER = '''
import importlib, os, sys, torch
T = importlib.import_module("wavegen.training.loop")
from wavegen.config import make_config
seen = {}
step = T.Step.__call__
def spy(self, *a, **k):
    seen["G"], seen["D"] = getattr(self.G, "module", self.G), self.D
    return step(self, *a, **k)
T.Step.__call__ = spy
cfg = make_config("post", **eval(sys.argv[1]))
T.train(cfg)
rank = os.environ.get("RANK", "0")
torch.save({k: m.state_dict() for k, m in seen.items()}, os.path.join(sys.argv[2], f"rank{rank}.pt"))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(tmp_path, cfg: dict, *launch, timeout=180) -> subprocess.CompletedProcess:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    cmd = [sys.executable, "-m", "torch.distributed.run", *launch, str(driver), repr(cfg), str(tmp_path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={"OMP_NUM_THREADS": "1", **_env()})


def _env():
    import os

    return {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}


def base(data, out, **kw):
    return {**dict(data=str(data), out=str(out), ngf=32, ndf=32, batches=4, stats_every=1, print_every=50,
                   preview_every=2, ckpt_every=2), **kw}


ENSEMBLE = {"d_arch": "mpd,msd,mrd", "ndf": 16, "loss": "lsgan", "feature_matching": 2.0, "d_mbstd": 2,
            "g_noise": "all"}


@pytest.mark.parametrize("extra", [{}, {"loss": "wgan-gp", "d_steps": 2, "r1_gamma": 1.0}, ENSEMBLE])
def test_two_ranks_keep_identical_parameters(gauss_data, tmp_path, extra):
    r = torchrun(tmp_path, base(gauss_data, tmp_path / "run", batch_size=20, **extra), "--standalone", "--nproc_per_node", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    ranks = [torch.load(tmp_path / f"rank{i}.pt", weights_only=True) for i in range(2)]
    for model in ("G", "D"):
        for k, v in ranks[0][model].items():
            if "running" in k or "num_batches" in k:
                continue  # BatchNorm statistics are per rank unless sync_bn
            assert torch.equal(v, ranks[1][model][k]), (model, k)
    # only rank 0 wrote, and a checkpoint of two ranks holds both ranks' random streams
    state = load(find(tmp_path / "run"))
    assert state["step"] == 4 and len(state["rng"]["ranks"]) == 2
    assert not torch.equal(state["rng"]["ranks"][0], state["rng"]["ranks"][1])  # each rank its own dropout masks
    rows = [line for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines() if "loss/G" in line]
    assert len(rows) == 4


def test_two_ranks_of_50_match_one_process_of_100(gauss_data, tmp_path):
    exact = dict(dropout_g=0.0, dropout_d=0.0, label_noise=0.0, sync_bn=True, batches=3)
    one = tmp_path / "one"
    one.mkdir()
    r = torchrun(one, base(gauss_data, one / "run", batch_size=100, **exact), "--standalone", "--nproc_per_node", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    two = tmp_path / "two"
    two.mkdir()
    r = torchrun(two, base(gauss_data, two / "run", batch_size=100, batch_scope="global", **exact),
                 "--standalone", "--nproc_per_node", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = torch.load(one / "rank0.pt", weights_only=True), torch.load(two / "rank0.pt", weights_only=True)
    for model in ("G", "D"):
        for k, v in a[model].items():
            if v.is_floating_point():
                assert torch.allclose(v, b[model][k], rtol=1e-4, atol=1e-5), (model, k, (v - b[model][k]).abs().max())


def test_two_nodes_meet_through_a_c10d_rendezvous(gauss_data, tmp_path):
    port = free_port()
    cfg = base(gauss_data, tmp_path / "run", batch_size=20, batches=2)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    procs = []
    for node in range(2):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
               "--node_rank", str(node), "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}",
               "--rdzv_id", "wavegen-test", str(driver), repr(cfg), str(tmp_path)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env={"OMP_NUM_THREADS": "1", **_env()}))
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    ranks = [torch.load(tmp_path / f"rank{i}.pt", weights_only=True) for i in range(2)]
    for k, v in ranks[0]["G"].items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, ranks[1]["G"][k])
    assert load(find(tmp_path / "run"))["step"] == 2


def test_a_distributed_checkpoint_resumes_in_one_process(gauss_data, tmp_path):
    r = torchrun(tmp_path, base(gauss_data, tmp_path / "run", batch_size=20), "--standalone", "--nproc_per_node", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    from conftest import run_cli

    r = run_cli("train", "--resume", tmp_path / "run", "--batches", "6")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "new data order" in r.stdout
    assert load(find(tmp_path / "run"))["step"] == 6
