"""Sweeps: one recipe over several settings and seeds. Each run is a normal run folder, trained by
`python -m wavegen train` in a subprocess (a crash takes down one run, not the sweep; runs can go in
parallel), resumable, and tabulated at the end.

A spec is JSON (experiments/README.md):

    {"preset": "seed", "data": "data/gaussian",
     "base": {"batches": 1500, "eval_every": 100},                 # overrides for every run
     "settings": [{"name": "no dropout", "dropout_g": 0, "dropout_d": 0}, {"name": "post"}],
     "grid": {"lr_g": [5e-5, 2e-4]},                                 # Cartesian product, within each setting
     "seeds": [0, 1, 2]}

The sweep folder OUT holds sweep.json (the spec and its runs, written first: a different spec is refused),
runs/<setting>__seed<k>/ (run folders; `sweep.done` once trained to the end), logs/<run>.log (console
output of each run), and the report: table.md, table.csv (per setting), runs.csv (per run), curves.png.
"""
from __future__ import annotations

import csv
import difflib
import fcntl
import io
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import checkpoint, runfolder
from .evaluation.analysis import analyse_rows, smooth, window
from .config import Config, make_config
from .errors import WavegenError
from .runfolder import RunLog, read_stats

SPEC_KEYS = {"preset", "data", "base", "grid", "settings", "seeds", "description"}
RESERVED = {"data": "give it once, at the top of the spec", "out": "the sweep names the run folders",
            "preset": "give it once, at the top of the spec", "seed": "list the seeds in 'seeds'"}
DONE = "sweep.done"  # marker in a run folder: trained to the end, written after its process exited 0
FIELDS = ("transition_batch", "transition_s", "best", "best_batch", "final", "divergence_batch", "batches_per_s")


@dataclass
class Run:
    name: str  # folder name under OUT/runs: <setting slug>__seed<k>
    setting: str  # the setting's display name (a row of the table)
    seed: int
    overrides: dict  # config values beyond the preset: base, setting, grid point


# ---- the spec -----------------------------------------------------------------------------------------------

def load_spec(path: str | Path) -> dict:
    """Read and check a spec file; every problem is one WavegenError line naming the file."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except OSError as e:
        raise WavegenError(f"{path}: cannot read the sweep spec ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise WavegenError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except UnicodeDecodeError as e:
        raise WavegenError(f"{path}: not valid JSON (not UTF-8 text: byte {e.start})") from None
    if not isinstance(spec, dict):
        raise WavegenError(f"{path}: a sweep spec is a JSON object, got {type(spec).__name__}")
    _check_top(spec, path)
    return spec


def _check_top(spec: dict, path: Path) -> None:
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise WavegenError(f"{path}: unknown spec key {unknown[0]!r} (known: {', '.join(sorted(SPEC_KEYS))})")
    if not isinstance(spec.get("data"), str) or not spec["data"]:
        raise WavegenError(f"{path}: 'data' must name the data folder")
    if not Path(spec["data"]).is_dir():
        raise WavegenError(f"{path}: data folder {spec['data']!r} not found")
    seeds = spec.get("seeds")
    if not isinstance(seeds, list) or not seeds:
        raise WavegenError(f"{path}: no seeds: 'seeds' must be a non-empty list of integers, e.g. [0, 1, 2]")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds) or len(set(seeds)) != len(seeds):
        raise WavegenError(f"{path}: 'seeds' must be distinct integers, got {seeds}")
    if not isinstance(spec.get("base", {}), dict):
        raise WavegenError(f"{path}: 'base' must be an object of config values")
    grid = spec.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise WavegenError(f"{path}: 'grid' must map config keys to non-empty lists of values")
    settings = spec.get("settings", [{}])
    if not isinstance(settings, list) or not settings or not all(isinstance(s, dict) for s in settings):
        raise WavegenError(f"{path}: 'settings' must be a non-empty list of objects of config values")


def _check_keys(values: dict, where: str, path: Path) -> None:
    known = {f.name for f in fields(Config)}
    for k in values:
        if k in RESERVED:
            raise WavegenError(f"{path}: {where}: {k!r} cannot be set here ({RESERVED[k]})")
        if k not in known:
            near = difflib.get_close_matches(k, known, 1)
            raise WavegenError(f"{path}: {where}: unknown config key {k!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))


def _text(v) -> str:
    """A JSON value as `wavegen train` reads it on its command line (and as names show it)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(_text(x) for x in v)
    return v if isinstance(v, str) else json.dumps(v)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-") or "base"


