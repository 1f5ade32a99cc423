"""Peak tensor memory of one call, on CPU and on CUDA.

CUDA: ``torch.cuda.max_memory_allocated`` after resetting the peak, minus what was allocated
before the call.

CPU: torch has no peak counter, and process-level numbers (``ru_maxrss``, RSS) mix in the
Python heap, the libraries, and glibc keeping freed blocks. So we record every tensor
allocation and free made *during the call* with ``torch.profiler`` (``profile_memory=True``)
and replay them in time order: the running total's maximum is the peak of the tensor memory
the call added on top of what existed before it (weights and inputs made beforehand are not
counted; gradients created by the call are).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator

import torch

from dropout_theory.benchmarks.timing import synchronize


@contextlib.contextmanager
def silenced_native_stderr() -> Iterator[None]:
    """Mute file descriptor 2 for a moment: the profiler's native library logs start/stop lines there."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def cpu_allocation_events(fn: Callable[[], object]) -> list[tuple[float, int]]:
    """(timestamp, signed bytes) of every CPU tensor allocation (+) and free (-) during ``fn()``."""
    from torch.profiler import ProfilerActivity, profile

    with silenced_native_stderr():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "trace.json")
            prof.export_chrome_trace(path)
            with open(path, encoding="utf-8") as handle:
                trace = json.load(handle)
    events = []
    for event in trace.get("traceEvents", []):
        args = event.get("args", {})
        if event.get("name") == "[memory]" and args.get("Device Type", 0) == 0:
            events.append((float(event["ts"]), int(args["Bytes"])))
    events.sort(key=lambda e: e[0])  # stable: same-timestamp events keep their recorded order
    return events


def peak_memory(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes of tensor memory allocated by ``fn()`` beyond what was allocated before it.

    Args:
        fn: one complete unit of work (e.g. a training step).
        device: ``cpu`` or a CUDA device; the memory of that device is measured.
    """
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - before)
    if device.type != "cpu":
        raise ValueError(f"peak memory is measured on cpu or cuda, got device {device}")
    running = peak = 0
    for _, delta in cpu_allocation_events(fn):
        running += delta
        peak = max(peak, running)
    return peak
