"""A crash at any moment leaves a run that resumes.

The training process is killed with SIGKILL again and again: inside checkpoint writes (half the bytes written,
then stalled), in the middle of appending a row to stats.jsonl, inside the resume's own repair of stats.jsonl,
inside a preview write, inside the final checkpoint, and after seeded random delays. After every kill the run
folder is checked (every checkpoint loads, every complete log line parses, temp files are ignored), then the run
is resumed with `wavegen train --resume RUN` in the same killable way. In between, the newest checkpoint is
replaced by a truncated, a garbage and an empty file: each is reported and the previous good one used. When the
run finally finishes, its final state and batch statistics equal those of a run trained straight through.
Every training process is forked from one server process that has imported wavegen once (see SERVER).
"""
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY
from wavegen import read_stats
from wavegen import atomic, checkpoint
from wavegen.errors import WavegenError

BATCHES = 60
EXTRA = dict(ckpt_every=5, layer_every=10, eval_every=15, eval_n=50)  # frequent checkpoints, scores and best.pt

# The children: wavegen's CLI (`wavegen train ...`, `wavegen train --resume RUN`), each forked from one server
# process that has imported wavegen and torch once (a fresh interpreter costs 2 to 3 s of imports per round; a
# fork, nothing). Each child runs `wavegen.cli.main(args)` with its output in a log file and two hooks, chosen
# by its `stall`:
#   NAME or NAME#K        the K-th (default first) atomic_write of a file named NAME in this process writes half
#                         its bytes to the temporary file, prints "WRITING <path>" and stalls (to be killed there)
#   stats.jsonl:STEP      appending the batch row of STEP to stats.jsonl writes half the line, then stalls
# and, after each complete checkpoint write, it prints "SAVED ckpt_<batch>.pt" (so a random kill can be bounded).
# OMP_NUM_THREADS=1 for all of them, the straight run included (same thread count, so bit-comparable).
# The server answers each request with {"pid": ...}, then {"ended": pid} when the child has ended; it reaps the
# child only when the parent says "reap", so the parent never signals a pid that could have been reused.
SERVER = r"""
import builtins, io, json, os, sys, time, traceback
from pathlib import Path

import wavegen.atomic as ck
import wavegen.cli
import wavegen.training.loop  # the CLI imports it lazily: import it here, once, before forking


def install(stall):
    seen = {}
    _atomic_write = ck.atomic_write

    def stop_here(what):
        print(f"WRITING {what}", flush=True)
        time.sleep(60)
        print("STALL NOT KILLED", flush=True)
        os._exit(3)

    def atomic_write(path, write):
        path = Path(path)
        seen[path.name] = seen.get(path.name, 0) + 1
        name, _, k = stall.partition("#")
        if path.name == name and seen[path.name] == int(k or 1):
            def half_then_stall(f):
                buf = io.BytesIO()
                write(buf)
                data = buf.getvalue()
                f.write(data[: len(data) // 2])
                f.flush()
                stop_here(path)
            return _atomic_write(path, half_then_stall)
        _atomic_write(path, write)
        if path.name.startswith("ckpt_"):
            print(f"SAVED {path.name}", flush=True)

    ck.atomic_write = atomic_write
    if not stall.startswith("stats.jsonl:"):
        return
    target = int(stall.split(":")[1])
    _open = builtins.open

    class Tearing:
        def __init__(self, f):
            self._f = f

        def __getattr__(self, key):
            return getattr(self._f, key)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._f.__exit__(*exc)

        def write(self, s):  # one row or several at once
            pos = 0
            for line in s.splitlines(keepends=True):
                if '"loss/G"' in line and json.loads(line)["step"] == target:
                    self._f.write(s[: pos + len(line) // 2])
                    self._f.flush()
                    stop_here(f"stats.jsonl row {target}")
                pos += len(line)
            return self._f.write(s)

    def tearing_open(file, mode="r", *args, **kw):
        f = _open(file, mode, *args, **kw)
        return Tearing(f) if str(file).endswith("stats.jsonl") and "a" in mode else f

    builtins.open = tearing_open


while request := sys.stdin.readline():
    req = json.loads(request)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            sys.stdout.reconfigure(line_buffering=True)
            sys.stderr.reconfigure(line_buffering=True)
            install(req["stall"])
            code = wavegen.cli.main(req["args"])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # ended, but not reaped: its pid stays ours to signal
    print(json.dumps({"ended": pid}), flush=True)
    sys.stdin.readline()  # "reap": the parent will not signal it any more (or "": the parent has gone)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class Server:
    """The fork server: one Python process with wavegen imported; `start` forks a child that runs the CLI."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        (tmp / "server.py").write_text(SERVER)
        # one thread per child: the straight run below is a child too (same thread count, so bit-comparable), and
        # on a small shared machine two spinning OpenMP threads per process make these runs several times slower
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.p = subprocess.Popen([sys.executable, str(tmp / "server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env)
        self.q: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.n = 0
        self.current: Child | None = None

    def _read(self):
        for line in self.p.stdout:
            self.q.put(json.loads(line))
        self.q.put({"server": "ended"})

    def message(self, key: str, timeout: float):
        msg = self.q.get(timeout=timeout)
        assert key in msg, f"fork server: wanted {key!r}, got {msg}"
        return msg[key]

    def start(self, args: list[str], stall: str = "") -> "Child":
        self.n += 1
        log = self.tmp / f"child_{self.n}.log"
        self.p.stdin.write(json.dumps({"args": args, "stall": stall, "log": str(log)}) + "\n")
        self.p.stdin.flush()
        self.current = Child(self, self.message("pid", 60), log)
        return self.current

    def close(self):
        if self.current is not None and self.current.returncode is None:  # a test failed with a child unreaped
            self.current.kill()
        self.p.stdin.close()
        self.p.wait(timeout=60)


class Child:
    """One forked CLI run; its output lines are read from its log file as they come."""

    def __init__(self, server: Server, pid: int, log: Path):
        self.server, self.pid, self.log = server, pid, log
        self.t0 = time.monotonic()
        self.lines: list[str] = []
        self.ended = False  # it has exited or been killed (the server has not reaped it yet)
        self.returncode = None  # once reaped
        self._offset = 0
        self._pending: list[str] = []  # read from the log, not yet looked at

    def _next_line(self) -> str | None:
        if not self._pending:
            try:
                with open(self.log, "rb") as f:
                    f.seek(self._offset)
                    data = f.read()
            except FileNotFoundError:
                return None
            complete = data[: data.rfind(b"\n") + 1]
            self._offset += len(complete)
            self._pending = complete.decode(errors="replace").splitlines()
        return self._pending.pop(0) if self._pending else None

    def _poll(self, timeout: float) -> None:
        if not self.ended:
            try:
                msg = self.server.q.get(timeout=timeout) if timeout > 0 else self.server.q.get_nowait()
            except queue.Empty:
                return
            assert msg.get("ended") == self.pid, f"fork server: {msg}"
            self.ended = True

    def wait_for(self, pred, deadline: float):
        """Read lines until pred(line) is true (True), the child has ended (False) or the deadline (None)."""
        while True:
            ended = self.ended
            while (line := self._next_line()) is not None:
                self.lines.append(line)
                if pred(line):
                    return True
            if ended:  # its last lines were written before it ended: all read now
                return False
            if time.monotonic() >= deadline:
                return None
            self._poll(min(0.01, max(0.0, deadline - time.monotonic())))

    def kill(self) -> bool:
        """SIGKILL it unless it has ended by itself; reap it. Says whether it was killed."""
        self._poll(0)
        killed = not self.ended
        if killed:
            os.kill(self.pid, signal.SIGKILL)  # running or a zombie: not reaped, so the pid is still this child's
        self.wait_for(lambda line: False, time.monotonic() + 60)
        assert self.ended, "the child did not end after SIGKILL"
        self.server.p.stdin.write("reap\n")
        self.server.p.stdin.flush()
        self.returncode = self.server.message("exit", 60)
        return killed

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.close()


# (kind, where given g = the newest good checkpoint's batch, corruption planted in the newest checkpoint first).
# Targets are relative to g so that each round's kill lands before the run could finish, whatever the speed.
PLAN = [
    ("stall", lambda g: "ckpt_00000005.pt", None),  # inside the very first checkpoint: nothing to resume from yet
    ("delay", lambda g: g + 10, None),  # at a random moment, at the latest once checkpoint g + 10 is saved
    ("stall", lambda g: f"ckpt_{g + 10:08d}.pt", None),
    ("stall", lambda g: f"stats.jsonl:{g + 3}", None),  # half a batch row appended to stats.jsonl
    ("stall", lambda g: "stats.jsonl", None),  # inside the resume's own rewrite of stats.jsonl (torn row still there)
    ("delay", lambda g: g + 10, "truncated"),
    ("stall", lambda g: "best.pt", None),  # scores improve at every eval_every here, so best.pt is rewritten
    ("stall", lambda g: f"stats.jsonl:{g + 4}", "garbage"),
    ("stall", lambda g: f"step_{(g // 10 + 1) * 10:08d}.npy", None),  # a preview
    ("delay", lambda g: g + 10, "empty"),
    ("stall", lambda g: f"ckpt_{BATCHES:08d}.pt#2", None),  # the final checkpoint, written again after the periodic
]


def cli_args(data, run):
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**TINY, **EXTRA}.items()]
    return ["train", str(data), "--out", str(run), "--batches", str(BATCHES), *flags]


def check_jsonl(path: Path) -> tuple[list[dict], bool]:
    """Every complete line parses; only the last line may be torn (no newline, does not parse)."""
    if not path.exists():
        return [], False
    text = path.read_text()
    lines = text.split("\n")
    rows = []
    for i, line in enumerate(lines[:-1], 1):
        try:
            rows.append(json.loads(line))
        except ValueError:
            pytest.fail(f"{path.name}: complete line {i} does not parse: {line[:80]!r}")
    torn = lines[-1] != ""
    if torn:
        try:
            json.loads(lines[-1])
            pytest.fail(f"{path.name}: last line parses but has no newline: {lines[-1][:80]!r}")
        except ValueError:
            pass
    return rows, torn


def check_folder(run: Path, planted: dict[str, bytes]) -> dict:
    """What a crash left: every file is whole (or a tolerated torn log tail, or a temp file). Returns the facts."""
    facts = {"config": (run / "config.json").exists(), "good": [], "torn": [], "temps": set()}
    if not run.exists():
        return facts
    facts["temps"] = {p for p in run.rglob("*") if atomic.TEMP.match(p.name)}
    if not facts["config"]:
        return facts
    json.loads((run / "config.json").read_text())
    for p in checkpoint.list_ckpts(run):
        if planted.get(p.name) == p.read_bytes():
            continue  # our own corruption, not yet replaced
        state = checkpoint.load(p)
        assert state["step"] == int(checkpoint.PATTERN.match(p.name).group(1))
        facts["good"].append(state["step"])
    if (checkpoint.ckpt_dir(run) / "best.pt").exists():
        checkpoint.load(checkpoint.ckpt_dir(run) / "best.pt")
    if facts["good"]:
        assert json.loads((run / "data.json").read_text())["n"] == 100
    for name in ("stats.jsonl", "layers.jsonl"):
        rows, torn = check_jsonl(run / name)
        if torn:
            facts["torn"].append(name)
        steps = [r["step"] for r in rows if "loss/G" in r or name == "layers.jsonl"]
        assert steps == sorted(set(steps)), f"{name}: batch rows out of order or repeated: {steps}"
        assert name != "stats.jsonl" or steps == list(range(1, len(steps) + 1)), f"{name}: rows missing: {steps}"
    for p in (run / "previews").glob("*.npy"):
        assert np.load(p).shape == (64, 1, 100)
    return facts


def plant(run: Path, kind: str, rng: random.Random, planted: dict[str, bytes]) -> str | None:
    """Replace the newest good checkpoint by a corrupt file (when an older good one exists to fall back on)."""
    good = [p for p in checkpoint.list_ckpts(run) if planted.get(p.name) != p.read_bytes()]
    if len(good) < 2:
        return None
    newest = good[-1]
    data = newest.read_bytes()
    bad = {"truncated": data[: len(data) // 3], "garbage": rng.randbytes(len(data)), "empty": b""}[kind]
    newest.write_bytes(bad)
    planted[newest.name] = bad
    return newest.name


def test_sigkill_at_any_moment_resumes_to_the_straight_run(gauss_data, tmp_path, server):
    started = time.monotonic()
    run = tmp_path / "run"
    rng = random.Random(1234)
    planted: dict[str, bytes] = {}
    kills, torn_seen, temps_seen, reports = 0, set(), 0, 0

    for kind, where, corruption in [*PLAN, ("finish", None, None)]:
        if corruption and check_folder(run, planted)["config"]:
            plant(run, corruption, rng, planted)
        before = check_folder(run, planted)
        # planted files newer than the newest good checkpoint: a resume must report each of them
        expect_bad = [p.name for p in checkpoint.list_ckpts(run) if planted.get(p.name) == p.read_bytes()
                      and int(checkpoint.PATTERN.match(p.name).group(1)) > max(before["good"], default=0)]
        fresh = not before["config"]
        args = cli_args(gauss_data, run) if fresh else ["train", "--resume", str(run)]
        if fresh and run.exists():  # killed before config.json was written: the folder holds at most a temp file
            assert not [p for p in run.rglob("*") if p.is_file() and not atomic.TEMP.match(p.name)]
            for p in before["temps"]:
                p.unlink()  # see test_kill_while_writing_config_json: the trainer would refuse this folder
        g = max(before["good"], default=0)
        arg = where(g) if where else None
        child = server.start(args, arg if kind == "stall" else "")
        if kind == "finish":
            ended = child.wait_for(lambda line: False, time.monotonic() + 60)
            assert ended is False, "the last resume did not finish\n" + child.output
        elif kind == "delay":
            # seeded random moment: from the start of the process (imports, data, resume) or into training
            latest, bound = f"SAVED ckpt_{arg:08d}.pt", None
            if rng.random() < 0.4:
                bound = child.wait_for(lambda line: line == latest, child.t0 + rng.uniform(0.0, 0.6))
            elif child.wait_for(lambda line: line.startswith(("resuming", "batch")) or "no checkpoint yet" in line,
                                time.monotonic() + 30):
                bound = child.wait_for(lambda line: line == latest, time.monotonic() + rng.uniform(0.0, 0.25))
            arg = f"{arg}{' (reached)' if bound else ''}"
        else:
            hit = child.wait_for(lambda line: line.startswith("WRITING "), time.monotonic() + 60)
            if not hit and arg.endswith("#2"):  # the trainer writes its final checkpoint once only: fine too
                assert "done:" in child.output, child.output
            else:
                assert hit, f"{kind} {arg}: the child ended without reaching it\n{child.output}"
        killed = child.kill()
        out = child.output
        kills += killed
        assert "Traceback" not in out and "STALL NOT KILLED" not in out, out

        # the resume started from the newest good checkpoint (after reporting a planted corrupt one)
        m = re.search(r"resuming .* from ckpt_(\d+)\.pt \(batch (\d+)", out)
        if m:
            assert int(m.group(2)) == max(before["good"]), out
        if "no checkpoint yet" in out:
            assert not before["good"], out
        if expect_bad and m:
            for name in expect_bad:
                assert f"{name}: not a loadable wavegen checkpoint" in out and "trying an older checkpoint" in out, out
            reports += len(expect_bad)
        if m and before["temps"]:  # the resume got past loading: temp files of the killed process are gone
            temps_seen += 1
            left = {p for p in before["temps"] if p.exists()}
            assert not left, f"stale temp files left after resume: {sorted(map(str, left))}"

        after = check_folder(run, planted)
        torn_seen.update(after["torn"])
        print(f"round {kind} {arg} {corruption}: killed={killed} good={after['good']} torn={after['torn']} "
              f"temps={len(after['temps'])} {time.monotonic() - child.t0:.1f} s", flush=True)
        if not killed:
            assert child.returncode == 0, out
            break

    assert kills >= 9, f"only {kills} kills landed"
    assert "stats.jsonl" in torn_seen, "no kill tore a stats.jsonl row (is StatsLog still appending with open()?)"
    assert temps_seen >= 3 and reports >= 2
    final = check_folder(run, planted)
    assert not final["torn"] and not final["temps"], final
    assert not planted or all((checkpoint.ckpt_dir(run) / n).read_bytes() != b for n, b in planted.items()
                              if (checkpoint.ckpt_dir(run) / n).exists())

    # the same run trained straight through
    straight = tmp_path / "straight"
    child = server.start(cli_args(gauss_data, straight))
    child.wait_for(lambda line: False, time.monotonic() + 120)
    assert not child.kill() and child.returncode == 0, child.output
    a, b = checkpoint.load(checkpoint.find(straight)), checkpoint.load(checkpoint.find(run))
    assert a["step"] == b["step"] == BATCHES and a["epoch"] == b["epoch"]
    for part in ("G", "D"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k} differs"
    for opt in ("opt_G", "opt_D"):
        assert a[opt]["param_groups"] == b[opt]["param_groups"]
        assert a[opt]["state"].keys() == b[opt]["state"].keys()
        for i, s in a[opt]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, b[opt]["state"][i][k]), f"{opt} state {i}.{k} differs"
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"]) and a["best"] == b["best"]
    rows_a = [r for r in read_stats(straight) if "time/wall_s" not in r]
    rows_b = [r for r in read_stats(run) if "time/wall_s" not in r]
    assert [r for r in rows_a if "loss/G" in r] == [r for r in rows_b if "loss/G" in r]
    assert [r["step"] for r in rows_b if "loss/G" in r] == list(range(1, BATCHES + 1))
    assert [r for r in rows_a if "loss/G" not in r] == [r for r in rows_b if "loss/G" not in r]  # the scores too
    assert (straight / "layers.jsonl").read_text() == (run / "layers.jsonl").read_text()
    assert sorted(os.listdir(straight / "previews")) == sorted(os.listdir(run / "previews"))
    for name in os.listdir(straight / "previews"):
        assert np.array_equal(np.load(straight / "previews" / name), np.load(run / "previews" / name))
    print(f"{kills} kills, torn logs seen: {sorted(torn_seen)}, {time.monotonic() - started:.1f} s")


def test_torn_last_line_is_dropped_and_a_bad_middle_line_is_an_error(tmp_path):
    from wavegen.runfolder import truncate_jsonl as _truncate_jsonl

    run = tmp_path
    path = run / "stats.jsonl"
    rows = [{"step": i, "epoch": 0, "loss/G": 0.1 * i, "loss/D": 1.0 / i, "D/real": 0.5, "D/fake": -0.5,
             "grad_norm/G": 1.0, "grad_norm/D": 1.0} for i in range(1, 11)]  # whole batch rows, as a run writes them
    rows.insert(5, {"step": 5, "time/wall_s": 1.5})
    whole = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(whole + json.dumps({"step": 11, "epoch": 0, "loss/G": 1.1})[:17])  # a crash mid-append
    assert read_stats(run) == rows
    _truncate_jsonl(path, 10)
    assert path.read_text() == whole  # repaired: the fragment is gone, every line ends in a newline
    _truncate_jsonl(path, 5)
    assert read_stats(run) == rows[:6]
    lines = whole.splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + lines[2][:17] + "\n" + "".join(lines[3:]))  # a bad line in the middle
    with pytest.raises(WavegenError, match=r"stats\.jsonl: line 3 is not valid JSON"):
        read_stats(run)
    with pytest.raises(WavegenError, match=r"stats\.jsonl: line 3 is not valid JSON"):
        _truncate_jsonl(path, 10)


def test_stale_temp_files_are_ignored_and_removed_and_live_ones_kept(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    folder = checkpoint.ckpt_dir(tmp_path)
    folder.mkdir()
    dead = folder / f".ckpt_00000005.pt.{int(gone.stdout)}.tmp"  # a writer killed mid-write
    live = folder / f".ckpt_00000010.pt.{os.getpid()}.tmp"  # a write in progress
    other = folder / "notes.tmp"
    for p in (dead, live, other):
        p.write_bytes(b"x")
    assert checkpoint.list_ckpts(tmp_path) == []  # never taken for checkpoints
    assert atomic.remove_stale_temps(folder) == [dead]
    assert not dead.exists() and live.exists() and other.exists()


def test_kill_while_writing_config_json(gauss_data, tmp_path, server):
    run = tmp_path / "run"
    child = server.start(cli_args(gauss_data, run), "config.json")
    assert child.wait_for(lambda line: line.startswith("WRITING "), time.monotonic() + 60), child.output
    assert child.kill()
    assert not (run / "config.json").exists() and [p.name for p in run.iterdir()]  # only the temp file
    again = server.start(cli_args(gauss_data, run))  # starting it again, as the user would
    again.wait_for(lambda line: False, time.monotonic() + 60)
    assert not again.kill() and again.returncode == 0, again.output
