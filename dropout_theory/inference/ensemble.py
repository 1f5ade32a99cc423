r"""The exact ensemble of all :math:`2^d` dropout subnetworks.

Dropout with keep probability :math:`q = 1 - p` on :math:`d` units trains, with shared
weights, the :math:`2^d` subnetworks :math:`f(\cdot\,; m)`, :math:`m \in \{0,1\}^d`, mask
:math:`m` drawn with probability :math:`P(m) = q^{|m|}(1-q)^{d-|m|}`. For one input this
module computes, summing over every mask in float64:

* the arithmetic mean :math:`E = \sum_m P(m) f(m)` and the variance
  :math:`V = \sum_m P(m) (f(m) - E)^2`;
* the weighted geometric mean :math:`G = \prod_m f(m)^{P(m)}`;
* the normalised weighted geometric mean (NWGM) of probability outputs. For a sigmoid
  output :math:`O`, :math:`\mathrm{NWGM} = G/(G + G')` with :math:`G' = \prod_m (1-O_m)^{P(m)}`
  (Baldi & Sadowski 2013); for a softmax output,
  :math:`\mathrm{NWGM}_c = G_c / \sum_{c'} G_{c'}` (Hinton et al. 2012).

Chunks of masks keep memory bounded; a run larger than ``max_masks`` is refused *before*
it starts, with the estimated time and memory in the error message.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as torch_functional

from dropout_theory.inference.masking import EnumeratedLayer, evaluation_mode, probe_layers, resolve_layers, run_masks
from dropout_theory.inference.plans import BatchedPlan, IncrementalPlan, bytes_per_mask, incremental_applies
from dropout_theory.validation import check_float_tensor, check_positive_int

LINKS = ("identity", "sigmoid", "softmax")
DEFAULT_MAX_MASKS = 1 << 26
DEFAULT_MEMORY_BUDGET = 256 << 20
# On a CPU, chunks whose activations fit in the caches are fastest (measured: 2^12 masks of
# the 20-64-10 benchmark network beat 2^16 by 25 %); a GPU wants the largest chunk allowed.
CPU_CHUNK_BYTES = 16 << 20
MAX_UNITS = 62  # mask indices are int64


class EnsembleTooLarge(ValueError):
    """Exact enumeration was refused: more masks than the stated limit."""


@dataclass(frozen=True)
class EnsembleResult:
    r"""Exact averages over all enumerated subnetworks (shapes ``(B, *out)``, float64).

    Attributes:
        mean: arithmetic mean :math:`E` of the outputs (after the link).
        var: variance :math:`V` of the outputs over masks.
        geometric: weighted geometric mean :math:`G`; ``None`` for an identity link with a
            non-positive output somewhere (the geometric mean is then undefined).
        complement_geometric: :math:`G' = \prod (1 - O_m)^{P(m)}` for a sigmoid link, else ``None``.
        nwgm: normalised weighted geometric mean (sigmoid and softmax links), else ``None``.
        masks: number of masks summed (:math:`2^d`).
        units: number of enumerated units :math:`d`.
        link: ``"identity"``, ``"sigmoid"`` or ``"softmax"``.
        path: ``"incremental"`` or ``"batched"`` (see :mod:`dropout_theory.inference.plans`).
        seconds: wall time of the enumeration.
    """

    mean: torch.Tensor
    var: torch.Tensor
    geometric: torch.Tensor | None
    complement_geometric: torch.Tensor | None
    nwgm: torch.Tensor | None
    masks: int
    units: int
    link: str
    path: str
    seconds: float


def _check_link(link: str) -> str:
    if link not in LINKS:
        raise ValueError(f"link must be one of {LINKS}, got {link!r}")
    return link


def _apply_link(z: torch.Tensor, link: str) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(outputs, log outputs, log complements) computed from the logits in a stable way."""
    if link == "sigmoid":
        return torch.sigmoid(z), torch_functional.logsigmoid(z), torch_functional.logsigmoid(-z)
    if link == "softmax":
        log_probs = torch.log_softmax(z, dim=-1)
        return log_probs.exp(), log_probs, None
    return z, (z.log() if bool((z > 0).all()) else None), None


