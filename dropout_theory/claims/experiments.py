"""Claims of the chapter *Experiments: Srivastava et al. at small scale* (book/experiments.md).

Every claim here is an empirical trend read from the cached per-seed results
(``results/<experiment>-small.json``, produced by ``python -m dropout_theory reproduce``),
never recomputed by a check. A trend becomes a claim only if it passes the criterion of
:mod:`dropout_theory.experiments.analysis` (paired over at least 5 seeds: mean difference
above two standard errors, and a one-sided sign test at level 0.05); the chapter shows
everything else as measurements with error bars. Catalogue items C4, G8 and audit rows P8,
P12, P30, P31.
"""

from __future__ import annotations

import numpy as np

from dropout_theory.claims.core import Evidence, claim
from dropout_theory.experiments import load_results
from dropout_theory.experiments.analysis import PairedTrend, by_setting, paired_trend

SCALE = "small"


def _trend(trend: PairedTrend, what: str, scale: float = 100.0, unit: str = "percentage points") -> Evidence:
    return Evidence(
        "experiment",
        trend.holds,
        f"{what}: {trend.describe(unit, scale, named=False)}",
        estimate=scale * trend.mean,
        target=0.0,
        tolerance=2 * scale * trend.se,
        false_alarm=trend.sign_p,
        samples=trend.n,
    )


def _overfitting_table(field: str) -> dict[str, dict[int, float]]:
    units = load_results("overfitting", SCALE).units
    reduced = {}
    for key, value in units.items():
        history = value["history"]
        if field == "best_epoch":
            reduced[key] = {field: float(history["epoch"][int(np.argmin(history["test_loss"]))])}
        elif field == "gap":
            reduced[key] = {field: history["test_loss"][-1] - history["train_loss"][-1]}
    return by_setting(reduced, field)


@claim(
    "experiments.dropout-delays-overfitting",
    title="Dropout delays overfitting",
    statement=r"On MNIST-5k (4,000 training images, a 784-256-256-10 ReLU net, constant learning rate), the "
    r"test loss of the network without dropout reaches its minimum after fewer epochs than that of the same "
    r"network (same seed: same initial weights and minibatch order) trained with dropout ($p = 0.2$ input, "
    r"$0.5$ hidden).",
    source="srivastava2014dropout",
    catalogue=("P30",),
)
def dropout_delays_overfitting() -> list[Evidence]:
    # "better" = the configuration with the smaller value: the standard net's minimum comes first
    trend = paired_trend(_overfitting_table("best_epoch"), better="standard", worse="dropout")
    return [_trend(trend, "epoch of minimum test loss, dropout minus standard", scale=1.0, unit="epochs")]


@claim(
    "experiments.dropout-narrows-loss-gap",
    title="Dropout narrows the gap between test and training loss",
    statement=r"After 40 epochs on MNIST-5k, test loss minus training loss (both of the deterministic network) "
    r"is smaller with dropout than without, seed by seed.",
    source="srivastava2014dropout",
    catalogue=("P30",),
)
def dropout_narrows_loss_gap() -> list[Evidence]:
    trend = paired_trend(_overfitting_table("gap"), better="dropout", worse="standard")
    return [_trend(trend, "final test-minus-train cross-entropy, standard minus dropout", scale=1.0, unit="nats")]


def _mc_table() -> dict[str, dict[int, float]]:
    units = load_results("regularisers", SCALE).units
    table: dict[str, dict[int, float]] = {"weight scaling": {}}
    for key, value in units.items():
        if "mc_test_error" not in value or not key.startswith("config=dropout/"):
            continue
        seed = int(key.rsplit("seed=", 1)[1])
        table["weight scaling"][seed] = value["test_error"]
        for k, err in zip(value["mc_k"], value["mc_test_error"]):
            table.setdefault(f"MC k={k}", {})[seed] = err
    return table


@claim(
    "experiments.one-sampled-network-is-worse",
    title="One sampled dropout network is worse than the weight-scaled network",
    statement=r"For dropout networks trained on MNIST-5k, the test error of a single sampled subnetwork "
    r"($k = 1$ in the Monte Carlo average) is higher than that of the weight-scaled (deterministic) network.",
    source="srivastava2014dropout",
    catalogue=("C4", "G8"),
)
def one_sampled_network_is_worse() -> list[Evidence]:
    trend = paired_trend(_mc_table(), better="weight scaling", worse="MC k=1")
    return [_trend(trend, "test error, MC with k = 1 minus weight scaling")]


def _rate_table(mode: str, field: str) -> dict[str, dict[int, float]]:
    units = load_results("dropout-rate", SCALE).units
    chosen = {key.replace(f"mode={mode}/keep=", "config="): value for key, value in units.items() if key.startswith(f"mode={mode}/")}
    return by_setting(chosen, field)


@claim(
    "experiments.too-little-kept-underfits",
    title="Keeping too few units underfits",
    statement=r"With the width fixed ($n = 256$ per hidden layer), keeping only $q = 0.2$ of the hidden units "
    r"(drop probability $p = 0.8$) gives higher training error *and* higher test error than $q = 0.6$: "
    r"the network underfits, as in Srivastava et al. (2014, Fig. 9a).",
    source="srivastava2014dropout",
    catalogue=("P12", "P31"),
)
def too_little_kept_underfits() -> list[Evidence]:
    return [
        _trend(paired_trend(_rate_table("n-fixed", "train_error"), better="0.6", worse="0.2"), "training error, q = 0.2 minus q = 0.6"),
        _trend(paired_trend(_rate_table("n-fixed", "test_error"), better="0.6", worse="0.2"), "test error, q = 0.2 minus q = 0.6"),
    ]


@claim(
    "experiments.fifty-samples-not-yet-weight-scaling",
    title="Fifty sampled networks do not yet reach weight scaling",
    statement=r"For the dropout networks trained on MNIST-5k, the Monte Carlo average of $k = 50$ sampled "
    r"networks (the number Srivastava et al. 2014, §7.5, give for MC to match weight scaling; unconfirmed "
    r"there) still has a slightly higher test error than the weight-scaled network.",
    source="srivastava2014dropout",
    catalogue=("C4", "G8"),
)
def fifty_samples_not_yet_weight_scaling() -> list[Evidence]:
    trend = paired_trend(_mc_table(), better="weight scaling", worse="MC k=50")
    return [_trend(trend, "test error, MC with k = 50 minus weight scaling")]


@claim(
    "experiments.moderate-dropout-beats-none",
    title="Moderate hidden dropout beats none at fixed width",
    statement=r"With $n = 256$ units per hidden layer fixed, keeping $q = 0.6$ of the hidden units "
    r"($p = 0.4$) gives a lower test error than no dropout ($q = 1$), as in the flat middle of "
    r"Srivastava et al. (2014, Fig. 9a).",
    source="srivastava2014dropout",
    catalogue=("P12", "P31"),
)
def moderate_dropout_beats_none() -> list[Evidence]:
    return [_trend(paired_trend(_rate_table("n-fixed", "test_error"), better="0.6", worse="1.0"), "test error, q = 1 minus q = 0.6")]
