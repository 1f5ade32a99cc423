"""Benchmarks of standard dropout: speed against torch, low-memory training, GPU bandwidth.

Each function measures a candidate *and its baseline in the same run* and reports their ratio,
so the numbers compare like with like on whatever machine runs them.
"""

from __future__ import annotations

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory import nn as dnn
from dropout_theory.benchmarks.memory import peak_memory
from dropout_theory.benchmarks.report import metric
from dropout_theory.benchmarks.timing import time_interleaved, time_ratio
from dropout_theory.devices import seeded_generator

P = 0.5


def bench_dropout_speed(device: torch.device, *, quick: bool = False) -> dict:
    """``functional.dropout`` forward+backward against ``torch.nn.functional.dropout``.

    2^22 float32 elements (2^20 with ``quick``), p = 0.5. Also timed: the low-memory variant
    (which draws its uniforms twice) and ``torch.rand`` alone, the floor set by the RNG.
    On CPU the whole comparison runs twice, with torch's thread count and with one thread:
    the uniform draw is serial either way, the passes over memory are not.
    """
    n = 2**20 if quick else 2**22
    repeats = 7 if quick else 25
    x = torch.randn(n, device=device, generator=seeded_generator(0, device), requires_grad=True)
    upstream = torch.randn(n, device=device, generator=seeded_generator(1, device))
    generator = seeded_generator(2, device)

    def step(op):
        def run() -> None:
            op(x).backward(upstream)
            x.grad = None

        return run

    contestants = {
        "torch.nn.functional.dropout": step(lambda t: torch.nn.functional.dropout(t, P, True)),
        "functional.dropout": step(lambda t: F.dropout(t, P, generator=generator)),
        "functional.dropout(low_memory=True)": step(lambda t: F.dropout(t, P, generator=generator, low_memory=True)),
        "torch.rand (uniforms only)": lambda: torch.rand(n, device=device, generator=generator),
    }
    default_threads = torch.get_num_threads()
    thread_counts = [default_threads] + ([1] if device.type == "cpu" and default_threads > 1 else [])
    by_threads: dict[int, dict] = {}
    metrics = []
    for threads in thread_counts:
        torch.set_num_threads(threads)
        try:
            timings = time_interleaved(contestants, device=device, repeats=repeats)
        finally:
            torch.set_num_threads(default_threads)
        baseline = timings["torch.nn.functional.dropout"]
        ratios = {
            name: time_ratio(timings[name], baseline)
            for name in ("functional.dropout", "functional.dropout(low_memory=True)")
        }
        rng_share = timings["torch.rand (uniforms only)"].median / timings["functional.dropout"].median
        by_threads[threads] = {
            "timings": {name: t.to_dict() for name, t in timings.items()},
            "ratios": ratios,
            "uniform_draw_share": rng_share,
        }
        suffix = f", {threads} thread{'s' if threads > 1 else ''}" if device.type == "cpu" else ""
        metrics += [
            metric(f"time vs torch (fwd+bwd){suffix}", ratios["functional.dropout"]["value"], "x", ("<=", 0.6)),
            metric(f"low_memory time vs torch{suffix}", ratios["functional.dropout(low_memory=True)"]["value"], "x"),
            metric(f"uniform draw / functional.dropout{suffix}", rng_share, "x"),
        ]
    return {
        "name": "dropout-speed",
        "description": "forward+backward of dropout, p=0.5, vs torch.nn.functional.dropout",
        "device": str(device),
        "dtype": "float32",
        "sizes": {"elements": n, "p": P},
        "threads": thread_counts,
        # The default thread count's numbers at the top level; every count under by_threads.
        "timings": by_threads[default_threads]["timings"],
        "ratios": by_threads[default_threads]["ratios"],
        "by_threads": {str(t): v for t, v in by_threads.items()},
        "metrics": metrics,
    }


def mlp(width: int, depth: int, classes: int, dropout: nn.Module) -> nn.Sequential:
    """``depth`` x (Linear -> ReLU -> dropout), then a Linear classifier."""
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU(), dropout]
    return nn.Sequential(*layers, nn.Linear(width, classes))


