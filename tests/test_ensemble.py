"""The exact ensemble engine and weight scaling, against independent oracles.

Oracles: explicit loops over ``itertools.product`` written with plain torch ops (no hooks,
no package code), and sympy for d <= 3.
"""

from __future__ import annotations

import itertools
import math

import pytest
import sympy as sp
import torch
from torch import nn

from dropout_theory.devices import seeded_generator
from dropout_theory.inference import (
    EnsembleTooLarge,
    exact_ensemble,
    per_mask_loop,
    subnetwork_outputs,
    weight_scaled,
    weighted_means,
)
from dropout_theory.nn import Dropout

TOL = 1e-12


def _net(*modules: nn.Module, seed: int = 0) -> nn.Sequential:
    """A float64 Sequential with parameters drawn from a seeded generator (not the global one)."""
    net = nn.Sequential(*modules).double()
    generator = seeded_generator(seed, "cpu")
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(torch.rand(param.shape, generator=generator, dtype=torch.float64) * 2 - 1)
    return net


def _inputs(shape: tuple[int, ...], seed: int = 1) -> torch.Tensor:
    return torch.randn(shape, generator=seeded_generator(seed, "cpu"), dtype=torch.float64)


def _mask_probability(bits: tuple[int, ...], keeps: list[float]) -> float:
    return math.prod(q if b else 1.0 - q for b, q in zip(bits, keeps))


def _oracle(forward, d: int, keeps: list[float], link) -> dict[str, torch.Tensor]:
    """Arithmetic mean, variance and log-geometric sums by an explicit loop over all masks."""
    outs, probs = [], []
    for bits in itertools.product((0, 1), repeat=d):
        outs.append(link(forward(torch.tensor(bits, dtype=torch.float64))))
        probs.append(_mask_probability(bits, keeps))
    outs_t = torch.stack(outs)
    w = torch.tensor(probs, dtype=torch.float64).reshape(-1, *[1] * (outs_t.ndim - 1))
    mean = (w * outs_t).sum(0)
    return {"mean": mean, "var": (w * (outs_t - mean) ** 2).sum(0), "log_g": (w * outs_t.log()).sum(0),
            "log_gc": (w * (1 - outs_t).log()).sum(0)}


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def test_linear_network_against_loop() -> None:
    net = _net(Dropout(0.3, inverted=False), nn.Linear(5, 3))
    x = _inputs((2, 5))
    W, b = net[1].weight.detach(), net[1].bias.detach()
    oracle = _oracle(lambda m: (x * m) @ W.T + b, 5, [0.7] * 5, lambda z: z)
    result = exact_ensemble(net, x)
    assert result.masks == 32 and result.units == 5
    assert _max_diff(result.mean, oracle["mean"]) < TOL
    assert _max_diff(result.var, oracle["var"]) < TOL


@pytest.mark.parametrize("incremental", [True, False])
def test_relu_mlp_softmax_against_loop(incremental: bool) -> None:
    net = _net(Dropout(0.4), nn.Linear(6, 7), nn.ReLU(), nn.Linear(7, 3))
    x = _inputs((3, 6))
    W1, b1, W2, b2 = (t.detach() for t in (net[1].weight, net[1].bias, net[3].weight, net[3].bias))
    q = 0.6
    oracle = _oracle(lambda m: torch.relu((x * m / q) @ W1.T + b1) @ W2.T + b2, 6, [q] * 6,
                     lambda z: torch.softmax(z, -1))
    result = exact_ensemble(net, x, link="softmax", incremental=incremental)
    assert result.path == ("incremental" if incremental else "batched")
    assert _max_diff(result.mean, oracle["mean"]) < TOL
    assert _max_diff(result.var, oracle["var"]) < TOL
    assert _max_diff(result.geometric, oracle["log_g"].exp()) < TOL
    nwgm = oracle["log_g"].exp() / oracle["log_g"].exp().sum(-1, keepdim=True)
    assert _max_diff(result.nwgm, nwgm) < TOL


