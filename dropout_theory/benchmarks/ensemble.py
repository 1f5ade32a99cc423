r"""Benchmark of :func:`dropout_theory.inference.exact_ensemble`.

The network is the issue's reference case: ``Dropout(0.5)`` on the :math:`d` inputs of a
:math:`d \to 64 \to 10` ReLU network in float64, one input example, all :math:`2^d`
masks. Three ways are timed in the same run:

* ``incremental`` -- the engine's default plan (shared low-bit table of first-layer
  pre-activations, one high-bit offset per block; see :mod:`dropout_theory.inference.plans`);
* ``batched`` -- the plain chunked plan (one batched forward pass per chunk of masks);
* ``per_mask_loop`` -- one forward pass per mask. At :math:`2^{20}` this takes minutes,
  so it is timed on the first ``loop_masks`` masks and reported as a rate (masks/s);
  its time for all :math:`2^d` masks is that rate extrapolated, and says so.

Each timing is repeated ``repeats`` times after a warm-up run; the dict reports the median,
the minimum, the maximum and the interquartile range, in seconds.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from dropout_theory.devices import default_device, seeded_generator
from dropout_theory.enumeration import mask_rows
from dropout_theory.inference import exact_ensemble, per_mask_loop
from dropout_theory.nn import Dropout


def reference_network(d: int, hidden: int = 64, outputs: int = 10, *, seed: int = 0,
                      device: torch.device | str = "cpu") -> nn.Sequential:
    """``Dropout(0.5) -> Linear(d, hidden) -> ReLU -> Linear(hidden, outputs)``, float64, seeded weights."""
    net = nn.Sequential(Dropout(0.5), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, outputs))
    generator = seeded_generator(seed, "cpu")
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) / param.shape[-1] ** 0.5)
    return net.to(device=device, dtype=torch.float64)


def _timings(run: Callable[[], object], repeats: int, device: torch.device) -> dict[str, float]:
    def timed() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    timed()  # warm-up: allocator, kernels, caches
    samples = sorted(timed() for _ in range(repeats))
    quartiles = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return {"median_s": statistics.median(samples), "min_s": samples[0], "max_s": samples[-1],
            "iqr_s": quartiles[2] - quartiles[0], "repeats": repeats}


def bench_exact_ensemble(
    repeats: int = 5,
    sizes: Sequence[int] = (20, 24),
    *,
    hidden: int = 64,
    outputs: int = 10,
    link: str = "identity",
    batched_up_to: int = 20,
    loop_masks: int = 2048,
    device: torch.device | str | None = None,
    threads: int | None = None,
) -> dict:
    """Time exact enumeration of all :math:`2^d` masks for each ``d`` in ``sizes``.

    Args:
        repeats: timed repetitions after one warm-up run.
        sizes: numbers of enumerated input units :math:`d`.
        hidden, outputs: widths of the reference network.
        link: ``"identity"`` (arithmetic mean and variance) or ``"softmax"`` (also the
            geometric means).
        batched_up_to: also time the plain batched plan for ``d`` up to this.
        loop_masks: masks timed for the per-mask loop baseline.
        device: default :func:`dropout_theory.devices.default_device`.
        threads: ``torch.set_num_threads`` for the run (restored afterwards); default unchanged.

    Returns:
        ``{"environment": {...}, "sizes": {d: {"masks", "incremental", "batched",
        "per_mask_loop", "masks_per_s", "speedup_vs_loop", ...}}}`` with times in seconds.
    """
    device = torch.device(device) if device is not None else default_device()
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        report = {
            "environment": {
                "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
                "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
                "network": f"Dropout(0.5) -> Linear(d, {hidden}) -> ReLU -> Linear({hidden}, {outputs}), float64",
                "link": link,
            },
            "sizes": {},
        }
        for d in sizes:
            net = reference_network(d, hidden, outputs, device=device)
            x = torch.randn(1, d, generator=seeded_generator(1, "cpu"), dtype=torch.float64).to(device)
            masks = 1 << d
            entry: dict = {"masks": masks}
            entry["incremental"] = _timings(lambda: exact_ensemble(net, x, link=link), repeats, device)
            entry["masks_per_s"] = masks / entry["incremental"]["median_s"]
            if d <= batched_up_to:
                entry["batched"] = _timings(lambda: exact_ensemble(net, x, link=link, incremental=False), repeats, device)
                entry["speedup_vs_batched"] = entry["batched"]["median_s"] / entry["incremental"]["median_s"]
                fast = exact_ensemble(net, x, link=link)
                plain = exact_ensemble(net, x, link=link, incremental=False)
                entry["max_abs_diff_incremental_vs_batched"] = float((fast.mean - plain.mean).abs().max())
            timed_masks = min(loop_masks, masks)
            subset = mask_rows(0, timed_masks, d, device=device)
            loop = _timings(lambda: per_mask_loop(net, x, subset), max(1, min(repeats, 3)), device)
            loop_rate = timed_masks / loop["median_s"]
            entry["per_mask_loop"] = {**loop, "timed_masks": timed_masks, "masks_per_s": loop_rate,
                                      "extrapolated_all_masks_s": masks / loop_rate}
            entry["speedup_vs_loop"] = entry["masks_per_s"] / loop_rate
            report["sizes"][d] = entry
        return report
    finally:
        torch.set_num_threads(previous_threads)


def format_report(report: dict) -> str:
    """A few readable lines per size."""
    env = report["environment"]
    lines = [f"exact_ensemble benchmark on {env['device']} ({env['threads']} threads, load {env['load_average']}): {env['network']}"]
    for d, entry in report["sizes"].items():
        inc = entry["incremental"]
        line = (f"d={d}: {entry['masks']:,} masks, incremental median {inc['median_s']:.3f} s "
                f"[{inc['min_s']:.3f}, {inc['max_s']:.3f}], {entry['masks_per_s']:.3g} masks/s")
        if "batched" in entry:
            line += f"; batched {entry['batched']['median_s']:.3f} s (x{entry['speedup_vs_batched']:.1f})"
        loop = entry["per_mask_loop"]
        line += (f"; per-mask loop {loop['masks_per_s']:.3g} masks/s (all masks ~{loop['extrapolated_all_masks_s']:.0f} s),"
                 f" speed-up x{entry['speedup_vs_loop']:.0f}")
        lines.append(line)
    return "\n".join(lines)
