"""The training engine: max-norm, weight decay, schedules, seeding, train/eval modes, history, variants."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dropout_theory.data import DataSplit
from dropout_theory.devices import seeded_generator
from dropout_theory.nn import DropConnectLinear, Dropout, GaussianDropout
from dropout_theory.training import (
    RunSpec,
    TrainConfig,
    apply_max_norm_,
    constrained_layers,
    build_mlp,
    evaluate,
    get_variant,
    mc_error_curve,
    run_training,
    train,
    variant_sources,
)


def _toy_data(n: int = 120, d: int = 6, classes: int = 3, seed: int = 0) -> DataSplit:
    g = seeded_generator(seed, "cpu")
    centres = 2.0 * torch.randn(classes, d, generator=g)
    y = torch.arange(n) % classes
    x = centres[y] + torch.randn(n, d, generator=g)
    yt = torch.arange(60) % classes
    xt = centres[yt] + torch.randn(60, d, generator=g)
    return DataSplit("toy", x, y, xt, yt, classes)


def _spec(**train: float) -> RunSpec:
    return RunSpec(hidden=(16, 16), variant="bernoulli", p_hidden=0.5, p_input=0.2, train=TrainConfig(**{"epochs": 3, "batch_size": 20, **train}))


def test_max_norm_bounds_every_row_and_leaves_short_rows_alone() -> None:
    g = seeded_generator(0, "cpu")
    model = build_mlp([6, 8, 3], variant="none", init_generator=g)
    with torch.no_grad():
        model[0].weight.mul_(torch.linspace(0.1, 30.0, 8).unsqueeze(1))  # rows from short to long
    before = [layer.weight.detach().clone() for layer in (model[0], model[2])]
    c = 1.0
    apply_max_norm_(model, c)
    for old, layer in zip(before, (model[0], model[2])):
        norms = old.norm(dim=1)
        expected = torch.where((norms > c).unsqueeze(1), old * (c / norms).unsqueeze(1), old)  # the projection, by hand
        torch.testing.assert_close(layer.weight, expected)
        assert (layer.weight.norm(dim=1) <= c * (1 + 1e-6)).all()
    with pytest.raises(ValueError, match="max_norm must be > 0, got 0"):
        apply_max_norm_(model, 0)


def test_training_with_max_norm_keeps_every_row_bounded() -> None:
    data = _toy_data()
    c = 0.5
    spec = _spec(lr=0.5, max_norm=c)
    model, _, _ = run_training(spec, data, seed=1)
    rows = torch.cat([m.weight.norm(dim=1) for m in model.modules() if isinstance(m, nn.Linear)])
    assert rows.max() <= c * (1 + 1e-6)
    free, _, _ = run_training(_spec(lr=0.5), data, seed=1)
    assert max(m.weight.norm(dim=1).max() for m in free.modules() if isinstance(m, nn.Linear)) > c  # the constraint was active


def test_one_step_of_sgd_with_weight_decay_matches_the_formula() -> None:
    data = _toy_data(n=30)
    g = seeded_generator(3, "cpu")
    model = build_mlp([6, 3], variant="none", init_generator=g)
    w0, b0 = model[0].weight.detach().clone(), model[0].bias.detach().clone()
    lr, wd = 0.3, 0.1
    # one full-batch step, no momentum: w <- w - lr (grad + wd w)
    train(model, data, TrainConfig(epochs=1, batch_size=30, lr=lr, momentum=0.0, weight_decay=wd), order_generator=seeded_generator(4, "cpu"))
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    loss = nn.functional.cross_entropy(data.x_train @ w.T + b, data.y_train)
    gw, gb = torch.autograd.grad(loss, (w, b))
    torch.testing.assert_close(model[0].weight, w0 - lr * (gw + wd * w0))
    torch.testing.assert_close(model[0].bias, b0 - lr * (gb + wd * b0))


def test_learning_rate_and_momentum_schedules() -> None:
    config = TrainConfig(epochs=5, lr=0.2, lr_decay=0.5, momentum=0.5, final_momentum=0.9, momentum_epochs=4)
    assert [config.learning_rate(t) for t in range(5)] == pytest.approx([0.2, 0.1, 0.05, 0.025, 0.0125])
    assert [config.momentum_at(t) for t in range(6)] == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 0.9])
    _, history, _ = run_training(RunSpec(hidden=(8,), variant="none", p_input=0, p_hidden=0, train=config), _toy_data(), 0, record_every=1)
    assert history.lr == pytest.approx([0.2 * 0.5**t for t in range(5)])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": 0}, "lr must be > 0"),
    ({"lr_decay": 1.5}, "lr_decay must be in"),
    ({"momentum": 1.0}, "momentum must be in"),
    ({"weight_decay": -1}, "weight_decay must be >= 0"),
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"max_norm": -1.0}, "max_norm must be > 0 or None"),
])
def test_train_config_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_seeded_runs_are_identical_and_seeds_differ() -> None:
    data = _toy_data()
    m1, h1, _ = run_training(_spec(), data, seed=5, record_every=1)
    m2, h2, _ = run_training(_spec(), data, seed=5, record_every=1)
    m3, h3, _ = run_training(_spec(), data, seed=6, record_every=1)
    assert h1.to_dict() == h2.to_dict()
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, b) for a, b in zip(m1.parameters(), m3.parameters()))


def test_dropout_only_active_in_training_mode() -> None:
    model = build_mlp([6, 16, 3], p_hidden=0.5, p_input=0.2, init_generator=seeded_generator(0, "cpu"), noise_generator=seeded_generator(1, "cpu"))
    x = torch.randn(10, 6, generator=seeded_generator(2, "cpu"))
    linears = [m for m in model if isinstance(m, nn.Linear)]
    plain = linears[1](torch.relu(linears[0](x)))  # the network without its noise layers
    model.eval()
    torch.testing.assert_close(model(x), plain)
    model.train()
    assert not torch.allclose(model(x), plain)
    assert not torch.allclose(model(x), model(x))  # fresh masks each call


def test_evaluate_restores_modes_and_counts_errors() -> None:
    data = _toy_data()
    model = build_mlp([6, 16, 3], init_generator=seeded_generator(0, "cpu"), noise_generator=seeded_generator(1, "cpu"))
    model.train()
    model[1].eval()  # a mixed state must come back as it was
    loss, error = evaluate(model, data.x_test, data.y_test, batch_size=7)
    assert model.training and not model[1].training and model[0].training
    model.eval()
    with torch.no_grad():
        logits = model(data.x_test)
    assert error == pytest.approx(float((logits.argmax(1) != data.y_test).float().mean()))
    assert loss == pytest.approx(float(nn.functional.cross_entropy(logits, data.y_test)), rel=1e-5)


@pytest.mark.parametrize(("epochs", "every", "recorded"), [(4, 1, [1, 2, 3, 4]), (7, 3, [3, 6, 7]), (5, None, [5])])
def test_history_shapes(epochs: int, every: int | None, recorded: list[int]) -> None:
    _, history, _ = run_training(RunSpec(hidden=(8,), train=TrainConfig(epochs=epochs, batch_size=40)), _toy_data(), 0, record_every=every)
    assert history.epoch == recorded
    for values in history.to_dict().values():
        assert len(values) == len(recorded)
    assert all(0.0 <= e <= 1.0 for e in history.test_error + history.train_error)


def test_divergence_is_an_error_not_a_nan_history() -> None:
    with pytest.raises(FloatingPointError, match=r"training diverged at epoch \d+: loss (nan|inf)"):
        run_training(RunSpec(hidden=(8,), variant="none", p_input=0, p_hidden=0, train=TrainConfig(epochs=2, lr=1e6, momentum=0.9)), _toy_data(), 0)


def test_build_mlp_places_noise_where_stated() -> None:
    g = seeded_generator(0, "cpu")
    layers = [type(m).__name__ for m in build_mlp([6, 8, 8, 3], p_hidden=0.5, p_input=0.2, init_generator=g)]
    assert layers == ["Dropout", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    layers = [type(m).__name__ for m in build_mlp([6, 8, 3], p_hidden=0.5, p_input=0.0, init_generator=g)]
    assert layers == ["Linear", "ReLU", "Dropout", "Linear"]
    model = build_mlp([6, 8, 8, 3], variant="dropconnect", p_hidden=0.5, p_input=0.0, init_generator=g)
    noisy = [getattr(m, "p", None) for m in constrained_layers(model)]
    assert noisy == [None, 0.5, 0.5]  # weights into the layers that read hidden units
    with pytest.raises(ValueError, match="variant must be one of"):
        get_variant("spike-and-slab")
    with pytest.raises(ValueError, match="p_hidden must be in"):
        build_mlp([6, 3], p_hidden=1.0, init_generator=g)


def test_variant_table_uses_package_dropout_and_reports_sources() -> None:
    assert get_variant("bernoulli").noise is Dropout
    assert get_variant("gaussian").noise is GaussianDropout
    assert isinstance(get_variant("dropconnect").linear(4, 3, 0.5), DropConnectLinear)
    sources = variant_sources()
    assert set(sources) == {"none", "bernoulli", "gaussian", "dropconnect"}


def test_dropconnect_variant_is_max_norm_constrained() -> None:
    model = build_mlp([6, 5, 3], variant="dropconnect", p_hidden=0.5, init_generator=seeded_generator(9, "cpu"))
    layers = constrained_layers(model)
    assert any(isinstance(m, DropConnectLinear) for m in layers) and len(layers) == 2
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(10.0)
    apply_max_norm_(model, 1.5)
    assert all(float(layer.weight.detach().norm(dim=1).max()) <= 1.5 + 1e-6 for layer in layers)


def test_mc_error_curve_without_noise_equals_the_deterministic_error_and_restores_modes() -> None:
    data = _toy_data()
    model, _, _ = run_training(RunSpec(hidden=(8,), variant="none", p_input=0, p_hidden=0, train=TrainConfig(epochs=2, batch_size=40)), data, 0)
    _, error = evaluate(model, data.x_test, data.y_test)
    assert mc_error_curve(model, data.x_test, data.y_test, [1, 3]) == pytest.approx([error, error])
    dropout_model, _, noise = run_training(_spec(epochs=5), data, 0)
    dropout_model.train()
    curve = mc_error_curve(dropout_model, data.x_test, data.y_test, [1, 2, 200])
    assert dropout_model.training and all(m.training for m in dropout_model.modules())
    assert len(curve) == 3 and all(0 <= e <= 1 for e in curve)
    # many samples converge to a fixed classifier: two independent 200-sample averages agree closely
    noise.manual_seed(123)
    again = mc_error_curve(dropout_model, data.x_test, data.y_test, [200])[0]
    assert abs(again - curve[2]) <= 3 / 60


@pytest.mark.gpu
def test_training_runs_on_cuda_with_the_same_initial_weights() -> None:
    data = _toy_data()
    cpu_model, _, _ = run_training(_spec(epochs=1), data, 0)
    cuda_model, history, _ = run_training(_spec(epochs=1), data, 0, device="cuda")
    assert next(cuda_model.parameters()).device.type == "cuda"
    assert len(history.test_error) == 1 and math.isfinite(history.test_loss[0])
