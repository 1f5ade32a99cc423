"""Newer-theory claims on the variance shift between dropout and BatchNorm (Li et al.): the formula,
BatchNorm's stored statistics, and the effect on a trained network's test outputs.

Catalogue item L7 and audit row P24.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch

from dropout_theory import functional as F
from dropout_theory.batchnorm_shift import dropout_batchnorm_mlp, dropout_train_variance, variance_shift_ratio
from dropout_theory.claims.core import Evidence, claim, exact_evidence, symbolic_evidence
from dropout_theory.claims.newer_theory.conventions import EXACT_TOL, f64, q_sym
from dropout_theory.devices import intra_op_threads, seeded_generator
from dropout_theory.montecarlo import check_mean, check_variance
from dropout_theory.newer_theory_experiments import (
    batchnorm_input_batch_variances,
    variance_shift_runs,
)
from dropout_theory.symbolic import enumerated_expectation, gates, is_zero


@claim(
    "newer-theory.variance-shift-formula",
    title="Dropout's variance shift: test/train variance ratio q v / (c^2 + v - q c^2)",
    statement=r"For $x$ with mean $c$ and variance $v$ and inverted dropout $y = m x/q$ ($m \sim \mathrm{Bernoulli}(q)$ "
    r"independent of $x$): training variance $(c^2 + v)/q - c^2$, test variance $v$, ratio $qv/(c^2 + v - qc^2) \le 1$, "
    r"equal to 1 only at $q = 1$.",
    source="li2019understanding",
    catalogue=("L7", "P24"),
)
def variance_shift_formula() -> list[Evidence]:
    (m,) = gates("m", 1)
    c, v = sp.Symbol("c", real=True), sp.Symbol("v", positive=True)
    ex, ex2 = sp.Symbol("Ex", real=True), sp.Symbol("Ex2", real=True)
    # m independent of x: E[(m x / q)^k] = E[m^k] E[x^k] / q^k, with E x = c, E x^2 = c^2 + v.
    mean = enumerated_expectation(m / q_sym, [m], q_sym) * ex
    second = enumerated_expectation(m**2 / q_sym**2, [m], q_sym) * ex2
    train = (second - mean**2).subs({ex: c, ex2: c**2 + v})
    ratio = v / train
    gap_to_one = sp.factor(1 - ratio)
    symbolic_ok = (is_zero(train - ((c**2 + v) / q_sym - c**2)) and is_zero(ratio - q_sym * v / (c**2 + v - q_sym * c**2))
                   and is_zero(gap_to_one - (1 - q_sym) * (c**2 + v) / (c**2 + v - q_sym * c**2)))

    # Exact: x uniform on a finite set, all masks, the package's mask op.
    p = 0.3
    values = torch.tensor([-1.0, 0.5, 2.0, 3.5], dtype=f64)
    c0, v0 = values.mean().item(), values.var(unbiased=False).item()
    outputs = F.apply_dropout_mask(values.expand(2, -1), torch.tensor([[0.0], [1.0]], dtype=f64), p)
    weights = torch.tensor([[p], [1 - p]], dtype=f64) / len(values)
    exact_mean = (weights * outputs).sum().item()
    exact_var = (weights * outputs**2).sum().item() - exact_mean**2
    exact_err = max(abs(exact_mean - c0), abs(exact_var - dropout_train_variance(c0, v0, p)),
                    abs(v0 / exact_var - variance_shift_ratio(c0, v0, p)))

    c1, v1 = 1.5, 0.8
    x = c1 + math.sqrt(v1) * torch.randn(400_000, generator=seeded_generator(54), dtype=f64)
    y = F.dropout(x, p, generator=seeded_generator(55))
    return [
        symbolic_evidence(symbolic_ok, f"Var_train = {sp.simplify(train)}; 1 - ratio = {gap_to_one} >= 0, zero only at q = 1"),
        exact_evidence(exact_err, f"x uniform on {values.tolist()}, both mask values, p={p}: mean, train variance and ratio", tol=EXACT_TOL),
        check_mean(y, c1, detail=f"x ~ N({c1}, {v1}) through the package's dropout, p={p}: mean stays c"),
        check_variance(y, dropout_train_variance(c1, v1, p), detail=f"train variance (c^2+v)/q - c^2 = {dropout_train_variance(c1, v1, p):.4f}"),
        check_variance(F.dropout(x, p, training=False), v1, detail="test-mode variance v"),
    ]


@claim(
    "newer-theory.variance-shift-batchnorm",
    title="BatchNorm after dropout stores the training variance and divides the test data by it",
    statement=r"In Linear-ReLU-Dropout-BatchNorm, BatchNorm's running variance estimates each channel's training "
    r"variance $(c^2+v)/q - c^2$, where $c, v$ are the channel's mean and variance before dropout; at test time the "
    r"channel's variance is $v$, so after normalisation it is $qv/(c^2+v-qc^2)$ instead of 1.",
    source="li2019understanding",
    catalogue=("L7", "P24"),
)
def variance_shift_batchnorm() -> list[Evidence]:
    p = 0.4
    with intra_op_threads(1):
        g = seeded_generator(61)  # a seed whose 6 ReLU channels are all alive on the data, so every ratio is defined
        data = torch.randn(256, 3, generator=g, dtype=f64)
        model = dropout_batchnorm_mlp(3, 6, 2, p, generator=g)
        norm = model[3]
        norm.momentum = None  # cumulative average: running_var is the mean of the batch variances
        norm.reset_running_stats()
        batch_vars = batchnorm_input_batch_variances(model, data, 3000, 32, g)
        with torch.no_grad():
            features = model[:2](data)  # before dropout, over the whole data set
        c, v = features.mean(0), features.var(0, unbiased=False)
        target = dropout_train_variance(c, v, p)
        stored = (norm.running_var - batch_vars.mean(0)).abs().max().item()
        with torch.no_grad():
            normalised = model[:4](data)  # eval: dropout off, BN with its stored statistics
        measured = normalised.var(0, unbiased=False) / norm.weight.detach() ** 2
        predicted = v / (norm.running_var + norm.eps)
    ratio = variance_shift_ratio(c, v, p)
    return [
        check_mean(batch_vars, target,
                   detail=f"6 channels, 3000 batches of 32 drawn from 256 inputs, p={p}: batch variances of BN's input vs (c^2+v)/q - c^2"),
        exact_evidence(stored + (measured - predicted).abs().max().item(),
               f"torch's running_var = mean of those batch variances; eval-mode normalised variance = v/running_var "
               f"(formula ratio per channel: {np.round(ratio.numpy(), 3).tolist()})", tol=EXACT_TOL),
    ]


@claim(
    "newer-theory.variance-shift-predictions",
    title="The variance shift moves a trained network's test outputs",
    statement=r"In small trained Linear-ReLU-Dropout($p=0.5$)-BatchNorm classifiers (5 seeds), the stored running "
    r"variance exceeds the test variance by the predicted factor (median measured/predicted ratio within 20% of 1), "
    r"and the test logits differ from those of the same network with BatchNorm statistics re-estimated without "
    r"dropout by more than 10% (mean absolute, relative) in every seed.",
    source="li2019understanding",
    catalogue=("L7", "P24"),
)
def variance_shift_predictions() -> list[Evidence]:
    rows = variance_shift_runs()
    agreement = [row["agreement_median"] for row in rows]
    shifts = [row["logit_shift"] for row in rows]
    worst_agreement = max(abs(a - 1) for a in agreement)
    return [
        Evidence("experiment", worst_agreement <= 0.2,
                 f"median over channels of (v / running_var) / (q v/(c^2+v-qc^2)), per seed: {np.round(agreement, 3).tolist()} "
                 "(running_var is a moving average over noisy batches of a network still training)",
                 estimate=worst_agreement, target=0.0, tolerance=0.2),
        Evidence("experiment", min(shifts) > 0.1,
                 f"relative logit change from re-estimating BN statistics, per seed: {np.round(shifts, 3).tolist()}; "
                 f"test predictions flipped: {np.round([row['flipped'] for row in rows], 3).tolist()}; test accuracy "
                 f"stored -> re-estimated statistics: "
                 + ", ".join(f"{row['accuracy']:.3f}->{row['accuracy_recalibrated']:.3f}" for row in rows),
                 estimate=min(shifts), target=0.1, tolerance=None),
    ]
