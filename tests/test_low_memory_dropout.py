"""The two ways dropout remembers its mask: a one-byte ``bool`` mask, or only the generator state.

The oracle for the regenerated mask is the stored-mask version (and torch's autograd through
plain ``x * mask * scale``): same generator state must give bit-identical outputs and gradients.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory import nn as dnn
from dropout_theory.devices import seeded_generator


def mlp(width: int, depth: int, *, low_memory: bool, generator: torch.Generator | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU(), dnn.Dropout(0.3, generator=generator, low_memory=low_memory)]
    return nn.Sequential(*layers, nn.Linear(width, 1))


def gradients_of_a_training_step(low_memory: bool, generator: torch.Generator | None) -> list[torch.Tensor]:
    torch.manual_seed(0)  # the weights: identical for both variants
    model = mlp(32, 6, low_memory=low_memory, generator=generator)
    x = torch.randn(16, 32, generator=seeded_generator(1, "cpu"), requires_grad=True)
    model(x).square().mean().backward()
    return [x.grad, *(param.grad for param in model.parameters())]


@pytest.mark.parametrize("explicit_generator", [True, False])
def test_six_layer_mlp_gradients_identical_to_stored_mask(explicit_generator: bool) -> None:
    def run(low_memory: bool) -> tuple[list[torch.Tensor], torch.Tensor]:
        generator = seeded_generator(2, "cpu") if explicit_generator else None
        if not explicit_generator:
            torch.manual_seed(2)
        grads = gradients_of_a_training_step(low_memory, generator)
        after = (generator if explicit_generator else torch.default_generator).get_state()
        return grads, after

    stored, stored_state = run(low_memory=False)
    regenerated, regenerated_state = run(low_memory=True)
    assert len(stored) == 1 + 14
    for a, b in zip(stored, regenerated):
        assert torch.equal(a, b)
    # The backward replay uses a private generator: the caller's advances exactly as without it.
    assert torch.equal(stored_state, regenerated_state)


def test_gradient_matches_the_formula_with_the_replayed_mask() -> None:
    x = torch.randn(50, 7, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(50, 7, dtype=torch.float64)
    y = F.dropout(x, 0.4, generator=seeded_generator(3, "cpu"), low_memory=True)
    y.backward(upstream)
    mask = F.bernoulli_mask(x.shape, 0.6, generator=seeded_generator(3, "cpu"), dtype=torch.float64)
    assert torch.equal(y, x.detach() * mask * (1 / 0.6))
    assert torch.equal(x.grad, upstream * mask * (1 / 0.6))


def test_backward_does_not_advance_the_callers_generator() -> None:
    g = seeded_generator(4, "cpu")
    y = F.dropout(torch.ones(100, requires_grad=True), 0.5, generator=g, low_memory=True)
    after_forward = g.get_state()
    y.sum().backward()
    assert torch.equal(g.get_state(), after_forward)
    # ... and the next draw is a fresh mask, not the replayed one.
    z = F.dropout(torch.ones(100), 0.5, generator=g, low_memory=True)
    assert not torch.equal(y.detach(), z)


def saved_bytes(fn) -> int:
    """Bytes autograd keeps for backward, counted by a saved-tensor hook."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def test_what_is_kept_for_backward() -> None:
    n = 10_000
    x = torch.randn(n, requires_grad=True)
    g = seeded_generator(5, "cpu")
    assert saved_bytes(lambda: F.dropout(x, 0.5, generator=g)) == n  # one byte per element
    assert saved_bytes(lambda: F.dropout(x, 0.5, generator=g, low_memory=True)) == 0
    assert saved_bytes(lambda: torch.nn.functional.dropout(x, 0.5)) == 4 * n  # torch's float factor


def test_stored_and_regenerated_agree_with_torch_autograd() -> None:
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    for low_memory in (False, True):
        def f(t: torch.Tensor) -> torch.Tensor:
            return F.dropout(t, 0.3, generator=seeded_generator(6, "cpu"), low_memory=low_memory)

        assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(lambda t: F.dropout(t, 0.3, generator=seeded_generator(6, "cpu")), (x,))


@pytest.mark.parametrize("low_memory", [False, True])
def test_inplace_on_an_intermediate_tensor(low_memory: bool) -> None:
    x = torch.randn(40, requires_grad=True)
    h = x * 2
    y = F.dropout(h, 0.5, inplace=True, generator=seeded_generator(7, "cpu"), low_memory=low_memory)
    assert y is h
    y.sum().backward()
    mask = F.bernoulli_mask((40,), 0.5, generator=seeded_generator(7, "cpu"))
    assert torch.equal(x.grad, 2 * mask * 2.0)


def test_keep_mask_is_bernoulli_mask_as_bool_and_consumes_the_same_randomness() -> None:
    a, b = seeded_generator(8, "cpu"), seeded_generator(8, "cpu")
    boolean = F.keep_mask((300, 7), 0.35, generator=a)
    floating = F.bernoulli_mask((300, 7), 0.35, generator=b, dtype=torch.float64)
    assert boolean.dtype == torch.bool
    assert torch.equal(boolean, floating.bool())
    assert torch.equal(a.get_state(), b.get_state())
    assert torch.equal(F.keep_mask((3,), 1.0), torch.ones(3, dtype=torch.bool))
    assert not F.keep_mask((3,), 0.0).any()


def test_module_flag_and_validation() -> None:
    module = dnn.Dropout(0.2, low_memory=True)
    assert "low_memory=True" in repr(module)
    with pytest.raises(TypeError, match="low_memory must be a bool, got 'yes'"):
        F.dropout(torch.ones(3), 0.5, low_memory="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keep must be in"):
        F.keep_mask((3,), 1.5)


@pytest.mark.gpu
def test_regenerated_mask_on_cuda_with_default_generator() -> None:
    x = torch.randn(4096, device="cuda", requires_grad=True)
    torch.cuda.manual_seed(9)
    F.dropout(x, 0.3).sum().backward()
    stored = x.grad.clone()
    x.grad = None
    torch.cuda.manual_seed(9)
    F.dropout(x, 0.3, low_memory=True).sum().backward()
    assert torch.equal(stored, x.grad)
