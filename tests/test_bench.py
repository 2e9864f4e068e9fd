"""The benchmarks' own code runs (their figures come from running them in full, not from here)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from reference_loop import run  # noqa: E402


def test_reference_loop_trains(gauss_data):
    r = run(str(gauss_data), batches=7, ngf=32, ndf=32, batch_size=20, log_every=2)
    assert r["batches"] == 7 and r["seconds"] > 0 and r["last"].startswith("loss_g:")
