"""Per-example DropConnect's backward pass: redrawn masks, exact gradients, one chunk at a time.

The oracle is autograd through the naive version that materialises all ``B x out x in``
masked weights, with the masks drawn from the same generator state in the same chunks.
"""

from __future__ import annotations

import math

import pytest
import torch

from dropout_theory import functional as F
from dropout_theory.devices import seeded_generator
from dropout_theory.functional import dropconnect as dc_module


def _tensors(seed: int, batch: int, out_f: int = 3, in_f: int = 5, device: str = "cpu"):
    g = seeded_generator(seed, "cpu")
    x = torch.randn(batch, in_f, generator=g, dtype=torch.float64).to(device).requires_grad_()
    w = torch.randn(out_f, in_f, generator=g, dtype=torch.float64).to(device).requires_grad_()
    b = torch.randn(out_f, generator=g, dtype=torch.float64).to(device).requires_grad_()
    upstream = torch.randn(batch, out_f, generator=g, dtype=torch.float64).to(device)
    return x, w, b, upstream


def _naive_masks(batch: int, shape: tuple[int, int], p: float, chunk: int, generator: torch.Generator) -> torch.Tensor:
    """All per-example masks at once, drawn chunk by chunk as the op draws them."""
    return torch.cat([F.bernoulli_mask((min(chunk, batch - s), *shape), 1 - p, generator=generator, dtype=torch.float64)
                      for s in range(0, batch, chunk)])


def _naive_gradients(x, w, b, upstream, masks, p):
    """Autograd through the materialised ``(B, out, in)`` masked weights."""
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    b = None if b is None else b.detach().requires_grad_()
    out = torch.bmm(w * masks / (1 - p), x.unsqueeze(-1)).squeeze(-1)
    if b is not None:
        out = out + b
    out.backward(upstream)
    return out.detach(), x.grad, w.grad, None if b is None else b.grad


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
@pytest.mark.parametrize("with_bias", [True, False])
def test_gradients_equal_naive_materialised_version(chunk: int, with_bias: bool) -> None:
    batch, p = 7, 0.35
    x, w, b, upstream = _tensors(chunk, batch)
    b = b if with_bias else None
    out = F.dropconnect_linear(x, w, b, p, per_example=True, chunk_size=chunk, generator=seeded_generator(40 + chunk))
    out.backward(upstream)
    masks = _naive_masks(batch, tuple(w.shape), p, chunk, seeded_generator(40 + chunk))
    expected = _naive_gradients(x, w, b, upstream, masks, p)
    got = (out.detach(), x.grad, w.grad, None if b is None else b.grad)
    for name, value, reference in zip(("output", "x", "weight", "bias"), got, expected):
        if reference is None:
            assert value is None, name
        else:
            torch.testing.assert_close(value, reference, rtol=0, atol=1e-12, msg=name)


def test_leading_batch_dims_and_default_chunk() -> None:
    x, w, b, upstream = _tensors(3, 12)
    x3 = x.detach().reshape(2, 6, 5).requires_grad_()
    out = F.dropconnect_linear(x3, w, b, 0.5, per_example=True, generator=seeded_generator(9))
    out.backward(upstream.reshape(2, 6, 3))
    # the default chunk of a 3x5 layer holds every example: one draw of shape (12, 3, 5)
    masks = F.bernoulli_mask((12, 3, 5), 0.5, generator=seeded_generator(9), dtype=torch.float64)
    _, gx, gw, gb = _naive_gradients(x, w, b, upstream, masks, 0.5)
    assert x3.grad.shape == (2, 6, 5)
    torch.testing.assert_close(x3.grad.reshape(12, 5), gx, rtol=0, atol=1e-12)
    torch.testing.assert_close(w.grad, gw, rtol=0, atol=1e-12)
    torch.testing.assert_close(b.grad, gb, rtol=0, atol=1e-12)


def test_gradcheck() -> None:
    x, w, b, _ = _tensors(5, 4, out_f=2, in_f=3)

    def op(x, w, b):
        # A fresh generator per call: the same masks every time, so the op is a fixed function.
        return F.dropconnect_linear(x, w, b, 0.4, per_example=True, chunk_size=3, generator=seeded_generator(6))

    assert torch.autograd.gradcheck(op, (x, w, b))


@pytest.mark.parametrize("needs", [(True, False), (False, True), (True, True)])
def test_only_requested_gradients_are_computed(needs: tuple[bool, bool]) -> None:
    x, w, b, upstream = _tensors(11, 5)
    x.requires_grad_(needs[0])
    w.requires_grad_(needs[1])
    out = F.dropconnect_linear(x, w, None, 0.3, per_example=True, chunk_size=2, generator=seeded_generator(12))
    out.backward(upstream)
    masks = _naive_masks(5, (3, 5), 0.3, 2, seeded_generator(12))
    _, gx, gw, _ = _naive_gradients(x, w, None, upstream, masks, 0.3)
    for tensor, need, reference in ((x, needs[0], gx), (w, needs[1], gw)):
        if need:
            torch.testing.assert_close(tensor.grad, reference, rtol=0, atol=1e-12)
        else:
            assert tensor.grad is None


def test_no_gradient_needed_builds_no_graph() -> None:
    x, w, b, _ = _tensors(13, 4)
    out = F.dropconnect_linear(x.detach(), w.detach(), None, 0.3, per_example=True, generator=seeded_generator(14))
    assert out.grad_fn is None and not out.requires_grad


