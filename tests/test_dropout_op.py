"""functional.dropout and nn.Dropout: semantics, parity with torch, validation, randomness.

Planted bugs each fail something here: dividing by p instead of 1-p, keeping with
probability p, a missing eval branch, one mask reused across calls.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_theory import functional as F
from dropout_theory import nn as dnn
from dropout_theory.devices import seeded_generator
from dropout_theory.montecarlo import check_mean, z_for_false_alarm

FLOAT_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
shapes = st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple)
probabilities = st.floats(0.0, 1.0, allow_nan=False)


@given(shape=shapes, p=probabilities, dtype=st.sampled_from(FLOAT_DTYPES), inverted=st.booleans())
@settings(max_examples=60, deadline=None)
def test_training_output_is_zero_or_scaled_input(shape, p, dtype, inverted) -> None:
    x = torch.rand(shape, generator=seeded_generator(0, "cpu")).add(0.5).to(dtype)
    before = x.clone()
    y = F.dropout(x, p, generator=seeded_generator(1, "cpu"), inverted=inverted)
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert torch.equal(x, before), "input mutated"
    scale = (0.0 if p == 1 else 1 / (1 - p)) if inverted else 1.0
    kept = y != 0
    expected = x * scale  # torch's own scalar product is the oracle
    assert torch.equal(y[kept], expected[kept])
    assert not torch.isnan(y).any()


@given(p=probabilities, dtype=st.sampled_from(FLOAT_DTYPES))
@settings(max_examples=30, deadline=None)
def test_eval_rules(p, dtype) -> None:
    x = torch.randn(3, 4, generator=seeded_generator(2, "cpu")).to(dtype)
    assert F.dropout(x, p, training=False) is x
    out = F.dropout(x, p, training=False, inverted=False)
    torch.testing.assert_close(out, x * (1 - p))


def test_p_zero_is_identity_and_p_one_is_zero() -> None:
    x = torch.randn(100, generator=seeded_generator(3, "cpu"))
    assert torch.equal(F.dropout(x, 0.0, generator=seeded_generator(4, "cpu")), x)
    for inverted in (True, False):
        y = F.dropout(x, 1.0, generator=seeded_generator(4, "cpu"), inverted=inverted)
        assert torch.equal(y, torch.zeros_like(x))


def test_p_one_gradient_is_zero_not_nan() -> None:
    x = torch.randn(10, requires_grad=True)
    F.dropout(x, 1.0).sum().backward()
    assert torch.equal(x.grad, torch.zeros(10))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_parity_with_torch_for_the_same_mask(p: float) -> None:
    torch.manual_seed(5)  # torch's op has no generator argument
    x = torch.rand(64, 33, dtype=torch.float64) + 0.5  # no zeros: the output reveals the mask
    theirs = torch.nn.functional.dropout(x, p, training=True)
    ours = F.apply_dropout_mask(x, theirs != 0, p)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-15)


def test_same_generator_state_same_mask_and_fresh_masks_across_calls() -> None:
    x = torch.ones(1000)
    a = F.dropout(x, 0.5, generator=seeded_generator(6, "cpu"))
    b = F.dropout(x, 0.5, generator=seeded_generator(6, "cpu"))
    assert torch.equal(a, b)
    g = seeded_generator(6, "cpu")
    first, second = F.dropout(x, 0.5, generator=g), F.dropout(x, 0.5, generator=g)
    assert not torch.equal(first, second)


def test_consecutive_masks_are_independent() -> None:
    # Two independent Bernoulli(q) masks agree with probability q^2 + p^2; a reused mask
    # agrees always. Tolerance from a 1e-6 false-alarm budget.
    p, q = 0.3, 0.7
    g = seeded_generator(7, "cpu")
    module = dnn.Dropout(p, generator=g)
    x = torch.ones(200_000)
    agree = (module(x) != 0) == (module(x) != 0)
    assert check_mean(agree.double(), q * q + p * p).holds


@pytest.mark.parametrize("p", [0.2, 0.7])
def test_keep_probability_is_one_minus_p(p: float) -> None:
    kept = (F.dropout(torch.ones(400_000), p, generator=seeded_generator(8, "cpu")) != 0).double()
    evidence = check_mean(kept, 1 - p)
    assert evidence.holds, evidence


def test_inverted_mean_is_preserved() -> None:
    y = F.dropout(torch.full((400_000,), 3.0, dtype=torch.float64), 0.2, generator=seeded_generator(9, "cpu"))
    assert check_mean(y, 3.0).holds


def test_inplace() -> None:
    x = torch.ones(50)
    y = F.dropout(x, 0.5, inplace=True, generator=seeded_generator(10, "cpu"))
    assert y is x and set(x.unique().tolist()) <= {0.0, 2.0}
    x = torch.ones(50)
    y = F.dropout(x, 0.5, training=False, inverted=False, inplace=True)
    assert y is x and torch.equal(x, torch.full((50,), 0.5))


def test_empty_and_unbatched_and_zero_dim() -> None:
    assert F.dropout(torch.empty(0, 3), 0.5).shape == (0, 3)
    assert F.dropout(torch.tensor(2.0), 0.5, generator=seeded_generator(11, "cpu")).item() in (0.0, 4.0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, math.inf])
def test_invalid_p_value(bad: float) -> None:
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got"):
        F.dropout(torch.ones(3), bad)
    with pytest.raises(ValueError, match="p must be in"):
        dnn.Dropout(bad)


@pytest.mark.parametrize("bad", ["0.5", None, True, torch.tensor([0.5, 0.5])])
def test_invalid_p_type(bad: object) -> None:
    with pytest.raises(TypeError, match="p must be a real number"):
        F.dropout(torch.ones(3), bad)  # type: ignore[arg-type]


def test_invalid_input_and_generator() -> None:
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        F.dropout(torch.ones(3, dtype=torch.int64), 0.5)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got ndarray"):
        F.dropout(np.ones(3), 0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        F.dropout(torch.ones(3), 0.5, generator=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="training must be a bool"):
        F.dropout(torch.ones(3), 0.5, training="yes")  # type: ignore[arg-type]


def test_module_follows_train_and_eval() -> None:
    m = dnn.Dropout(0.4, generator=seeded_generator(12, "cpu"))
    x = torch.ones(1000)
    assert (m(x) == 0).any()
    m.eval()
    assert torch.equal(m(x), x)
    plain = dnn.Dropout(0.4, inverted=False).eval()
    torch.testing.assert_close(plain(x), x * 0.6)
    assert "p=0.4" in repr(m)


def test_module_gradients_flow_through_the_mask() -> None:
    m = dnn.Dropout(0.25, generator=seeded_generator(13, "cpu"))
    x = torch.randn(30, 7, requires_grad=True)
    y = m(x)
    y.sum().backward()
    mask = (y != 0).double()
    torch.testing.assert_close(x.grad.double(), mask / 0.75)


def test_cpu_generator_reproduces_on_default_device() -> None:
    a = F.bernoulli_mask((5, 5), 0.5, generator=seeded_generator(14, "cpu"))
    b = F.bernoulli_mask((5, 5), 0.5, generator=seeded_generator(14, "cpu"), device="cpu")
    assert torch.equal(a, b)


def test_z_for_false_alarm_matches_the_normal_tail() -> None:
    from scipy import stats

    z = z_for_false_alarm(1e-6)
    assert abs(2 * stats.norm.sf(z) - 1e-6) < 1e-15
    assert z_for_false_alarm(1e-6, comparisons=10) > z


@pytest.mark.gpu
def test_cuda_dropout_matches_cpu_for_a_cpu_generator() -> None:
    x = torch.ones(1000)
    cpu = F.dropout(x, 0.3, generator=seeded_generator(15, "cpu"))
    cuda = F.dropout(x.cuda(), 0.3, generator=seeded_generator(15, "cpu"))
    assert cuda.device.type == "cuda"
    torch.testing.assert_close(cuda.cpu(), cpu)


def test_intra_op_threads_restores_the_setting_also_on_error() -> None:
    from dropout_theory.devices import intra_op_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"):
        with intra_op_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        with intra_op_threads(0):
            pass
