"""Monte Carlo model averaging against weight scaling (Srivastava et al. 2014, §7.5)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dropout_theory.training.loop import evaluation_mode
from dropout_theory.validation import check_positive_int


@torch.no_grad()
def mc_error_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ks: Sequence[int]) -> list[float]:
    r"""Test error of the Monte Carlo average of ``k`` sampled networks, for each ``k`` in ``ks``.

    Draw :math:`k` dropout networks (fresh masks per example and per sample, from the
    generators the model's noise layers hold), average their predicted class probabilities,
    :math:`\bar P(y \mid x) = \frac1k \sum_{t=1}^k P(y \mid x, m_t)`, and classify by the
    argmax. The averages for all ``ks`` are prefixes of one sequence of samples, as in the
    paper's Figure 11. Only the noise layers sample; every other module (e.g. BatchNorm)
    stays in evaluation mode, and every module's mode is restored afterwards.

    Returns:
        the error rates, in the order of ``ks``.
    """
    ks = [check_positive_int("ks[i]", k) for k in ks]
    wanted = set(ks)
    errors: dict[int, float] = {}
    with evaluation_mode(model):
        for module in model.modules():
            if module is not model and len(list(module.children())) == 0 and hasattr(module, "p"):
                module.train()  # noise layers only: they are the modules carrying a drop probability
        total = torch.zeros(len(x), int(model[-1].out_features) if isinstance(model, nn.Sequential) else 0, device=x.device)
        for t in range(1, max(ks) + 1):
            probs = model(x).softmax(1)
            total = total + probs if total.numel() else probs.clone()
            if t in wanted:
                errors[t] = float((total.argmax(1) != y).float().mean())
    return [errors[k] for k in ks]
