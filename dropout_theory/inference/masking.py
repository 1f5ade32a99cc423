r"""Run a network with *given* dropout masks: the subnetworks that exact enumeration averages.

A network's dropout modules are the *layers* whose units can be enumerated. Here every
layer is put in evaluation mode, and forward hooks replace the output of each enumerated
layer by its input times a per-unit factor:

.. math:: y_j = x_j \, m_j \, s, \qquad s = \begin{cases} 1/q & \text{inverted dropout}\\
          1 & \text{non-inverted dropout,}\end{cases}

exactly what the layer computes in training when it draws the mask :math:`m`. Units of an
enumerated layer that are *not* enumerated keep their evaluation value (factor :math:`q`
for non-inverted dropout, 1 for inverted), as do all layers that are not enumerated.

A batch of masks is pushed through the network as one batch: the input ``(B, ...)`` is
repeated for each of the ``n`` masks, so every dropout layer sees ``(n * B, ...)`` and
mask ``i`` applies to rows ``i * B .. i * B + B - 1``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from dropout_theory.functional.bernoulli import dropout_scale
from dropout_theory.nn import Dropout
from dropout_theory.validation import check_probability

SUPPORTED_DROPOUT = (Dropout, nn.Dropout)


def is_dropout(module: nn.Module) -> bool:
    """Whether exact enumeration knows this module's training rule (Bernoulli, element-wise)."""
    return type(module) in SUPPORTED_DROPOUT


def is_inverted(module: nn.Module) -> bool:
    """``torch.nn.Dropout`` is always inverted; the package's ``Dropout`` says so itself."""
    return bool(getattr(module, "inverted", True))


@dataclass(frozen=True)
class EnumeratedLayer:
    """One dropout layer whose units (some or all) are enumerated.

    Attributes:
        name: the module's name in ``model.named_modules()`` (``""`` for the model itself).
        module: the dropout module.
        p: drop probability used for the enumeration.
        inverted: training scales kept units by :math:`1/q`.
        feature_shape: the shape of one example's input to the layer.
        units: flat indices (into ``feature_shape``) of the enumerated units.
    """

    name: str
    module: nn.Module
    p: float
    inverted: bool
    feature_shape: tuple[int, ...]
    units: tuple[int, ...]

    @property
    def q(self) -> float:
        return 1.0 - self.p

    @property
    def size(self) -> int:
        return math.prod(self.feature_shape)

    @property
    def kept_scale(self) -> float:
        """Factor of a kept unit in training."""
        return dropout_scale(self.p, inverted=self.inverted)

    @property
    def eval_factor(self) -> float:
        """Factor of a unit that is not enumerated (the evaluation rule)."""
        return 1.0 if self.inverted else self.q


def resolve_layers(model: nn.Module, layers: object) -> list[tuple[str, nn.Module]]:
    """The ``(name, module)`` pairs named by ``layers`` (default: every dropout module)."""
    named = list(model.named_modules())
    if layers is None:
        found = [(name, m) for name, m in named if is_dropout(m)]
        if not found:
            raise ValueError(
                f"model ({type(model).__name__}) has no dropout module to enumerate "
                f"(supported: {', '.join(t.__module__ + '.' + t.__qualname__ for t in SUPPORTED_DROPOUT)})"
            )
        return found
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    if not isinstance(layers, Sequence) or not layers:
        raise TypeError(f"layers must be a module name, a module, or a non-empty sequence of them, got {layers!r}")
    by_name = dict(named)
    by_id = {id(m): name for name, m in named}
    chosen: list[tuple[str, nn.Module]] = []
    for item in layers:
        if isinstance(item, str):
            if item not in by_name:
                raise ValueError(f"layers: model has no submodule named {item!r}; dropout modules: "
                                 f"{[n for n, m in named if is_dropout(m)]}")
            name, module = item, by_name[item]
        elif isinstance(item, nn.Module):
            if id(item) not in by_id:
                raise ValueError(f"layers: {item!r} is not a submodule of the model")
            name, module = by_id[id(item)], item
        else:
            raise TypeError(f"layers entries must be names or modules, got {item!r}")
        if not is_dropout(module):
            raise TypeError(
                f"layers: {name!r} is a {type(module).__name__}, not a Bernoulli dropout module "
                f"(dropout_theory.nn.Dropout or torch.nn.Dropout)"
            )
        if any(module is m for _, m in chosen):
            raise ValueError(f"layers: {name!r} is listed twice")
        chosen.append((name, module))
    return chosen


