"""The gal-boston experiment: a smoke run writes one resumable unit per split."""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from dropout_theory.experiments import EXPERIMENTS, ResultStore, RunConfig
from dropout_theory.uci import Standardiser, load_boston, random_split


def test_boston_data_and_splits() -> None:
    X, y = load_boston()
    assert X.shape == (506, 13) and y.shape == (506,)
    split = random_split(506, seed=3)
    parts = np.concatenate([split.train, split.validation, split.test])
    assert sorted(parts.tolist()) == list(range(506))  # disjoint and complete
    assert (len(split.train), len(split.validation), len(split.test)) == (364, 91, 51)
    s = Standardiser.fit(X[split.train])
    assert np.allclose(s(X[split.train]).mean(0), 0, atol=1e-12) and np.allclose(s.inverse(s(X)), X)


def test_smoke_run_writes_one_unit_per_split_and_resumes(tmp_path) -> None:
    threads = torch.get_num_threads()
    path = tmp_path / "gal-boston-smoke.json"
    store = ResultStore(path, {"experiment": "gal-boston"})
    EXPERIMENTS["gal-boston"].run(RunConfig(scale="smoke", seeds=1, progress=False), store)
    units = json.loads(path.read_text())["units"]
    assert sorted(units) == ["split=0", "split=1"]
    for unit in units.values():
        assert all(math.isfinite(unit[k]) for k in ("mc_rmse", "ws_rmse", "mc_ll", "ws_ll"))
        assert 0 < unit["mc_rmse"] < 20 and unit["drop_rate"] in (0.05, 0.1)
        assert unit["n_test"] == 51 and len(unit["grid"]) == 2
    assert torch.get_num_threads() == threads  # the experiment restores the thread count
    before = path.stat().st_mtime_ns
    EXPERIMENTS["gal-boston"].run(RunConfig(scale="smoke", seeds=1, progress=False), ResultStore(path))
    assert path.stat().st_mtime_ns == before  # nothing left to do: no unit recomputed
