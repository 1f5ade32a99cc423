"""Claims of the chapter *Monte Carlo dropout as approximate Bayesian inference* (book/bayesian.md).

Catalogue items G2-G5, G8 and audit rows P5, P11, P15. In code ``p`` is the drop
probability; Gal & Ghahramani write ``p`` for the keep probability, which the symbolic
checks below call ``q`` where they quote the paper.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp
import torch
from scipy import special, stats
from torch import nn

from dropout_theory import nn as dnn
from dropout_theory.benchmarks.mc import SourceMCDropout
from dropout_theory.claims.core import Evidence, claim, exact_evidence
from dropout_theory.devices import intra_op_threads, seeded_generator
from dropout_theory.enumeration import expectation_over_masks
from dropout_theory.experiments.store import load_results
from dropout_theory.inference import exact_ensemble, mc_log_likelihood, mc_predict
from dropout_theory.montecarlo import check_mean, check_variance
from dropout_theory.symbolic import is_zero

PAPER_BOSTON = {"mc_rmse": (2.97, 0.85), "mc_ll": (-2.46, 0.25)}
"""Gal & Ghahramani (2016) Table 1, Boston housing: mean and the reported +- (dropout columns)."""



def two_dropout_net(seed: int = 0) -> nn.Sequential:
    """3 inputs -> dropout -> 6 ReLU units -> dropout -> 1 output, float64: 2^9 masks in all."""
    g = seeded_generator(seed)
    net = nn.Sequential(dnn.Dropout(0.2), nn.Linear(3, 6), nn.ReLU(), dnn.Dropout(0.4), nn.Linear(6, 1)).double()
    with torch.no_grad():
        for layer in (net[1], net[4]):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g, dtype=torch.float64))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g, dtype=torch.float64))
    return net.eval()


def exact_predictive_moments(net: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of :func:`two_dropout_net`'s output over all 2^9 masks, by enumeration."""
    p_in, p_hid = net[0].p, net[3].p
    keep = torch.tensor([1 - p_in] * 3 + [1 - p_hid] * 6, dtype=torch.float64)

    def outputs(masks: torch.Tensor) -> torch.Tensor:  # (n, 9) -> (n, B)
        m_in, m_hid = masks[:, None, :3], masks[:, None, 3:]
        h = torch.relu((x[None] * m_in / (1 - p_in)) @ net[1].weight.T + net[1].bias)
        return ((h * m_hid / (1 - p_hid)) @ net[4].weight.T + net[4].bias).squeeze(-1)

    mean = expectation_over_masks(outputs, 9, keep)
    second = expectation_over_masks(lambda m: outputs(m) ** 2, 9, keep)
    return mean, second - mean**2


@claim(
    "bayesian.predictive-moments",
    title="Predictive mean and variance of MC dropout",
    statement=r"With $\hat y_t$ the output under the $t$-th sampled mask, $\mathbb{E}[y^*] \approx \frac1T\sum_t \hat y_t$ and "
    r"$\operatorname{Var}[y^*] \approx \tau^{-1} + \frac1T\sum_t \hat y_t^2 - \big(\frac1T\sum_t\hat y_t\big)^2$: "
    r"the biased sample variance of the passes plus the observation noise $\tau^{-1}$ (law of total variance).",
    source="gal2016dropout",
    catalogue=("G2", "G3"),
)
def predictive_moments() -> list[Evidence]:
    T = 5
    ys = sp.symbols(f"y1:{T + 1}", real=True)
    mean = sum(ys) / T
    identity = is_zero(sum(y**2 for y in ys) / T - mean**2 - sum((y - mean) ** 2 for y in ys) / T)
    # Law of total variance for y = f(W) + eps, W two-valued with P(W = w1) = q, eps ~ N(0, 1/tau).
    q, f1, f2, tau = sp.symbols("q f1 f2 tau", positive=True)
    e_y = q * f1 + (1 - q) * f2
    e_y2 = q * (f1**2 + 1 / tau) + (1 - q) * (f2**2 + 1 / tau)
    total = is_zero(e_y2 - e_y**2 - (1 / tau + q * (1 - q) * (f1 - f2) ** 2))

    net = two_dropout_net()
    x = torch.tensor([[0.3, -1.2, 0.8], [1.5, 0.2, -0.4]], dtype=torch.float64)
    exact_mean, exact_var = exact_predictive_moments(net, x)
    out = mc_predict(net, x, 40_000, generator=seeded_generator(21), tau=4.0, return_samples=True)
    samples = out.samples.squeeze(-1)
    formula_err = (out.var.squeeze(-1) - (samples.var(0, unbiased=False) + 0.25)).abs().max().item()
    return [
        Evidence("symbolic", identity and total, f"(1/T) sum y_t^2 - ybar^2 = biased sample variance (T={T}); "
                 "Var[f(W)+eps] = 1/tau + Var f(W) for a two-point W"),
        exact_evidence(formula_err, "mc_predict's var - (torch's biased sample variance of its samples + 1/tau), tau = 4", tol=1e-10),
        check_mean(samples, exact_mean, detail="MC mean vs exact mean over all 2^9 masks"),
        check_variance(samples, exact_var, detail="sample variance vs exact mask variance"),
    ]