def _setting_name(setting: dict, i: int) -> str:
    if "name" in setting:
        if not isinstance(setting["name"], str) or not setting["name"].strip():
            raise WavegenError(f"settings[{i}]: 'name' must be a non-empty string")
        return setting["name"]
    return ", ".join(f"{k}={_text(v)}" for k, v in setting.items()) or "base"


def expand(spec: dict, path: str | Path = "spec") -> list[Run]:
    """The runs of a spec, in order: each setting, each grid point within it, each seed."""
    path = Path(path)
    base, grid = spec.get("base", {}), spec.get("grid", {})
    _check_keys(base, "base", path)
    _check_keys(grid, "grid", path)
    runs, names = [], {}
    for i, setting in enumerate(spec.get("settings", [{}])):
        try:
            name = _setting_name(setting, i)
        except WavegenError as e:
            raise WavegenError(f"{path}: {e}") from None
        values = {k: v for k, v in setting.items() if k != "name"}
        _check_keys(values, f"settings[{i}] ({name!r})", path)
        both = sorted(set(values) & set(grid))
        if both:
            raise WavegenError(f"{path}: {both[0]!r} is in both settings[{i}] ({name!r}) and the grid")
        for point in itertools.product(*grid.values()):
            extra = dict(zip(grid, point))
            label = ", ".join([name] * bool(spec.get("settings")) + [f"{k}={_text(v)}" for k, v in extra.items()]) or name
            if slug(label) in names:
                raise WavegenError(f"{path}: settings {names[slug(label)]!r} and {label!r} get the same folder name {slug(label)!r}")
            names[slug(label)] = label
            runs += [Run(f"{slug(label)}__seed{s}", label, s, {**base, **values, **extra}) for s in spec["seeds"]]
    return runs


def run_config(spec: dict, run: Run, out: Path) -> Config:
    """The config `wavegen train` will build for this run (JSON lists become the config's tuples)."""
    tuples = {f.name for f in fields(Config) if str(f.type).startswith("tuple")}
    values = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in run.overrides.items()}
    return make_config(spec.get("preset", "seed"), data=spec["data"], out=str(out / "runs" / run.name), seed=run.seed, **values)


def check_runs(spec: dict, runs: list[Run], path: str | Path, out: Path) -> None:
    """Build every run's config before any run starts: a bad value fails the sweep at once, not hours in."""
    for run in runs:
        try:
            run_config(spec, run, out)
        except WavegenError as e:
            raise WavegenError(f"{path}: setting {run.setting!r}: {e}") from None


def train_command(spec: dict, run: Run, out: Path, resume: bool) -> list[str]:
    run_dir = str(out / "runs" / run.name)
    if resume:
        return [sys.executable, "-m", "wavegen", "train", "--resume", run_dir]
    args = [x for k, v in run.overrides.items() if v is not None for x in ("--" + k.replace("_", "-"), _text(v))]
    return [sys.executable, "-m", "wavegen", "train", spec["data"], "--preset", spec.get("preset", "seed"),
            "--out", run_dir, "--seed", str(run.seed), *args]


def shown(cmd: list[str]) -> str:
    """A child's command as a user would type it."""
    return shlex.join(["python", *cmd[1:]])


# ---- the state of a run ---------------------------------------------------------------------------------------

def reached_end(run_dir: Path) -> bool:
    """Whether the newest checkpoint has reached the run's configured length (batches or epochs)."""
    ckpts = checkpoint.list_ckpts(run_dir)
    if not ckpts or not (run_dir / "config.json").exists():
        return False
    cfg = json.loads((run_dir / "config.json").read_text())
    step = int(checkpoint.PATTERN.match(ckpts[-1].name).group(1))
    if cfg.get("batches") is not None and step >= cfg["batches"]:
        return True
    if cfg.get("epochs") is None:
        return False
    try:
        return checkpoint.load(ckpts[-1])["epoch"] >= cfg["epochs"]
    except WavegenError:
        return False


