"""Several wavegen processes at once, signals and closed pipes, as a user meets them.

Every process here is `wavegen.cli.main(args)` forked from one server that imported wavegen once (a fresh
interpreter costs seconds of imports; a fork nothing). A job may stall: the first atomic write of a file named
STALL prints "WRITING" on the job's stderr and sleeps, so the test can act while the job holds its lock or is
inside a write. A job's stdout is a file, a pipe whose reader has gone ("closed") or /dev/full ("full").
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wavegen import checkpoint
from wavegen.runfolder import read_stats

SERVER = r"""
import json, os, sys, time
import torch._dynamo  # imported on the first model built (its flop count): once here, not in every job
import wavegen.cli, wavegen.atomic as rf, wavegen.sampling, wavegen.training.loop

def install(stall):
    real = rf.atomic_write
    def atomic_write(path, write):
        if stall and os.path.basename(path) == stall:
            os.write(2, f"WRITING {path}\n".encode())
            time.sleep(30)
            os._exit(3)
        real(path, write)
    rf.atomic_write = wavegen.sampling.atomic_write = atomic_write

for line in sys.stdin:
    jobs, pids = json.loads(line), []
    for job in jobs:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                err = os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(err, 2)
                if job["out"] == "closed":
                    r, w = os.pipe()
                    os.close(r)
                    os.dup2(w, 1)
                else:
                    os.dup2(os.open(job["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
                install(job.get("stall"))
                while job.get("after") and b"WRITING" not in open(job["after"], "rb").read():
                    time.sleep(0.01)  # starts once that job stalls
                code = wavegen.cli.main(job["args"])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            finally:
                os._exit(code)
        pids.append(pid)
    print(json.dumps({"pids": pids}), flush=True)
    codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
    print(json.dumps({"codes": codes}), flush=True)
os._exit(0)  # every job is waited for: skip the interpreter's teardown of torch (seconds)
"""

TINY = ["--preset", "post", "--ngf", "16", "--ndf", "16", "--batch-size", "10", "--ckpt-every", "5",
        "--preview-every", "5"]


class Server:
    def __init__(self, tmp: Path):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        self.tmp, self.n = tmp, 0

    def start(self, *jobs: dict) -> list[dict]:
        """Fork `jobs` ({"args", "out": "file"|"closed"|"full", "stall", "after": True}) at once; returns them with
        "pid" and "err". A job with "after" starts once the job before it has stalled."""
        for i, job in enumerate(jobs):
            self.n += 1
            job["err"] = str(self.tmp / f"err{self.n}")
            Path(job["err"]).write_text("")
            if job.get("after"):
                job["after"] = jobs[i - 1]["err"]
            out = job.get("out", "file")
            job["out"] = {"file": str(self.tmp / f"out{self.n}"), "full": "/dev/full"}.get(out, out)
            job["args"] = [str(a) for a in job["args"]]
        self.proc.stdin.write(json.dumps(list(jobs)) + "\n")
        self.proc.stdin.flush()
        for job, pid in zip(jobs, json.loads(self.proc.stdout.readline())["pids"]):
            job["pid"] = pid
        self.jobs = jobs
        return list(jobs)

    def wait(self) -> list[dict]:
        """Wait for the jobs started last; each gets "code", "stderr" and "stdout" (for a file)."""
        for job, code in zip(self.jobs, json.loads(self.proc.stdout.readline())["codes"]):
            job["code"], job["stderr"] = code, Path(job["err"]).read_text(errors="replace")
            job["stdout"] = Path(job["out"]).read_text() if job["out"].startswith(str(self.tmp)) else ""
        return self.jobs


def stalled(job: dict, mark: str = "WRITING", timeout: float = 60) -> None:
    """Wait until `job` prints `mark` on stderr (WRITING: it stalls inside that write)."""
    end = time.monotonic() + timeout
    while mark not in Path(job["err"]).read_text(errors="replace"):
        assert time.monotonic() < end, Path(job["err"]).read_text()
        time.sleep(0.02)


def ended(job: dict) -> None:
    """Wait until `job` has printed its error line (it is refused)."""
    stalled(job, "wavegen: ")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("jobs"))
    yield s
    s.proc.stdin.close()
    s.proc.wait(timeout=30)


def one_line_error(job: dict, *words: str) -> None:
    assert job["code"] == 2 and "Traceback" not in job["stderr"], job["stderr"]
    line = job["stderr"].splitlines()[-1]
    assert line.startswith("wavegen: error: ") and all(w in line for w in words), job["stderr"]


def batch_steps(run: Path) -> list[int]:
    return [r["step"] for r in read_stats(run) if "loss/G" in r]


def test_two_trainings_into_one_folder(server, gauss_data, tmp_path):
    run, other = tmp_path / "run", tmp_path / "other"
    holder, second = server.start({"args": ["train", gauss_data, "--out", run, "--batches", 5, *TINY], "stall": "config.json"},
                                  {"args": ["train", gauss_data, "--out", run, "--batches", 5, "--seed", 2, *TINY],
                                   "after": True})
    stalled(holder)
    ended(second)  # the second runs to its end while the first holds the folder
    os.kill(holder["pid"], signal.SIGKILL)  # the kernel lets go of the lock with the process
    holder, second = server.wait()
    one_line_error(second, str(run), f"process {holder['pid']} (training) is writing this folder")
    # two at once, for real: exactly one of them trains, and the run is that one's alone
    jobs = server.start(*({"args": ["train", gauss_data, "--out", other, "--batches", 5, "--seed", s, *TINY]} for s in (1, 2)))
    jobs = server.wait()
    assert sorted(j["code"] for j in jobs) == [0, 2], [j["stderr"] for j in jobs]
    loser = next(j for j in jobs if j["code"] == 2)
    assert "writing this folder" in loser["stderr"] or "run folder exists" in loser["stderr"]
    assert batch_steps(other) == [1, 2, 3, 4, 5]
    seed = json.loads((other / "config.json").read_text())["seed"]
    assert checkpoint.load(checkpoint.find(other))["config"]["seed"] == seed
    # the folder the killed holder claimed is free again
    again = server.start({"args": ["train", gauss_data, "--out", run, "--batches", 5, *TINY]})
    assert server.wait()[0]["code"] == 0 and batch_steps(run) == [1, 2, 3, 4, 5]


def test_two_resumes_and_two_generates(server, gauss_data, tmp_path):
    run, gen = tmp_path / "run", tmp_path / "gen"
    server.start({"args": ["train", gauss_data, "--out", run, "--batches", 5, *TINY]})
    assert server.wait()[0]["code"] == 0
    holder, second, g1 = server.start(
        {"args": ["train", "--resume", run, "--batches", 10], "stall": "ckpt_00000010.pt"},
        {"args": ["train", "--resume", run, "--batches", 10], "after": True},
        {"args": ["generate", run, "--n", 3, "--out", gen], "stall": "sample_0001.wav"})
    stalled(holder)
    stalled(g1)
    ended(second)
    os.kill(holder["pid"], signal.SIGKILL)
    os.kill(g1["pid"], signal.SIGKILL)
    holder, second, g1 = server.wait()
    one_line_error(second, f"process {holder['pid']} (training) is writing this folder")
    assert [p.name for p in gen.iterdir() if not p.name.startswith(".")] == ["sample_0000.wav"]  # whole or absent
    assert batch_steps(run) == list(range(1, 11)) or batch_steps(run) == list(range(1, 6))
    # a generate into a folder another generate holds is refused
    from wavegen.runlock import FolderLock

    with FolderLock().claim(gen, "generate"):
        server.start({"args": ["generate", run, "--n", 3, "--out", gen]})
        one_line_error(server.wait()[0], f"process {os.getpid()} (generate) is writing this folder")
    server.start({"args": ["train", "--resume", run, "--batches", 10]}, {"args": ["generate", run, "--n", 3, "--out", tmp_path / "g2"]})
    assert [j["code"] for j in server.wait()] == [0, 0]
    assert batch_steps(run) == list(range(1, 11))
    assert sorted(p.name for p in (tmp_path / "g2").iterdir()) == [".wavegen.lock", "sample_0000.wav",
                                                                    "sample_0001.wav", "sample_0002.wav"]


@pytest.mark.parametrize("signals, stall", [
    ((signal.SIGINT, signal.SIGINT), "ckpt_00000005.pt"),  # a second Ctrl-C inside a checkpoint write
    ((signal.SIGTERM, signal.SIGTERM), "ckpt_00000005.pt"),
    ((signal.SIGTERM,), "config.json"),  # before training starts: no checkpoint to write, it ends at once
])
def test_a_second_signal_or_one_outside_training_ends_at_once(server, gauss_data, tmp_path, signals, stall):
    run = tmp_path / "run"
    job, = server.start({"args": ["train", gauss_data, "--out", run, "--batches", 10, *TINY], "stall": stall})
    stalled(job)
    for s in signals:
        os.kill(job["pid"], s)
        time.sleep(0.05)
    job, = server.wait()
    assert job["code"] == 130 and job["stderr"].splitlines()[-1] == "wavegen: interrupted", job["stderr"]
    assert "Traceback" not in job["stderr"]


def test_a_closed_or_full_stdout(server, gauss_data, tmp_path):
    jobs = server.start({"args": ["train", gauss_data, "--out", tmp_path / "a", "--batches", 10, "--print-every", 1, *TINY],
                         "out": "closed"},
                        {"args": ["train", gauss_data, "--out", tmp_path / "b", "--batches", 10, "--print-every", 1, *TINY],
                         "out": "full"},
                        {"args": ["config", "--markdown"], "out": "closed"},
                        {"args": ["config", "--markdown"], "out": "full"})
    train_closed, train_full, config_closed, config_full = server.wait()
    for job, run in ((train_closed, tmp_path / "a"), (train_full, tmp_path / "b")):
        assert job["code"] == 0 and "Traceback" not in job["stderr"], job["stderr"]
        assert checkpoint.load(checkpoint.find(run))["step"] == 10 and batch_steps(run) == list(range(1, 11))
    assert "console output was dropped" in train_full["stderr"]
    assert config_closed["code"] == 0 and config_closed["stderr"] == ""  # quiet, as Unix tools are
    one_line_error(config_full, "standard output: No space left on device")
