"""DropPath / stochastic depth: per-sample gates, modes, validation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_theory import functional as F
from dropout_theory.devices import seeded_generator
from dropout_theory.nn import DropPath


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), p=st.floats(0.05, 0.95), seed=st.integers(0, 10_000))
def test_one_gate_per_sample(shape: list[int], p: float, seed: int) -> None:
    x = torch.ones(shape, dtype=torch.float64)
    y = F.drop_path(x, p, generator=seeded_generator(seed))
    per_sample = y.reshape(shape[0], -1)
    assert torch.equal(per_sample, per_sample[:, :1].expand_as(per_sample))
    assert set(per_sample[:, 0].tolist()) <= {0.0, 1.0 / (1.0 - p)}


def test_gates_match_bernoulli_mask_with_same_generator() -> None:
    x = torch.randn(16, 3, 4, generator=seeded_generator(1))
    y = F.drop_path(x, 0.3, generator=seeded_generator(2))
    gates = F.bernoulli_mask((16, 1, 1), 0.7, generator=seeded_generator(2))
    torch.testing.assert_close(y, x * gates / 0.7)


def test_non_inverted_modes() -> None:
    x = torch.randn(16, 5, generator=seeded_generator(3))
    y = F.drop_path(x, 0.25, inverted=False, generator=seeded_generator(4))
    gates = F.bernoulli_mask((16, 1), 0.75, generator=seeded_generator(4))
    torch.testing.assert_close(y, x * gates)
    torch.testing.assert_close(F.drop_path(x, 0.25, training=False, inverted=False), 0.75 * x)


def test_eval_and_p_zero_identity_p_one_zeros() -> None:
    x = torch.randn(4, 3)
    assert F.drop_path(x, 0.5, training=False) is x
    assert F.drop_path(x, 0.0) is x
    assert torch.equal(F.drop_path(x, 1.0), torch.zeros_like(x))
    assert DropPath(0.5).eval()(x) is x


def test_generator_reproducible_input_not_mutated_inplace_honoured() -> None:
    x = torch.randn(32, 4, generator=seeded_generator(5))
    before = x.clone()
    a = F.drop_path(x, 0.4, generator=seeded_generator(6))
    assert torch.equal(a, F.drop_path(x, 0.4, generator=seeded_generator(6)))
    assert torch.equal(x, before)
    out = F.drop_path(x, 0.4, inplace=True, generator=seeded_generator(6))
    assert out.data_ptr() == x.data_ptr() and torch.equal(x, a)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_preserved(dtype: torch.dtype) -> None:
    assert F.drop_path(torch.ones(4, 2, dtype=dtype), 0.3, generator=seeded_generator(7)).dtype == dtype


def test_validation() -> None:
    with pytest.raises(ValueError, match="p must be in"):
        F.drop_path(torch.ones(3), 1.2)
    with pytest.raises(ValueError, match="p must be in .*got -0.5"):
        DropPath(-0.5)
    with pytest.raises(ValueError, match="0-d"):
        F.drop_path(torch.tensor(1.0), 0.2)
    with pytest.raises(TypeError, match="floating dtype"):
        F.drop_path(torch.ones(3, dtype=torch.int32), 0.2)


def test_linear_decay_schedule() -> None:
    assert F.linear_decay_survival(4, 0.5) == [0.875, 0.75, 0.625, 0.5]
    assert sum(F.linear_decay_survival(54, 0.5)) == pytest.approx(40.25, abs=1e-12)
    assert F.linear_decay_survival(1, 0.3) == [pytest.approx(0.3)]
    with pytest.raises(ValueError, match="L must be a positive integer, got 0"):
        F.linear_decay_survival(0, 0.5)
    with pytest.raises(ValueError, match="p_L must be in"):
        F.linear_decay_survival(5, 1.5)


@pytest.mark.gpu
def test_device_preserved_on_cuda() -> None:
    x = torch.ones(8, 3, device="cuda")
    assert F.drop_path(x, 0.3, generator=seeded_generator(8, "cuda")).device == x.device
