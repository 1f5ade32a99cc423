"""Channel (spatial) dropout: structure, batched/unbatched rules, parity with torch's Dropout1d/2d/3d."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_theory import functional as F
from dropout_theory import nn as dnn
from dropout_theory.devices import seeded_generator

TORCH = {1: torch.nn.Dropout1d, 2: torch.nn.Dropout2d, 3: torch.nn.Dropout3d}
OURS = {1: dnn.ChannelDropout1d, 2: dnn.ChannelDropout2d, 3: dnn.ChannelDropout3d}


def _torch_out(x: torch.Tensor, p: float, k: int, seed: int) -> torch.Tensor:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TORCH[k](p)(x)


@settings(max_examples=30, deadline=None)
@given(k=st.sampled_from([1, 2, 3]), batched=st.booleans(), p=st.floats(0.05, 0.95), seed=st.integers(0, 1000),
       n=st.integers(1, 4), c=st.integers(1, 6))
def test_parity_with_torch_same_mask(k: int, batched: bool, p: float, seed: int, n: int, c: int) -> None:
    if k == 2 and not batched:
        return  # torch reads 3-D input to Dropout2d as (N, C, L); see the next test
    shape = ((n,) if batched else ()) + (c,) + (3, 2, 2)[:k]
    x = 0.5 + torch.rand(shape, generator=seeded_generator(seed), dtype=torch.float64)
    out = _torch_out(x, p, k, seed)
    lead = 2 if batched else 1
    mask = (out.reshape(*shape[:lead], -1) != 0).all(-1).double()
    # torch's mask is per channel: every entry of a channel agrees
    assert torch.equal((out != 0).reshape(*shape[:lead], -1).any(-1).double(), mask)
    torch.testing.assert_close(F.apply_channel_mask(x, mask, p, batched=batched), out, rtol=0, atol=1e-12)


def test_unbatched_2d_reads_channels_not_rows() -> None:
    x = 1.0 + torch.rand(8, 5, 5, generator=seeded_generator(1))
    y = dnn.ChannelDropout2d(0.5, generator=seeded_generator(2))(x)
    per_channel = (y != 0).reshape(8, -1)
    assert bool((per_channel.all(-1) | (~per_channel).all(-1)).all())


@pytest.mark.parametrize("shape,batched", [((4, 3, 5, 5), True), ((3, 5, 5), False), ((6, 2, 7), True), ((5, 9), False)])
def test_mask_broadcast_identical_within_channel(shape: tuple[int, ...], batched: bool) -> None:
    x = 1.0 + torch.rand(shape, generator=seeded_generator(3), dtype=torch.float64)
    y = F.channel_dropout(x, 0.4, batched=batched, generator=seeded_generator(4))
    kept = (y != 0).to(torch.float64)
    per_channel = kept.reshape(*shape[: 2 if batched else 1], -1)
    assert torch.equal(per_channel.amax(-1), per_channel.amin(-1))  # one gate per channel
    assert torch.equal(y, x * (kept * (1 / 0.6)))  # kept entries scaled by exactly 1/(1-p)


def test_mask_is_bernoulli_of_channel_shape() -> None:
    # Oracle: the package's mask sampler with the same generator state, channel-shaped.
    x = torch.ones(5, 7, 4, 4, dtype=torch.float64)
    y = F.channel_dropout(x, 0.3, generator=seeded_generator(5))
    mask = F.bernoulli_mask((5, 7, 1, 1), 0.7, generator=seeded_generator(5), dtype=torch.float64)
    torch.testing.assert_close(y, (mask / 0.7).expand_as(x))


def test_eval_p0_identity_and_p1_zeros() -> None:
    x = torch.randn(2, 3, 4)
    assert F.channel_dropout(x, 0.5, training=False) is x
    assert F.channel_dropout(x, 0.0) is x
    assert torch.equal(F.channel_dropout(x, 1.0), torch.zeros_like(x))


def test_shape_rules_raise_clearly() -> None:
    with pytest.raises(ValueError, match=r"expects a 4-D batched \(N, C, \*\) or 3-D unbatched \(C, \*\) input, got 2-D"):
        F.channel_dropout(torch.ones(3, 4), 0.5, spatial_dims=2)
    with pytest.raises(ValueError, match="contradicts"):
        F.channel_dropout(torch.ones(2, 3, 4), 0.5, spatial_dims=1, batched=False)
    with pytest.raises(ValueError, match=r"input of shape \(N, C, \*\)"):
        F.channel_dropout(torch.ones(3), 0.5)
    with pytest.raises(ValueError, match="spatial_dims must be"):
        dnn.ChannelDropout(0.5, spatial_dims=-1)
    with pytest.raises(ValueError, match="got 5-D"):
        dnn.ChannelDropout1d(0.5)(torch.ones(1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match="channel_mask must have shape"):
        F.apply_channel_mask(torch.ones(2, 3, 4), torch.ones(3), 0.5)


def test_invalid_p_and_dtype() -> None:
    with pytest.raises(ValueError, match="got -0.5"):
        F.channel_dropout(torch.ones(2, 3), -0.5)
    with pytest.raises(ValueError, match="got 2.0"):
        dnn.ChannelDropout2d(2.0)
    with pytest.raises(TypeError, match="floating dtype"):
        F.channel_dropout(torch.ones(2, 3, dtype=torch.long), 0.5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_inplace_no_mutation_and_reproducible(dtype: torch.dtype) -> None:
    x = torch.ones(4, 6, 3, 3, dtype=dtype)
    before = x.clone()
    y = F.channel_dropout(x, 0.5, generator=seeded_generator(6))
    assert y.dtype == dtype and torch.equal(x, before)
    assert torch.equal(F.channel_dropout(x, 0.5, generator=seeded_generator(6)), y)
    z = F.channel_dropout(x, 0.5, inplace=True, generator=seeded_generator(6))
    assert z.data_ptr() == x.data_ptr() and torch.equal(z, y)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_modules_train_eval(k: int) -> None:
    m = OURS[k](0.5, generator=seeded_generator(7))
    x = torch.ones((2, 8) + (3,) * k)
    assert (m(x) == 0).any()
    m.eval()
    assert m(x) is x
    assert f"spatial_dims={k}" in repr(m)


@pytest.mark.gpu
def test_cuda_device_preserved() -> None:
    x = torch.ones(2, 3, 4, 4, device="cuda")
    y = F.channel_dropout(x, 0.5, generator=seeded_generator(8))
    assert y.device.type == "cuda"
    torch.testing.assert_close(y.cpu(), F.channel_dropout(x.cpu(), 0.5, generator=seeded_generator(8)))
