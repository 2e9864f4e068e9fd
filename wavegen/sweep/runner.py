"""Running a sweep: its folder (sweep.json, a lock), its runs trained in subprocesses `jobs` at a time and
resumed after an interruption, then the report."""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from .. import atomic
from ..errors import WavegenError
from .results import DONE, ended, format_table, run_result, run_state, write_sweep_report
from .spec import Run, check_runs, expand, load_spec, shown, train_command


def _mark_done(run_dir: Path, seconds: float) -> None:
    info = {"seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic.atomic_write(run_dir / DONE, lambda f: f.write((json.dumps(info) + "\n").encode()))



# ---- the sweep folder ---------------------------------------------------------------------------------------------

def _first_difference(a: dict, b: dict) -> str:
    key = next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
    return f"{key!r} differs"


def check_out(out: Path, spec: dict) -> bool:
    """Whether OUT already holds this sweep (False: OUT is new or empty); a different spec or a folder that is
    not a sweep is refused."""
    meta = out / "sweep.json"
    if meta.exists():
        old = json.loads(meta.read_text()).get("spec")
        if old != spec:
            raise WavegenError(f"{out}: holds a sweep of a different spec ({_first_difference(old or {}, spec)}); "
                               f"give another --out, or remove {out}")
        return True
    if out.exists() and any(out.iterdir()):
        raise WavegenError(f"{out}: exists and is not a sweep folder (no sweep.json); give another --out")
    return False


def open_out(out: Path, spec: dict, runs: list[Run], spec_path: Path) -> None:
    """Write OUT/sweep.json, or check that the one there has the same spec."""
    if check_out(out, spec):
        return
    text = json.dumps({"spec_file": str(spec_path), "spec": spec, "runs": [asdict(r) for r in runs]}, indent=2) + "\n"
    atomic.atomic_write(out / "sweep.json", lambda f: f.write(text.encode()))


@contextmanager
def locked(out: Path):
    """An exclusive lock on OUT, also held by the runs it starts (they inherit the descriptor): a second sweep
    cannot train into the same runs while any of them is alive."""
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WavegenError(f"{out}: another sweep, or a run it started, is still running there") from None
    try:
        yield fd
    finally:
        os.close(fd)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# ---- running ------------------------------------------------------------------------------------------------------

class Runner:
    """Trains runs in subprocesses, `jobs` at a time; on Ctrl-C / SIGTERM it asks them to checkpoint and stop."""

    def __init__(self, spec: dict, out: Path, jobs: int, threads: int, lock_fd: int):
        self.spec, self.out, self.jobs, self.lock_fd = spec, out, jobs, lock_fd
        self.env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        self.live: dict[str, subprocess.Popen] = {}
        self.guard = threading.Lock()
        self.stopping = False

    def train(self, run: Run) -> tuple[Run, int | None, float]:
        """Train (or resume) one run to its end; returns its exit status (None: not started) and seconds."""
        run_dir = self.out / "runs" / run.name
        state = run_state(run_dir)
        if state == "new" and run_dir.exists():
            shutil.rmtree(run_dir)  # no config.json yet: nothing of the run was written
        cmd = train_command(self.spec, run, self.out, resume=state == "partial")
        (self.out / "logs").mkdir(exist_ok=True)
        t0 = time.perf_counter()
        with open(self.out / "logs" / f"{run.name}.log", "a") as log, self.guard:
            if self.stopping:
                return run, None, 0.0
            log.write("$ " + shown(cmd) + "\n")
            log.flush()
            say(f"{'resuming' if state == 'partial' else 'starting'} run {run.name}")
            self.live[run.name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                   env=self.env, pass_fds=(self.lock_fd,))
        rc = self.live[run.name].wait()
        with self.guard:
            del self.live[run.name]
        if rc == 0 and not self.stopping and ended(run_dir):
            _mark_done(run_dir, time.perf_counter() - t0)
        return run, rc, time.perf_counter() - t0

    def stop(self) -> None:
        with self.guard:
            self.stopping = True
            for p in self.live.values():
                p.send_signal(signal.SIGTERM)  # the trainer stops at the end of its batch and checkpoints

    def run_all(self, todo: list[Run], total: int, done: int) -> list[str]:
        """Train `todo`; one line per finished run and a bar over the sweep. Returns the names of failed runs."""
        failed = []
        bar = tqdm(total=total, initial=done, unit="run", dynamic_ncols=True, disable=None)
        pool = ThreadPoolExecutor(self.jobs)
        try:
            for fut in as_completed([pool.submit(self.train, r) for r in todo]):
                run, rc, seconds = fut.result()
                done += 1
                if rc != 0 or run_state(self.out / "runs" / run.name) != "done":
                    failed.append(run.name)
                bar.update(1)
                say(f"[{done}/{total}] {run.name}: {self._outcome(run, rc, seconds)}")
        except BaseException as e:  # Ctrl-C, SIGTERM, or a bug: the runs checkpoint and stop, as a rerun expects
            self.stop()
            if isinstance(e, KeyboardInterrupt):
                say("interrupted: the running runs checkpoint and stop; run the same command again to continue")
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        return failed

    def _outcome(self, run: Run, rc: int | None, seconds: float) -> str:
        run_dir = self.out / "runs" / run.name
        if rc == 0 and run_state(run_dir) == "done":
            r = run_result(run_dir)
            best = f"; best {r['metric']} {r['best']:.4g} at batch {r['best_batch']}" if r["best"] is not None else ""
            t = f"; transition at batch {r['transition_batch']}" if r["transition_batch"] is not None else "; no transition"
            return f"done in {seconds:.0f} s ({r['batches']} batches){best}{t}"
        log = self.out / "logs" / f"{run.name}.log"
        last = next((line for line in reversed(log.read_text().splitlines()) if line.strip()), "") if log.exists() else ""
        what = f"exit {rc}" if rc else "stopped before its end"
        return f"FAILED ({what}) after {seconds:.0f} s: {last.strip()[:200]} (log: {log})"


def say(line: str) -> None:
    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()


@contextmanager
def _sigterm_interrupts():
    """SIGTERM to the sweep stops it like Ctrl-C (its runs checkpoint), instead of orphaning its runs."""
    try:
        old = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_sweep(spec_path: str | Path, out: str | Path | None = None, jobs: int = 1, threads: int | None = None,
              dry_run: bool = False, report_only: bool = False) -> Path:
    """Train every run of the spec not yet done (resuming interrupted ones), then write the report. Returns OUT."""
    spec_path = Path(spec_path)
    spec = load_spec(spec_path)
    out = Path(out) if out else Path("sweeps") / spec_path.stem
    if jobs < 1 or (threads is not None and threads < 1):
        raise WavegenError("--jobs and --threads must be at least 1")
    threads = threads or max(1, cpu_count() // jobs)
    runs = expand(spec, spec_path)
    check_runs(spec, runs, spec_path, out)
    states = {r.name: run_state(out / "runs" / r.name) for r in runs}
    n_settings = len({r.setting for r in runs})
    counts = ", ".join(f"{sum(s == k for s in states.values())} {w}" for k, w in
                       (("done", "done"), ("partial", "to resume"), ("new", "to start")))
    say(f"sweep {spec_path}: {len(runs)} runs ({n_settings} settings x {len(spec['seeds'])} seeds) in {out}: {counts}"
        + ("" if report_only else f"; {jobs} at a time, {threads} thread{'s' * (threads > 1)} each"))
    if dry_run:
        check_out(out, spec)
        for r in runs:
            say(f"  {states[r.name]:8s} " + shown(train_command(spec, r, out, states[r.name] == "partial")))
        return out
    if report_only:
        if not check_out(out, spec):
            raise WavegenError(f"{out}: no sweep here to report on (no sweep.json)")
        return _report(out)
    open_out(out, spec, runs, spec_path)
    with locked(out) as fd:
        todo = [r for r in runs if states[r.name] != "done"]
        with _sigterm_interrupts():
            failed = Runner(spec, out, jobs, threads, fd).run_all(todo, len(runs), len(runs) - len(todo))
    _report(out)
    if failed:
        raise WavegenError(f"{len(failed)} of {len(runs)} runs did not finish ({', '.join(failed[:3])}"
                           f"{', ...' if len(failed) > 3 else ''}); see {out / 'logs'}, and rerun to retry them")
    return out


def _report(out: Path) -> Path:
    rows = write_sweep_report(out)
    say(format_table(rows))
    say(f"wrote {out / 'table.md'}, table.csv, runs.csv" + (", curves.png" if (out / "curves.png").exists() else ""))
    return out
