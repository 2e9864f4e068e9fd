"""Transition and divergence found in statistics with a known shape."""
import numpy as np

from wavegen.evaluation.analysis import analyse_rows


def rows_with(margin, loss_g, evals=None):
    rows = [{"step": i + 1, "epoch": 0, "loss/G": float(g), "loss/D": 1.0, "D/real": m / 2, "D/fake": -m / 2,
             "grad_norm/G": 1.0, "grad_norm/D": 1.0} for i, (m, g) in enumerate(zip(margin, loss_g))]
    for step, value in (evals or []):
        rows.append({"step": step, "eval/frechet": value})
    return sorted(rows, key=lambda r: r["step"])


def test_margin_transition_and_no_divergence():
    rng = np.random.default_rng(0)
    steps = np.arange(3000)
    margin = np.where(steps < 900, 8.0, 0.5) + rng.normal(0, 0.3, 3000)  # garbage phase, then a sharp drop
    loss_g = np.where(steps < 900, 4.0, 1.0) + rng.normal(0, 0.1, 3000)
    found = analyse_rows(rows_with(margin, loss_g))
    assert 850 <= found["transition"] <= 950
    assert found["divergence"] is None


def test_drift_after_the_minimum_is_divergence():
    rng = np.random.default_rng(1)
    steps = np.arange(8000)
    margin = np.where(steps < 900, 8.0, 0.5 + np.clip(steps - 4000, 0, None) / 1000) + rng.normal(0, 0.3, 8000)
    loss_g = np.where(steps < 900, 4.0, 1.0 + np.clip(steps - 4000, 0, None) / 2000) + rng.normal(0, 0.1, 8000)
    found = analyse_rows(rows_with(margin, loss_g))
    assert 850 <= found["transition"] <= 950
    assert 4500 <= found["divergence"] <= 6500


def test_quality_scores_take_precedence():
    margin, loss_g = np.full(3000, 0.5), np.full(3000, 1.0)  # no garbage phase visible in D's margin
    evals = [(s, 100.0 if s < 1200 else 1.0 if s < 2400 else 80.0) for s in range(100, 3001, 100)]
    found = analyse_rows(rows_with(margin, loss_g, evals))
    assert found["transition_margin"] is None
    assert found["transition"] == 1200 and found["divergence"] == 2400
    assert found["best"] == {"step": 1200, "value": 1.0} and found["metric"] == "frechet"


def test_flat_run_has_no_transition():
    found = analyse_rows(rows_with(np.full(500, 0.3), np.full(500, 0.7)))
    assert found["transition"] is None and found["divergence"] is None


def test_quality_transition_measured_from_the_garbage_peak():
    margin, loss_g = np.full(2000, 0.5), np.full(2000, 1.0)
    # untrained G scores 10, the garbage it learns first scores 40, then the transition to 2
    evals = [(s, 10.0 if s == 100 else 40.0 if s < 900 else 2.0) for s in range(100, 2001, 100)]
    found = analyse_rows(rows_with(margin, loss_g, evals))
    assert found["transition"] == 900 and found["divergence"] is None


def test_best_and_transition_follow_the_metrics_direction():
    """A metric with a target is read as its distance from it: c2st's best is nearest 0.5 (not the lowest
    accuracy), and a ratio's is nearest 1 on a log scale, where 0 (one repeated sample) is the worst."""
    def rows(metric, values):
        out = rows_with(np.full(len(values) * 100, 0.5), np.full(len(values) * 100, 1.0))
        return out + [{"step": 100 * (i + 1), f"eval/{metric}": v} for i, v in enumerate(values)]

    c2st = [1.0, 1.0, 1.0, 0.9, 0.7, 0.55, 0.52, 0.55, 0.3]  # 0.3: a classifier fitted to noise, not better
    found = analyse_rows(rows("c2st", c2st), "c2st")
    assert found["best"] == {"step": 700, "value": 0.52} and found["transition"] == 600  # half-way in log scale
    spread = [8.0, 8.0, 7.0, 1.5, 1.1, 0.0, 0.0, 0.0]  # too much variety, then right, then mode collapse
    found = analyse_rows(rows("fit_spread", spread), "fit_spread")
    assert found["best"] == {"step": 500, "value": 1.1} and found["divergence"] == 600
    found = analyse_rows(rows("nn_ratio", [float("nan"), float("nan")]), "nn_ratio")  # no held-out data
    assert found["best"] is None and found["transition"] is None


def test_best_checkpoint_follows_the_metrics_direction(gauss_data, tmp_path):
    """best.pt is kept at the best score in the metric's own direction (here c2st, whose ideal is 0.5)."""
    import json

    from wavegen import make_config, train
    from wavegen import checkpoint

    run = train(make_config("fast", data=str(gauss_data), out=str(tmp_path / "r"), batches=12, batch_size=20,
                            eval_every=3, eval_n=40, eval_metrics=("c2st",), best_metric="c2st"))
    scores = {r["step"]: r["eval/c2st"] for r in map(json.loads, open(run / "stats.jsonl")) if "eval/c2st" in r}
    best = min(scores, key=lambda s: (abs(scores[s] - 0.5), s))
    assert checkpoint.load(checkpoint.find(run, best=True))["step"] == best