def test_several_enumerated_layers_with_their_own_p_against_loop() -> None:
    net = _net(Dropout(0.25), nn.Linear(3, 4), nn.Tanh(), Dropout(0.5, inverted=False), nn.Linear(4, 1))
    x = _inputs((2, 3))
    W1, b1, W2, b2 = (t.detach() for t in (net[1].weight, net[1].bias, net[4].weight, net[4].bias))

    def forward(m: torch.Tensor) -> torch.Tensor:
        h = torch.tanh((x * m[:3] / 0.75) @ W1.T + b1)
        return (h * m[3:]) @ W2.T + b2

    oracle = _oracle(forward, 7, [0.75] * 3 + [0.5] * 4, torch.sigmoid)
    result = exact_ensemble(net, x, link="sigmoid")
    assert result.units == 7
    assert _max_diff(result.mean, oracle["mean"]) < TOL
    assert _max_diff(result.geometric, oracle["log_g"].exp()) < TOL
    assert _max_diff(result.complement_geometric, oracle["log_gc"].exp()) < TOL
    g, gc = oracle["log_g"].exp(), oracle["log_gc"].exp()
    assert _max_diff(result.nwgm, g / (g + gc)) < TOL


def test_only_chosen_layer_and_units_are_enumerated() -> None:
    net = _net(Dropout(0.3, inverted=False), nn.Linear(4, 5), nn.ReLU(), Dropout(0.5), nn.Linear(5, 2))
    x = _inputs((1, 4))
    W1, b1, W2, b2 = (t.detach() for t in (net[1].weight, net[1].bias, net[4].weight, net[4].bias))

    def forward(m: torch.Tensor) -> torch.Tensor:
        factor = torch.full((4,), 0.7, dtype=torch.float64)  # units not enumerated: eval value q
        factor[[1, 3]] = m
        return torch.relu((x * factor) @ W1.T + b1) @ W2.T + b2  # second dropout: eval, identity

    oracle = _oracle(forward, 2, [0.7, 0.7], lambda z: z)
    for incremental in (True, False):
        result = exact_ensemble(net, x, layers="0", units=[1, 3], incremental=incremental)
        assert result.units == 2 and result.masks == 4
        assert _max_diff(result.mean, oracle["mean"]) < TOL


def test_explicit_p_overrides_the_modules_p() -> None:
    net = _net(nn.Dropout(0.5), nn.Linear(3, 2))
    x = _inputs((1, 3))
    W, b = net[1].weight.detach(), net[1].bias.detach()
    oracle = _oracle(lambda m: (x * m / 0.8) @ W.T + b, 3, [0.8] * 3, lambda z: z)
    assert _max_diff(exact_ensemble(net, x, p=0.2).mean, oracle["mean"]) < TOL


def test_logistic_unit_against_sympy() -> None:
    """d = 3 with rational weights and symbolic-free exact arithmetic, evaluated to 40 digits."""
    w = [sp.Rational(3, 2), sp.Rational(-2, 3), sp.Rational(5, 4)]
    xs = [sp.Rational(1, 2), sp.Rational(3, 1), sp.Rational(-1, 3)]
    bias, q = sp.Rational(1, 5), sp.Rational(3, 5)
    mean = sp.Integer(0)
    for bits in itertools.product((0, 1), repeat=3):
        prob = sp.prod([q if b else 1 - q for b in bits])
        s = bias + sum(wi * xi * b for wi, xi, b in zip(w, xs, bits))
        mean += prob / (1 + sp.exp(-s))
    net = nn.Sequential(Dropout(0.4, inverted=False), nn.Linear(3, 1)).double()
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[float(v) for v in w]], dtype=torch.float64))
        net[1].bias.fill_(float(bias))
    x = torch.tensor([[float(v) for v in xs]], dtype=torch.float64)
    result = exact_ensemble(net, x, link="sigmoid")
    assert abs(result.mean.item() - float(sp.N(mean, 40))) < 1e-15
    expected_nwgm = 1 / (1 + sp.exp(-(bias + q * sum(wi * xi for wi, xi in zip(w, xs)))))
    assert abs(result.nwgm.item() - float(sp.N(expected_nwgm, 40))) < 1e-15


