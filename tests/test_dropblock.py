"""DropBlock: behaviour users of torchvision's drop_block2d rely on, against independent oracles."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as torch_F
from hypothesis import given, settings
from hypothesis import strategies as st

from dropout_theory import functional as F
from dropout_theory.devices import seeded_generator
from dropout_theory.functional.dropblock import block_mask_from_origins
from dropout_theory.nn import DropBlock2d


def loop_mask(origins: torch.Tensor, b: int, H: int, W: int) -> torch.Tensor:
    """Keep-mask built cell by cell from origins (N, C, H-b+1, W-b+1): an oracle without max-pool."""
    keep = torch.ones(*origins.shape[:2], H, W)
    for n, c, i, j in itertools.product(*(range(s) for s in origins.shape)):
        if origins[n, c, i, j]:
            keep[n, c, i : i + b, j : j + b] = 0
    return keep


@settings(max_examples=25, deadline=None)
@given(b=st.integers(1, 5), H=st.integers(5, 9), W=st.integers(5, 9), seed=st.integers(0, 10_000))
def test_mask_rule_matches_loop_oracle(b: int, H: int, W: int, seed: int) -> None:
    origins = (torch.rand(2, 2, H - b + 1, W - b + 1, generator=seeded_generator(seed)) < 0.15).float()
    assert torch.equal(block_mask_from_origins(origins, b), loop_mask(origins, b, H, W))


def torchvision_mask(noise: torch.Tensor, b: int) -> torch.Tensor:
    """torchvision's drop_block2d mask construction (centres on the valid region), odd b."""
    noise = torch_F.pad(noise, [b // 2] * 4, value=0)
    noise = torch_F.max_pool2d(noise, stride=(1, 1), kernel_size=(b, b), padding=b // 2)
    return 1 - noise


@pytest.mark.parametrize("b", [1, 3, 5, 7])
def test_same_blocks_as_torchvision_for_odd_sizes(b: int) -> None:
    origins = (torch.rand(3, 2, 20 - b + 1, 20 - b + 1, generator=seeded_generator(b)) < 0.05).float()
    assert torch.equal(block_mask_from_origins(origins, b), torchvision_mask(origins, b))


def test_batch_normalisation_is_numel_over_kept() -> None:
    x = torch.randn(4, 3, 12, 12, generator=seeded_generator(1))
    y = F.drop_block2d(x, 0.3, 3, generator=seeded_generator(2))
    mask = F.drop_block_mask(x.shape, 0.3, 3, generator=seeded_generator(2))
    torch.testing.assert_close(y, x * mask * (mask.numel() / mask.sum()))


def test_expected_normalisation_uses_exact_fraction() -> None:
    x = torch.randn(2, 3, 10, 10, dtype=torch.float64, generator=seeded_generator(3))
    y = F.drop_block2d(x, 0.2, 3, normalize="expected", generator=seeded_generator(4))
    mask = F.drop_block_mask(x.shape, 0.2, 3, generator=seeded_generator(4), dtype=torch.float64)
    torch.testing.assert_close(y, x * mask / (1 - F.drop_block_drop_fraction(0.2, 3, 10, 10)))


def test_eval_and_p_zero_are_identity_and_p_one_gives_zeros() -> None:
    x = torch.randn(2, 3, 8, 8)
    assert F.drop_block2d(x, 0.5, 3, training=False) is x
    assert F.drop_block2d(x, 0.0, 3) is x
    assert torch.equal(F.drop_block2d(x, 1.0, 3), torch.zeros_like(x))
    module = DropBlock2d(0.5, 3).eval()
    assert module(x) is x


def test_unbatched_matches_batched_with_same_generator() -> None:
    x = torch.randn(3, 9, 9, generator=seeded_generator(5))
    y = F.drop_block2d(x, 0.3, 3, generator=seeded_generator(6))
    y_batched = F.drop_block2d(x.unsqueeze(0), 0.3, 3, generator=seeded_generator(6))
    assert y.shape == x.shape
    assert torch.equal(y, y_batched[0])


def test_shared_mask_identical_across_channels_and_per_channel_masks_differ() -> None:
    x = torch.ones(8, 4, 16, 16)
    shared = F.drop_block2d(x, 0.3, 3, shared_channels=True, generator=seeded_generator(7))
    assert all(torch.equal(shared[:, 0], shared[:, c]) for c in range(1, 4))
    per_channel = F.drop_block2d(x, 0.3, 3, generator=seeded_generator(7))
    assert not torch.equal(per_channel[:, 0], per_channel[:, 1])


def test_same_generator_state_same_output_and_input_not_mutated() -> None:
    x = torch.randn(2, 2, 10, 10, generator=seeded_generator(8))
    before = x.clone()
    a = F.drop_block2d(x, 0.4, 3, generator=seeded_generator(9))
    b = F.drop_block2d(x, 0.4, 3, generator=seeded_generator(9))
    assert torch.equal(a, b)
    assert torch.equal(x, before)


def test_inplace_is_honoured() -> None:
    x = torch.randn(2, 2, 10, 10, generator=seeded_generator(10))
    expected = F.drop_block2d(x, 0.4, 3, generator=seeded_generator(11))
    out = F.drop_block2d(x, 0.4, 3, inplace=True, generator=seeded_generator(11))
    assert out.data_ptr() == x.data_ptr()
    assert torch.equal(x, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_preserved(dtype: torch.dtype) -> None:
    x = torch.ones(2, 2, 8, 8, dtype=dtype)
    assert F.drop_block2d(x, 0.3, 3, generator=seeded_generator(12)).dtype == dtype


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_invalid_p_raises_naming_value(p: float) -> None:
    with pytest.raises(ValueError, match="p must be in"):
        F.drop_block2d(torch.ones(1, 1, 8, 8), p, 3)
    with pytest.raises(ValueError, match="p must be in"):
        DropBlock2d(p, 3)


def test_bad_shapes_and_dtypes_raise() -> None:
    with pytest.raises(ValueError, match="block_size=9 for a 8x8"):
        F.drop_block2d(torch.ones(1, 1, 8, 8), 0.1, 9)
    with pytest.raises(ValueError, match=r"got shape \(8, 8\)"):
        F.drop_block2d(torch.ones(8, 8), 0.1, 3)
    with pytest.raises(ValueError, match="block_size must be a positive integer, got 0"):
        DropBlock2d(0.1, 0)
    with pytest.raises(TypeError, match="floating dtype"):
        F.drop_block2d(torch.ones(1, 1, 8, 8, dtype=torch.int64), 0.1, 3)
    with pytest.raises(ValueError, match="normalize"):
        F.drop_block2d(torch.ones(1, 1, 8, 8), 0.1, 3, normalize="sum")  # type: ignore[arg-type]


def test_even_block_sizes_keep_the_shape() -> None:
    # torchvision's construction returns H + 1 rows for even b; ours keeps H.
    y = F.drop_block2d(torch.ones(1, 2, 11, 13), 0.3, 4, generator=seeded_generator(13))
    assert y.shape == (1, 2, 11, 13)


def test_drop_fraction_at_the_papers_setting() -> None:
    # Independent arithmetic: a direct double loop over positions.
    gamma = 0.1 / 49 * 784 / 484
    n = [min(y, 21) - max(0, y - 6) + 1 for y in range(28)]
    exact = 1 - sum((1 - gamma) ** (a * c) for a in n for c in n) / 784
    assert F.drop_block_drop_fraction(0.1, 7, 28, 28) == pytest.approx(exact, abs=1e-14)
    assert F.drop_block_drop_fraction(1.0, 7, 28, 28) == 1.0


@pytest.mark.gpu
def test_device_preserved_on_cuda() -> None:
    x = torch.ones(2, 2, 8, 8, device="cuda")
    y = F.drop_block2d(x, 0.3, 3, generator=seeded_generator(14, "cuda"))
    assert y.device == x.device
