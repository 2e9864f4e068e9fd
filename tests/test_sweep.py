"""`wavegen sweep`: runs of settings x seeds as subprocesses, resumable, tabulated."""
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import TINY, run_cli
from wavegen import checkpoint
from wavegen.cli import main
from wavegen.sweep import DONE, aggregate, format_table, locked, reached_end, run_sweep, summarise

BASE = {**TINY, "batches": 20, "eval_every": 10, "eval_n": 100, "ckpt_every": 10, "layer_every": 0}
LONG = 300  # batches of the run the resume test interrupts: long enough to catch it between checkpoints


def write_spec(path, data, **spec):
    path.write_text(json.dumps({"preset": "post", "data": str(data), "base": BASE, "seeds": [0, 1], **spec}))
    return path


def final_G(run):
    return checkpoint.load(checkpoint.list_ckpts(run)[-1])["G"]


@pytest.fixture(scope="module")
def finished(gauss_data, tmp_path_factory):
    """A 2 settings x 2 seeds grid, trained two at a time."""
    tmp = tmp_path_factory.mktemp("sweep")
    spec = write_spec(tmp / "grid.json", gauss_data, grid={"lr_g": [5e-5, 2e-4]})
    return spec, run_sweep(spec, tmp / "out", jobs=2, threads=1)


