"""The small training runs behind the chapter *Beyond the classics* (book/newer-theory.md).

Each run is deterministic (seeded generators, float64) and takes about a second on one CPU
core, so the chapter and the claims call it directly; results are cached in memory so a
chapter's figure and its claim share one run.
"""

from __future__ import annotations

import copy
import functools

import torch

from dropout_theory.batchnorm_shift import (
    dropout_batchnorm_mlp,
    fit_classifier,
    recalibrate_batchnorm,
    variance_shift_ratio,
)
from dropout_theory.devices import intra_op_threads, seeded_generator
from dropout_theory.implicit_bias import (
    squared_nuclear_shrinkage,
    train_linear_network,
    unit_norm_products,
    whitened_inputs,
)

f64 = torch.float64
EQUALISE_SEEDS = 8
SHIFT_SEEDS = 5


@functools.lru_cache(maxsize=4)
def equalisation_runs(seeds: int = EQUALISE_SEEDS, p: float = 0.5) -> dict[str, torch.Tensor]:
    r"""Train 4-6-4 linear networks on whitened data with rank-2 targets, with and without dropout.

    Seed ``s`` has its own data :math:`(x, y = A_s x)` with :math:`\frac1n x^\top x = I`;
    both runs start from the same initialisation. Returns the unit products
    :math:`\|u_i\|\|v_i\|` (``plain``, ``dropout``), the dropout networks' :math:`UV^\top`
    (``product``) and the minimisers of :math:`\|A_s - M\|_F^2 + (\lambda/r)\|M\|_*^2`
    (``optimum``) they should approach. Do not modify the (cached) result.
    """
    with intra_op_threads(1):
        g = seeded_generator(48)
        x = whitened_inputs(64, 4, generator=g, batch=(seeds,))
        A = torch.randn(seeds, 4, 2, generator=g, dtype=f64) @ torch.randn(seeds, 2, 4, generator=g, dtype=f64)
        y = x @ A.transpose(-1, -2)
        width = 6
        plain = train_linear_network(x, y, width, 0.0, steps=800, generator=seeded_generator(49))
        dropped = train_linear_network(x, y, width, p, steps=800, generator=seeded_generator(49))
        optimum = torch.stack([squared_nuclear_shrinkage(A[s], p / (1 - p) / width) for s in range(seeds)])
    return {
        "plain": unit_norm_products(*plain),
        "dropout": unit_norm_products(*dropped),
        "product": dropped[0] @ dropped[1].transpose(-1, -2),
        "optimum": optimum,
    }


def product_spread(products: torch.Tensor) -> torch.Tensor:
    """Coefficient of variation (std/mean over the last dim) of the unit products, per network."""
    return products.std(dim=-1) / products.mean(dim=-1)


def batchnorm_input_batch_variances(
    model: torch.nn.Sequential, data: torch.Tensor, batches: int, batch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """Unbiased per-batch variances of the input of ``model[3]`` (the BatchNorm of
    :func:`~dropout_theory.batchnorm_shift.dropout_batchnorm_mlp`) in training mode.

    Batches are drawn uniformly with replacement from ``data``; BatchNorm updates its running
    statistics as usual. The model is left in evaluation mode, the hook removed, also on error.
    """
    captured: list[torch.Tensor] = []
    handle = model[3].register_forward_pre_hook(lambda _, inputs: captured.append(inputs[0].var(0, unbiased=True)))
    try:
        with torch.no_grad():
            model.train()
            for _ in range(batches):
                model(data[torch.randint(0, data.shape[0], (batch_size,), generator=generator)])
    finally:
        handle.remove()
        model.eval()
    return torch.stack(captured)


@functools.lru_cache(maxsize=4)
def variance_shift_runs(seeds: int = SHIFT_SEEDS, p: float = 0.5) -> tuple[dict[str, float], ...]:
    """Train Linear-ReLU-Dropout-BatchNorm-ReLU-Linear classifiers (is a 2-d Gaussian point outside
    the circle of radius 1.18?), then compare their stored BatchNorm statistics with the test-time ones.

    Per seed: ``ratio_median`` (median over live channels of test variance / running variance),
    ``agreement_median`` (median of that ratio over :math:`qv/(c^2+v-qc^2)`), ``logit_shift`` (mean
    absolute change of the test logits when the statistics are re-estimated without dropout, relative
    to their mean size), ``flipped`` (fraction of test predictions that change), and both accuracies.
    """
    rows = []
    with intra_op_threads(1):
        for seed in range(seeds):
            g = seeded_generator(60 + seed)
            x_train = torch.randn(512, 2, generator=g, dtype=f64)
            x_test = torch.randn(2000, 2, generator=g, dtype=f64)
            y_train, y_test = (x_train.norm(dim=1) > 1.18).long(), (x_test.norm(dim=1) > 1.18).long()
            model = fit_classifier(dropout_batchnorm_mlp(2, 32, 2, p, generator=g), x_train, y_train,
                                   steps=250, generator=g)
            recalibrated = recalibrate_batchnorm(copy.deepcopy(model), x_train)
            with torch.no_grad():
                features = model[:2](x_train)
                c, v = features.mean(0), features.var(0, unbiased=False)
                alive = v > 1e-8  # a ReLU channel that is zero on all data has no variance to shift
                measured = v[alive] / model[3].running_var[alive]
                predicted = variance_shift_ratio(c[alive], v[alive], p)
                logits, fixed = model(x_test), recalibrated(x_test)
            rows.append({
                "seed": seed,
                "ratio_median": measured.median().item(),
                "agreement_median": (measured / predicted).median().item(),
                "logit_shift": ((logits - fixed).abs().mean() / fixed.abs().mean()).item(),
                "flipped": (logits.argmax(1) != fixed.argmax(1)).double().mean().item(),
                "accuracy": (logits.argmax(1) == y_test).double().mean().item(),
                "accuracy_recalibrated": (fixed.argmax(1) == y_test).double().mean().item(),
            })
    return tuple(rows)
