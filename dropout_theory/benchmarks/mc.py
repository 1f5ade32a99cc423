"""Benchmark: :func:`~dropout_theory.inference.mc_predict` against the source's ``MCDropout`` loop.

The baseline is a faithful re-implementation of ``MCDropout`` from the audited source notes
(``shared/sources/000``): ``model.train()``, then T separate forward passes under
``torch.no_grad()``, stacked, mean and standard deviation over samples. Both run on the same
network (torch's own ``nn.Dropout`` modules) in the same process, so their ratio is measured
in one run; timings are medians over repeats after warm-up.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from dropout_theory.inference import mc_predict


class SourceMCDropout(nn.Module):
    """The source's sampler, as written there (including its ``model.train()``)."""

    def __init__(self, model: nn.Module, n_samples: int = 100) -> None:
        super().__init__()
        self.model = model
        self.n_samples = n_samples

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.train()  # keeps dropout active -- and every other module too
        predictions = []
        with torch.no_grad():
            for _ in range(self.n_samples):
                predictions.append(self.model(x))
        predictions = torch.stack(predictions)
        return predictions.mean(dim=0), predictions.std(dim=0)


def mlp_with_dropout(sizes: tuple[int, ...] = (784, 512, 512, 10), p: float = 0.5) -> nn.Sequential:
    """The source's ``MLPWithDropout``: Linear-ReLU-Dropout per hidden layer, then Linear."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU(), nn.Dropout(p)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _summary(times: list[float]) -> dict[str, float]:
    q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (times[0],) * 3
    return {"median_s": statistics.median(times), "iqr_s": q3 - q1, "min_s": min(times)}


def bench_mc_predict(
    *,
    samples: int = 100,
    batch: int = 32,
    sizes: tuple[int, ...] = (784, 512, 512, 10),
    p: float = 0.5,
    device: torch.device | str | None = None,
    warmup: int = 3,
    repeats: int = 15,
    seed: int = 0,
) -> dict[str, object]:
    """Time ``mc_predict`` (batched and loop) and the source's ``MCDropout`` on one MLP.

    Args:
        samples: T.
        batch: inputs per call.
        sizes: layer widths of the MLP (dropout after every hidden layer).
        p: drop probability.
        device: where to run (default: CPU).
        warmup: untimed calls first.
        repeats: timed calls; the median and interquartile range are reported.
        seed: seeds the weights, the inputs and the generator.

    Returns:
        A dict with the setting, per-method ``median_s``/``iqr_s``/``min_s``, and
        ``speedup`` = baseline median / ``mc_predict`` median (batched), plus
        ``speedup_loop`` for the loop fallback and ``speedup_of_minima`` (ratio of the
        fastest runs, robust to other load on a shared machine).
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    torch.manual_seed(seed)  # the baseline draws its masks from torch's global generator
    model = mlp_with_dropout(sizes, p).to(device).eval()
    x = torch.randn(batch, sizes[0], generator=torch.Generator().manual_seed(seed)).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    baseline = SourceMCDropout(model, samples)

    def run_baseline() -> object:
        out = baseline(x)
        model.eval()  # undo the baseline's side effect so both methods start alike
        return out

    timings = {
        "source_mcdropout": _time(run_baseline, device, warmup, repeats),
        "mc_predict_batched": _time(lambda: mc_predict(model, x, samples, generator=generator), device, warmup, repeats),
        "mc_predict_loop": _time(
            lambda: mc_predict(model, x, samples, generator=generator, batched=False), device, warmup, repeats
        ),
    }
    result: dict[str, object] = {
        "samples": samples,
        "batch": batch,
        "sizes": list(sizes),
        "p": p,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "warmup": warmup,
    }
    result.update({name: _summary(t) for name, t in timings.items()})
    base = statistics.median(timings["source_mcdropout"])
    result["speedup"] = base / statistics.median(timings["mc_predict_batched"])
    result["speedup_loop"] = base / statistics.median(timings["mc_predict_loop"])
    # On a shared machine the medians absorb other load; the ratio of the fastest runs is
    # the least disturbed estimate of what each method costs on its own.
    result["speedup_of_minima"] = min(timings["source_mcdropout"]) / min(timings["mc_predict_batched"])
    return result
