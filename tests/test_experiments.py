"""Smoke runs of every experiment (tiny settings, seconds each), resuming, and the trend criterion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dropout_theory.experiments import EXPERIMENTS, ResultStore, RunConfig, results_path
from dropout_theory.experiments.analysis import PairedTrend, by_setting, diverged_units, mean_se, paired_trend
from dropout_theory.experiments.protocol import parse_key, unit_key

EXPECTED = {
    "overfitting": {"config": {"standard", "dropout"}},
    "regularisers": {"config": {"standard", "l2", "max-norm", "dropout", "dropout+max-norm", "gaussian", "dropconnect"}},
    "dataset-size": {"config": {"standard", "dropout"}, "size": {"50", "200"}},
    "dropout-rate": {"mode": {"n-fixed", "qn-fixed"}, "keep": {"0.5", "1.0"}},
}


def _smoke(name: str, directory: Path, seeds: int = 2) -> ResultStore:
    store = ResultStore(results_path(name, "smoke", directory), {"experiment": name})
    EXPERIMENTS[name].run(RunConfig(scale="smoke", seeds=seeds, progress=False), store)
    return store


def test_every_experiment_is_registered() -> None:
    assert set(EXPERIMENTS) >= set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_smoke_run_stores_every_unit(name: str, tmp_path: Path) -> None:
    store = _smoke(name, tmp_path / "a")
    settings = {axis: {parse_key(k)[axis] for k in store.units} for axis in EXPECTED[name]}
    assert settings == EXPECTED[name]
    assert {parse_key(k)["seed"] for k in store.units} == {"0", "1"}
    for value in store.units.values():
        assert "diverged" in value or 0.0 <= (value.get("test_error") if "test_error" in value else value["history"]["test_error"][-1]) <= 1.0
    on_disk = json.loads(results_path(name, "smoke", tmp_path / "a").read_text())
    assert on_disk["units"] == json.loads(json.dumps(store.units))


def test_smoke_runs_are_reproducible(tmp_path: Path) -> None:
    runs = [json.loads(results_path("overfitting", "smoke", _smoke("overfitting", tmp_path / d).path.parent).read_text()) for d in "ab"]
    assert runs[0]["units"] == runs[1]["units"]  # same seeds -> same numbers, epoch by epoch


def test_interrupted_run_resumes_without_recomputing(tmp_path: Path) -> None:
    first = _smoke("regularisers", tmp_path, seeds=1)
    path = results_path("regularisers", "smoke", tmp_path)
    stored = json.loads(path.read_text())
    # plant a marker in a finished unit: a resumed run must keep it, not recompute the unit
    key = unit_key(config="dropout", seed=0)
    stored["units"][key]["marker"] = "kept"
    path.write_text(json.dumps(stored))
    resumed = _smoke("regularisers", tmp_path, seeds=2)
    assert resumed.units[key]["marker"] == "kept"
    assert len(resumed.units) == 2 * len(first.units)


def test_regularisers_records_monte_carlo_curves(tmp_path: Path) -> None:
    store = _smoke("regularisers", tmp_path, seeds=1)
    unit = store.get(unit_key(config="dropout", seed=0))
    assert unit["mc_k"] == [1, 2, 5] and len(unit["mc_test_error"]) == 3
    assert "mc_k" not in store.get(unit_key(config="standard", seed=0))


def test_paper_scale_needs_the_mnist_directory(tmp_path: Path) -> None:
    store = ResultStore(results_path("overfitting", "paper", tmp_path))
    with pytest.raises(ValueError, match="--data-path DIR"):
        EXPERIMENTS["overfitting"].run(RunConfig(scale="paper", seeds=1, progress=False), store)


def test_paired_trend_criterion() -> None:
    values = {"a": {s: 0.10 for s in range(5)}, "b": {s: 0.12 + 0.001 * s for s in range(5)}}
    trend = paired_trend(values, better="a", worse="b")
    assert trend.n == 5 and trend.positive == 5 and trend.sign_p == pytest.approx(1 / 32)
    assert trend.holds
    # four of five seeds is not enough for the sign test at 0.05 (p = 6/32)
    four = PairedTrend("a", "b", (0.02, 0.02, 0.02, 0.02, -0.001))
    assert four.sign_p == pytest.approx(6 / 32) and not four.holds
    # all positive but the mean within two standard errors: no margin
    noisy = PairedTrend("a", "b", (0.001, 0.001, 0.001, 0.001, 0.2))
    assert noisy.mean < 2 * noisy.se and not noisy.holds
    # fewer than five seeds never make a claim
    assert not PairedTrend("a", "b", (0.1, 0.1, 0.1, 0.1)).holds


def test_summaries() -> None:
    mean, se = mean_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and se == pytest.approx((5 / 3) ** 0.5 / 2)
    units = {"config=a/seed=0": {"test_error": 0.1}, "config=a/seed=1": {"diverged": "nan"}, "config=b/seed=0": {"test_error": 0.2}}
    assert by_setting(units, "test_error") == {"a": {0: 0.1}, "b": {0: 0.2}}
    assert diverged_units(units) == ["config=a/seed=1"]
