"""Shared fixtures. Tests seed everything: no test depends on torch's global generator."""

from __future__ import annotations

import pytest
import torch

from dropout_theory.devices import seeded_generator


@pytest.fixture
def generator() -> torch.Generator:
    return seeded_generator(1234, "cpu")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA: no CUDA device on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