def test_grid_runs_end_to_end(finished):
    spec, out = finished
    names = sorted(p.name for p in (out / "runs").iterdir())
    assert names == ["lr-g-0.0002__seed0", "lr-g-0.0002__seed1", "lr-g-5e-05__seed0", "lr-g-5e-05__seed1"]
    for name in names:
        run = out / "runs" / name
        cfg = json.loads((run / "config.json").read_text())
        assert (cfg["lr_g"], cfg["seed"], cfg["ngf"]) == (2e-4 if "0.0002" in name else 5e-5, int(name[-1]), 32)
        assert (run / DONE).exists() and reached_end(run)
    with open(out / "table.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["setting"] for r in table] == ["lr_g=5e-05", "lr_g=0.0002"]  # spec order
    assert all(r["seeds"] == "2" and float(r["batches_per_s_mean"]) > 0 and float(r["best_mean"]) > 0 for r in table)
    md = (out / "table.md").read_text().splitlines()
    assert md[0].startswith("| setting | seeds | transition (batch) |") and "best frechet" in md[0]
    assert [line.split(" | ")[0] for line in md[2:4]] == ["| lr_g=5e-05", "| lr_g=0.0002"] and md[4] == ""
    with open(out / "runs.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    rows = summarise(out)
    assert [r["setting"] for r in rows] == ["lr_g=5e-05", "lr_g=0.0002"]
    assert all(r["best_batch_mean"] in (10, 15, 20) and r["best_n"] == 2 for r in rows)
    assert len(json.loads((out / "sweep.json").read_text())["runs"]) == 4


def test_rerun_of_a_finished_sweep_trains_nothing(finished, capsys):
    spec, out = finished
    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/stats.jsonl")}
    run_sweep(spec, out, jobs=2, threads=1)
    assert "4 done, 0 to resume, 0 to start" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/stats.jsonl")} == before
    run_sweep(spec, out, report_only=True)
    assert "| lr_g=0.0002 | 2 |" in capsys.readouterr().out


def test_a_sweep_over_discriminator_ensembles(gauss_data, tmp_path):
    """Sub-discriminators are one more grid axis: each run logs its own heads' losses."""
    spec = write_spec(tmp_path / "grid.json", gauss_data, seeds=[0],
                      base={**BASE, "batches": 4, "eval_every": 0, "ckpt_every": 4, "loss": "lsgan", "ndf": 16},
                      grid={"d_arch": ["mpd", "msd,mrd"]})
    out = run_sweep(spec, tmp_path / "out", jobs=2, threads=1)
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 2 and all((run / DONE).exists() for run in runs)
    for run in runs:
        heads = json.loads((run / "config.json").read_text())["d_arch"].split(",")
        last = json.loads([line for line in (run / "stats.jsonl").read_text().splitlines() if "loss/G" in line][-1])
        assert {k for k in last if k.startswith("loss/D/")} == {f"loss/D/{h}" for h in heads}


def test_aggregate_and_table_cells():
    res = [{"metric": "frechet", "transition_batch": 800, "transition_s": 80.0, "best": 7.0, "best_batch": 1100,
            "final": 9.0, "divergence_batch": None, "batches_per_s": 10.0},
           {"metric": "frechet", "transition_batch": None, "transition_s": None, "best": 9.0, "best_batch": 900,
            "final": 11.0, "divergence_batch": None, "batches_per_s": 12.0}]
    row = aggregate("post", res)
    assert row["seeds"] == 2 and row["best_mean"] == 8.0 and row["best_std"] == pytest.approx(2 ** 0.5)
    line = format_table([row, aggregate("empty", [])]).splitlines()
    assert line[2] == "| post | 2 | 800 (1/2) | 80 (1/2) | 8 ± 1.41 | 1000 ± 141 | 10 ± 1.41 | none | 11 ± 1.41 |"
    assert line[3] == "| empty | 0 | - | - | - | - | - | - | - |"


@pytest.mark.parametrize("spec, message", [
    ('{"data": "DATA", "base": {"lr_gg": 1e-4}, "seeds": [0]}', "base: unknown config key 'lr_gg' (did you mean 'lr_g'?)"),
    ('{"data": "DATA", "settings": [{"name": "x", "dropot_g": 0}], "seeds": [0]}', "unknown config key 'dropot_g'"),
    ('{"data": "DATA", "seeds": [0],', "not valid JSON"),
    ('{"data": "DATA", "grid": {"beta1": [0.5]}, "seeds": []}', "no seeds"),
    ('{"data": "DATA", "grid": {"beta1": [0.5, 1.5]}, "seeds": [0]}', "setting 'beta1=1.5': "),
    ('{"data": "DATA", "base": {"seed": 3}, "seeds": [0]}', "'seed' cannot be set here"),
    ('{"data": "nowhere", "seeds": [0]}', "data folder 'nowhere' not found"),
])
def test_spec_errors_are_one_line(gauss_data, tmp_path, capsys, spec, message):
    path = tmp_path / "bad.json"
    path.write_text(spec.replace("DATA", str(gauss_data)))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"wavegen: error: {path}: ") and message in err, err
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_spec_error_from_the_command_line(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    r = run_cli("sweep", tmp_path / "bad.json", "--out", tmp_path / "out")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr


def test_a_different_spec_into_the_same_out_is_refused(finished, gauss_data, tmp_path, capsys):
    _, out = finished
    other = write_spec(tmp_path / "other.json", gauss_data, grid={"lr_g": [5e-5]})
    assert main(["sweep", str(other), "--out", str(out), "--dry-run"]) == 2
    assert capsys.readouterr().err == f"wavegen: error: {out}: holds a sweep of a different spec ('grid' differs); give another --out, or remove {out}\n"


def test_a_sweep_still_running_in_out_is_refused(finished, capsys):
    spec, out = finished
    with locked(out):  # as a running sweep (or a run it started, which inherits the lock) holds it
        assert main(["sweep", str(spec), "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"wavegen: error: {out}: another sweep, or a run it started, is still running there\n"


def wait_for(cond, proc, timeout=60):
    deadline = time.time() + timeout
    while not cond():
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_killed_sweep_resumes_without_redoing_finished_runs(gauss_data, tmp_path):
    settings = [{"name": "short"}, {"name": "long", "batches": LONG, "ckpt_every": 50, "eval_every": 50}]
    spec = write_spec(tmp_path / "resume.json", gauss_data, settings=settings, seeds=[0])
    out = tmp_path / "out"
    short, long = out / "runs" / "short__seed0", out / "runs" / "long__seed0"
    with open(tmp_path / "first.log", "w") as log:
        p = subprocess.Popen([sys.executable, "-m", "wavegen", "sweep", str(spec), "--out", str(out), "--threads", "1"],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: (short / DONE).exists() and checkpoint.list_ckpts(long), p)
    os.killpg(p.pid, signal.SIGKILL)  # the sweep and the run it is training, at once
    p.wait()
    wait_for_group_gone(p.pid)
    assert not (long / DONE).exists() and not reached_end(long), "the long run finished before the kill"
    before = {f: f.stat().st_mtime_ns for f in short.rglob("*") if f.is_file()}

    r = run_cli("sweep", spec, "--out", out, "--threads", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 done, 1 to resume, 0 to start" in r.stdout
    assert "starting run" not in r.stdout and "resuming run long__seed0" in r.stdout
    assert {f: f.stat().st_mtime_ns for f in short.rglob("*") if f.is_file()} == before  # not redone
    assert re.search(r"resuming .* from ckpt_\d+\.pt", (out / "logs" / "long__seed0.log").read_text())  # not from batch 0
    assert (long / DONE).exists() and reached_end(long)

    # the same run trained straight through, by a sweep of that setting alone
    straight = run_sweep(write_spec(tmp_path / "straight.json", gauss_data, settings=settings[1:], seeds=[0]),
                         tmp_path / "straight", threads=1)
    a, b = final_G(long), final_G(straight / "runs" / "long__seed0")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def wait_for_group_gone(pgid, timeout=10):
    """A killed process group's runs keep the sweep's lock until the kernel has closed their files."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
