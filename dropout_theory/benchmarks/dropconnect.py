"""Per-example DropConnect: memory and time against the naive materialised version.

Per-example DropConnect (Wan et al. 2013) gives every example ``b`` its own weight mask
:math:`M_b`, :math:`y_b = (W \\odot M_b / q)\\,x_b + c`. The naive way materialises the
``B x out x in`` masked weights; the package's ``dropconnect_linear(..., per_example=True)``
is expected to do better. This bench needs that function, and is skipped without it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dropout_theory.benchmarks.memory import peak_memory
from dropout_theory.benchmarks.report import metric
from dropout_theory.benchmarks.timing import time_interleaved, time_ratio
from dropout_theory.devices import seeded_generator
from dropout_theory.functional.masks import bernoulli_mask

P = 0.5


def naive_per_example_dropconnect(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, p: float, generator: torch.Generator
) -> torch.Tensor:
    """The baseline: one masked copy of the weights per example, ``B x out x in`` floats."""
    masks = bernoulli_mask((x.shape[0], *weight.shape), 1.0 - p, generator=generator, device=x.device, dtype=x.dtype)
    per_example_weights = weight * masks / (1.0 - p)
    return torch.bmm(per_example_weights, x.unsqueeze(-1)).squeeze(-1) + bias


def bench_dropconnect_memory(
    device: torch.device, *, quick: bool = False, dropconnect_linear: Callable | None = None
) -> dict:
    """Peak memory and time of per-example DropConnect, B=128, 1024->1024, against the naive version.

    Measured twice: a training step (forward and backward: what autograd keeps counts) and a
    forward pass without autograd (sampling at inference, e.g. Monte Carlo prediction).

    Args:
        device: where to run.
        quick: B=32, 256->256 instead.
        dropconnect_linear: the op to measure (default: ``dropout_theory.functional``'s).
    """
    if dropconnect_linear is None:
        from dropout_theory.functional import dropconnect_linear  # optional: raises ImportError when absent
    batch, features = (32, 256) if quick else (128, 1024)
    x = torch.randn(batch, features, device=device, generator=seeded_generator(20, device), requires_grad=True)
    weight = (torch.randn(features, features, device=device, generator=seeded_generator(21, device)) / features**0.5)
    weight.requires_grad_(True)
    bias = torch.zeros(features, device=device, requires_grad=True)
    upstream = torch.randn(batch, features, device=device, generator=seeded_generator(22, device))
    generator = seeded_generator(23, device)

    def training_step(op: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            op().backward(upstream)
            x.grad = weight.grad = bias.grad = None

        return run

    def forward_only(op: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                op()

        return run

    naive, candidate = "naive B x out x in", "dropconnect_linear(per_example=True)"
    ops = {
        naive: lambda: naive_per_example_dropconnect(x, weight, bias, P, generator),
        candidate: lambda: dropconnect_linear(x, weight, bias, P, True, per_example=True, generator=generator),
    }
    memory: dict[str, dict[str, int]] = {}
    timings: dict[str, dict[str, dict]] = {}
    metrics = []
    for mode, wrap in (("forward+backward", training_step), ("forward (no autograd)", forward_only)):
        contestants = {name: wrap(op) for name, op in ops.items()}
        for run in contestants.values():
            run()  # warm-up outside the memory measurement
        memory[mode] = {name: peak_memory(run, device) for name, run in contestants.items()}
        timed = time_interleaved(contestants, device=device, warmup=1, repeats=3 if quick else 7)
        timings[mode] = {name: t.to_dict() for name, t in timed.items()}
        metrics += [
            metric(f"peak memory vs naive, {mode}", memory[mode][candidate] / memory[mode][naive], "x", ("<=", 0.25)),
            metric(f"time vs naive, {mode}", time_ratio(timed[candidate], timed[naive])["value"], "x", ("<=", 1.0)),
        ]
    metrics.append(metric("naive peak memory, forward+backward", float(memory["forward+backward"][naive]), "bytes"))
    return {
        "name": "dropconnect-memory",
        "description": "per-example DropConnect vs materialising B x out x in weights, with and without autograd",
        "device": str(device),
        "dtype": "float32",
        "sizes": {"batch": batch, "in_features": features, "out_features": features, "p": P},
        "memory_bytes": memory,
        "timings": timings,
        "metrics": metrics,
    }
