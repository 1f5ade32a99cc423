"""DropConnect: masks, per-example memory bound, moment-matching inference, module."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_theory import functional as F
from dropout_theory import nn as dnn
from dropout_theory.devices import seeded_generator
from dropout_theory.functional import dropconnect as dc_module
from dropout_theory.montecarlo import z_for_false_alarm


def _layer(seed: int = 0, batch: int = 6, out_f: int = 3, in_f: int = 5):
    g = seeded_generator(seed)
    return (torch.randn(batch, in_f, generator=g, dtype=torch.float64), torch.randn(out_f, in_f, generator=g, dtype=torch.float64),
            torch.randn(out_f, generator=g, dtype=torch.float64))


def test_per_batch_uses_one_weight_mask() -> None:
    # Oracle: torch's F.linear with the weight masked by the same generator state's mask.
    x, w, b = _layer(1)
    p = 0.3
    out = F.dropconnect_linear(x, w, b, p, generator=seeded_generator(2))
    mask = F.bernoulli_mask(w.shape, 1 - p, generator=seeded_generator(2), dtype=torch.float64)
    torch.testing.assert_close(out, torch.nn.functional.linear(x, w * mask / (1 - p), b))


@settings(max_examples=20, deadline=None)
@given(batch=st.integers(1, 9), chunk=st.integers(1, 10), p=st.floats(0.05, 0.95), seed=st.integers(0, 100))
def test_per_example_rows_use_their_own_masks(batch: int, chunk: int, p: float, seed: int) -> None:
    x, w, b = _layer(seed, batch=batch)
    out = F.dropconnect_linear(x, w, b, p, per_example=True, chunk_size=chunk, generator=seeded_generator(seed + 1))
    g = seeded_generator(seed + 1)
    masks = torch.cat([F.bernoulli_mask((min(chunk, batch - s), *w.shape), 1 - p, generator=g, dtype=torch.float64)
                       for s in range(0, batch, chunk)])
    expected = torch.stack([torch.nn.functional.linear(x[i], w * masks[i] / (1 - p), b) for i in range(batch)])
    torch.testing.assert_close(out, expected)


def test_per_example_never_materialises_more_than_a_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real = dc_module.bernoulli_mask

    def recording(shape, keep, **kwargs):
        sizes.append(math.prod(shape))
        return real(shape, keep, **kwargs)

    monkeypatch.setattr(dc_module, "bernoulli_mask", recording)
    x, w, b = _layer(3, batch=50, out_f=4, in_f=6)
    F.dropconnect_linear(x, w, b, 0.5, per_example=True, chunk_size=7, generator=seeded_generator(4))
    assert max(sizes) <= 7 * 4 * 6 and sum(sizes) == 50 * 4 * 6
    sizes.clear()
    monkeypatch.setattr(dc_module, "DROPCONNECT_CHUNK_ELEMENTS", 100)
    F.dropconnect_linear(x, w, b, 0.5, per_example=True, generator=seeded_generator(4))
    assert max(sizes) <= 100 and len(sizes) == math.ceil(50 / (100 // 24))


def test_default_chunk_size() -> None:
    assert dc_module.default_chunk_size(1024, 1024) == 4
    assert dc_module.default_chunk_size(4096, 4096) == 1
    assert dc_module.default_chunk_size(10, 10) == (1 << 22) // 100


def test_unbatched_and_higher_rank_inputs() -> None:
    _, w, b = _layer(5)
    v = torch.randn(5, dtype=torch.float64)
    assert F.dropconnect_linear(v, w, b, 0.4, per_example=True, generator=seeded_generator(6)).shape == (3,)
    x = torch.randn(2, 4, 5, dtype=torch.float64)
    y = F.dropconnect_linear(x, w, b, 0.4, per_example=True, chunk_size=3, generator=seeded_generator(7))
    assert y.shape == (2, 4, 3)
    flat = F.dropconnect_linear(x.reshape(8, 5), w, b, 0.4, per_example=True, chunk_size=3, generator=seeded_generator(7))
    torch.testing.assert_close(y.reshape(8, 3), flat)


def test_eval_p0_and_p1() -> None:
    x, w, b = _layer(8)
    expected = torch.nn.functional.linear(x, w, b)
    for kwargs in ({"training": False}, {}):
        p = 0.5 if kwargs else 0.0
        torch.testing.assert_close(F.dropconnect_linear(x, w, b, p, **kwargs), expected)
    for per_example in (False, True):
        torch.testing.assert_close(F.dropconnect_linear(x, w, b, 1.0, per_example=per_example), b.expand(6, -1))


def test_errors_name_argument_and_value() -> None:
    x, w, b = _layer(9)
    with pytest.raises(ValueError, match="got 1.5"):
        F.dropconnect_linear(x, w, b, 1.5)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 5\)"):
        F.dropconnect_linear(torch.ones(2, 4, dtype=torch.float64), w, b, 0.5)
    with pytest.raises(ValueError, match="bias must have shape"):
        F.dropconnect_linear(x, w, torch.ones(4, dtype=torch.float64), 0.5)
    with pytest.raises(ValueError, match="weight must have shape"):
        F.dropconnect_linear(x, torch.ones(5, dtype=torch.float64), b, 0.5)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        F.dropconnect_linear(x, w, b, 0.5, per_example=True, chunk_size=0)
    with pytest.raises(TypeError, match="floating dtype"):
        F.dropconnect_linear(x.long(), w, b, 0.5)
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        F.dropconnect_moment_matching(x, w, b, 0.5, torch.relu, 0)
    with pytest.raises(ValueError, match="got 1.0"):
        F.dropconnect_moments(x, w, 1.0)
    with pytest.raises(ValueError, match="got 1.1"):
        dnn.DropConnectLinear(1.1, 4, 3)
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        dnn.DropConnectLinear(0.5, 0, 3)


def test_inputs_not_mutated_and_reproducible() -> None:
    x, w, b = _layer(10)
    copies = [t.clone() for t in (x, w, b)]
    for per_example in (False, True):
        a = F.dropconnect_linear(x, w, b, 0.5, per_example=per_example, generator=seeded_generator(11))
        c = F.dropconnect_linear(x, w, b, 0.5, per_example=per_example, generator=seeded_generator(11))
        assert torch.equal(a, c)
    assert all(torch.equal(t, c) for t, c in zip((x, w, b), copies))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_preserved(dtype: torch.dtype) -> None:
    x, w, b = (t.to(dtype) for t in _layer(12))
    for per_example in (False, True):
        assert F.dropconnect_linear(x, w, b, 0.5, per_example=per_example, generator=seeded_generator(13)).dtype == dtype


def test_moment_matching_without_noise_is_activation_of_mean() -> None:
    x, w, b = _layer(14)
    out = F.dropconnect_moment_matching(x, w, b, 0.0, torch.tanh, 3, generator=seeded_generator(15))
    torch.testing.assert_close(out, torch.tanh(torch.nn.functional.linear(x, w, b)))


def test_moment_matching_identity_activation_averages_to_mean() -> None:
    x, w, b = _layer(16, batch=2)
    p, samples = 0.4, 50_000
    mean, var = F.dropconnect_moments(x, w, p)
    estimate = F.dropconnect_moment_matching(x, w, b, p, lambda u: u, samples, generator=seeded_generator(17))
    # each average of `samples` Gaussian draws is exactly N(mean + b, var / samples): standardise it
    z = ((estimate - mean - b) / (var / samples).sqrt()).reshape(-1)
    assert bool((z.abs() <= z_for_false_alarm(1e-6, comparisons=z.numel())).all()), z


def test_moment_matching_chunks_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dc_module, "DROPCONNECT_CHUNK_ELEMENTS", 10)
    x, w, b = _layer(18, batch=2)  # 6 outputs -> 1 sample per chunk
    out_small = F.dropconnect_moment_matching(x, w, b, 0.3, torch.relu, 7, generator=seeded_generator(19))
    assert out_small.shape == (2, 3) and torch.isfinite(out_small).all()


def test_module_matches_functional_and_eval_is_linear() -> None:
    torch.manual_seed(20)  # parameters are initialised from torch's global generator, as nn.Linear
    layer = dnn.DropConnectLinear(0.3, 5, 3, per_example=True, chunk_size=4, generator=seeded_generator(21), dtype=torch.float64)
    x = torch.randn(9, 5, dtype=torch.float64)
    expected = F.dropconnect_linear(x, layer.weight, layer.bias, 0.3, per_example=True, chunk_size=4, generator=seeded_generator(21))
    torch.testing.assert_close(layer(x), expected)
    layer.eval()
    torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias))
    assert layer.moment_matching(x, torch.relu, 10).shape == (9, 3)
    assert "per_example=True" in repr(layer)
    no_bias = dnn.DropConnectLinear(0.3, 5, 3, bias=False)
    assert no_bias.bias is None


def test_module_gradients_flow_through_kept_weights_only() -> None:
    layer = dnn.DropConnectLinear(0.5, 4, 2, bias=False, generator=seeded_generator(22), dtype=torch.float64)
    x = torch.ones(1, 4, dtype=torch.float64)
    layer(x).sum().backward()
    mask = F.bernoulli_mask((2, 4), 0.5, generator=seeded_generator(22), dtype=torch.float64)
    torch.testing.assert_close(layer.weight.grad, mask / 0.5)


@pytest.mark.gpu
def test_cuda() -> None:
    x, w, b = (t.cuda() for t in _layer(23))
    for per_example in (False, True):
        y = F.dropconnect_linear(x, w, b, 0.5, per_example=per_example, generator=seeded_generator(24))
        assert y.device.type == "cuda"
        cpu = F.dropconnect_linear(x.cpu(), w.cpu(), b.cpu(), 0.5, per_example=per_example, generator=seeded_generator(24))
        torch.testing.assert_close(y.cpu(), cpu)