@claim(
    "bayesian.mc-converges-to-exact",
    title="The MC mean is an unbiased estimate of the exact mask average",
    statement=r"The predictive mean $\frac1T\sum_t \hat y_t$ is an unbiased Monte Carlo estimate of the average of the "
    r"network's output over all masks, weighted by their probabilities; its error shrinks like $1/\sqrt T$. For a "
    r"network that is linear after its only dropout layer the average equals the deterministic (weight-scaled) output.",
    source="gal2016dropout",
    catalogue=("G2", "P5"),
)
def mc_converges_to_exact() -> list[Evidence]:
    net = two_dropout_net(1)
    x = torch.tensor([[0.5, 0.5, -1.0], [-0.2, 1.1, 0.7], [2.0, -0.3, 0.1]], dtype=torch.float64)
    exact_mean, exact_var = exact_predictive_moments(net, x)
    engine = exact_ensemble(net, x)  # the ensemble engine, an independent implementation
    engine_error = max((engine.mean.squeeze(-1) - exact_mean).abs().max().item(),
                       (engine.var.squeeze(-1) - exact_var).abs().max().item())
    evidence = [exact_evidence(engine_error, "exact_ensemble over all 2^9 masks = direct enumeration (mean and variance)")]
    for T, seed in ((1_000, 22), (50_000, 23)):
        out = mc_predict(net, x, T, generator=seeded_generator(seed), return_samples=True)
        evidence.append(check_mean(out.samples.squeeze(-1), exact_mean, detail=f"T={T}"))
    # RMS error of the T-sample mean over independent repetitions vs the exact sd/sqrt(T).
    reps, T = 400, 100
    out = mc_predict(net, x, reps * T, generator=seeded_generator(24), return_samples=True)
    means = out.samples.squeeze(-1).reshape(reps, T, -1).mean(1)
    squared_error = (means - exact_mean) ** 2  # its mean estimates Var/T
    evidence.append(check_mean(squared_error, exact_var / T, detail=f"E(mean_T - exact)^2 = Var/T at T={T}, {reps} repetitions"))
    linear = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), dnn.Dropout(0.3), nn.Linear(5, 2)).double().eval()
    with torch.no_grad():
        hidden = linear[1](linear[0](x))
        deterministic = linear(x)
    average = expectation_over_masks(lambda m: (hidden[None] * m[:, None] / 0.7) @ linear[3].weight.T + linear[3].bias, 5, 0.7)
    evidence.append(exact_evidence((average - deterministic).abs().max().item(),
                           "linear after the only dropout: exact average over 2^5 masks = eval-mode output"))
    return evidence