class _WeightedMoments:
    r"""Running :math:`\sum w`, shifted moments and weighted log sums over chunks.

    The variance uses moments about a shift :math:`K` (the first chunk's weighted mean):
    :math:`V = \overline{(f-K)^2} - (\overline{f-K})^2` loses almost nothing to cancellation
    when :math:`K` is near the mean, unlike :math:`\overline{f^2} - \bar f^2`.
    """

    def __init__(self, link: str) -> None:
        self.link = link
        self.weight = 0.0
        self.shift: torch.Tensor | None = None
        self.first = self.second = self.log_sum = self.log_complement_sum = None
        self.geometric_defined = True

    def add(self, z: torch.Tensor, weights: torch.Tensor) -> None:
        if bool((weights == 0).any()):
            # Impossible masks (p = 0 or 1) must not contribute 0 * log(0) = nan.
            keep = weights != 0
            z, weights = z[keep], weights[keep]
            if z.shape[0] == 0:
                return
        n = z.shape[0]
        outputs, logs, complement_logs = _apply_link(z.to(torch.float64), self.link)
        w = weights.to(torch.float64)
        flat = outputs.reshape(n, -1)
        if self.shift is None:
            self.shift = (w @ flat) / w.sum()
            self.first = torch.zeros_like(self.shift)
            self.second = torch.zeros_like(self.shift)
            self.log_sum = torch.zeros_like(self.shift)
            self.log_complement_sum = torch.zeros_like(self.shift)
            self.shape = outputs.shape[1:]
        centred = flat - self.shift
        self.first += w @ centred
        self.second += w @ centred.square()
        self.weight += float(w.sum())
        if logs is None:
            self.geometric_defined = False
        elif self.geometric_defined:
            self.log_sum += w @ logs.reshape(n, -1)
        if complement_logs is not None:
            self.log_complement_sum += w @ complement_logs.reshape(n, -1)

    def result(self, masks: int, units: int, path: str, seconds: float) -> EnsembleResult:
        shape = self.shape
        first = self.first / self.weight
        mean = (self.shift + first).reshape(shape)
        # Rounding can leave -1e-19 where the variance is exactly 0 (identical subnetworks).
        var = (self.second / self.weight - first.square()).clamp_min(0.0).reshape(shape)
        geometric = complement = nwgm = None
        if self.geometric_defined:
            log_g = (self.log_sum / self.weight).reshape(shape)
            geometric = log_g.exp()
            if self.link == "sigmoid":
                log_gc = (self.log_complement_sum / self.weight).reshape(shape)
                complement = log_gc.exp()
                nwgm = torch.sigmoid(log_g - log_gc)  # G/(G+G') computed without under/overflow
            elif self.link == "softmax":
                nwgm = torch.softmax(log_g, dim=-1)
        return EnsembleResult(mean, var, geometric, complement, nwgm, masks, units, self.link, path, seconds)


def weighted_means(outputs: torch.Tensor, weights: torch.Tensor, *, link: str = "identity") -> EnsembleResult:
    r"""The same averages as :func:`exact_ensemble` for given subnetwork outputs and weights.

    Any distribution over the subnetworks is allowed (the weights need not come from
    Bernoulli masks); they are normalised to sum to one.

    Args:
        outputs: ``(n, *out)`` model outputs *before* the link (logits for sigmoid/softmax).
        weights: ``(n,)`` non-negative weights with a positive sum.
        link: ``"identity"``, ``"sigmoid"`` or ``"softmax"`` (over the last dimension).

    Example:
        >>> z = torch.tensor([[-1.0], [2.0]], dtype=torch.float64)
        >>> r = weighted_means(z, torch.tensor([0.3, 0.7], dtype=torch.float64), link="sigmoid")
        >>> torch.allclose(r.nwgm, torch.sigmoid(0.3 * z[0] + 0.7 * z[1]))
        True
    """
    _check_link(link)
    check_float_tensor("outputs", outputs)
    check_float_tensor("weights", weights)
    if weights.ndim != 1 or weights.shape[0] != outputs.shape[0]:
        raise ValueError(f"weights must have shape ({outputs.shape[0]},), got {tuple(weights.shape)}")
    if bool((weights < 0).any()) or not float(weights.sum()) > 0:
        raise ValueError("weights must be non-negative with a positive sum")
    moments = _WeightedMoments(link)
    moments.add(outputs, weights)
    return moments.result(outputs.shape[0], 0, "given", 0.0)


def _format_seconds(seconds: float) -> str:
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _format_bytes(size: float) -> str:
    for unit in ("EiB", "PiB", "TiB", "GiB", "MiB", "KiB"):
        scale = 1024.0 ** ("KMGTPE".index(unit[0]) + 1)
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size:.0f} B"


def _float64_model(model: nn.Module) -> nn.Module:
    """The model itself when already float64; otherwise a float64 copy (the caller's stays as is)."""
    tensors = list(model.parameters()) + list(model.buffers())
    if all(t.dtype == torch.float64 for t in tensors if t.is_floating_point()):
        return model
    return copy.deepcopy(model).to(torch.float64)


