"""The benchmark harness: memory accounting, timing bookkeeping, registry, command. No timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dropout_theory.benchmarks import Bench, metric, peak_memory, run_bench, time_interleaved
from dropout_theory.benchmarks.dropconnect import bench_dropconnect_memory, naive_per_example_dropconnect
from dropout_theory.benchmarks.dropout import bench_low_memory_mlp
from dropout_theory.benchmarks.report import format_table
from dropout_theory.benchmarks.timing import quartiles, time_ratio, Timing
from dropout_theory.devices import seeded_generator

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


def test_cpu_peak_memory_counts_live_tensors_made_during_the_call() -> None:
    n = 1 << 18
    existing = torch.ones(4 * n)  # allocated before: not counted

    def work() -> None:
        a = torch.empty(n)
        b = torch.empty(n)
        del a
        c = torch.empty(2 * n)  # live now: b and c, 3n floats; a's n floats were freed
        del b, c

    assert peak_memory(work, CPU) == 3 * n * 4
    assert peak_memory(lambda: existing.add_(existing), CPU) == 0


def test_quartiles_match_numpy() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0]
    assert quartiles(values) == pytest.approx(tuple(np.percentile(values, [25, 50, 75])))
    assert quartiles([2.0]) == (2.0, 2.0, 2.0)


def test_interleaved_rounds_rotate_and_skip_warmup() -> None:
    calls: list[str] = []
    timings = time_interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b"), "c": lambda: calls.append("c")},
        device=CPU,
        warmup=2,
        repeats=4,
    )
    assert calls == list("abc" "bca" "cab" "abc" "bca" "cab")
    assert {name: len(t.seconds) for name, t in timings.items()} == {"a": 4, "b": 4, "c": 4}
    with pytest.raises(ValueError, match="repeats must be a positive integer, got 0"):
        time_interleaved({"a": lambda: None}, device=CPU, repeats=0)


def test_time_ratio_pairs_rounds() -> None:
    ratio = time_ratio(Timing((1.0, 2.0, 4.0)), Timing((2.0, 2.0, 2.0)))
    assert ratio["value"] == pytest.approx(1.0)  # median 2 / median 2
    assert ratio["per_round_median"] == pytest.approx(1.0)
    assert (ratio["per_round_q1"], ratio["per_round_q3"]) == pytest.approx((0.75, 1.5))


def test_metric_records_whether_the_target_is_met() -> None:
    assert metric("r", 0.5, "x", ("<=", 0.6))["met"] is True
    assert metric("r", 0.7, "x", ("<=", 0.6))["met"] is False
    assert metric("r", 0.9, "x", (">=", 0.8)) == {"metric": "r", "value": 0.9, "unit": "x", "target": ">= 0.8", "met": True}
    with pytest.raises(ValueError, match="target comparison must be one of"):
        metric("r", 1.0, "x", ("=", 1.0))


def test_registry_skips_missing_parts_of_the_package_and_raises_on_other_import_errors() -> None:
    missing = Bench("m", "", "dropout_theory.benchmarks.no_such_module", "f")
    assert run_bench(missing, CPU) == {"name": "m", "skipped": "dropout_theory.benchmarks.no_such_module not available"}
    missing_attribute = Bench("a", "", "dropout_theory.benchmarks.dropout", "bench_dropout_speed", requires=("dropout_theory.functional:no_such_op",))
    assert run_bench(missing_attribute, CPU)["skipped"] == "dropout_theory.functional.no_such_op not available"
    with pytest.raises(ModuleNotFoundError):
        Bench("t", "", "no_such_third_party_module", "f").load()
    assert run_bench(Bench("g", "", "x", "f", cuda_only=True), CPU)["skipped"].startswith("needs CUDA")
    assert "skipped: dropout_theory" in format_table({"m": run_bench(missing, CPU)})


def test_low_memory_mlp_bench_memory_ordering() -> None:
    # Memory is deterministic (unlike time): keeping only the generator state must beat a
    # one-byte mask, which must beat torch's four-byte float factor.
    result = bench_low_memory_mlp(CPU, quick=True, timed=False)
    memory = result["memory_bytes"]
    assert memory["nn.Dropout(low_memory=True)"] < memory["nn.Dropout (bool mask)"] < memory["torch nn.Dropout"]
    saved = memory["torch nn.Dropout"] - memory["nn.Dropout(low_memory=True)"]
    # Per activation element: six 4-byte float masks not kept, minus the transient 4-byte
    # uniforms and 1-byte mask of one redraw in backward: 19 bytes = 19/4 activation tensors.
    elements = result["activation_tensor_bytes"] // 4
    assert saved >= 0.98 * 19 * elements
    json.dumps(result)  # JSON-ready


def test_naive_per_example_dropconnect_matches_a_loop_over_examples() -> None:
    x = torch.randn(5, 7, dtype=torch.float64, generator=seeded_generator(0, "cpu"))
    weight = torch.randn(3, 7, dtype=torch.float64, generator=seeded_generator(1, "cpu"))
    bias = torch.randn(3, dtype=torch.float64, generator=seeded_generator(2, "cpu"))
    out = naive_per_example_dropconnect(x, weight, bias, 0.4, seeded_generator(3, "cpu"))
    masks = torch.rand((5, 3, 7), generator=seeded_generator(3, "cpu")) < 0.6
    expected = torch.stack([torch.nn.functional.linear(x[b], weight * masks[b] / 0.6, bias) for b in range(5)])
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_dropconnect_bench_runs_against_a_stand_in() -> None:
    # The real op comes from another part of the package; the naive op measured against
    # itself must use exactly the same memory (ratio 1, so the 1/4 target is missed).
    def stand_in(x, weight, bias, p, training=True, *, per_example=False, generator=None):
        assert training and per_example
        return naive_per_example_dropconnect(x, weight, bias, p, generator)

    result = bench_dropconnect_memory(CPU, quick=True, dropconnect_linear=stand_in)
    for mode, memory in result["memory_bytes"].items():
        assert memory["naive B x out x in"] == memory["dropconnect_linear(per_example=True)"] >= 32 * 256 * 256 * 4, mode
    memory_ratios = [m for m in result["metrics"] if m["metric"].startswith("peak memory vs naive")]
    assert len(memory_ratios) == 2 and all(m["value"] == 1.0 and m["met"] is False for m in memory_ratios)
    json.dumps(result)


def test_bench_command_writes_json(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    done = subprocess.run(
        # cuda-bandwidth is skipped on a CPU: the command's bookkeeping is tested without a long bench.
        [sys.executable, "-m", "dropout_theory", "bench", "--only", "cuda-bandwidth", "--device", "cpu", "--json", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(path.read_text())
    assert report["machine"]["torch"] == torch.__version__
    assert report["machine"]["device"] == "cpu"
    assert set(report["benches"]) == {"cuda-bandwidth"}
    assert report["command"].startswith("python -m dropout_theory bench --only cuda-bandwidth --device cpu")
    assert "skipped: needs CUDA" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "dropout_theory", "bench", "--only", "nope"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "unknown bench(es): nope" in bad.stderr


def test_headlines_apply_the_issue_targets_to_benches_written_elsewhere() -> None:
    from dropout_theory.benchmarks.registry import exact_ensemble_headline, mc_predict_headline

    ensemble = {"sizes": {"20": {"incremental": {"median_s": 0.4}, "speedup_vs_loop": 90.0},
                          "24": {"incremental": {"median_s": 12.0}, "speedup_vs_loop": 80.0}}}
    first, second = exact_ensemble_headline(ensemble, CPU)[:2]
    assert (first["target"], first["met"]) == ("<= 0.5", True)
    assert (second["target"], second["met"]) == ("<= 10", False)
    mc = {"speedup": 4.0, "speedup_of_minima": 3.5}
    assert mc_predict_headline(mc, CPU)[0]["met"] is True
    assert mc_predict_headline(mc, torch.device("cuda"))[0] == metric("speedup vs T-pass loop (medians)", 4.0, "x", (">=", 10.0))
