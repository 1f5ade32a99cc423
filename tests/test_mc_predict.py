"""mc_predict: modes, BatchNorm, masks, batching, moments, errors.

Oracles: exact enumeration over all masks (float64), torch's and scipy's own ops, and the
seeded Monte Carlo checks of montecarlo.py (false alarm 1e-6 per check).

Batched and loop sampling draw from the same distribution but consume the generator in a
different order (layer by layer over all copies, versus copy by copy), so for one seed their
numbers differ; we test that each is deterministic, and that both agree with the exact mask
average within a Monte Carlo tolerance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special, stats
from torch import nn

from dropout_theory import nn as dnn
from dropout_theory.devices import seeded_generator
from dropout_theory.enumeration import all_masks, mask_probabilities
from dropout_theory.inference import dropout_sampling, is_dropout_module, mc_log_likelihood, mc_predict
from dropout_theory.inference.stochastic import _alpha_affine
from dropout_theory.montecarlo import check_mean, check_variance


def small_net(p: float = 0.3, dropout: type[nn.Module] = nn.Dropout) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), dropout(p), nn.Linear(3, 1)).double().eval()


def exact_moments(net: nn.Sequential, x: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of the output over all 2^3 hidden masks, written out by hand."""
    hidden = torch.relu(net[0](x))  # (B, 3)
    masks = all_masks(3)
    weights = mask_probabilities(masks, 1 - p)
    outs = (masks[:, None, :] * hidden[None] / (1 - p)) @ net[3].weight.T + net[3].bias  # (8, B, 1)
    mean = torch.einsum("m,mbo->bo", weights, outs)
    var = torch.einsum("m,mbo->bo", weights, (outs - mean) ** 2)
    return mean, var


class Recorder:
    """Forward hooks recording each module's training flag while it runs."""

    def __init__(self, model: nn.Module) -> None:
        self.seen: dict[str, set[bool]] = {}
        for name, module in model.named_modules():
            module.register_forward_hook(lambda m, i, o, name=name: self.seen.setdefault(name, set()).add(m.training))


# ---------------------------------------------------------------------------- modes


def test_only_dropout_modules_are_stochastic_and_modes_are_restored() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), dnn.Dropout(0.4), nn.Linear(8, 8), nn.Dropout(0.2), nn.Linear(8, 2))
    model.eval()
    model[4].train()  # an unusual but legal mix: a Linear in training mode must stay so
    before = {name: m.training for name, m in model.named_modules()}
    recorder = Recorder(model)
    mc_predict(model, torch.randn(5, 4), 6, generator=seeded_generator(0))
    assert recorder.seen["3"] == {True} and recorder.seen["5"] == {True}  # the dropout modules sampled
    assert recorder.seen["1"] == {False}  # BatchNorm ran in eval mode
    assert recorder.seen["4"] == {True} and recorder.seen["0"] == {False}  # others as they were
    assert {name: m.training for name, m in model.named_modules()} == before
    assert "forward" not in model[5].__dict__  # torch's forward is back


class Boom(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


@pytest.mark.parametrize("batched", [True, False])
def test_modes_generators_and_forwards_restored_after_an_exception(batched: bool) -> None:
    own = seeded_generator(99)
    model = nn.Sequential(nn.Linear(3, 3), dnn.Dropout(0.5, generator=own), nn.Dropout(0.5), Boom()).eval()
    with pytest.raises(RuntimeError, match="boom"):
        mc_predict(model, torch.randn(2, 3), 4, generator=seeded_generator(1), batched=batched)
    assert not any(m.training for m in model.modules())
    assert model[1].generator is own
    assert "forward" not in model[2].__dict__


def test_batchnorm_running_statistics_untouched_and_eval_kept() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.BatchNorm1d(6), nn.Linear(6, 1))
    model.train()
    for _ in range(3):  # give the running statistics non-trivial values
        model(torch.randn(16, 4))
    model.eval()
    bn = model[2]
    stats_before = [t.clone() for t in (bn.running_mean, bn.running_var, bn.num_batches_tracked)]
    x = torch.randn(8, 4)
    out = mc_predict(model, x, 50, generator=seeded_generator(2), return_samples=True)
    for before, after in zip(stats_before, (bn.running_mean, bn.running_var, bn.num_batches_tracked)):
        assert torch.equal(before, after)
    assert not bn.training
    # Oracle for "BatchNorm used its running statistics": torch's batch_norm in eval form on
    # a sample's own hidden values. Replay sample 0's masks by running the same generator state.
    replay = seeded_generator(2)
    with torch.no_grad(), dropout_sampling(model, replay):
        hidden = model[1](model[0](x).repeat(50, 1))[: len(x)]
    expected = model[3](torch.nn.functional.batch_norm(hidden, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps))
    assert torch.allclose(out.samples[0], expected, atol=1e-6)