def test_deep_linear_mean_against_sympy() -> None:
    """Symbolic keep probability: E over masks of a 2-layer linear net with d = 2 + 1 units."""
    qs = sp.Symbol("q", positive=True)
    m = sp.symbols("m1:4")
    W1 = sp.Matrix([[1, -2], [sp.Rational(1, 2), 3]])
    b1 = sp.Matrix([sp.Rational(1, 3), -1])
    W2 = sp.Matrix([[2, sp.Rational(-3, 2)]])
    x = sp.Matrix([sp.Rational(3, 4), -2])
    h = W1 * sp.Matrix([x[0] * m[0], x[1] * m[1]]) + b1
    out = (W2 * sp.Matrix([h[0] * m[2], qs * h[1]]))[0]  # unit 2 of layer "2" is not enumerated: eval value
    mean = sum(sp.prod([qs if b else 1 - qs for b in bits]) * out.subs(dict(zip(m, bits)))
               for bits in itertools.product((0, 1), repeat=3))
    net = nn.Sequential(Dropout(0.35, inverted=False), nn.Linear(2, 2), Dropout(0.35, inverted=False),
                        nn.Linear(2, 1, bias=False)).double()
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor(W1.tolist(), dtype=torch.float64))
        net[1].bias.copy_(torch.tensor([float(v) for v in b1], dtype=torch.float64))
        net[3].weight.copy_(torch.tensor(W2.tolist(), dtype=torch.float64))
    xt = torch.tensor([[float(v) for v in x]], dtype=torch.float64)
    result = exact_ensemble(net, xt, units={"0": [0, 1], "2": [0]})
    assert abs(result.mean.item() - float(mean.subs(qs, sp.Rational(65, 100)))) < 1e-13


def test_incremental_equals_batched_with_prefix_tail_and_batch() -> None:
    net = _net(nn.Linear(5, 9), nn.Tanh(), Dropout(0.3, inverted=False), nn.Linear(9, 6), nn.ReLU(),
               nn.Linear(6, 6), nn.Sigmoid(), nn.Linear(6, 4), seed=3)
    x = _inputs((4, 5), seed=4)
    fast = exact_ensemble(net, x, link="softmax")
    plain = exact_ensemble(net, x, link="softmax", incremental=False)
    assert (fast.path, plain.path) == ("incremental", "batched")
    for field in ("mean", "var", "geometric", "nwgm"):
        assert _max_diff(getattr(fast, field), getattr(plain, field)) < TOL, field


def test_incremental_uses_several_low_table_splits() -> None:
    """d = 13 > the 10 low bits: chunks combine a high part with the shared low table."""
    net = _net(Dropout(0.45), nn.Linear(13, 5), nn.ReLU(), nn.Linear(5, 2), seed=5)
    x = _inputs((2, 13), seed=6)
    fast = exact_ensemble(net, x, chunk_size=2048)
    plain = exact_ensemble(net, x, incremental=False)
    assert _max_diff(fast.mean, plain.mean) < TOL and _max_diff(fast.var, plain.var) < TOL


@pytest.mark.parametrize("incremental", [True, False])
def test_chunk_size_does_not_change_the_result(incremental: bool) -> None:
    net = _net(Dropout(0.3), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3), seed=7)
    x = _inputs((2, 8), seed=8)
    reference = exact_ensemble(net, x, link="softmax", chunk_size=256, incremental=incremental)
    for chunk in (1, 7, 64, 100_000):
        other = exact_ensemble(net, x, link="softmax", chunk_size=chunk, incremental=incremental)
        for field in ("mean", "var", "nwgm"):
            assert _max_diff(getattr(other, field), getattr(reference, field)) < 1e-13