def run_state(run_dir: Path) -> str:
    """'done', 'partial' (started: resume it) or 'new'."""
    if (run_dir / DONE).exists() or reached_end(run_dir):
        return "done"
    return "partial" if (run_dir / "config.json").exists() else "new"


def ended(run_dir: Path) -> bool:
    """After its process exited 0: whether the run reached its end (or stopped itself on divergence, as asked)."""
    return reached_end(run_dir) or bool(json.loads((run_dir / "config.json").read_text()).get("stop_on_divergence"))


def _mark_done(run_dir: Path, seconds: float) -> None:
    info = {"seconds": round(seconds, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    runfolder.atomic_write(run_dir / DONE, lambda f: f.write((json.dumps(info) + "\n").encode()))


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
    runfolder.atomic_write(out / "sweep.json", lambda f: f.write(text.encode()))


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
    rows = write_report(out)
    say(format_table(rows))
    say(f"wrote {out / 'table.md'}, table.csv, runs.csv" + (", curves.png" if (out / "curves.png").exists() else ""))
    return out


# ---- results ------------------------------------------------------------------------------------------------------

def _at_step(timing: list[tuple[int, float]], step: int | None) -> float | None:
    """Wall-clock seconds at a batch, interpolated between the run's timing rows (0 s at batch 0)."""
    if step is None or not timing:
        return None
    last = dict([(0, 0.0), *timing])  # a step timed twice (periodic and final checkpoint): the last one
    xs = sorted(last)
    return float(np.interp(step, xs, [last[x] for x in xs]))


def run_result(run_dir: Path, rows: list[dict] | None = None) -> dict:
    """One finished run's numbers: transition (batch, seconds), best and final score, divergence, speed."""
    rows = read_stats(run_dir) if rows is None else rows
    cfg = json.loads((run_dir / "config.json").read_text())
    found = analyse_rows(rows, cfg.get("best_metric"))
    log = RunLog.from_rows(rows)
    timing = [(r["step"], r["time/wall_s"]) for r in log.timings]
    scores = log.scores(found["metric"])[1] if found["metric"] else []
    batches = log.batches_done()
    wall = _at_step(timing, batches)
    return {"run": run_dir.name, "seed": cfg.get("seed"), "batches": batches, "metric": found["metric"],
            "transition_batch": found["transition"], "transition_s": _at_step(timing, found["transition"]),
            "best": found["best"]["value"] if found["best"] else None,
            "best_batch": found["best"]["step"] if found["best"] else None,
            "final": scores[-1] if scores else None, "divergence_batch": found["divergence"],
            "batches_per_s": batches / wall if wall else None}


def _finished(out: Path) -> list[tuple[str, list[tuple[dict, list[dict]]]]]:
    """Per setting (spec order): (result, stats rows) of each finished run."""
    meta = json.loads((out / "sweep.json").read_text())
    groups: dict[str, list] = {}
    for r in meta["runs"]:
        run_dir = out / "runs" / r["name"]
        groups.setdefault(r["setting"], [])
        if run_state(run_dir) == "done":
            rows = read_stats(run_dir)
            groups[r["setting"]].append((run_result(run_dir, rows), rows))
    return list(groups.items())


def aggregate(setting: str, results: list[dict]) -> dict:
    """Mean, std (over seeds, ddof 1) and count of found values of each field, for one setting."""
    row = {"setting": setting, "seeds": len(results), "metric": next((r["metric"] for r in results if r["metric"]), None)}
    for f in FIELDS:
        vals = [r[f] for r in results if r[f] is not None]
        row[f"{f}_mean"] = float(np.mean(vals)) if vals else None
        row[f"{f}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
        row[f"{f}_n"] = len(vals)
    return row


def summarise(out: str | Path) -> list[dict]:
    """One row per setting of the sweep in OUT, from its finished runs (see `aggregate`)."""
    return [aggregate(s, [res for res, _ in runs]) for s, runs in _finished(Path(out))]


# ---- the report -------------------------------------------------------------------------------------------------

def _g(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _cell(row: dict, f: str, missing: str = "n/a") -> str:
    n, found = row["seeds"], row[f"{f}_n"]
    if found == 0:
        return missing if n else "-"
    text = _g(row[f"{f}_mean"]) + (f" ± {_g(row[f'{f}_std'])}" if row[f"{f}_std"] is not None else "")
    return text + (f" ({found}/{n})" if found < n else "")


def format_table(rows: list[dict]) -> str:
    """The per-setting table in Markdown, ready to paste into docs."""
    m = next((r["metric"] for r in rows if r["metric"]), "score")
    head = ["setting", "seeds", "transition (batch)", "transition (s)", f"best {m}", "best at batch",
            f"final {m}", "divergence (batch)", "batches/s"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        cells = [r["setting"], str(r["seeds"]), _cell(r, "transition_batch", "not found"), _cell(r, "transition_s", "not found"),
                 _cell(r, "best"), _cell(r, "best_batch"), _cell(r, "final"), _cell(r, "divergence_batch", "none"),
                 _cell(r, "batches_per_s")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


NOTE = ("Mean ± std over seeds (finished runs only); (k/n): found in k of n seeds. Transition and divergence as "
        "`wavegen analyse` finds them (wavegen/evaluation/analysis.py); seconds interpolated from the checkpoints' wall clock; "
        "scores lower is better; batches/s includes scoring.")


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["setting"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_report(out: str | Path) -> list[dict]:
    """Write OUT/table.md, table.csv, runs.csv and curves.png from the finished runs; returns the table's rows."""
    out = Path(out)
    groups = _finished(out)
    rows = [aggregate(s, [res for res, _ in runs]) for s, runs in groups]
    per_run = [{"setting": s, **res} for s, runs in groups for res, _ in runs]
    for name, text in (("table.md", format_table(rows) + "\n\n" + NOTE + "\n"), ("table.csv", _csv(rows)),
                       ("runs.csv", _csv(per_run))):
        runfolder.atomic_write(out / name, lambda f, t=text: f.write(t.encode()))
    if per_run:
        plot_curves(out, groups)
    return rows


def _common(curves: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The steps every curve has, and the curves' values there stacked (runs, steps)."""
    steps = curves[0][0]
    for s, _ in curves[1:]:
        steps = np.intersect1d(steps, s)
    return steps, np.stack([y[np.searchsorted(s, steps)] for s, y in curves])


def _quality(rows: list[dict], metric: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    steps, values = RunLog.from_rows(rows).scores(metric)
    return (np.array(steps), np.array(values)) if steps else None


def _margin(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    b = RunLog.from_rows(rows).batches
    return np.array([r["step"] for r in b]), smooth(np.array([r["D/real"] - r["D/fake"] for r in b]), window(len(b)))


def plot_curves(out: Path, groups: list, path: Path | None = None, title: str | None = None) -> Path:
    """Quality (mean over seeds, shaded min-max, log y) and D's smoothed margin against batch, per setting;
    written to `path` (default OUT/curves.png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_q, ax_m) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    metric = None
    for i, (setting, runs) in enumerate(g for g in groups if g[1]):
        color = plt.get_cmap("tab10")(i % 10)
        metric = metric or runs[0][0]["metric"]
        label = f"{setting} (n={len(runs)})"
        q = [c for c in (_quality(rows, res["metric"]) for res, rows in runs) if c is not None]
        if q:
            steps, ys = _common(q)
            ax_q.plot(steps, ys.mean(0), color=color, marker=".", label=label)
            ax_q.fill_between(steps, ys.min(0), ys.max(0), color=color, alpha=0.2, lw=0)
        steps, ys = _common([_margin(rows) for _, rows in runs])
        ax_m.plot(steps, ys.mean(0), color=color, label=label)
        ax_m.fill_between(steps, ys.min(0), ys.max(0), color=color, alpha=0.15, lw=0)
    ax_q.set_yscale("log")
    for axis in (ax_q.yaxis.set_major_formatter, ax_q.yaxis.set_minor_formatter):
        axis(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))  # 3, 4, not 3 x 10^0
    ax_q.set_ylabel(f"{metric or 'quality'} (lower is better)")
    ax_m.axhline(0, color="gray", lw=0.8)
    ax_m.set_ylabel("D margin: logit real - fake (smoothed)")
    ax_m.set_xlabel("batch")
    for ax in (ax_q, ax_m):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a sweep without scores draws no quality curves
            ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(title or f"sweep {out.name}: mean over seeds, shaded min to max")
    fig.tight_layout()
    path = path or out / "curves.png"
    runfolder.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path