def test_batchnorm_in_training_mode_is_refused() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5)).eval()
    model[1].train()
    with pytest.raises(ValueError, match=r"1 \(BatchNorm1d\) is in training mode.*model.eval\(\)"):
        mc_predict(model, torch.randn(2, 3), 3)
    assert model[1].training and not model[2].training


def test_generator_drives_torch_modules_and_leaves_global_rng_alone() -> None:
    model = nn.Sequential(nn.Linear(5, 5), nn.Dropout(0.5), nn.Linear(5, 2)).eval()
    x = torch.randn(3, 5)
    state = torch.get_rng_state()
    a = mc_predict(model, x, 20, generator=seeded_generator(5), return_samples=True)
    assert torch.equal(state, torch.get_rng_state())  # no mask came from torch's global generator
    b = mc_predict(model, x, 20, generator=seeded_generator(5), return_samples=True)
    c = mc_predict(model, x, 20, generator=seeded_generator(6), return_samples=True)
    assert torch.equal(a.samples, b.samples) and torch.equal(a.mean, b.mean) and torch.equal(a.var, b.var)
    assert not torch.equal(a.samples, c.samples)


@pytest.mark.parametrize("batched", [True, False])
def test_deterministic_with_seed_for_package_modules(batched: bool) -> None:
    model = nn.Sequential(nn.Linear(5, 5), dnn.Dropout(0.3), nn.Linear(5, 2)).eval()
    x = torch.randn(3, 5)
    runs = [mc_predict(model, x, 10, generator=seeded_generator(7), batched=batched, return_samples=True) for _ in range(2)]
    assert torch.equal(runs[0].samples, runs[1].samples)
    assert model[1].generator is None


# ---------------------------------------------------------------------------- masks


def distinct_rows(t: torch.Tensor) -> int:
    return len({tuple(row) for row in (t.reshape(-1, t.shape[-1]) != 0).tolist()})


def test_distinct_rows_detects_a_shared_mask() -> None:
    """The checker below can fail: a dropout that reuses one mask for every row is caught."""

    class SharedMaskDropout(nn.Module):
        is_dropout_module = True

        def __init__(self) -> None:
            super().__init__()
            self.generator: torch.Generator | None = None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if not self.training:
                return x
            mask = torch.rand(x.shape[1:], generator=self.generator) < 0.5  # one mask for all rows: the bug
            return x * mask / 0.5

    out = mc_predict(nn.Sequential(SharedMaskDropout()), torch.ones(4, 64), 50, generator=seeded_generator(8), return_samples=True)
    assert distinct_rows(out.samples) == 1


@pytest.mark.parametrize("dropout", [nn.Dropout, dnn.Dropout])
@pytest.mark.parametrize("with_prefix", [False, True])
@pytest.mark.parametrize("batched", [True, False])
def test_every_sample_and_every_row_gets_a_fresh_mask(dropout: type[nn.Module], with_prefix: bool, batched: bool) -> None:
    # 64 units at p = 1/2: two independent masks coincide with probability 2^-64, so among
    # 200 rows a collision has probability < 200^2 2^-65 ~ 1e-15 (far below 1e-6).
    d = 64
    layers: list[nn.Module] = [dropout(0.5)]
    if with_prefix:
        linear = nn.Linear(d, d)
        with torch.no_grad():
            linear.weight.copy_(torch.eye(d))
            linear.bias.fill_(1.0)
        layers.insert(0, linear)
    model = nn.Sequential(*layers).eval()
    out = mc_predict(model, torch.ones(4, d), 50, generator=seeded_generator(9), batched=batched, return_samples=True)
    assert distinct_rows(out.samples) == 200


@pytest.mark.parametrize("module", [nn.Dropout2d(0.5), nn.FeatureAlphaDropout(0.5)])
def test_channel_masks_are_fresh_per_sample(module: nn.Module) -> None:
    out = mc_predict(nn.Sequential(module).eval(), torch.ones(4, 64, 3, 3), 50, generator=seeded_generator(10), return_samples=True)
    alpha_dropped = out.samples.amin()
    gates = (out.samples != alpha_dropped) if isinstance(module, nn.FeatureAlphaDropout) else (out.samples != 0)
    assert torch.equal(gates, gates[..., :1, :1].expand_as(gates))  # a whole channel shares its gate
    assert distinct_rows(gates[..., 0, 0].double()) == 200