@pytest.mark.parametrize("incremental", [True, False])
def test_p_zero_and_one_are_the_full_and_the_empty_network(incremental: bool) -> None:
    net = _net(Dropout(0.5), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3), seed=16)
    x = _inputs((2, 5))
    W1, b1, W2, b2 = (t.detach() for t in (net[1].weight, net[1].bias, net[3].weight, net[3].bias))
    full = torch.softmax(torch.relu(x @ W1.T + b1) @ W2.T + b2, -1)
    empty = torch.softmax(torch.relu(b1) @ W2.T + b2, -1).expand(2, -1)
    for p, expected in ((0.0, full), (1.0, empty)):
        result = exact_ensemble(net, x, p=p, link="softmax", incremental=incremental)
        for field in ("mean", "geometric", "nwgm"):
            assert _max_diff(getattr(result, field), expected) < TOL, (p, field)
        assert _max_diff(result.var, torch.zeros_like(result.var)) < TOL


def test_float32_model_is_evaluated_in_float64() -> None:
    net = _net(Dropout(0.5), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2), seed=9).float()
    x32 = _inputs((1, 6)).float()
    result = exact_ensemble(net, x32)
    assert result.mean.dtype == torch.float64 and net[1].weight.dtype == torch.float32
    W1, b1, W2, b2 = (t.detach().double() for t in (net[1].weight, net[1].bias, net[3].weight, net[3].bias))
    x = x32.double()
    oracle = _oracle(lambda m: torch.relu((x * m * 2) @ W1.T + b1) @ W2.T + b2, 6, [0.5] * 6, lambda z: z)
    assert _max_diff(result.mean, oracle["mean"]) < TOL


def test_limit_error_states_memory_and_time() -> None:
    net = _net(Dropout(0.5), nn.Linear(30, 4), nn.ReLU(), nn.Linear(4, 1))
    with pytest.raises(EnsembleTooLarge, match=r"2\^30 = 1,073,741,824 masks") as info:
        exact_ensemble(net, _inputs((1, 30)))
    message = str(info.value)
    assert "max_masks=67,108,864" in message
    assert "Estimated time" in message and "masks/s" in message
    assert "estimated memory" in message and "iB" in message
    with pytest.raises(EnsembleTooLarge, match="2\\^10 = 1,024 masks, above max_masks=1,000"):
        exact_ensemble(_net(Dropout(0.5), nn.Linear(10, 1)), _inputs((1, 10)), max_masks=1000)


def test_bad_inputs_raise_clear_errors() -> None:
    net = _net(Dropout(0.5), nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 1))
    x = _inputs((1, 4))
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        exact_ensemble(net, x, p=1.5)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got -0.1"):
        exact_ensemble(net, x, p=-0.1)
    with pytest.raises(ValueError, match="index 4 is out of range for layer '0', which has 4 units"):
        exact_ensemble(net, x, units=[0, 4])
    with pytest.raises(ValueError, match="lists a unit twice"):
        exact_ensemble(net, x, units=[1, 1])
    with pytest.raises(TypeError, match="'1' is a Linear, not a Bernoulli dropout module"):
        exact_ensemble(net, x, layers="1")
    with pytest.raises(ValueError, match="no submodule named 'nope'"):
        exact_ensemble(net, x, layers="nope")
    with pytest.raises(ValueError, match="link must be one of"):
        exact_ensemble(net, x, link="tanh")
    with pytest.raises(ValueError, match="chunk_size must be a positive integer, got 0"):
        exact_ensemble(net, x, chunk_size=0)
    with pytest.raises(TypeError, match="x must have a floating dtype"):
        exact_ensemble(net, torch.ones(1, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="has no dropout module"):
        exact_ensemble(_net(nn.Linear(4, 1)), x)
    with pytest.raises(ValueError, match="masks must have shape"):
        subnetwork_outputs(net, x, torch.ones(3, 5))


def test_model_mode_and_parameters_untouched_also_on_error() -> None:
    net = _net(Dropout(0.5), nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 1))
    net.train()
    net[2].eval()  # a mixed state must come back exactly
    before = {k: v.clone() for k, v in net.state_dict().items()}
    modes = [m.training for m in net.modules()]
    x = _inputs((2, 4))
    exact_ensemble(net, x, link="sigmoid")
    with pytest.raises(ValueError):
        exact_ensemble(net, x, units=[9])
    assert [m.training for m in net.modules()] == modes
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_inplace_dropout_module_and_input_untouched() -> None:
    inplace = _net(Dropout(0.3, inplace=True, inverted=False), nn.Linear(3, 2))
    plain = nn.Sequential(Dropout(0.3, inverted=False), inplace[1])
    x = _inputs((2, 3))
    x_copy = x.clone()
    assert _max_diff(exact_ensemble(inplace, x, incremental=False).mean, exact_ensemble(plain, x).mean) < TOL
    assert torch.equal(x, x_copy)


