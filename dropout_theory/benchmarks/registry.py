"""The benches ``python -m dropout_theory bench`` knows, and how one is run.

A bench lives in a module and is loaded only when run. Some measure features that other
parts of the package provide (exact ensembles, MC prediction, per-example DropConnect):
while those are not installed in this checkout the bench reports "skipped: <module> not
available" instead of failing, and runs as soon as they are.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dropout_theory.benchmarks.report import metric


@dataclass(frozen=True)
class Bench:
    """A named benchmark: ``module.function(device=..., quick=...) -> dict``.

    ``requires`` names further ``"module:attribute"`` pairs the bench measures; when one is
    missing the bench is skipped. ``cuda_only`` benches are skipped on other devices.
    ``headline`` turns the result of a bench that reports no ``metrics`` into them, with the
    issue's targets (for benches written to another result format).
    """

    name: str
    description: str
    module: str
    function: str
    requires: tuple[str, ...] = ()
    cuda_only: bool = False
    headline: Callable[[dict, torch.device], list[dict]] | None = None

    def load(self) -> Callable[..., dict] | str:
        """The bench function, or the reason it is not available."""
        for dependency in (f"{self.module}:{self.function}", *self.requires):
            module_name, attribute = dependency.split(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as err:
                # Only a missing part of *this package* is an optional feature; a missing
                # third-party module or a broken import is an error to show, not to skip.
                if err.name and err.name.startswith("dropout_theory"):
                    return f"{err.name} not available"
                raise
            if not hasattr(module, attribute):
                return f"{module_name}.{attribute} not available"
        return getattr(importlib.import_module(self.module), self.function)


def mc_predict_headline(result: dict, device: torch.device) -> list[dict]:
    """``mc_predict`` must beat the loop of T forward passes 3x on CPU, 10x on a GPU."""
    target = 10.0 if device.type == "cuda" else 3.0
    return [
        metric("speedup vs T-pass loop (medians)", float(result["speedup"]), "x", (">=", target)),
        metric("speedup vs T-pass loop (fastest runs)", float(result["speedup_of_minima"]), "x"),
    ]


def exact_ensemble_headline(result: dict, device: torch.device) -> list[dict]:
    """All 2^20 masks of the 20-64-10 network in under 0.5 s, 2^24 in under 10 s."""
    sizes = {int(d): entry for d, entry in result["sizes"].items()}
    metrics = []
    for d, bound in ((20, 0.5), (24, 10.0)):
        if d in sizes:
            metrics.append(metric(f"all 2^{d} masks (median)", sizes[d]["incremental"]["median_s"], "s", ("<=", bound)))
    for d, entry in sorted(sizes.items()):
        metrics.append(metric(f"2^{d} masks: speed-up vs a per-mask loop", float(entry["speedup_vs_loop"]), "x"))
    return metrics


BENCHES: dict[str, Bench] = {
    bench.name: bench
    for bench in (
        Bench(
            "dropout-speed",
            "functional.dropout fwd+bwd vs torch, 2^22 float32 (target <= 0.6x)",
            "dropout_theory.benchmarks.dropout",
            "bench_dropout_speed",
        ),
        Bench(
            "low-memory-mlp",
            "peak memory of a 6-layer MLP step, low_memory dropout vs torch (target <= 0.8x)",
            "dropout_theory.benchmarks.dropout",
            "bench_low_memory_mlp",
        ),
        Bench(
            "cuda-bandwidth",
            "dropout forward bandwidth / device-to-device copy (target >= 0.8; CUDA only)",
            "dropout_theory.benchmarks.dropout",
            "bench_cuda_bandwidth",
            cuda_only=True,
        ),
        Bench(
            "exact-ensemble",
            "all 2^20 masks of a 20-64-10 net < 0.5 s, 2^24 < 10 s",
            "dropout_theory.benchmarks.ensemble",
            "bench_exact_ensemble",
            headline=exact_ensemble_headline,
        ),
        Bench(
            "mc-predict",
            "mc_predict vs a loop of T=100 forward passes (target >= 3x CPU, >= 10x GPU)",
            "dropout_theory.benchmarks.mc",
            "bench_mc_predict",
            headline=mc_predict_headline,
        ),
        Bench(
            "dropconnect-memory",
            "per-example DropConnect B=128 1024->1024 vs naive B x out x in (memory <= 1/4, time <= 1x)",
            "dropout_theory.benchmarks.dropconnect",
            "bench_dropconnect_memory",
            requires=("dropout_theory.functional:dropconnect_linear",),
        ),
    )
}


def run_bench(bench: Bench, device: torch.device, *, quick: bool = False) -> dict:
    """Run one bench, or return ``{"name", "skipped": reason}`` when it cannot run here."""
    if bench.cuda_only and device.type != "cuda":
        return {"name": bench.name, "skipped": f"needs CUDA, running on {device}"}
    loaded = bench.load()
    if isinstance(loaded, str):
        return {"name": bench.name, "skipped": loaded}
    # Benches written elsewhere may not take both arguments; pass the ones they accept.
    accepted = inspect.signature(loaded).parameters
    kwargs = {key: value for key, value in (("device", device), ("quick", quick)) if key in accepted}
    result = loaded(**kwargs)
    if not isinstance(result, dict):
        raise TypeError(f"bench {bench.name} returned {type(result).__name__}, expected a dict")
    if bench.headline is not None and "metrics" not in result:
        result = {**result, "metrics": bench.headline(result, device)}
    return result
