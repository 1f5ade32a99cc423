"""CUDA readiness: dropout with CUDA and CPU generators, and every claim verified on the GPU.

Every test here is marked ``gpu``; conftest skips them cleanly when CUDA is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dropout_theory import functional as F
from dropout_theory import nn as dnn
from dropout_theory.devices import seeded_generator

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("low_memory", [False, True])
def test_cpu_generator_gives_the_same_mask_on_cuda_and_cpu(low_memory: bool) -> None:
    x = torch.randn(64, 129, generator=seeded_generator(0, "cpu"), requires_grad=True)
    x_cuda = x.detach().cuda().requires_grad_(True)
    on_cpu = F.dropout(x, 0.3, generator=seeded_generator(1, "cpu"), low_memory=low_memory)
    on_cuda = F.dropout(x_cuda, 0.3, generator=seeded_generator(1, "cpu"), low_memory=low_memory)
    assert on_cuda.device.type == "cuda"
    assert torch.equal(on_cuda.cpu(), on_cpu)
    on_cpu.sum().backward()
    on_cuda.sum().backward()
    assert torch.equal(x_cuda.grad.cpu(), x.grad)


@pytest.mark.parametrize("low_memory", [False, True])
def test_cuda_generator_is_reproducible_and_matches_bernoulli_mask(low_memory: bool) -> None:
    x = torch.ones(10_000, device="cuda", requires_grad=True)
    a = F.dropout(x, 0.4, generator=seeded_generator(2, "cuda"), low_memory=low_memory)
    b = F.dropout(x, 0.4, generator=seeded_generator(2, "cuda"), low_memory=low_memory)
    assert torch.equal(a, b)
    mask = F.bernoulli_mask(x.shape, 0.6, generator=seeded_generator(2, "cuda"), device="cuda")
    assert torch.equal(a, mask * (1 / 0.6))  # the scale as a Python scalar, as dropout applies it
    a.sum().backward()
    assert torch.equal(x.grad, mask * (1 / 0.6))


def test_cuda_module_in_a_model_trains() -> None:
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 32), torch.nn.ReLU(), dnn.Dropout(0.5, generator=seeded_generator(3, "cuda"), low_memory=True),
        torch.nn.Linear(32, 1),
    ).cuda()
    x = torch.randn(8, 16, device="cuda")
    model(x).sum().backward()
    assert all(p.grad is not None and p.grad.device.type == "cuda" for p in model.parameters())


def test_every_claim_verifies_on_cuda() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "dropout_theory", "verify", "--device", "cuda"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_cuda_default_generator_path_is_inverted_dropout() -> None:
    # Without a generator, CUDA dropout is torch's fused kernel: check its semantics, not its mask.
    p = 0.3
    x = torch.full((400_000,), 2.0, device="cuda", dtype=torch.float64, requires_grad=True)
    y = F.dropout(x, p)
    kept = y != 0
    assert torch.equal(y[kept], torch.full_like(y[kept], 2.0 / (1 - p)))
    from dropout_theory.montecarlo import check_mean

    assert check_mean(kept.double().cpu(), 1 - p).holds
    y.sum().backward()
    assert torch.equal(x.grad, kept.double() / (1 - p))
    assert torch.equal(F.dropout(x, p, training=False), x)
