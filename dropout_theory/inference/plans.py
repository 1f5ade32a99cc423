r"""Two ways to push every mask through a network, chunk by chunk.

* :class:`BatchedPlan` works for any network: a chunk of ``n`` masks is one forward pass of
  batch ``n * B`` with the masks applied by hooks (:mod:`dropout_theory.inference.masking`).
* :class:`IncrementalPlan` is for the common case where the enumerated dropout layer feeds
  a ``Linear`` layer inside an ``nn.Sequential``. The first layer's pre-activation is linear
  in the mask, so split the mask bits into a *low* part (the first ``k`` bits) and a *high*
  part:

  .. math:: a(m) = b + \sum_{j \in \text{low}} W_{:j} x_j s\, m_j
                     + \sum_{j \in \text{high}} W_{:j} x_j s\, m_j .

  The low sums for all :math:`2^k` low masks form a ``(2^k, B, H)`` table computed once;
  a chunk of high masks adds one vector per high mask to the whole table. Only the rest of
  the network (activation, later layers) runs per mask, as one large matrix product.

Mask ``i`` is the same in both plans: bit ``j`` of ``i`` is enumerated unit ``j``
(:func:`dropout_theory.enumeration.mask_rows`), so ``high * 2^k + low`` is its index.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from dropout_theory.enumeration import mask_probabilities, mask_rows
from dropout_theory.inference.masking import EnumeratedLayer, run_masks, unit_keep_probabilities

Chunk = tuple[torch.Tensor, torch.Tensor]  # (outputs (n, B, *out), mask probabilities (n,))


class BatchedPlan:
    """Any network: chunks of masks run as one batched forward pass each."""

    name = "batched"

    def __init__(self, model: nn.Module, x: torch.Tensor, layers: Sequence[EnumeratedLayer]) -> None:
        self.model, self.x, self.layers = model, x, list(layers)
        self.units = sum(len(layer.units) for layer in layers)
        self.keep = unit_keep_probabilities(layers, device=x.device)

    def run(self, start: int, stop: int) -> Chunk:
        masks = mask_rows(start, stop, self.units, device=self.x.device)
        return run_masks(self.model, self.x, self.layers, masks), mask_probabilities(masks, self.keep)

    def chunks(self, chunk_masks: int) -> Iterator[Chunk]:
        total = 1 << self.units
        for start in range(0, total, chunk_masks):
            yield self.run(start, min(start + chunk_masks, total))

    def masks_per_second(self, masks: int) -> float:
        """Rate measured on the first ``masks`` masks (used to estimate the time of a refused run)."""
        masks = min(masks, 1 << self.units)
        self.run(0, min(masks, 16))  # warm-up: first-call allocations
        start = time.perf_counter()
        self.run(0, masks)
        return masks / max(time.perf_counter() - start, 1e-9)


class IncrementalPlan:
    """``Sequential(prefix..., dropout, Linear, tail...)`` with the dropout layer enumerated."""

    name = "incremental"

    def __init__(self, model: nn.Sequential, x: torch.Tensor, layer: EnumeratedLayer, low_bits: int = 10) -> None:
        modules = list(model)
        index = next(i for i, m in enumerate(modules) if m is layer.module)
        linear: nn.Linear = modules[index + 1]
        prefix = nn.Sequential(*modules[:index])
        self.tail = list(modules[index + 2 :])
        self.units = len(layer.units)
        self.low_bits = min(self.units, low_bits)
        h = prefix(x.clone())  # (B, D); eval mode and no_grad are the caller's; clone: inplace modules
        device, batch = x.device, x.shape[0]
        enumerated = torch.tensor(layer.units, dtype=torch.int64, device=device)
        rest = torch.ones(layer.size, dtype=torch.bool, device=device)
        rest[enumerated] = False
        weight = linear.weight.to(torch.float64)
        bias = linear.bias.to(torch.float64) if linear.bias is not None else torch.zeros(weight.shape[0], dtype=torch.float64, device=device)
        # Units not enumerated sit at their evaluation value: part of the constant term.
        self.base = bias + (h[:, rest] * layer.eval_factor) @ weight[:, rest].T  # (B, H)
        # contributions[b, j, :] = W[:, j] x_j s: what keeping unit j adds to example b.
        contributions = (h[:, enumerated] * layer.kept_scale)[:, :, None] * weight[:, enumerated].T[None]
        self.low_contrib = contributions[:, : self.low_bits]  # (B, k, H)
        self.high_contrib = contributions[:, self.low_bits :]  # (B, d-k, H)
        keep = torch.full((self.units,), layer.q, dtype=torch.float64, device=device)
        low_masks = mask_rows(0, 1 << self.low_bits, self.low_bits, device=device)
        self.low_table = torch.einsum("lk,bkh->lbh", low_masks, self.low_contrib).contiguous()  # (L, B, H)
        self.low_prob = mask_probabilities(low_masks, keep[: self.low_bits])
        self.keep_high = keep[self.low_bits :]
        self.batch, self.hidden, self.device = batch, weight.shape[0], device
        self.first_relu = bool(self.tail) and type(self.tail[0]) is nn.ReLU
        self.after_relu = nn.Sequential(*self.tail[1:] if self.first_relu else self.tail)
        self._buffer: torch.Tensor | None = None

    def run(self, start_high: int, stop_high: int) -> Chunk:
        high_masks = mask_rows(start_high, stop_high, self.units - self.low_bits, device=self.device)
        n_high = high_masks.shape[0]
        n = n_high << self.low_bits
        offsets = self.base + torch.einsum("nk,bkh->nbh", high_masks, self.high_contrib)  # (n_high, B, H)
        # Reuse one buffer across chunks: fresh multi-megabyte tensors cost page faults.
        if self._buffer is None or self._buffer.shape[0] < n_high:
            self._buffer = torch.empty((n_high, *self.low_table.shape), dtype=torch.float64, device=self.device)
        pre = self._buffer[:n_high]
        torch.add(self.low_table.unsqueeze(0), offsets.unsqueeze(1), out=pre)  # (n_high, L, B, H)
        hidden = pre.view(-1, self.hidden)
        if self.first_relu:
            hidden.clamp_min_(0.0)
        out = self.after_relu(hidden)
        probs = (mask_probabilities(high_masks, self.keep_high)[:, None] * self.low_prob[None, :]).reshape(n)
        return out.reshape(n, self.batch, *out.shape[1:]), probs

    def chunks(self, chunk_masks: int) -> Iterator[Chunk]:
        per_chunk = max(1, chunk_masks >> self.low_bits)
        total_high = 1 << (self.units - self.low_bits)
        for start in range(0, total_high, per_chunk):
            yield self.run(start, min(start + per_chunk, total_high))

    def masks_per_second(self, masks: int) -> float:
        highs = max(1, min(1 << (self.units - self.low_bits), masks >> self.low_bits))
        self.run(0, 1)
        start = time.perf_counter()
        self.run(0, highs)
        return (highs << self.low_bits) / max(time.perf_counter() - start, 1e-9)


def incremental_applies(model: nn.Module, layers: Sequence[EnumeratedLayer]) -> bool:
    """True when :class:`IncrementalPlan` computes exactly what :class:`BatchedPlan` does."""
    if len(layers) != 1 or not isinstance(model, nn.Sequential):
        return False
    (layer,) = layers
    modules = list(model)
    positions = [i for i, m in enumerate(modules) if m is layer.module]
    if len(positions) != 1 or len(layer.feature_shape) != 1:
        return False
    i = positions[0]
    return i + 1 < len(modules) and type(modules[i + 1]) is nn.Linear and layer.units != ()


def bytes_per_mask(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of activations one mask costs in a batched pass (float64, all leaf outputs, x2 for temporaries)."""
    total = [x.numel()]  # per mask: the repeated input, then every leaf module's output

    def count(module: nn.Module, args: tuple, output: object) -> None:
        if isinstance(output, torch.Tensor) and not list(module.children()):
            total.append(output.numel())

    handles = [m.register_forward_hook(count) for m in model.modules()]
    try:
        model(x.clone())
    finally:
        for h in handles:
            h.remove()
    return 2 * 8 * max(1, math.ceil(sum(total)))
