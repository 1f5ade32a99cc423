"""The results cache: atomic writes, resume after interruption, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dropout_theory.experiments import ResultStore, RunConfig, load_results
from dropout_theory.experiments.registry import _DEFINED, experiment
from dropout_theory.__main__ import main


def test_put_persists_each_unit_and_resumes(tmp_path: Path) -> None:
    path = tmp_path / "x-small.json"
    store = ResultStore(path, {"experiment": "x"})
    store.put("seed=0", {"err": 0.1})
    assert json.loads(path.read_text())["units"] == {"seed=0": {"err": 0.1}}
    again = ResultStore(path)
    assert "seed=0" in again and again.get("seed=0") == {"err": 0.1}
    assert again.metadata == {"experiment": "x"}
    assert not list(tmp_path.glob("*.partial"))


def test_failed_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x-small.json"
    store = ResultStore(path)
    store.put("a", 1)
    before = path.read_text()
    with pytest.raises(TypeError):
        store.put("b", object())  # not JSON-serialisable
    assert path.read_text() == before
    assert not list(tmp_path.glob("*.partial"))


def test_malformed_file_and_missing_results_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad-small.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a results file"):
        ResultStore(bad)
    with pytest.raises(FileNotFoundError, match="reproduce nothing --scale small"):
        load_results("nothing", "small", tmp_path)


def test_run_config_validates() -> None:
    with pytest.raises(ValueError, match="scale must be one of"):
        RunConfig(scale="huge")
    with pytest.raises(ValueError, match="seeds must be >= 1, got 0"):
        RunConfig(seeds=0)


def test_reproduce_command_runs_resumes_and_skips_done_units(tmp_path: Path) -> None:
    calls: list[str] = []

    @experiment("test-counting", description="counts units")
    def counting(config: RunConfig, store: ResultStore) -> None:
        for seed in range(config.seeds):
            key = f"seed={seed}"
            if key not in store:
                calls.append(key)
                store.put(key, seed * seed)

    try:
        args = ["reproduce", "test-counting", "--scale", "smoke", "--results-dir", str(tmp_path), "--device", "cpu", "--no-progress"]
        assert main([*args, "--seeds", "2"]) == 0
        assert main([*args, "--seeds", "3"]) == 0
        assert calls == ["seed=0", "seed=1", "seed=2"]
        assert load_results("test-counting", "smoke", tmp_path).units == {"seed=0": 0, "seed=1": 1, "seed=2": 4}
    finally:
        _DEFINED.pop("test-counting", None)