def test_backward_leaves_the_callers_generator_where_forward_left_it() -> None:
    x, w, b, upstream = _tensors(15, 9)
    g = seeded_generator(16)
    out = F.dropconnect_linear(x, w, b, 0.5, per_example=True, chunk_size=4, generator=g)
    after_forward = g.get_state().clone()
    out.backward(upstream)
    assert torch.equal(g.get_state(), after_forward)
    # and forward consumed exactly what drawing the masks consumes
    reference = seeded_generator(16)
    _naive_masks(9, (3, 5), 0.5, 4, reference)
    assert torch.equal(after_forward, reference.get_state())


def test_default_generator_is_replayed_without_advancing_it() -> None:
    x, w, b, upstream = _tensors(17, 6)
    with torch.random.fork_rng(devices=[]):  # the global generator is restored after the test
        torch.manual_seed(18)
        out = F.dropconnect_linear(x, w, b, 0.5, per_example=True, chunk_size=4)
        after_forward = torch.default_generator.get_state().clone()
        out.backward(upstream)
        assert torch.equal(torch.default_generator.get_state(), after_forward)
    masks = _naive_masks(6, (3, 5), 0.5, 4, seeded_generator(18))
    expected = _naive_gradients(x, w, b, upstream, masks, 0.5)
    for value, reference in zip((out.detach(), x.grad, w.grad, b.grad), expected):
        torch.testing.assert_close(value, reference, rtol=0, atol=1e-12)


def test_backward_draws_one_chunk_of_masks_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    for name in ("bernoulli_mask", "keep_mask"):
        real = getattr(dc_module, name)

        def recording(shape, keep, _real=real, **kwargs):
            sizes.append(math.prod(shape))
            return _real(shape, keep, **kwargs)

        monkeypatch.setattr(dc_module, name, recording)
    x, w, b, upstream = _tensors(19, 50, out_f=4, in_f=6)
    out = F.dropconnect_linear(x, w, b, 0.5, per_example=True, chunk_size=7, generator=seeded_generator(20))
    sizes.clear()
    out.backward(upstream)
    assert max(sizes) <= 7 * 4 * 6 and sum(sizes) == 50 * 4 * 6 and len(sizes) == math.ceil(50 / 7)


def test_autograd_keeps_no_mask_sized_tensor() -> None:
    # Every tensor autograd saves for the backward pass, wherever in the graph: none may be
    # as large as a chunk of masks (chunk * out * in = 2 * 16 * 16 here, vs x: 6 * 16, W: 16 * 16).
    saved: list[int] = []
    x, w, b, upstream = _tensors(21, 6, out_f=16, in_f=16)
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel()) or t, lambda t: t):
        out = F.dropconnect_linear(x, w, b, 0.5, per_example=True, chunk_size=2, generator=seeded_generator(22))
    out.backward(upstream)
    assert saved and max(saved) <= max(x.numel(), w.numel()) < 2 * 16 * 16


def test_double_backward_raises() -> None:
    x, w, b, upstream = _tensors(23, 4)
    out = F.dropconnect_linear(x, w, b, 0.5, per_example=True, generator=seeded_generator(24))
    with pytest.raises(RuntimeError, match="no double backward.*create_graph=True"):
        torch.autograd.grad(out, x, upstream, create_graph=True)


def test_all_weights_dropped_gives_zero_gradients() -> None:
    x, w, b, upstream = _tensors(25, 4)
    F.dropconnect_linear(x, w, b, 1.0, per_example=True, generator=seeded_generator(26)).backward(upstream)
    assert torch.equal(x.grad, torch.zeros_like(x)) and torch.equal(w.grad, torch.zeros_like(w))
    torch.testing.assert_close(b.grad, upstream.sum(0))


@pytest.mark.gpu
def test_cuda_gradients_match_cpu_and_cuda_generator_is_not_advanced() -> None:
    cpu = _tensors(27, 9)
    cuda = [t.detach().cuda().requires_grad_(t.requires_grad) for t in cpu]
    for tensors in (cpu, cuda):
        x, w, b, upstream = tensors
        F.dropconnect_linear(x, w, b, 0.5, per_example=True, chunk_size=4, generator=seeded_generator(28, "cpu")).backward(upstream)
    for a, c in zip(cpu[:3], cuda[:3]):
        torch.testing.assert_close(c.grad.cpu(), a.grad, rtol=0, atol=1e-12)
    x, w, b, upstream = (t.detach().cuda().requires_grad_() for t in cpu)
    g = seeded_generator(29, "cuda")
    out = F.dropconnect_linear(x, w, b, 0.5, per_example=True, chunk_size=4, generator=g)
    after_forward = g.get_state().clone()
    out.backward(upstream.detach())
    assert torch.equal(g.get_state(), after_forward)
    # the CUDA generator's masks, brought to the CPU for the naive oracle
    masks = _naive_masks(9, (3, 5), 0.5, 4, seeded_generator(29, "cuda"))
    expected = _naive_gradients(*cpu[:3], cpu[3], masks, 0.5)
    for value, reference in zip((out.detach(), x.grad, w.grad, b.grad), expected):
        torch.testing.assert_close(value.cpu(), reference, rtol=0, atol=1e-12)