def bench_low_memory_mlp(device: torch.device, *, quick: bool = False, timed: bool = True) -> dict:
    """Peak memory of one SGD training step of a 6-layer MLP with dropout after every layer.

    Three otherwise identical models (same weights, same data): torch's ``nn.Dropout``, this
    package's ``Dropout`` (keeps a bool mask), and ``Dropout(low_memory=True)`` (keeps only
    the generator state). Batch 4096, width 512 (batch 512, width 256 with ``quick``): the
    activations, not the weights, dominate a training step's memory, as in most training.
    ``timed=False`` measures memory only.
    """
    batch, width, depth, classes = (512, 256, 6, 10) if quick else (4096, 512, 6, 10)
    data = torch.randn(batch, width, device=device, generator=seeded_generator(3, device))
    labels = torch.randint(0, classes, (batch,), device=device, generator=seeded_generator(4, device))
    variants = {
        "torch nn.Dropout": lambda: nn.Dropout(P),
        "nn.Dropout (bool mask)": lambda: dnn.Dropout(P, generator=seeded_generator(5, device)),
        "nn.Dropout(low_memory=True)": lambda: dnn.Dropout(P, generator=seeded_generator(5, device), low_memory=True),
    }
    steps = {}
    for name, make_dropout in variants.items():
        torch.manual_seed(6)  # identical initial weights in every variant
        model = mlp(width, depth, classes, make_dropout()).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

        def step(model: nn.Module = model, optimizer: torch.optim.Optimizer = optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(data), labels).backward()
            optimizer.step()

        step()  # first step outside the measurement: lazy state, allocator warm-up
        steps[name] = step
    memory = {name: peak_memory(step, device) for name, step in steps.items()}
    timings = time_interleaved(steps, device=device, repeats=3 if quick else 7, warmup=1) if timed else {}
    baseline = memory["torch nn.Dropout"]
    metrics = [
        metric("low_memory peak memory vs torch", memory["nn.Dropout(low_memory=True)"] / baseline, "x", ("<=", 0.8)),
        metric("bool-mask peak memory vs torch", memory["nn.Dropout (bool mask)"] / baseline, "x"),
        metric("torch step peak memory", float(baseline), "bytes"),
    ]
    if timed:
        slowdown = time_ratio(timings["nn.Dropout(low_memory=True)"], timings["torch nn.Dropout"])["value"]
        metrics.append(metric("low_memory step time vs torch", slowdown, "x"))
    return {
        "name": "low-memory-mlp",
        "description": "peak memory of a training step, 6 x (Linear-ReLU-Dropout) + Linear, p=0.5",
        "device": str(device),
        "dtype": "float32",
        "sizes": {"batch": batch, "width": width, "hidden_layers": depth, "classes": classes, "p": P},
        "memory_bytes": memory,
        "activation_tensor_bytes": batch * width * 4,
        "timings": {name: t.to_dict() for name, t in timings.items()},
        "metrics": metrics,
    }


def bench_cuda_bandwidth(device: torch.device, *, quick: bool = False) -> dict:
    """Dropout forward (no autograd) bandwidth as a fraction of a device-to-device copy.

    Both move the same bytes that matter to the caller: read ``x``, write ``y``. The fraction
    is copy time / dropout time, so 1.0 means dropout runs at copy speed. CUDA only.
    """
    if device.type != "cuda":
        return {"name": "cuda-bandwidth", "skipped": f"needs a CUDA device, got {device}"}
    n = 2**24 if quick else 2**27
    x = torch.randn(n, device=device, generator=seeded_generator(7, device))
    y = torch.empty_like(x)
    generator = seeded_generator(8, device)

    def dropout_forward() -> None:  # no generator: the fused kernel path
        with torch.no_grad():
            F.dropout(x, P)

    def reproducible_dropout_forward() -> None:  # explicit generator: masks equal bernoulli_mask's
        with torch.no_grad():
            F.dropout(x, P, generator=generator)

    def torch_dropout_forward() -> None:
        with torch.no_grad():
            torch.nn.functional.dropout(x, P, True)

    timings = time_interleaved(
        {
            "copy": lambda: y.copy_(x),
            "functional.dropout": dropout_forward,
            "functional.dropout(generator=g)": reproducible_dropout_forward,
            "torch dropout": torch_dropout_forward,
        },
        device=device,
        repeats=10 if quick else 30,
    )
    copy_s = timings["copy"].median
    moved = 2 * n * x.element_size()
    return {
        "name": "cuda-bandwidth",
        "description": "dropout forward bandwidth / device-to-device copy bandwidth",
        "device": str(device),
        "dtype": "float32",
        "sizes": {"elements": n, "p": P},
        "timings": {name: t.to_dict() for name, t in timings.items()},
        "metrics": [
            metric("copy bandwidth", moved / copy_s / 1e9, "GB/s"),
            metric("dropout bandwidth / copy", copy_s / timings["functional.dropout"].median, "x", (">=", 0.8)),
            metric("dropout(generator=g) bandwidth / copy", copy_s / timings["functional.dropout(generator=g)"].median, "x"),
            metric("torch dropout bandwidth / copy", copy_s / timings["torch dropout"].median, "x"),
        ],
    }