@claim(
    "bayesian.tau-from-weight-decay",
    title="Model precision from weight decay",
    statement=r"Matching the dropout objective to the variational bound gives $\tau = \frac{q\, l^2}{2 N \lambda}$ with "
    r"$q$ the keep probability (the paper's $p$), $l$ the prior length-scale, $N$ the data size and $\lambda$ the weight "
    r"decay. Gal's code writes the same identity as `reg = l**2*(1-dropout)/(2*N*tau)` with `dropout` the drop rate.",
    source="gal2016dropout",
    catalogue=("G1", "G4"),
)
def tau_from_weight_decay() -> list[Evidence]:
    q, l, N, lam, tau, M2, E, p_drop = sp.symbols("q l N lambda tau M2 E p_drop", positive=True)
    # Negative bound per weight matrix: (tau/2) * sum of squared errors + KL ~ (q l^2 / 2) ||M||^2.
    negative_bound = tau * E / 2 + q * l**2 / 2 * M2
    objective = sp.expand(negative_bound / (N * tau))  # divide by N tau: (1/N) * E/2 + lambda ||M||^2
    lam_matched = objective.coeff(M2)
    data_term_ok = is_zero(objective.coeff(E) - 1 / (2 * N))
    solved = sp.solve(sp.Eq(lam, lam_matched), tau)
    paper_ok = len(solved) == 1 and is_zero(solved[0] - q * l**2 / (2 * N * lam))
    code_reg = l**2 * (1 - p_drop) / (2 * N * tau)
    code_ok = is_zero(code_reg - lam_matched.subs(q, 1 - p_drop))
    return [
        Evidence("symbolic", data_term_ok and paper_ok, f"lambda = {lam_matched}; solving for tau: tau = {solved}"),
        Evidence("symbolic", code_ok, "Gal's reg = l^2 (1 - dropout)/(2 N tau) equals lambda with q = 1 - dropout (drop rate)"),
    ]


@claim(
    "bayesian.test-log-likelihood",
    title="Test log-likelihood of MC dropout",
    statement=r"$\log p(y^*\mid x^*, X, Y) \approx \operatorname{logsumexp}_t\big(-\tfrac12\tau\lVert y^* - \hat y_t\rVert^2\big) "
    r"- \log T - \tfrac12\log 2\pi + \tfrac12\log\tau$ (one output): the log of the average of $T$ Gaussian densities.",
    source="gal2016dropout",
    catalogue=("G5",),
)
def test_log_likelihood() -> list[Evidence]:
    T = 3
    y, tau = sp.symbols("y tau", positive=True)
    ys = sp.symbols(f"yhat1:{T + 1}", real=True)
    mixture = sum(sp.sqrt(tau / (2 * sp.pi)) * sp.exp(-tau * (y - yt) ** 2 / 2) for yt in ys) / T
    paper = sp.log(sum(sp.exp(-tau * (y - yt) ** 2 / 2) for yt in ys)) - sp.log(T) - sp.log(2 * sp.pi) / 2 + sp.log(tau) / 2
    symbolic_ok = is_zero(sp.expand(sp.exp(paper)) - sp.expand(mixture))
    rng = np.random.default_rng(25)
    samples, target, tau_value = rng.normal(2.0, 1.5, size=(1000, 40)), rng.normal(2.0, 2.0, size=40), 0.7
    direct = special.logsumexp(stats.norm.logpdf(target, samples, 1 / math.sqrt(tau_value)), axis=0) - math.log(1000)
    ours = mc_log_likelihood(torch.from_numpy(samples), torch.from_numpy(target), tau_value).numpy()
    return [
        Evidence("symbolic", symbolic_ok, f"exp(eq. 8) = (1/T) sum_t N(y; yhat_t, 1/tau), T={T}"),
        exact_evidence(float(np.abs(ours - direct).max()), "mc_log_likelihood vs scipy logsumexp of norm.logpdf, 40 points, T=1000",
               tol=1e-10),
    ]


def batchnorm_net() -> nn.Sequential:
    """Linear -> BatchNorm (with trained-looking running statistics) -> dropout -> Linear, float64."""
    g = seeded_generator(26)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.3), nn.Linear(4, 1)).double()
    with torch.no_grad():
        for layer in (net[0], net[3]):
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g, dtype=torch.float64))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g, dtype=torch.float64))
        net[1].running_mean.copy_(torch.tensor([0.5, -0.3, 1.0, 0.0], dtype=torch.float64))
        net[1].running_var.copy_(torch.tensor([2.0, 0.5, 1.5, 3.0], dtype=torch.float64))
    return net.eval()