def _resolve_units(units: object, names: list[str], sizes: list[int]) -> list[tuple[int, ...]]:
    if units is None:
        return [tuple(range(s)) for s in sizes]
    if isinstance(units, Mapping):
        unknown = set(units) - set(names)
        if unknown:
            raise ValueError(f"units: no enumerated layer named {sorted(unknown)}; enumerated layers: {names}")
        per_layer = [units.get(name) for name in names]
    else:
        if len(names) != 1:
            raise ValueError(f"units: {len(names)} layers are enumerated ({names}); give units as a mapping name -> indices")
        per_layer = [units]
    resolved = []
    for name, size, chosen in zip(names, sizes, per_layer):
        if chosen is None:
            resolved.append(tuple(range(size)))
            continue
        indices = [int(i) for i in (chosen.tolist() if isinstance(chosen, torch.Tensor) else chosen)]
        for i in indices:
            if not 0 <= i < size:
                raise ValueError(f"units: index {i} is out of range for layer {name!r}, which has {size} units")
        if len(set(indices)) != len(indices):
            raise ValueError(f"units: layer {name!r} lists a unit twice: {indices}")
        resolved.append(tuple(indices))
    return resolved


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode; restore each one's own mode afterwards, also on error."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def probe_layers(
    model: nn.Module, x: torch.Tensor, layers: object, units: object, p: float | None
) -> list[EnumeratedLayer]:
    """Run ``model(x)`` once (eval mode, no grad) to learn each enumerated layer's input shape."""
    chosen = resolve_layers(model, layers)
    shapes: dict[int, list[tuple[int, ...]]] = {id(m): [] for _, m in chosen}

    def record(module: nn.Module, args: tuple) -> None:
        shapes[id(module)].append(tuple(args[0].shape))

    handles = [m.register_forward_pre_hook(record) for _, m in chosen]
    try:
        with evaluation_mode(model), torch.no_grad():
            model(x.clone())  # an inplace first module must not alter x
    finally:
        for h in handles:
            h.remove()
    feature_shapes = []
    for name, module in chosen:
        calls = shapes[id(module)]
        if len(calls) != 1:
            raise ValueError(
                f"layer {name!r} runs {len(calls)} times in one forward pass; exact enumeration needs each "
                f"enumerated dropout module to run exactly once (one mask per module per forward pass)"
            )
        shape = calls[0]
        if not shape or shape[0] != x.shape[0]:
            raise ValueError(
                f"layer {name!r} receives shape {shape}; exact enumeration needs the batch dimension "
                f"({x.shape[0]}) first, as in the input"
            )
        feature_shapes.append(shape[1:])
    names = [name for name, _ in chosen]
    unit_sets = _resolve_units(units, names, [math.prod(s) for s in feature_shapes])
    result = []
    for (name, module), fshape, unit_set in zip(chosen, feature_shapes, unit_sets):
        layer_p = check_probability("p", module.p if p is None else p)
        result.append(EnumeratedLayer(name, module, layer_p, is_inverted(module), fshape, unit_set))
    return result


def unit_keep_probabilities(layers: Sequence[EnumeratedLayer], *, device: torch.device) -> torch.Tensor:
    """Keep probability of every enumerated unit, in mask-bit order (layer by layer)."""
    keep = [layer.q for layer in layers for _ in layer.units]
    return torch.tensor(keep, dtype=torch.float64, device=device)


def layer_factors(layers: Sequence[EnumeratedLayer], masks: torch.Tensor) -> list[torch.Tensor]:
    """Per-layer factors ``(n, size)`` for a batch of masks ``(n, d)`` over the enumerated units."""
    factors = []
    column = 0
    n = masks.shape[0]
    for layer in layers:
        k = len(layer.units)
        factor = torch.full((n, layer.size), layer.eval_factor, dtype=masks.dtype, device=masks.device)
        index = torch.tensor(layer.units, dtype=torch.int64, device=masks.device)
        factor[:, index] = masks[:, column : column + k] * layer.kept_scale
        factors.append(factor)
        column += k
    return factors


@contextlib.contextmanager
def masked_layers(layers: Sequence[EnumeratedLayer], factors: list[torch.Tensor], batch: int) -> Iterator[None]:
    """Within the block, each enumerated layer multiplies its input by its factor rows.

    The hooks read the layer's *input* before the module runs, so an ``inplace`` dropout
    module cannot corrupt it (it is handed a copy to modify).
    """
    handles = []
    stash: dict[int, torch.Tensor] = {}
    for layer, factor in zip(layers, factors):
        n = factor.shape[0]
        shaped = factor.reshape(n, 1, *layer.feature_shape)

        def before(module: nn.Module, args: tuple, key: int = id(layer.module)) -> tuple | None:
            stash[key] = args[0]
            if getattr(module, "inplace", False):
                return (args[0].clone(),) + tuple(args[1:])
            return None

        def after(module: nn.Module, args: tuple, output: torch.Tensor, key: int = id(layer.module),
                  shaped: torch.Tensor = shaped, n: int = n) -> torch.Tensor:
            x = stash.pop(key)
            out = x.reshape(n, batch, *x.shape[1:]) * shaped.to(x.dtype)
            return out.reshape(x.shape)

        handles.append(layer.module.register_forward_pre_hook(before))
        handles.append(layer.module.register_forward_hook(after))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def run_masks(model: nn.Module, x: torch.Tensor, layers: Sequence[EnumeratedLayer], masks: torch.Tensor) -> torch.Tensor:
    """Outputs of the subnetworks given by ``masks`` ``(n, d)``: shape ``(n, B, *out)``.

    The model must already be in evaluation mode (see :func:`evaluation_mode`).
    """
    n, batch = masks.shape[0], x.shape[0]
    # repeat() always copies, so inplace modules cannot write into x.
    repeated = x.repeat(n, *[1] * (x.ndim - 1))
    with masked_layers(layers, layer_factors(layers, masks), batch):
        out = model(repeated)
    return out.reshape(n, batch, *out.shape[1:])
