r"""Monte Carlo dropout (Gal & Ghahramani 2016): predictive moments from T stochastic passes.

With :math:`\hat y_t = f(x; \hat W_t)` the output under the t-th sampled mask,

.. math::
    \mathbb{E}[y] \approx \frac1T \sum_t \hat y_t, \qquad
    \operatorname{Var}[y] \approx \tau^{-1} + \frac1T \sum_t \hat y_t^2 - \Big(\frac1T\sum_t \hat y_t\Big)^2

(eq. 6 and the line after it, per output component). For classification the samples are
softmax probabilities :math:`\pi_t`; the predictive distribution is their mean
:math:`\bar\pi`, its entropy :math:`H[\bar\pi]` is the total uncertainty and the mutual
information :math:`H[\bar\pi] - \frac1T\sum_t H[\pi_t]` the part due to the weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from dropout_theory.inference.stochastic import batch_stacking_problem, dropout_modules, dropout_sampling, is_dropout_module
from dropout_theory.validation import check_float_tensor, check_generator

DEFAULT_MAX_BATCH = 1 << 15


@dataclass(frozen=True)
class MCPrediction:
    """What :func:`mc_predict` returns.

    Attributes:
        mean: predictive mean, shape of one model output ``(B, *)``; class probabilities
            for classification.
        var: predictive variance per component: the (1/T, biased) sample variance, plus
            :math:`\\tau^{-1}` when ``tau`` was given (regression); the variance of the
            class probabilities over samples (classification).
        samples: ``(T, B, *)`` per-pass outputs (probabilities for classification) when
            asked for with ``return_samples=True``, else ``None``.
        num_samples: T.
        tau: the model precision used, or ``None``.
        entropy: classification only: :math:`H[\\bar\\pi]` per input, in nats.
        expected_entropy: classification only: :math:`\\frac1T\\sum_t H[\\pi_t]`.
        mutual_information: classification only: entropy minus expected entropy.
        batched: whether the samples were computed in stacked forward passes.
    """

    mean: torch.Tensor
    var: torch.Tensor
    samples: torch.Tensor | None
    num_samples: int
    tau: float | None = None
    entropy: torch.Tensor | None = None
    expected_entropy: torch.Tensor | None = None
    mutual_information: torch.Tensor | None = None
    batched: bool = True

    @property
    def std(self) -> torch.Tensor:
        return self.var.sqrt()


class _Moments:
    """Running mean and sum of squared deviations over axis 0, merged chunk by chunk.

    Chan, Golub & LeVeque's pairwise update, in float64: summing squares and subtracting
    the squared mean would cancel catastrophically when the mean dwarfs the spread.
    """

    def __init__(self) -> None:
        self.n = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def add(self, chunk: torch.Tensor) -> None:
        chunk = chunk.to(torch.float64)
        t = chunk.shape[0]
        chunk_mean = chunk.mean(0)
        chunk_m2 = ((chunk - chunk_mean) ** 2).sum(0)
        if self.mean is None:
            self.n, self.mean, self.m2 = t, chunk_mean, chunk_m2
            return
        total = self.n + t
        delta = chunk_mean - self.mean
        self.mean = self.mean + delta * (t / total)
        self.m2 = self.m2 + chunk_m2 + delta**2 * (self.n * t / total)
        self.n = total

    def variance(self) -> torch.Tensor:
        return self.m2 / self.n


def _entropy(probs: torch.Tensor) -> torch.Tensor:
    # xlogy gives 0 log 0 = 0: a class with probability exactly zero adds no entropy.
    return -torch.special.xlogy(probs, probs).sum(-1)


def _model_device(model: nn.Module) -> torch.device | None:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return None


def _check_no_batch_statistics(model: nn.Module) -> None:
    """A normalisation layer in training mode would mix the T samples (and update its stats)."""
    for name, module in model.named_modules():
        if is_dropout_module(module) or not isinstance(module, nn.modules.batchnorm._NormBase):
            continue
        uses_batch = isinstance(module, nn.modules.batchnorm._BatchNorm) or module.track_running_stats
        if module.training and uses_batch:
            raise ValueError(
                f"module {name or '<model>'} ({type(module).__name__}) is in training mode: it would normalise with "
                "batch statistics and update its running statistics during sampling; call model.eval() first "
                "(mc_predict then switches on the dropout modules only)"
            )


def _split_prefix(model: nn.Module) -> tuple[Sequence[nn.Module], Callable[[torch.Tensor], torch.Tensor]]:
    """Deterministic leading modules of an ``nn.Sequential`` (run once) and the rest.

    Everything before the first child that contains a dropout module computes the same
    value for all T samples, so it is computed once for the batch and then copied.
    """
    if not isinstance(model, nn.Sequential):
        return (), model
    children = list(model)
    first = next(i for i, child in enumerate(children) if any(is_dropout_module(m) for m in child.modules()))
    suffix = children[first:]

    def run_suffix(h: torch.Tensor) -> torch.Tensor:
        for module in suffix:
            h = module(h)
        return h

    return children[:first], run_suffix


def mc_predict(
    model: nn.Module,
    x: torch.Tensor,
    samples: int,
    *,
    generator: torch.Generator | None = None,
    task: Literal["regression", "classification"] = "regression",
    tau: float | None = None,
    return_samples: bool = False,
    batched: bool | None = None,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> MCPrediction:
    r"""Predictive mean and variance by Monte Carlo dropout.

    Only the dropout modules are switched to training mode (see
    :func:`~dropout_theory.inference.stochastic.dropout_sampling`); every other module keeps
    its mode, and all modes are restored afterwards, also when an error is raised. Runs
    under ``torch.no_grad()``.

    .. math:: \bar y = \frac1T\sum_{t=1}^T \hat y_t, \qquad
              v = \tau^{-1} + \frac1T\sum_t \hat y_t^{2} - \bar y^{2}

    Batched sampling stacks the T copies of the input along dim 0 and runs them through
    the model in passes of at most ``max_batch`` rows; each row draws its own masks. For
    an ``nn.Sequential``, the modules before the first dropout run once on ``x`` (their
    output is the same for every sample). Batched and loop sampling draw the same
    distribution but consume the generator in a different order, so for a given seed
    their numbers differ; each is deterministic given the generator state.

    Args:
        model: network whose dim 0 is the batch dimension. Put it in ``eval()`` mode first;
            a BatchNorm in training mode is an error.
        x: input batch ``(B, *)`` on the model's device.
        samples: T, the number of stochastic passes (>= 1).
        generator: drives every dropout mask; same state -> same result.
        task: ``"regression"`` (raw outputs) or ``"classification"`` (outputs are logits
            or log-probabilities over the last dim; softmax is applied per sample).
        tau: model precision :math:`\tau` (regression); adds :math:`\tau^{-1}` to ``var``.
        return_samples: keep the ``(T, B, *)`` samples in the result.
        batched: ``True`` stacked passes, ``False`` one pass per sample, ``None`` (default)
            stacked unless a dropout module shares its mask across the batch.
        max_batch: most rows (copies x inputs) per forward pass; bounds peak memory.

    Shape:
        ``x``: :math:`(B, *)`; ``mean`` and ``var``: the shape of ``model(x)``;
        ``samples``: :math:`(T, B, *)`; ``entropy`` and ``mutual_information``: ``(B,)``.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1)).eval()
        >>> g = torch.Generator().manual_seed(0)
        >>> out = mc_predict(net, torch.randn(5, 3), 100, generator=g, tau=4.0)
        >>> out.mean.shape, bool((out.var >= 0.25).all()), net.training
        (torch.Size([5, 1]), True, False)

    Reference: Gal & Ghahramani (2016), ICML, eqs. 6-7.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples (T, the number of Monte Carlo passes) must be an integer >= 1, got {samples!r}")
    check_float_tensor("x", x)
    check_generator(generator)
    if x.dim() < 1:
        raise ValueError("x must have a batch dimension (dim 0), got a 0-d tensor")
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', got {task!r}")
    if tau is not None:
        if task != "regression":
            raise ValueError("tau (the model precision) applies to regression only")
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau <= 0:
            raise ValueError(f"tau must be a finite number > 0, got {tau!r}")
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch must be a positive integer, got {max_batch!r}")
    device = _model_device(model)
    if device is not None and x.device != device:
        raise ValueError(f"x is on {x.device} but the model's parameters are on {device}; move one of them")
    _check_no_batch_statistics(model)
    problems = [p for name, m in dropout_modules(model) if (p := batch_stacking_problem(name, m))]
    if batched is None:
        batched = not problems
    elif batched and problems:
        raise ValueError(f"batched=True would share masks across the T samples: {'; '.join(problems)}; use batched=False")

    moments = _Moments()
    entropy_sum: torch.Tensor | None = None
    kept: torch.Tensor | None = None
    done = 0

    def absorb(chunk: torch.Tensor) -> None:
        nonlocal entropy_sum, kept, done
        if task == "classification":
            chunk = torch.softmax(chunk.to(torch.float64), dim=-1).to(chunk.dtype)
            part = _entropy(chunk.to(torch.float64)).sum(0)
            entropy_sum = part if entropy_sum is None else entropy_sum + part
        moments.add(chunk)
        if return_samples:
            if kept is None:
                kept = chunk.new_empty((samples, *chunk.shape[1:]))
            kept[done : done + chunk.shape[0]] = chunk
        done += chunk.shape[0]

    with torch.no_grad(), dropout_sampling(model, generator):
        prefix, run_rest = _split_prefix(model)
        h = x
        for module in prefix:
            h = module(h)
        rows = h.shape[0]
        if batched:
            per_pass = max(1, max_batch // max(rows, 1))
            for start in range(0, samples, per_pass):
                copies = min(per_pass, samples - start)
                # repeat (not expand): a materialised copy, so in-place dropout cannot write
                # through to x or to another sample's rows.
                out = run_rest(h.repeat(copies, *([1] * (h.dim() - 1))))
                if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != copies * rows:
                    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                    raise ValueError(
                        f"model output {got} does not have {copies}x{rows} rows for {copies} stacked copies of a batch "
                        f"of {rows}: is dim 0 the batch dimension? use batched=False"
                    )
                absorb(out.reshape(copies, rows, *out.shape[1:]))
        else:
            in_place = any(getattr(m, "inplace", False) for _, m in dropout_modules(model))
            for _ in range(samples):
                out = run_rest(h.clone() if in_place else h)
                absorb(out.unsqueeze(0))

    assert moments.mean is not None and moments.m2 is not None
    dtype = kept.dtype if kept is not None else out.dtype
    mean = moments.mean.to(dtype)
    var = moments.variance()
    extra: dict[str, torch.Tensor] = {}
    if task == "regression":
        if tau is not None:
            var = var + 1.0 / tau
    else:
        assert entropy_sum is not None
        total = _entropy(moments.mean)
        expected = entropy_sum / samples
        extra = {
            "entropy": total.to(dtype),
            "expected_entropy": expected.to(dtype),
            "mutual_information": (total - expected).to(dtype),
        }
    return MCPrediction(
        mean=mean,
        var=var.to(dtype),
        samples=kept,
        num_samples=samples,
        tau=None if tau is None else float(tau),
        batched=bool(batched),
        **extra,
    )


def mc_log_likelihood(samples: torch.Tensor, target: torch.Tensor, tau: float) -> torch.Tensor:
    r"""Per-point test log-likelihood of Monte Carlo dropout under Gaussian noise of precision ``tau``.

    .. math:: \log p(y \mid x) \approx \operatorname{logsumexp}_t\!\Big(-\tfrac{\tau}{2}\lVert y - \hat y_t\rVert^2\Big)
              - \log T - \tfrac D2 \log 2\pi + \tfrac D2 \log\tau

    (Gal & Ghahramani 2016, eq. 8, for D-dimensional outputs; computed in float64).

    Args:
        samples: ``(T, B)`` or ``(T, B, D)`` per-pass predictions (``MCPrediction.samples``).
        target: ``(B,)`` or ``(B, D)`` observed values.
        tau: model precision > 0.

    Returns:
        ``(B,)`` log-likelihoods; their mean is the paper's "test log-likelihood".
    """
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a finite number > 0, got {tau!r}")
    samples = samples.to(torch.float64)
    target = target.to(samples.device, torch.float64)
    if samples.dim() == target.dim() + 1 and samples.dim() == 2:
        samples, target = samples.unsqueeze(-1), target.unsqueeze(-1)
    if samples.shape[1:] != target.shape:
        raise ValueError(f"samples {tuple(samples.shape)} must be (T, *target.shape) with target {tuple(target.shape)}")
    T, D = samples.shape[0], target.shape[-1]
    sq = ((target.unsqueeze(0) - samples) ** 2).sum(-1)
    return torch.logsumexp(-0.5 * tau * sq, dim=0) - math.log(T) - 0.5 * D * math.log(2 * math.pi) + 0.5 * D * math.log(tau)