def test_alpha_dropout_replacement_matches_torch_on_the_same_mask() -> None:
    torch.manual_seed(11)
    x = torch.randn(2000, dtype=torch.float64)
    p = 0.3
    expected = torch.nn.functional.alpha_dropout(x, p, training=True)
    values, counts = expected.unique(return_counts=True)
    dropped_value = values[counts.argmax()]  # dropped units all take one value (a alpha' + b); kept ones are distinct
    assert counts.max() > 400
    mask = expected != dropped_value
    assert torch.allclose(_alpha_affine(x, mask, p), expected, atol=1e-12)


# ---------------------------------------------------------------------------- moments


@pytest.mark.parametrize(("batched", "max_batch"), [(True, 1 << 15), (True, 7), (False, 1 << 15)])
@pytest.mark.parametrize("dropout", [nn.Dropout, dnn.Dropout])
def test_samples_follow_the_exact_mask_distribution(batched: bool, max_batch: int, dropout: type[nn.Module]) -> None:
    p = 0.3
    net = small_net(p, dropout)
    x = torch.tensor([[0.5, -1.0], [1.5, 0.3], [-0.7, 2.0]], dtype=torch.float64)
    mean, var = exact_moments(net, x, p)
    out = mc_predict(net, x, 40_000, generator=seeded_generator(12), batched=batched, max_batch=max_batch, return_samples=True)
    assert check_mean(out.samples, mean).holds
    assert check_variance(out.samples, var).holds


def test_tau_adds_the_inverse_precision_to_the_biased_sample_variance() -> None:
    net = small_net()
    x = torch.randn(4, 2, dtype=torch.float64)
    plain = mc_predict(net, x, 300, generator=seeded_generator(13), return_samples=True)
    with_tau = mc_predict(net, x, 300, generator=seeded_generator(13), tau=2.5)
    assert torch.allclose(plain.var, torch.var(plain.samples, dim=0, unbiased=False), rtol=1e-10, atol=1e-14)
    assert torch.allclose(plain.mean, plain.samples.mean(0), rtol=1e-12)
    assert torch.allclose(with_tau.var - plain.var, torch.full_like(plain.var, 1 / 2.5), rtol=1e-12)


def test_single_sample_has_zero_sample_variance() -> None:
    out = mc_predict(small_net(), torch.randn(3, 2, dtype=torch.float64), 1, generator=seeded_generator(14), tau=4.0)
    assert torch.equal(out.var, torch.full_like(out.var, 0.25))


def test_classification_entropy_and_mutual_information_match_scipy() -> None:
    torch.manual_seed(15)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 5)).double().eval()
    x = torch.randn(6, 4, dtype=torch.float64)
    out = mc_predict(model, x, 200, generator=seeded_generator(15), task="classification", return_samples=True, max_batch=100)
    probs = out.samples.numpy()  # (T, B, K)
    with torch.no_grad(), dropout_sampling(model, seeded_generator(15)):
        logits = model(x.repeat(1, 1))  # one stochastic pass, only to check samples are softmax(logits)
    assert np.allclose(probs.sum(-1), 1.0)
    assert np.all((probs > 0) & (probs < 1)) and logits.shape == (6, 5)
    mean = probs.mean(0)
    total = stats.entropy(mean, axis=-1)
    expected = stats.entropy(probs, axis=-1).mean(0)
    assert np.allclose(out.mean.numpy(), mean, atol=1e-12)
    assert np.allclose(out.var.numpy(), probs.var(0), atol=1e-12)
    assert np.allclose(out.entropy.numpy(), total, atol=1e-10)
    assert np.allclose(out.expected_entropy.numpy(), expected, atol=1e-10)
    assert np.allclose(out.mutual_information.numpy(), total - expected, atol=1e-10)
    assert np.all(out.mutual_information.numpy() >= -1e-12)  # Jensen: H is concave


def test_log_likelihood_matches_scipy() -> None:
    rng = np.random.default_rng(16)
    samples, target, tau = rng.normal(size=(500, 7)), rng.normal(size=7), 3.0
    direct = special.logsumexp(stats.norm.logpdf(target, loc=samples, scale=1 / math.sqrt(tau)), axis=0) - math.log(500)
    ours = mc_log_likelihood(torch.from_numpy(samples), torch.from_numpy(target), tau)
    assert np.allclose(ours.numpy(), direct, atol=1e-10)


# ---------------------------------------------------------------------------- inputs and errors


