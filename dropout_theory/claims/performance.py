"""Claims of the chapter *Performance* (book/performance.md): what dropout keeps for backward.

These are exact checks of the implementation, not timings: timings are benchmark numbers
(``python -m dropout_theory bench``), never pass/fail conditions.
"""

from __future__ import annotations

import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory import nn as dnn
from dropout_theory.claims.core import Evidence, claim, exact_evidence
from dropout_theory.devices import seeded_generator


def _training_step_gradients(low_memory: bool, dtype: torch.dtype) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Gradients of one step of a 6-layer MLP with dropout after every layer, and the generator's final state."""
    generator = seeded_generator(31)
    torch.manual_seed(30)  # identical weights in both variants; nothing random is drawn from it after
    layers: list[nn.Module] = []
    for _ in range(6):
        layers += [nn.Linear(24, 24, dtype=dtype), nn.ReLU(), dnn.Dropout(0.3, generator=generator, low_memory=low_memory)]
    model = nn.Sequential(*layers, nn.Linear(24, 3, dtype=dtype))
    x = torch.randn(40, 24, dtype=dtype, generator=seeded_generator(32), requires_grad=True)
    model(x).square().mean().backward()
    return [x.grad, *(p.grad for p in model.parameters())], generator.get_state()


@claim(
    "performance.regenerated-mask-gradients",
    title="Regenerating the mask gives identical gradients",
    statement=r"Dropout that saves only the generator state $s$ and recomputes the mask "
    r"$m = \phi(s)$ in the backward pass produces gradients bit-identical to dropout that stores "
    r"$m$, and leaves the caller's generator exactly where stored-mask dropout leaves it.",
    source="dao2022flashattention",
)
def regenerated_mask_gradients() -> list[Evidence]:
    evidence = []
    for dtype in (torch.float32, torch.float64):
        stored, stored_state = _training_step_gradients(False, dtype)
        replayed, replayed_state = _training_step_gradients(True, dtype)
        largest = max((a - b).abs().max().item() for a, b in zip(stored, replayed))
        same_state = torch.equal(stored_state, replayed_state)
        detail = (
            f"{dtype}: 6 x (Linear-ReLU-Dropout(0.3)) + Linear, {len(stored)} gradient tensors, "
            f"largest difference {largest:g}; generator state after the step identical: {same_state}"
        )
        # Bit-identical means tolerance 0; a generator left elsewhere fails however small the error.
        evidence.append(exact_evidence(largest if same_state else float("inf"), detail, tol=0.0))
    return evidence


def _saved_bytes(run) -> int:
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return total


@claim(
    "performance.saved-bytes",
    title="What dropout keeps for the backward pass",
    statement=r"For an input of $n$ elements, this package's dropout keeps $n$ bytes for the "
    r"backward pass (a boolean mask), and none with `low_memory=True`; the float mask a naive "
    r"implementation keeps takes $4n$ bytes in float32.",
    source="dao2022flashattention",
)
def saved_bytes() -> list[Evidence]:
    n = 1 << 16
    x = torch.randn(n, generator=seeded_generator(33), requires_grad=True)
    generator = seeded_generator(34)
    stored = _saved_bytes(lambda: F.dropout(x, 0.5, generator=generator))
    regenerated = _saved_bytes(lambda: F.dropout(x, 0.5, generator=generator, low_memory=True))
    naive = _saved_bytes(lambda: x * (F.bernoulli_mask(x.shape, 0.5, generator=generator, device=x.device) / 0.5))
    return [
        exact_evidence(abs(stored - n), f"bool mask: {stored} bytes kept for n = {n} (error in bytes)", tol=0.0),
        exact_evidence(regenerated, f"low_memory=True: {regenerated} bytes kept", tol=0.0),
        exact_evidence(abs(naive - 4 * n), f"x * float mask: {naive} bytes kept, 4n = {4 * n}", tol=0.0),
    ]