def _check_device(model: nn.Module, x: torch.Tensor) -> None:
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.device != x.device:
            raise ValueError(f"model tensor {name!r} is on {t.device} but x is on {x.device}; move one of them")


def exact_ensemble(
    model: nn.Module,
    x: torch.Tensor,
    *,
    layers: str | nn.Module | Sequence[str | nn.Module] | None = None,
    units: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    p: float | None = None,
    link: str = "identity",
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    max_masks: int = DEFAULT_MAX_MASKS,
    incremental: bool = True,
) -> EnsembleResult:
    r"""Average a network over *all* dropout masks of the chosen units, exactly, in float64.

    .. math:: E = \sum_{m \in \{0,1\}^d} q^{|m|}(1-q)^{d-|m|}\, g\big(f(x; m)\big), \qquad
              G = \prod_m g\big(f(x; m)\big)^{P(m)},

    with :math:`g` the link (identity, sigmoid, softmax) and :math:`f(x; m)` the network
    in which each enumerated dropout layer applies the mask :math:`m` exactly as in
    training (kept units scaled by :math:`1/q` if the layer is inverted). Everything not
    enumerated follows its evaluation rule.

    Args:
        model: a network containing ``dropout_theory.nn.Dropout`` or ``torch.nn.Dropout``
            modules; it must keep the batch dimension first. Its mode, parameters and
            buffers are left as they were (a float32 model is evaluated on a float64 copy).
        x: input batch ``(B, *in)``; each example gets its own exact averages.
        layers: the dropout modules (names or modules) whose units are enumerated;
            default every dropout module in ``model``.
        units: which units of the enumerated layers (flat indices into the layer's
            per-example features): a sequence for one layer, or ``{name: indices}``.
            Default all. Units left out keep their evaluation value.
        p: drop probability for every enumerated layer; default each module's own ``p``.
        link: applied to the network's output before averaging: ``"identity"``,
            ``"sigmoid"`` or ``"softmax"`` (last dimension). NWGM needs sigmoid or softmax.
        chunk_size: masks per chunk; default: what fits in 16 MiB of activations on a CPU
            (cache-friendly), in ``memory_budget`` on a GPU.
        memory_budget: bytes of activations a chunk may use (default 256 MiB).
        max_masks: refuse (with :class:`EnsembleTooLarge`, estimating time and memory)
            when :math:`2^d` exceeds this; default :math:`2^{26}`.
        incremental: use the incremental first-layer plan when it applies.

    Returns:
        :class:`EnsembleResult` with ``mean``, ``var``, ``geometric``, ``nwgm`` of shape
        ``(B, *out)``.

    Shape:
        ``x``: :math:`(B, *)`; outputs: :math:`(B, *_{out})`.

    Example:
        >>> from dropout_theory.nn import Dropout
        >>> net = nn.Sequential(Dropout(0.5, inverted=False), nn.Linear(4, 1)).double()
        >>> x = torch.ones(1, 4, dtype=torch.float64)
        >>> r = exact_ensemble(net, x, link="sigmoid")
        >>> torch.allclose(r.nwgm, torch.sigmoid(net.eval()(x)))  # Baldi & Sadowski (2013)
        True

    Reference: Baldi & Sadowski (2013), "Understanding dropout", NeurIPS 26; Hinton et al.
    (2012), arXiv:1207.0580.
    """
    start_time = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_float_tensor("x", x)
    if x.ndim < 1 or x.shape[0] < 1:
        raise ValueError(f"x must have a leading batch dimension of size >= 1, got shape {tuple(x.shape)}")
    _check_link(link)
    max_masks = check_positive_int("max_masks", max_masks)
    memory_budget = check_positive_int("memory_budget", memory_budget)
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    _check_device(model, x)
    names = _layer_names(model, layers)
    working = _float64_model(model)
    x64 = x.to(torch.float64)
    with evaluation_mode(working), torch.no_grad():
        enumerated = probe_layers(working, x64, names, units, p)
        d = sum(len(layer.units) for layer in enumerated)
        if d > MAX_UNITS:
            raise EnsembleTooLarge(f"{d} enumerated units: 2^{d} masks cannot even be indexed (limit {MAX_UNITS} units)")
        per_mask = bytes_per_mask(working, x64)
        target = memory_budget if x.device.type == "cuda" else min(memory_budget, CPU_CHUNK_BYTES)
        chunk = chunk_size or max(1, min(1 << d, target // per_mask))
        if incremental and incremental_applies(working, enumerated):
            # The shared low-bit table holds 2^k masks' activations: keep it within one chunk.
            plan = IncrementalPlan(working, x64, enumerated[0], low_bits=min(10, chunk.bit_length() - 1))
        else:
            plan = BatchedPlan(working, x64, enumerated)
        total = 1 << d
        if total > max_masks:
            rate = plan.masks_per_second(min(chunk, 4096))
            raise EnsembleTooLarge(
                f"exact enumeration of d={d} units means 2^{d} = {total:,} masks, above max_masks={max_masks:,}. "
                f"Estimated time: {_format_seconds(total / rate)} at {rate:.3g} masks/s measured just now on "
                f"{x.device} ({plan.name} path); estimated memory: {_format_bytes(total * per_mask)} if all "
                f"subnetworks' activations were held at once, {_format_bytes(min(chunk, total) * per_mask)} per chunk "
                f"of {min(chunk, total):,} masks. Enumerate fewer units, or pass a larger max_masks to run it anyway."
            )
        moments = _WeightedMoments(link)
        for outputs, probabilities in plan.chunks(chunk):
            moments.add(outputs, probabilities)
    return moments.result(total, d, plan.name, time.perf_counter() - start_time)


def _layer_names(model: nn.Module, layers: object) -> list[str] | None:
    """Layers as names, so they can be found again in a float64 copy of the model."""
    if layers is None:
        return None
    return [name for name, _ in resolve_layers(model, layers)]


def subnetwork_outputs(
    model: nn.Module,
    x: torch.Tensor,
    masks: torch.Tensor,
    *,
    layers: str | nn.Module | Sequence[str | nn.Module] | None = None,
    units: Sequence[int] | Mapping[str, Sequence[int]] | None = None,
    p: float | None = None,
) -> torch.Tensor:
    r"""Outputs :math:`f(x; m)` of the subnetworks given by ``masks`` (before any link).

    The masks are 0/1 rows over the enumerated units, layer after layer in the order of
    ``layers`` (default: the model's dropout modules in ``named_modules`` order). Exact
    enumeration sums these outputs over all masks; Monte Carlo averages them over sampled
    ones.

    Args:
        model, x, layers, units, p: as in :func:`exact_ensemble`.
        masks: ``(n, d)`` keep-masks (1 = kept).

    Shape:
        Returns :math:`(n, B, *_{out})` in float64.
    """
    check_float_tensor("x", x)
    _check_device(model, x)
    names = _layer_names(model, layers)
    working = _float64_model(model)
    x64 = x.to(torch.float64)
    with evaluation_mode(working), torch.no_grad():
        enumerated = probe_layers(working, x64, names, units, p)
        d = sum(len(layer.units) for layer in enumerated)
        if masks.ndim != 2 or masks.shape[1] != d:
            raise ValueError(f"masks must have shape (n, {d}) for the {d} enumerated units, got {tuple(masks.shape)}")
        if not bool(((masks == 0) | (masks == 1)).all()):
            raise ValueError("masks must contain only 0 and 1")
        return run_masks(working, x64, enumerated, masks.to(device=x.device, dtype=torch.float64))


def enumerated_units(model: nn.Module, x: torch.Tensor, **selection: object) -> list[EnumeratedLayer]:
    """The layers and units :func:`exact_ensemble` would enumerate for these arguments."""
    names = _layer_names(model, selection.get("layers"))
    working = _float64_model(model)
    with evaluation_mode(working), torch.no_grad():
        return probe_layers(working, x.to(torch.float64), names, selection.get("units"), selection.get("p"))


def per_mask_loop(model: nn.Module, x: torch.Tensor, masks: Iterable[torch.Tensor], **selection: object) -> torch.Tensor:
    """Reference baseline: one forward pass per mask, returns ``(n, B, *out)`` outputs.

    What a straightforward implementation does; the benchmark measures the engine against it.
    """
    names = _layer_names(model, selection.get("layers"))
    working = _float64_model(model)
    x64 = x.to(torch.float64)
    outputs = []
    with evaluation_mode(working), torch.no_grad():
        enumerated = probe_layers(working, x64, names, selection.get("units"), selection.get("p"))
        for mask in masks:
            outputs.append(run_masks(working, x64, enumerated, mask.reshape(1, -1).to(torch.float64)))
    return torch.cat(outputs)


__all__ = [
    "DEFAULT_MAX_MASKS",
    "EnsembleResult",
    "EnsembleTooLarge",
    "enumerated_units",
    "exact_ensemble",
    "per_mask_loop",
    "subnetwork_outputs",
    "weighted_means",
]