def test_subnetwork_outputs_and_per_mask_loop_against_direct_forward() -> None:
    net = _net(Dropout(0.2), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), seed=12)
    x = _inputs((2, 4))
    masks = torch.tensor([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.float64)
    W1, b1, W2, b2 = (t.detach() for t in (net[1].weight, net[1].bias, net[3].weight, net[3].bias))
    direct = torch.stack([torch.relu((x * m / 0.8) @ W1.T + b1) @ W2.T + b2 for m in masks])
    assert _max_diff(subnetwork_outputs(net, x, masks), direct) < TOL
    assert _max_diff(per_mask_loop(net, x, masks), direct) < TOL


def test_weighted_means_for_an_arbitrary_distribution() -> None:
    z = _inputs((6, 2, 3), seed=13)
    w = torch.rand(6, generator=seeded_generator(14, "cpu"), dtype=torch.float64)
    result = weighted_means(z, w, link="softmax")
    w = w / w.sum()
    probs = torch.softmax(z, -1)
    g = torch.exp((w[:, None, None] * probs.log()).sum(0))
    assert _max_diff(result.mean, (w[:, None, None] * probs).sum(0)) < TOL
    assert _max_diff(result.nwgm, g / g.sum(-1, keepdim=True)) < TOL
    with pytest.raises(ValueError, match="non-negative"):
        weighted_means(z, -torch.ones(6, dtype=torch.float64))


def test_weight_scaled_non_inverted_scales_outgoing_weights() -> None:
    net = _net(Dropout(0.25, inverted=False), nn.Linear(4, 5), nn.ReLU(), Dropout(0.6, inverted=False), nn.Linear(5, 2))
    net.train()
    scaled = weight_scaled(net)
    assert not scaled.training and net.training
    assert isinstance(scaled[0], nn.Identity) and isinstance(scaled[3], nn.Identity)
    assert torch.equal(scaled[1].weight, 0.75 * net[1].weight) and torch.equal(scaled[1].bias, net[1].bias)
    assert torch.equal(scaled[4].weight, 0.4 * net[4].weight)
    x = _inputs((3, 4))
    W1, b1, W2, b2 = (t.detach() for t in (net[1].weight, net[1].bias, net[4].weight, net[4].bias))
    expected = (0.4 * torch.relu((0.75 * x) @ W1.T + b1)) @ W2.T + b2
    with torch.no_grad():
        assert _max_diff(scaled(x), expected) < TOL
        assert _max_diff(net.eval()(x), expected) < TOL  # non-inverted eval mode agrees


def test_weight_scaled_inverted_is_evaluation_mode() -> None:
    net = _net(nn.Dropout(0.5), nn.Linear(4, 3), Dropout(0.3), nn.Linear(3, 1))
    scaled = weight_scaled(net)
    assert all(not isinstance(m, (nn.Dropout, Dropout)) for m in scaled.modules())
    x = _inputs((2, 4))
    with torch.no_grad():
        assert torch.equal(scaled(x), net.eval()(x))


def test_weight_scaled_refuses_what_it_cannot_rescale() -> None:
    with pytest.raises(ValueError, match="non-inverted dropout '1' is followed by a ReLU"):
        weight_scaled(nn.Sequential(nn.Linear(3, 3), Dropout(0.5, inverted=False), nn.ReLU(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="followed by the end of its container"):
        weight_scaled(nn.Sequential(nn.Linear(3, 3), Dropout(0.5, inverted=False)))
    with pytest.raises(TypeError, match="AlphaDropout"):
        weight_scaled(nn.Sequential(nn.AlphaDropout(0.5), nn.Linear(3, 1)))


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    net = _net(Dropout(0.3), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4), seed=15)
    x = _inputs((2, 12))
    cpu = exact_ensemble(net, x, link="softmax")
    gpu_net = net.to("cuda")
    for incremental in (True, False):
        gpu = exact_ensemble(gpu_net, x.to("cuda"), link="softmax", incremental=incremental)
        assert gpu.mean.device.type == "cuda"
        for field in ("mean", "var", "nwgm"):
            assert _max_diff(getattr(gpu, field).cpu(), getattr(cpu, field)) < 1e-11, field
    with pytest.raises(ValueError, match="is on cuda"):
        exact_ensemble(gpu_net, x)


def test_distinct_masks_expected_against_enumeration_and_simulation() -> None:
    from dropout_theory.enumeration import all_masks, mask_probabilities
    from dropout_theory.inference.subnetwork_sampling import distinct_masks_expected

    units, p, steps = 6, 0.3, 40
    probs = mask_probabilities(all_masks(units), 1 - p)
    oracle = float((1 - (1 - probs) ** steps).sum())
    assert abs(distinct_masks_expected(units, p, steps) - oracle) < 1e-10
    assert distinct_masks_expected(3, 0.0, 5) == 1.0  # p = 0: only the all-kept mask
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        distinct_masks_expected(3, 0.5, 0)


def test_mc_error_slope_reports_the_exact_moments() -> None:
    from dropout_theory.inference.subnetwork_sampling import mc_error_slope

    fit = mc_error_slope(seed=3, units=4, hidden=3, sizes=(1, 4, 16), repetitions=200)
    assert fit.sizes == (1, 4, 16) and fit.rmse.shape == (3,)
    assert fit.predicted_rmse[0] == pytest.approx(2 * fit.predicted_rmse[1], rel=1e-12)  # sigma / sqrt(T)
    assert float(fit.slope_estimate.stderr) > 0 and fit.pooled_samples.shape == (200 * 16,)


def test_benchmark_returns_its_documented_fields() -> None:
    """Structure only: speed is measured by the benchmark itself, never asserted in tests."""
    from dropout_theory.benchmarks import bench_exact_ensemble

    report = bench_exact_ensemble(repeats=2, sizes=(6,), loop_masks=8, device="cpu")
    entry = report["sizes"][6]
    assert entry["masks"] == 64 and entry["max_abs_diff_incremental_vs_batched"] < TOL
    for key in ("incremental", "batched", "per_mask_loop"):
        assert {"median_s", "min_s", "max_s", "iqr_s"} <= set(entry[key])
    assert entry["per_mask_loop"]["timed_masks"] == 8 and report["environment"]["device"] == "cpu"


def test_weight_scaling_gap_experiment_smoke(tmp_path) -> None:
    from dropout_theory.experiments import EXPERIMENTS, ResultStore, RunConfig

    store = ResultStore(tmp_path / "gap-smoke.json")
    EXPERIMENTS["ensemble-weight-scaling-gap"].run(RunConfig(scale="smoke", seeds=1, progress=False), store)
    assert len(store.units) == 4
    one_layer = [u for u in store.units.values() if u["depth"] == 1]
    assert all(u["ws_vs_nwgm"] < 1e-12 for u in one_layer)  # a single softmax layer: exact (D1)
    assert all(u["ws_vs_mean"] > 1e-6 for u in store.units.values())
