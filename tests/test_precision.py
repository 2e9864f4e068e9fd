"""`--amp auto`: bf16 only where a step is big enough on bf16 hardware, decided once and saved in the run's config."""
import json

import torch

from conftest import tiny_config
from wavegen import train
from wavegen.config import config_from_dict, make_config
from wavegen.training import precision
from wavegen.training.precision import MIN_GFLOP, auto_amp, forward_gflops, resolve_amp

CPU = torch.device("cpu")


def test_the_step_is_counted_without_memory_or_random_draws():
    state = torch.get_rng_state()
    small, wide = (forward_gflops(make_config("fast", ngf=w, ndf=w), 1, 100) for w in (64, 128))
    assert torch.equal(state, torch.get_rng_state())  # the run's first draws are still its initial weights
    assert 0 < small < wide
    paper = forward_gflops(make_config("wavegan"), 1, 16384)
    assert 150 < paper < 300  # WaveGAN at the paper's size: about 217 GFLOP a batch


def test_auto_needs_bf16_units_and_a_big_enough_step(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_units", lambda: None)
    assert auto_amp(CPU, 1000.0) == (False, "this CPU has no bf16 units")
    monkeypatch.setattr(precision, "cpu_bf16_units", lambda: "AMX")
    on, why = auto_amp(CPU, MIN_GFLOP["cpu"] / 2)
    assert not on and "too little" in why
    on, why = auto_amp(CPU, MIN_GFLOP["cpu"] * 2)
    assert on and "AMX" in why
    assert resolve_amp("false", CPU, 1000.0) == ("false", "as configured")  # asked for: never overridden
    assert resolve_amp("true", CPU, 0.0) == ("true", "as configured")


def test_the_choice_is_saved_and_old_configs_still_load(gauss_data, tmp_path, capsys):
    run = train(tiny_config(gauss_data, tmp_path / "r", preset="fast", batches=2, eval_every=0))
    saved = json.loads((run / "config.json").read_text())["amp"]
    assert saved in ("true", "false") and f"bf16 autocast: {'on' if saved == 'true' else 'off'} (auto: " in \
        capsys.readouterr().out
    assert make_config("post").amp == "false" and make_config("fast").amp == "auto"
    old = make_config("post").to_dict()
    old["amp"] = True  # config.json from when amp was a bool
    assert config_from_dict(old).amp == "true"
