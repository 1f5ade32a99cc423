"""LockedDropout and VariationalLSTM, with torch's own LSTM as the oracle."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_theory import functional as F
from dropout_theory.devices import seeded_generator
from dropout_theory.nn import LockedDropout, VariationalLSTM


@settings(max_examples=30, deadline=None)
@given(T=st.integers(1, 6), N=st.integers(1, 5), D=st.integers(1, 6), batch_first=st.booleans(), seed=st.integers(0, 10_000))
def test_locked_mask_identical_over_time(T: int, N: int, D: int, batch_first: bool, seed: int) -> None:
    shape = (N, T, D) if batch_first else (T, N, D)
    y = F.locked_dropout(torch.ones(shape, dtype=torch.float64), 0.4, batch_first=batch_first, generator=seeded_generator(seed))
    seq = y.transpose(0, 1) if batch_first else y
    assert torch.equal(seq, seq[:1].expand_as(seq))
    assert set(seq.unique().tolist()) <= {0.0, 1 / 0.6}


def test_locked_matches_bernoulli_mask_and_unbatched() -> None:
    x = torch.randn(5, 3, 4, generator=seeded_generator(1))
    y = F.locked_dropout(x, 0.3, generator=seeded_generator(2))
    mask = F.bernoulli_mask((1, 3, 4), 0.7, generator=seeded_generator(2))
    torch.testing.assert_close(y, x * mask / 0.7)
    seq = torch.randn(5, 4, generator=seeded_generator(3))
    y1 = F.locked_dropout(seq, 0.3, generator=seeded_generator(4))
    unbatched_mask = F.bernoulli_mask((1, 4), 0.7, generator=seeded_generator(4))
    torch.testing.assert_close(y1, seq * unbatched_mask / 0.7)


def test_locked_modes_and_validation() -> None:
    x = torch.randn(4, 2, 3)
    assert F.locked_dropout(x, 0.5, training=False) is x
    assert F.locked_dropout(x, 0.0) is x
    assert torch.equal(F.locked_dropout(x, 1.0), torch.zeros_like(x))
    assert LockedDropout(0.5).eval()(x) is x
    before = x.clone()
    F.locked_dropout(x, 0.5, generator=seeded_generator(5))
    assert torch.equal(x, before)
    out = F.locked_dropout(x, 0.5, inplace=True, generator=seeded_generator(5))
    assert out.data_ptr() == x.data_ptr()
    with pytest.raises(ValueError, match="got 2.0"):
        LockedDropout(2.0)
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4, 5\)"):
        F.locked_dropout(torch.ones(2, 3, 4, 5), 0.1)
    with pytest.raises(TypeError, match="floating dtype"):
        F.locked_dropout(torch.ones(2, 3, dtype=torch.int64), 0.1)


def _pair(num_layers: int = 2, batch_first: bool = False, **kw: float) -> tuple[VariationalLSTM, torch.nn.LSTM]:
    torch.manual_seed(0)
    ours = VariationalLSTM(3, 4, num_layers, batch_first=batch_first, generator=seeded_generator(6), dtype=torch.float64, **kw)
    ref = torch.nn.LSTM(3, 4, num_layers, batch_first=batch_first, dtype=torch.float64)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


@pytest.mark.parametrize("batch_first", [False, True])
def test_eval_equals_torch_lstm(batch_first: bool) -> None:
    ours, ref = _pair(batch_first=batch_first, p_input=0.3, p_hidden=0.3, p_output=0.3)
    ours.eval()
    x = torch.randn(5, 6, 3, dtype=torch.float64, generator=seeded_generator(7))
    h0 = torch.randn(2, 5 if batch_first else 6, 4, dtype=torch.float64, generator=seeded_generator(8))
    c0 = torch.randn_like(h0)
    out, (h, c) = ours(x, (h0, c0))
    ref_out, (ref_h, ref_c) = ref(x, (h0, c0))
    for a, b in ((out, ref_out), (h, ref_h), (c, ref_c)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_zero_probabilities_train_equals_torch_lstm_and_unbatched() -> None:
    ours, ref = _pair()
    x = torch.randn(6, 3, dtype=torch.float64, generator=seeded_generator(9))
    out, (h, c) = ours(x)
    ref_out, (ref_h, ref_c) = ref(x)
    assert out.shape == (6, 4) and h.shape == (2, 4)
    torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-12)
    torch.testing.assert_close(c, ref_c, rtol=0, atol=1e-12)


def test_training_masks_are_tied_over_time_against_cell_oracle() -> None:
    ours, ref = _pair(num_layers=1, p_input=0.4, p_hidden=0.5)
    cell = torch.nn.LSTMCell(3, 4, dtype=torch.float64)
    cell.load_state_dict({k: getattr(ref, f"{k}_l0") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    x = torch.randn(8, 5, 3, dtype=torch.float64, generator=seeded_generator(10))
    masks = ours.sample_masks(5, dtype=torch.float64)
    out, _ = ours(x, masks=masks)
    h = c = torch.zeros(5, 4, dtype=torch.float64)
    for t in range(8):
        h, c = cell(x[t] * masks.inputs[0] / 0.6, (h * masks.hidden[0] / 0.5, c))
        torch.testing.assert_close(out[t], h, rtol=0, atol=1e-12)


def test_training_draws_from_generator_and_differs_between_calls() -> None:
    ours, _ = _pair(p_input=0.3, p_hidden=0.3, p_output=0.3)
    x = torch.randn(4, 2, 3, dtype=torch.float64, generator=seeded_generator(11))
    ours.generator = seeded_generator(12)
    a, _ = ours(x)
    ours.generator = seeded_generator(12)
    replay = ours.sample_masks(2, dtype=torch.float64)
    b, _ = ours(x, masks=replay)
    assert torch.equal(a, b)  # a forward pass uses exactly the masks sample_masks draws
    ours.generator = seeded_generator(12)
    assert torch.equal(a, ours(x)[0])  # same generator state, same output
    assert not torch.equal(ours(x)[0], ours(x)[0])
    assert not torch.equal(replay.hidden[0][0], replay.hidden[0][1]) or not torch.equal(replay.inputs[0][0], replay.inputs[0][1])


def test_per_step_masks_differ_over_time() -> None:
    lstm = VariationalLSTM(3, 16, p_hidden=0.5, per_step_masks=True, generator=seeded_generator(13))
    masks = lstm.sample_masks(4, seq_len=5)
    assert masks.hidden[0].shape == (5, 4, 16)
    assert not torch.equal(masks.hidden[0][0], masks.hidden[0][1])
    out, _ = lstm(torch.randn(5, 4, 3, generator=seeded_generator(14)))
    assert out.shape == (5, 4, 16)


def test_lstm_validation() -> None:
    with pytest.raises(ValueError, match="p_hidden must be in .*got 1.5"):
        VariationalLSTM(3, 4, p_hidden=1.5)
    with pytest.raises(ValueError, match="hidden_size must be a positive integer, got 0"):
        VariationalLSTM(3, 0)
    lstm = VariationalLSTM(3, 4)
    with pytest.raises(ValueError, match="expected input_size=3"):
        lstm(torch.ones(2, 1, 5))
    with pytest.raises(ValueError, match=r"got shape \(3,\)"):
        lstm(torch.ones(3))
    with pytest.raises(TypeError, match="does not match"):
        lstm(torch.ones(2, 1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"h_0 must have shape \(1, 1, 4\)"):
        lstm(torch.ones(2, 1, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 1, 4)))


def test_gradients_flow_through_masks() -> None:
    lstm = VariationalLSTM(3, 4, p_input=0.2, p_hidden=0.2, generator=seeded_generator(15))
    out, _ = lstm(torch.randn(4, 2, 3, generator=seeded_generator(16)))
    out.sum().backward()
    assert lstm.weight_hh_l0.grad is not None and torch.isfinite(lstm.weight_hh_l0.grad).all()


@pytest.mark.gpu
def test_device_preserved_on_cuda() -> None:
    lstm = VariationalLSTM(3, 4, p_hidden=0.3).cuda()
    out, (h, _) = lstm(torch.ones(2, 1, 3, device="cuda"))
    assert out.device.type == "cuda" and h.device.type == "cuda"
