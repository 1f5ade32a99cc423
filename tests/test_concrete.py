"""Concrete dropout: the relaxed mask, the module, its regulariser and validation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dropout_theory import functional as F
from dropout_theory.devices import seeded_generator
from dropout_theory.functional.masks import uniform
from dropout_theory.nn import ConcreteDropout


def test_mask_matches_formula_with_replayed_noise() -> None:
    z = F.concrete_drop_mask((50,), 0.2, temperature=0.3, eps=0.0, generator=seeded_generator(1), dtype=torch.float64)
    u = uniform((50,), generator=seeded_generator(1), dtype=torch.float64)
    expected = torch.sigmoid((math.log(0.2 / 0.8) + torch.log(u / (1 - u))) / 0.3)
    torch.testing.assert_close(z, expected, rtol=0, atol=1e-15)


def test_dropout_output_and_eval_identity() -> None:
    x = torch.randn(40, dtype=torch.float64, generator=seeded_generator(2))
    y = F.concrete_dropout(x, 0.3, eps=0.0, generator=seeded_generator(3))
    z = F.concrete_drop_mask((40,), 0.3, eps=0.0, generator=seeded_generator(3), dtype=torch.float64)
    torch.testing.assert_close(y, x * (1 - z) / 0.7)
    assert F.concrete_dropout(x, 0.3, training=False) is x


def test_module_wraps_layer_and_is_identity_in_eval() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(5, 2)
    module = ConcreteDropout(0.2, layer, generator=seeded_generator(4))
    x = torch.randn(3, 5, generator=seeded_generator(5))
    module.eval()
    torch.testing.assert_close(module(x), layer(x))
    module.train()
    assert not torch.allclose(module(x), layer(x))
    assert ConcreteDropout(0.2)(x).shape == x.shape  # in front of a layer


def test_p_is_learned_through_its_logit() -> None:
    module = ConcreteDropout(0.25, nn.Linear(4, 1), generator=seeded_generator(6))
    assert float(module.p.detach()) == pytest.approx(0.25, abs=1e-7)
    loss = module(torch.randn(8, 4, generator=seeded_generator(7))).pow(2).mean() + module.regularization()
    loss.backward()
    assert module.p_logit.grad is not None and module.p_logit.grad != 0


def test_regularization_against_hand_formula() -> None:
    torch.manual_seed(1)
    layer = nn.Linear(3, 2, dtype=torch.float64)
    module = ConcreteDropout(0.4, layer, weight_regularizer=0.01, dropout_regularizer=0.1, dtype=torch.float64)
    p = 0.4
    expected = 0.01 * float((layer.weight.detach() ** 2).sum()) / (1 - p) + 0.1 * 3 * (p * math.log(p) + (1 - p) * math.log(1 - p))
    assert float(module.regularization().detach()) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="weight="):
        ConcreteDropout(0.4).regularization()


def test_same_generator_same_output_and_no_mutation() -> None:
    x = torch.randn(10, 3, generator=seeded_generator(8))
    before = x.clone()
    a = F.concrete_dropout(x, 0.3, generator=seeded_generator(9))
    assert torch.equal(a, F.concrete_dropout(x, 0.3, generator=seeded_generator(9)))
    assert torch.equal(x, before)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtype_preserved(dtype: torch.dtype) -> None:
    y = F.concrete_dropout(torch.ones(6, dtype=dtype), 0.3, generator=seeded_generator(10))
    assert y.dtype == dtype and torch.isfinite(y.float()).all()


def test_validation() -> None:
    for p in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=f"p must be in .*{p}"):
            ConcreteDropout(p)
        with pytest.raises(ValueError, match="p must be in"):
            F.concrete_dropout(torch.ones(3), p)
    with pytest.raises(TypeError, match="p must be a real number"):
        ConcreteDropout(nn.Linear(2, 2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        F.concrete_dropout(torch.ones(3), 0.2, temperature=0.0)
    with pytest.raises(TypeError, match="floating dtype"):
        F.concrete_dropout(torch.ones(3, dtype=torch.int64), 0.2)


@pytest.mark.gpu
def test_device_preserved_on_cuda() -> None:
    module = ConcreteDropout(0.2, nn.Linear(3, 1)).cuda()
    assert module(torch.ones(4, 3, device="cuda")).device.type == "cuda"