def test_inputs_are_not_mutated_by_in_place_dropout() -> None:
    model = nn.Sequential(nn.Dropout(0.5, inplace=True), nn.Linear(4, 2)).eval()
    for batched in (True, False):
        x = torch.ones(3, 4)
        mc_predict(model, x, 5, generator=seeded_generator(17), batched=batched)
        assert torch.equal(x, torch.ones(3, 4))


@pytest.mark.parametrize("bad", [0, -3, 2.0, True])
def test_sample_count_must_be_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError, match=r"samples \(T, the number of Monte Carlo passes\) must be an integer >= 1"):
        mc_predict(small_net(), torch.randn(2, 2, dtype=torch.float64), bad)  # type: ignore[arg-type]


def test_model_without_dropout_is_refused() -> None:
    with pytest.raises(ValueError, match="contains no dropout module.*variance silently zero"):
        mc_predict(nn.Sequential(nn.Linear(2, 2)), torch.randn(2, 2), 10)


def test_input_on_another_device_is_refused() -> None:
    with pytest.raises(ValueError, match="x is on meta but the model's parameters are on cpu"):
        mc_predict(small_net(), torch.empty(2, 2, dtype=torch.float64, device="meta"), 10)


@pytest.mark.gpu
def test_input_on_cpu_with_model_on_cuda_is_refused() -> None:
    with pytest.raises(ValueError, match="x is on cpu but the model's parameters are on cuda"):
        mc_predict(small_net().cuda(), torch.randn(2, 2, dtype=torch.float64), 10)


@pytest.mark.gpu
def test_runs_on_cuda_with_a_cuda_generator() -> None:
    net = small_net().cuda()
    x = torch.randn(3, 2, dtype=torch.float64, device="cuda")
    a = mc_predict(net, x, 50, generator=seeded_generator(18, "cuda"))
    b = mc_predict(net, x, 50, generator=seeded_generator(18, "cuda"))
    assert a.mean.device.type == "cuda" and torch.equal(a.mean, b.mean)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tau": 0.0}, "tau must be a finite number > 0"),
        ({"tau": 1.0, "task": "classification"}, "tau .* applies to regression only"),
        ({"task": "ranking"}, "task must be 'regression' or 'classification'"),
        ({"max_batch": 0}, "max_batch must be a positive integer"),
    ],
)
def test_bad_options_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mc_predict(small_net(), torch.randn(2, 2, dtype=torch.float64), 3, **kwargs)


def test_shared_batch_mask_module_falls_back_to_the_loop() -> None:
    class WeightMaskDropout(nn.Module):
        """DropConnect-like: one mask for the whole batch."""

        is_dropout_module = True
        per_example = False

        def __init__(self) -> None:
            super().__init__()
            self.generator: torch.Generator | None = None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * (torch.rand(x.shape[1:], generator=self.generator) < 0.5) * 2 if self.training else x

    model = nn.Sequential(WeightMaskDropout(), nn.Linear(64, 64)).eval()
    out = mc_predict(model, torch.ones(2, 64), 30, generator=seeded_generator(19), return_samples=True)
    assert not out.batched
    assert len({tuple(row) for row in out.samples[:, 0].tolist()}) == 30  # a fresh mask per sample
    assert torch.equal(out.samples[:, 0], out.samples[:, 1])  # shared within a sample's batch, as designed
    with pytest.raises(ValueError, match=r"per_example=False.*use batched=False"):
        mc_predict(model, torch.ones(2, 64), 3, batched=True)


def test_output_without_the_batch_dimension_is_reported() -> None:
    class Pool(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(0, keepdim=True)

    model = nn.Sequential(nn.Dropout(0.5), Pool()).eval()
    with pytest.raises(ValueError, match="is dim 0 the batch dimension"):
        mc_predict(model, torch.ones(3, 4), 4)
    assert torch.isfinite(mc_predict(model, torch.ones(3, 4), 4, batched=False).mean).all()


def test_recognises_torch_package_and_marked_modules() -> None:
    class Marked(nn.Module):
        is_dropout_module = True

    for module in (nn.Dropout(), nn.Dropout1d(), nn.Dropout2d(), nn.Dropout3d(), nn.AlphaDropout(), nn.FeatureAlphaDropout(), dnn.Dropout(), Marked()):
        assert is_dropout_module(module), type(module).__name__
    for module in (nn.Linear(2, 2), nn.BatchNorm1d(2), nn.ReLU(), nn.LSTM(2, 2, dropout=0.0)):
        assert not is_dropout_module(module), type(module).__name__