def batchnorm_exact_mean(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """The predictive mean with BatchNorm in eval mode: linear after the dropout, so exact."""
    with torch.no_grad():
        hidden = net[1](net[0](x))
    return expectation_over_masks(lambda m: ((hidden[None] * m[:, None] / 0.7) @ net[3].weight.T + net[3].bias).squeeze(-1), 4, 0.7)


@claim(
    "bayesian.train-mode-pitfall",
    title="model.train() is not MC dropout",
    statement=r"The source's `MCDropout` samples with `model.train()`: on a network with BatchNorm this normalises with "
    r"batch statistics (changing the predictions), updates the running statistics, and leaves the model in training "
    r"mode. `mc_predict` switches on the dropout modules only and does none of this.",
    source="gal2016dropout",
    catalogue=("P11",),
)
def train_mode_pitfall() -> list[Evidence]:
    x = torch.tensor([[0.2, -1.0, 0.5], [1.2, 0.3, -0.8], [-0.5, 0.9, 1.1], [0.0, 0.4, -0.2]], dtype=torch.float64)
    T, T_source = 20_000, 1_000  # the source's loop is slow: one pass per sample
    net = batchnorm_net()
    exact = batchnorm_exact_mean(net, x)
    stats_before = net[1].running_mean.clone()
    with intra_op_threads(1), torch.random.fork_rng():  # the source's sampler uses torch's global generator: seed it, then restore it
        torch.manual_seed(27)
        source = SourceMCDropout(net, T_source)
        source.model.train()  # what SourceMCDropout.forward does; we keep the samples, not just mean and std
        with torch.no_grad():
            source_samples = torch.stack([net(x) for _ in range(T_source)]).squeeze(-1)
    left_in_train = net.training and net[1].training
    stats_moved = (net[1].running_mean - stats_before).abs().max().item()
    source_check = check_mean(source_samples, exact, detail="source's MCDropout mean vs exact predictive mean")

    net = batchnorm_net()
    before = [t.clone() for t in (net[1].running_mean, net[1].running_var, net[1].num_batches_tracked)]
    out = mc_predict(net, x, T, generator=seeded_generator(28), return_samples=True)
    after = (net[1].running_mean, net[1].running_var, net[1].num_batches_tracked)
    untouched = all(torch.equal(a, b) for a, b in zip(before, after)) and not any(m.training for m in net.modules())
    ours = check_mean(out.samples.squeeze(-1), exact, detail="mc_predict mean vs exact predictive mean")
    return [
        Evidence("exact", left_in_train and stats_moved > 0,
                 f"after the source's sampler: model and BatchNorm in training mode: {left_in_train}, "
                 f"running_mean moved by {stats_moved:.3g}"),
        Evidence("monte-carlo", not source_check.holds,
                 f"source's mean misses the exact predictive mean: {source_check.detail}, worst gap "
                 f"{abs(source_check.estimate - source_check.target):.3g} > tolerance {source_check.tolerance:.3g}",
                 estimate=source_check.estimate, target=source_check.target, tolerance=source_check.tolerance,
                 false_alarm=source_check.false_alarm, samples=T_source),
        Evidence("exact", untouched, "after mc_predict: every module in eval mode, running statistics bit-identical"),
        ours,
    ]


def toy_regression_data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """40 noisy points of sin(3x) on two clusters, x in [-1, -0.3] and [0.3, 1]."""
    g = seeded_generator(seed)
    x = torch.cat([torch.rand(20, generator=g) * 0.7 - 1.0, torch.rand(20, generator=g) * 0.7 + 0.3])[:, None]
    return x, torch.sin(3 * x) + 0.1 * torch.randn(x.shape, generator=g)


@functools.lru_cache(maxsize=8)
def toy_regression_model(seed: int, p: float = 0.1, steps: int = 500) -> nn.Sequential:
    """An MLP (1-64-64-1, ReLU, dropout after each hidden layer) fitted to :func:`toy_regression_data`."""
    x, y = toy_regression_data(seed)
    torch.manual_seed(seed)  # initial weights; the training masks come from the generator below
    g = seeded_generator(seed + 1000)
    net = nn.Sequential(nn.Linear(1, 64), nn.ReLU(), dnn.Dropout(p, generator=g), nn.Linear(64, 64), nn.ReLU(),
                        dnn.Dropout(p, generator=g), nn.Linear(64, 1))
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    with intra_op_threads(1):
        for _ in range(steps):
            optimiser.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            optimiser.step()
    for module in (net[2], net[5]):
        module.generator = None
    return net.eval()


TOY_FAR = (4.0, 5.0)
TOY_MARGIN = 2.0


def toy_predictive_std(seed: int, grid: torch.Tensor, samples: int = 1000) -> torch.Tensor:
    return mc_predict(toy_regression_model(seed), grid, samples, generator=seeded_generator(seed + 2000)).std.squeeze(-1)


@claim(
    "bayesian.uncertainty-grows-away-from-data",
    title="Predictive uncertainty grows away from the data",
    statement=r"For a ReLU network trained with dropout ($p = 0.1$) on 1-D data in $[-1, 1]$, the MC dropout predictive "
    r"standard deviation averaged over $|x| \in [4, 5]$ is more than twice its average over the training inputs, for "
    r"each of 3 seeds.",
    source="gal2016dropout",
    catalogue=("P15",),
)
def uncertainty_grows_away_from_data() -> list[Evidence]:
    far = torch.cat([torch.linspace(-TOY_FAR[1], -TOY_FAR[0], 6), torch.linspace(*TOY_FAR, 6)])[:, None]
    ratios = []
    for seed in (0, 1, 2):
        inside = toy_regression_data(seed)[0]
        ratios.append((toy_predictive_std(seed, far).mean() / toy_predictive_std(seed, inside).mean()).item())
    worst = min(ratios)
    return [Evidence("experiment", worst > TOY_MARGIN,
                     f"std far / std inside, 3 seeds: {', '.join(f'{r:.2f}' for r in ratios)}; margin: every ratio > {TOY_MARGIN}",
                     estimate=worst, target=TOY_MARGIN)]


def boston_table(scale: str = "small") -> dict[str, np.ndarray]:
    """Per-split numbers of the cached ``gal-boston`` run, as arrays."""
    units = load_results("gal-boston", scale).units
    keys = ("mc_rmse", "ws_rmse", "mc_ll", "ws_ll", "drop_rate", "tau")
    ordered = [units[k] for k in sorted(units, key=lambda k: int(k.split("=")[1]))]
    return {k: np.array([u[k] for u in ordered]) for k in keys}


BOSTON_FALSE_ALARM = 1e-3


@claim(
    "bayesian.boston-mc-beats-weight-scaling",
    title="Boston housing: MC dropout RMSE vs weight scaling",
    statement=r"Over 20 random splits of Boston housing, the RMSE of the MC dropout mean ($T = 10{,}000$) is on average no "
    r"larger than that of weight scaling: the paired mean difference (weight scaling minus MC) is not significantly "
    r"negative (one-sided paired test, false alarm $10^{-3}$).",
    source="gal2016dropout",
    catalogue=("G8",),
)
def boston_mc_vs_weight_scaling() -> list[Evidence]:
    table = boston_table()
    diff = table["ws_rmse"] - table["mc_rmse"]
    n = len(diff)
    mean, se = diff.mean(), diff.std(ddof=1) / math.sqrt(n)
    # One-sided: MC is worse only if the mean difference is below -t * SE (Student t, n-1 dof).
    t = float(stats.t.isf(BOSTON_FALSE_ALARM, n - 1))
    wins = int((diff > 0).sum())
    return [Evidence("experiment", bool(mean >= -t * se),
                     f"{n} splits: mean(ws - mc) = {mean:.4f} (SE {se:.4f}); MC better on {wins}/{n}; "
                     f"fails only if mean < -t SE with t = {t:.2f}", estimate=float(mean), target=0.0,
                     tolerance=t * float(se), false_alarm=BOSTON_FALSE_ALARM, samples=n)]


@claim(
    "bayesian.boston-within-paper-error-bars",
    title="Boston housing: our MC dropout numbers against Table 1",
    statement=r"Our mean MC dropout RMSE and test log-likelihood over 20 random splits lie within the paper's reported "
    r"$\pm$ (RMSE $2.97 \pm 0.85$, log-likelihood $-2.46 \pm 0.25$) of its values.",
    source="gal2016dropout",
    catalogue=("G8",),
)
def boston_within_paper_error_bars() -> list[Evidence]:
    table = boston_table()
    evidence = []
    for key, name in (("mc_rmse", "RMSE"), ("mc_ll", "test log-likelihood")):
        paper, bar = PAPER_BOSTON[key]
        ours = float(table[key].mean())
        se = float(table[key].std(ddof=1) / math.sqrt(len(table[key])))
        evidence.append(Evidence("experiment", abs(ours - paper) <= bar,
                                 f"{name}: ours {ours:.2f} (SE {se:.2f}) vs paper {paper} +- {bar}",
                                 estimate=ours, target=paper, tolerance=bar, samples=len(table[key])))
    return evidence
